package bench

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func sampleResult() *Result {
	cfg := &Config{Mode: ModePOP3, Host: "127.0.0.1", Port: 1110, Concurrency: 4, Size: 4096, Users: 10}
	names, extra := commands(ModePOP3)
	st := newStats(len(names) + len(extra))
	for i := range st {
		for k := range 10 {
			st.ok(i, time.Duration(k+1)*time.Millisecond)
		}
	}
	st.fail(opRetr)
	st.fail(opRetr)
	smp := newSamples()
	smp.add("RETR: message 3: 4100 bytes, LIST said 4096")
	smp.add("RETR: message 5: 4101 bytes, LIST said 4097") // the same but for its numbers
	smp.add("PASS: \"-ERR [AUTH] Authentication failed\"")
	return newResult(cfg, names, extra, st, 2*time.Second, smp)
}

func TestResultJSON(t *testing.T) {
	r := sampleResult()
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(buf.Bytes(), []byte("}\n")) || bytes.Count(buf.Bytes(), []byte("\n")) != 1 {
		t.Fatalf("not one JSON line: %q", buf.String())
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"mode", "server", "concurrency", "duration_s", "size", "users", "ops", "total", "error_samples"} {
		if _, ok := m[k]; !ok {
			t.Errorf("no %q in %s", k, buf.String())
		}
	}
	if m["mode"] != "pop3" || m["server"] != "127.0.0.1:1110" || m["duration_s"] != 2.0 || m["concurrency"] != 4.0 {
		t.Errorf("header fields: %s", buf.String())
	}
	ops := m["ops"].([]any)
	if len(ops) != 9 {
		t.Fatalf("%d ops lines, want 9 (8 commands and REFILL)", len(ops))
	}
	first := ops[0].(map[string]any)
	for _, k := range []string{"command", "ops", "ops_per_sec", "errors", "p50_ms", "p99_ms"} {
		if _, ok := first[k]; !ok {
			t.Errorf("no %q in an op line: %v", k, first)
		}
	}
	if first["command"] != "USER" || first["ops"] != 10.0 || first["ops_per_sec"] != 5.0 {
		t.Errorf("USER line %v", first)
	}
	// p50 of 1..10 ms is 5 ms, p99 10 ms (within the histogram's precision).
	if p := first["p50_ms"].(float64); p < 4.95 || p > 5.05 {
		t.Errorf("p50 %v", p)
	}
	if p := first["p99_ms"].(float64); p < 9.9 || p > 10.1 {
		t.Errorf("p99 %v", p)
	}
	if ops[8].(map[string]any)["command"] != "REFILL" {
		t.Errorf("last line %v", ops[8])
	}
	total := m["total"].(map[string]any)
	// TOTAL is the 8 POP3 commands, not REFILL.
	if total["command"] != "TOTAL" || total["ops"] != 80.0 || total["errors"] != 2.0 || total["ops_per_sec"] != 40.0 {
		t.Errorf("total %v", total)
	}
	samples := m["error_samples"].([]any)
	if len(samples) != 2 || !strings.Contains(samples[0].(string), "(2 times)") {
		t.Errorf("error samples %v", samples)
	}
	// Round trip.
	var back Result
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Op("RETR").Errors != 2 || back.Total.Ops != 80 {
		t.Errorf("round trip: %+v", back)
	}
}

func TestResultJSONNoErrors(t *testing.T) {
	cfg := &Config{Mode: ModeLMTP, Host: "::1", Port: 24, Concurrency: 1, Size: 4096, Users: 1}
	r := newResult(cfg, []string{"DELIVER"}, nil, newStats(1), time.Second, newSamples())
	var buf bytes.Buffer
	r.WriteJSON(&buf)
	s := buf.String()
	for _, want := range []string{`"server":"[::1]:24"`, `"error_samples":[]`, `"ops":[{"command":"DELIVER","ops":0,"ops_per_sec":0,"errors":0,"p50_ms":0,"p99_ms":0}]`} {
		if !strings.Contains(s, want) {
			t.Errorf("no %s in %s", want, s)
		}
	}
}

func TestResultTable(t *testing.T) {
	r := sampleResult()
	var buf bytes.Buffer
	if err := r.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	want := []string{
		"mode pop3  server 127.0.0.1:1110  concurrency 4  duration 2.0s  size 4096  users 10",
		"COMMAND             OPS      OPS/S   ERRORS    P50 MS    P99 MS",
		"USER                 10        5.0        0     5.008    10.000", // 5 ms within the histogram's precision
	}
	for i, w := range want {
		if lines[i] != w {
			t.Errorf("line %d:\n got %q\nwant %q", i, lines[i], w)
		}
	}
	// The commands, TOTAL, then REFILL, then the errors.
	var cmds []string
	for _, l := range lines[2:] {
		if strings.HasPrefix(l, "errors:") {
			break
		}
		cmds = append(cmds, strings.Fields(l)[0])
	}
	if got := strings.Join(cmds, " "); got != "USER PASS STAT UIDL LIST RETR DELE QUIT TOTAL REFILL" {
		t.Errorf("rows %s", got)
	}
	if !strings.Contains(buf.String(), "TOTAL                80       40.0        2") {
		t.Errorf("TOTAL row wrong:\n%s", buf.String())
	}
	if !strings.Contains(buf.String(), "errors:\n  RETR: message 3: 4100 bytes, LIST said 4096 (2 times)\n  PASS:") {
		t.Errorf("error samples wrong:\n%s", buf.String())
	}
}

func TestSamplesBounded(t *testing.T) {
	s := newSamples()
	for i := range 100 {
		s.add(strings.Repeat("x", i)) // all distinct
	}
	if len(s.list) != maxSamples || s.other != 100-maxSamples {
		t.Fatalf("%d kept, %d other", len(s.list), s.other)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Defaults
	ok.Mode, ok.Port = ModeIMAP, 143
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(c *Config){
		"mode":          func(c *Config) { c.Mode = "smtp" },
		"no port":       func(c *Config) { c.Port = 0 },
		"port":          func(c *Config) { c.Port = 70000 },
		"lmtp port":     func(c *Config) { c.LMTPPort = -1 },
		"users":         func(c *Config) { c.Users = 0 },
		"pattern none":  func(c *Config) { c.UserPattern = "bench@example.com" },
		"pattern two":   func(c *Config) { c.UserPattern = "b%d-%d" },
		"pattern verb":  func(c *Config) { c.UserPattern = "b%s" },
		"pattern space": func(c *Config) { c.UserPattern = "b %d" },
		"concurrency":   func(c *Config) { c.Concurrency = 0 },
		"duration":      func(c *Config) { c.Duration = 0 },
		"size":          func(c *Config) { c.Size = 100 },
		"sessions":      func(c *Config) { c.Sessions = 0 },
		"prefill":       func(c *Config) { c.Prefill = -1 },
		"password":      func(c *Config) { c.Password = "a\r\nb" },
	} {
		c := ok
		mut(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	c := ok
	c.UserPattern = "user%03d"
	if err := c.Validate(); err != nil || c.user(7) != "user007" {
		t.Errorf("pattern %%03d: %v %q", err, c.user(7))
	}
}
