package message

import (
	"bytes"
	"fmt"
	"io"
	"math/rand"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
)

// gen makes random, real-world-shaped MIME messages. With damage set it
// also breaks them the ways real mail is broken: missing close delimiters,
// missing blank lines, bare LF line ends, junk and folded header lines,
// truncation.
type gen struct {
	r        *rand.Rand
	damage   bool
	crlfOnly bool // no bare LF line ends even when damaging
	n        int  // boundary counter
	b        strings.Builder
}

var words = strings.Fields("the quick brown fox jumps over lazy dog lorem ipsum dolor sit amet " +
	"--dash -- =?utf-8?q?caf=C3=A9?= münchen naïve 100% \"quoted\" (paren) <angle> a@b.example")

func (g *gen) nl() string {
	if g.damage && !g.crlfOnly && g.r.Intn(20) == 0 {
		return "\n"
	}
	return "\r\n"
}

func (g *gen) line(s string) { g.b.WriteString(s + g.nl()) }

func (g *gen) text(lines int) {
	for i := 0; i < lines; i++ {
		n := g.r.Intn(12)
		var ws []string
		for j := 0; j < n; j++ {
			ws = append(ws, words[g.r.Intn(len(words))])
		}
		g.line(strings.Join(ws, " "))
	}
}

func (g *gen) header(name, value string) {
	if g.r.Intn(4) == 0 && strings.Contains(value, " ") {
		// Fold at a space.
		i := strings.Index(value, " ")
		g.line(name + ": " + value[:i])
		g.line("\t" + value[i+1:])
		return
	}
	g.line(name + ": " + value)
}

func (g *gen) envelope() {
	addrs := []string{"alice@example.org", "Bob <bob@example.com>", `"Doe, J." <j@example.net>`,
		"undisclosed-recipients:;", "Team: x@example.org, y@example.org;", "=?utf-8?q?J=C3=B6rg?= <j@example.de>"}
	g.header("From", addrs[g.r.Intn(len(addrs))])
	if g.r.Intn(2) == 0 {
		g.header("To", addrs[g.r.Intn(len(addrs))]+", "+addrs[g.r.Intn(len(addrs))])
	}
	if g.r.Intn(3) == 0 {
		g.header("Cc", addrs[g.r.Intn(len(addrs))])
	}
	g.header("Subject", strings.Join([]string{words[g.r.Intn(len(words))], words[g.r.Intn(len(words))]}, " "))
	if g.r.Intn(2) == 0 {
		g.header("Date", "Tue, 2 Jan 2024 10:00:00 +0100")
	}
	if g.r.Intn(2) == 0 {
		g.header("Message-ID", fmt.Sprintf("<%d@example.org>", g.r.Int63()))
	}
	g.header("MIME-Version", "1.0")
}

// entity writes the header fields and body of one entity.
func (g *gen) entity(depth int, digest bool) {
	kind := g.r.Intn(10)
	if depth >= 4 {
		kind = 9
	}
	if g.damage && g.r.Intn(15) == 0 {
		g.line("junk header line without colon")
	}
	switch {
	case kind < 3: // multipart
		g.n++
		bd := fmt.Sprintf("=_b%d_%x", g.n, g.r.Int31())
		sub := []string{"mixed", "alternative", "related", "digest"}[g.r.Intn(4)]
		g.header("Content-Type", fmt.Sprintf("multipart/%s; boundary=\"%s\"", sub, bd))
		if !(g.damage && g.r.Intn(20) == 0) {
			g.line("")
		}
		if g.r.Intn(3) == 0 {
			g.text(1 + g.r.Intn(2)) // preamble
		}
		for i, n := 0, 1+g.r.Intn(3); i < n; i++ {
			g.line("--" + bd)
			g.entity(depth+1, sub == "digest")
		}
		if !(g.damage && g.r.Intn(6) == 0) {
			g.line("--" + bd + "--")
			if g.r.Intn(3) == 0 {
				g.text(1) // epilogue
			}
		}
	case kind < 5 || digest && kind < 7: // message/rfc822
		if !digest || g.r.Intn(2) == 0 {
			g.header("Content-Type", "message/rfc822")
		}
		g.line("")
		g.envelope()
		g.entity(depth+1, false)
	case kind < 7:
		g.header("Content-Type", "application/octet-stream; name=\"file.bin\"")
		g.header("Content-Transfer-Encoding", "base64")
		g.header("Content-Disposition", "attachment; filename=\"file.bin\"")
		if g.r.Intn(2) == 0 {
			g.header("Content-ID", fmt.Sprintf("<c%d@example.org>", g.r.Intn(1000)))
		}
		g.line("")
		for i, n := 0, 1+g.r.Intn(3); i < n; i++ {
			g.line("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v")
		}
	default:
		sub := []string{"plain", "html"}[g.r.Intn(2)]
		ct := g.r.Intn(3)
		if digest && ct == 2 {
			ct = 1 // in a digest no Content-Type means message/rfc822
		}
		switch ct {
		case 0:
			g.header("Content-Type", "text/"+sub+"; charset=utf-8")
			g.header("Content-Transfer-Encoding", "quoted-printable")
		case 1:
			g.header("Content-Type", "text/"+sub)
			if g.r.Intn(2) == 0 {
				g.header("Content-Language", "en, de")
			}
		}
		if g.r.Intn(4) == 0 {
			g.header("Content-Description", "a "+words[g.r.Intn(len(words))]+" part")
		}
		if !(g.damage && g.r.Intn(20) == 0) {
			g.line("")
		}
		g.text(g.r.Intn(5))
	}
}

func (g *gen) message() []byte {
	g.b.Reset()
	g.envelope()
	g.entity(0, false)
	raw := []byte(g.b.String())
	if g.damage && g.r.Intn(8) == 0 {
		raw = raw[:g.r.Intn(len(raw)+1)]
	}
	return raw
}

// TestMultipartMatchesStdlib checks the parts of well-formed generated
// messages against mime/multipart and net/mail.
func TestMultipartMatchesStdlib(t *testing.T) {
	g := &gen{r: rand.New(rand.NewSource(2))}
	for i := 0; i < 500; i++ {
		raw := g.message()
		c := Parse(raw)
		checkInvariants(t, c, raw)
		msg, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("#%d: net/mail: %v", i, err)
		}
		body, _ := io.ReadAll(msg.Body)
		if !bytes.Equal(body, raw[c.Body.BodyStart:]) {
			t.Fatalf("#%d: body differs from net/mail's", i)
		}
		compareStdlib(t, fmt.Sprint(i), raw, &c.Body)
	}
}

func compareStdlib(t *testing.T, where string, raw []byte, p *Part) {
	t.Helper()
	switch {
	case p.IsMultipart():
		bd, _ := paramValue(p.Params, "boundary")
		mr := multipart.NewReader(bytes.NewReader(raw[p.BodyStart:p.BodyEnd]), bd)
		for i := range p.Parts {
			sp, err := mr.NextRawPart()
			if err != nil {
				t.Fatalf("%s.%d: mime/multipart: %v", where, i+1, err)
			}
			content, err := io.ReadAll(sp)
			if err != nil {
				t.Fatalf("%s.%d: mime/multipart: %v", where, i+1, err)
			}
			child := &p.Parts[i]
			ours := raw[child.BodyStart:child.BodyEnd]
			if (bytes.HasSuffix(ours, []byte("--\r\n")) || bytes.HasSuffix(ours, []byte("\r\n\r\n"))) &&
				bytes.Equal(ours[:len(ours)-2], content) {
				// The line end that ends a close delimiter line or a
				// header, when the next delimiter follows at once: RFC
				// 2046 gives it to that delimiter, Dovecot and this
				// package leave it where it is.
				ours = ours[:len(ours)-2]
			}
			if !bytes.Equal(content, ours) {
				t.Fatalf("%s.%d: body\n ours %q\n  std %q", where, i+1, raw[child.BodyStart:child.BodyEnd], content)
			}
			if ct := sp.Header.Get("Content-Type"); ct != "" {
				typ, _, _ := strings.Cut(ct, ";")
				if !strings.EqualFold(strings.TrimSpace(typ), child.MediaType()) {
					t.Fatalf("%s.%d: type %s, header says %q", where, i+1, child.MediaType(), ct)
				}
			}
			compareStdlib(t, fmt.Sprintf("%s.%d", where, i+1), raw, child)
		}
		if _, err := mr.NextRawPart(); err != io.EOF {
			t.Fatalf("%s: mime/multipart has more parts than we do (%v)", where, err)
		}
	case p.Message != nil:
		m := &p.Message.Body
		msg, err := mail.ReadMessage(bytes.NewReader(raw[p.BodyStart:p.BodyEnd]))
		if err != nil {
			t.Fatalf("%s: net/mail: %v", where, err)
		}
		body, _ := io.ReadAll(msg.Body)
		if !bytes.Equal(body, raw[m.BodyStart:m.BodyEnd]) {
			t.Fatalf("%s: encapsulated body differs from net/mail's", where)
		}
		if got, want := p.Message.Envelope.Subject.Value, forHumans(msg.Header.Get("Subject")); got != want {
			t.Fatalf("%s: subject %q, net/mail %q", where, got, want)
		}
		compareStdlib(t, where+".msg", raw, m)
	}
}

func TestDamagedMessages(t *testing.T) {
	g := &gen{r: rand.New(rand.NewSource(3)), damage: true}
	for i := 0; i < 2000; i++ {
		raw := g.message()
		checkInvariants(t, Parse(raw), raw)
	}
}
