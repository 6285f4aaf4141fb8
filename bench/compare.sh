#!/usr/bin/env bash
# bench/compare.sh: M-Store against Dovecot (Debian's), same machine, same
# loads, same users and password hashes. See bench/README.md.
#
# Usage: bench/compare.sh [--duration 20s] [--rounds 2] [--users 100]
#          [--quick] [--keep] [--markdown] [--profile] [--stat best|median]
#          [--results DIR] [--cost 10] [--size 4096] [--sessions 100]
#          [--loads "idle lmtp1 lmtp16 imap pop3"]
#
# Run as root from anywhere (it finds the repository from its own path).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)

DURATION=20s
ROUNDS=2
USERS=100
KEEP=0
MARKDOWN=0
PROFILE=0
STAT=best
RESULTS_OUT=
COST=10
SIZE=4096
CONC=16
SESSIONS=100
PREFILL=20
PASSWORD=bench-Passw0rd
LOADS="idle lmtp1 lmtp16 imap pop3"
MS_USER=msbench
DC_USER=dovecotbench

usage() {
	sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
	cat <<'EOF'

  --duration D    length of each timed run (Go duration; default 20s)
  --rounds N      rounds; each round runs every load on M-Store then on
                  Dovecot (default 2)
  --users N       users per load (default 100)
  --quick         5 s runs: a smoke test, not a measurement
  --keep          keep the temporary directory (configurations, logs, data,
                  every run's JSON) and say where it is
  --markdown      print the final table as Markdown (for docs/PERFORMANCE.md)
  --profile       after the rounds, one extra LMTP@16 and IMAP run per
                  server under `perf record -a` (CPU profile, not counted)
  --stat S        "best" (default: the best round of each figure) or
                  "median" (the median of the rounds)
  --results DIR   copy every run's results (and profiles) to DIR
  --cost N        bcrypt cost of the users' password hash (default 10)
  --size BYTES    message size for LMTP and APPEND (default 4096)
  --sessions N    idle IMAP sessions for the memory figure (default 100)
  --loads "L..."  run only these of: idle lmtp1 lmtp16 imap pop3 (default all)
EOF
}

while [ $# -gt 0 ]; do
	case $1 in
	--duration) DURATION=$2; shift 2 ;;
	--duration=*) DURATION=${1#*=}; shift ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	--rounds=*) ROUNDS=${1#*=}; shift ;;
	--users) USERS=$2; shift 2 ;;
	--users=*) USERS=${1#*=}; shift ;;
	--quick) DURATION=5s; shift ;;
	--keep) KEEP=1; shift ;;
	--markdown) MARKDOWN=1; shift ;;
	--profile) PROFILE=1; shift ;;
	--stat) STAT=$2; shift 2 ;;
	--stat=*) STAT=${1#*=}; shift ;;
	--results) RESULTS_OUT=$2; shift 2 ;;
	--results=*) RESULTS_OUT=${1#*=}; shift ;;
	--cost) COST=$2; shift 2 ;;
	--cost=*) COST=${1#*=}; shift ;;
	--size) SIZE=$2; shift 2 ;;
	--size=*) SIZE=${1#*=}; shift ;;
	--sessions) SESSIONS=$2; shift 2 ;;
	--sessions=*) SESSIONS=${1#*=}; shift ;;
	--loads) LOADS=$2; shift 2 ;;
	--loads=*) LOADS=${1#*=}; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "compare.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done
case $ROUNDS in '' | *[!0-9]* | 0) echo "compare.sh: --rounds wants a positive number" >&2; exit 2 ;; esac
case $USERS in '' | *[!0-9]* | 0) echo "compare.sh: --users wants a positive number" >&2; exit 2 ;; esac
case $STAT in best | median) ;; *) echo "compare.sh: --stat is best or median" >&2; exit 2 ;; esac
case $SESSIONS in '' | *[!0-9]* | 0) echo "compare.sh: --sessions wants a positive number" >&2; exit 2 ;; esac
for l in $LOADS; do
	case $l in idle | lmtp1 | lmtp16 | imap | pop3) ;; *) echo "compare.sh: unknown load $l (--loads)" >&2; exit 2 ;; esac
done

log() { printf '%s compare.sh: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (it installs Dovecot, creates users and starts both servers)"
command -v python3 >/dev/null || die "python3 is needed"
# The interpreter itself, not a wrapper (a pyenv shim runs several shell
# scripts per call, CPU taken from the servers under test).
PY=$(python3 -c 'import sys; print(sys.executable)')
command -v go >/dev/null || die "go is needed to build M-Store"

# --- Dovecot from Debian, system service stopped --------------------------

stop_system_dovecot() {
	if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
		systemctl stop dovecot.service dovecot.socket >/dev/null 2>&1 || true
		systemctl disable dovecot.service dovecot.socket >/dev/null 2>&1 || true
	elif command -v service >/dev/null && [ -x /etc/init.d/dovecot ]; then
		service dovecot stop >/dev/null 2>&1 || true
		if command -v update-rc.d >/dev/null; then
			update-rc.d dovecot disable >/dev/null 2>&1 || true
		fi
	fi
	if [ -s /run/dovecot/master.pid ] && kill -0 "$(cat /run/dovecot/master.pid)" 2>/dev/null; then
		log "stopping the system Dovecot (pid $(cat /run/dovecot/master.pid))"
		kill "$(cat /run/dovecot/master.pid)" || true
	fi
}

if ! command -v dovecot >/dev/null || ! command -v doveadm >/dev/null ||
	[ ! -x /usr/lib/dovecot/imap ] || [ ! -x /usr/lib/dovecot/pop3 ] || [ ! -x /usr/lib/dovecot/lmtp ]; then
	log "installing Dovecot from Debian"
	DEBIAN_FRONTEND=noninteractive apt-get install -y dovecot-imapd dovecot-pop3d dovecot-lmtpd >&2 ||
		{ apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y dovecot-imapd dovecot-pop3d dovecot-lmtpd >&2; } ||
		die "apt-get install dovecot-imapd dovecot-pop3d dovecot-lmtpd failed"
fi
stop_system_dovecot

# --- unprivileged users owning the mail ------------------------------------

ensure_user() {
	id "$1" >/dev/null 2>&1 ||
		useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$1" ||
		die "cannot create user $1"
}
ensure_user "$MS_USER"
ensure_user "$DC_USER"

# --- the temporary directory and cleanup ------------------------------------

TMP=$(mktemp -d "${TMPDIR:-/tmp}/mstore-bench.XXXXXX")
chmod 755 "$TMP" # the unprivileged servers must reach their directories
RES=$TMP/results
mkdir -p "$RES" "$TMP/pids"
MS_PID=
DC_PID=
SAMPLER_PID=
BENCH_PID=
IDLE2_PID=
PERF_PID=

stop_pid() { # pid [seconds]: TERM, wait, then KILL
	local pid=$1 n=$((${2:-10} * 10))
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	while kill -0 "$pid" 2>/dev/null && [ "$n" -gt 0 ]; do
		sleep 0.1
		n=$((n - 1))
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	stop_pid "$PERF_PID" 5
	stop_pid "$BENCH_PID" 5
	stop_pid "$IDLE2_PID" 5
	stop_pid "$SAMPLER_PID" 5
	stop_pid "$MS_PID" 20
	stop_pid "$DC_PID" 20
	if [ -n "$RESULTS_OUT" ] && [ -d "$RES" ]; then
		mkdir -p "$RESULTS_OUT" && cp -r "$RES"/. "$RESULTS_OUT"/ && log "results copied to $RESULTS_OUT"
	fi
	if [ "$KEEP" -eq 1 ]; then
		log "kept $TMP"
	else
		rm -rf "$TMP"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- ports -----------------------------------------------------------------

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_ports() { # six consecutive free ports above 10000
	local base try p ok
	for try in $(seq 1 50); do
		base=$((20000 + (RANDOM % 4000) * 10))
		ok=1
		for p in $(seq "$base" $((base + 5))); do
			if port_busy "$p"; then ok=0; break; fi
		done
		if [ "$ok" -eq 1 ]; then echo "$base"; return 0; fi
		: "$try"
	done
	die "no free ports found"
}
BASE=$(pick_ports)
MS_LMTP=$BASE MS_IMAP=$((BASE + 1)) MS_POP3=$((BASE + 2))
DC_LMTP=$((BASE + 3)) DC_IMAP=$((BASE + 4)) DC_POP3=$((BASE + 5))

wait_ports() { # name pid port...: until every port accepts
	local name=$1 pid=$2 n=300 p
	shift 2
	for p in "$@"; do
		until port_busy "$p"; do
			kill -0 "$pid" 2>/dev/null || die "$name exited while starting (see its log in $TMP)"
			n=$((n - 1))
			[ "$n" -gt 0 ] || die "$name does not accept on port $p after 30 s"
			sleep 0.1
		done
	done
}

# --- machine ------------------------------------------------------------------

FS=$(df -PT "$TMP" | awk 'NR==2 {print $2 " on " $1}')
case $FS in
ext4*)
	# An ext4 journal shows as /proc/fs/jbd2/<device>-<n>: without one,
	# fsync waits for no journal commit (much cheaper renames and creates).
	DEV=$(df -P "$TMP" | awk 'NR==2 {print $1}')
	if compgen -G "/proc/fs/jbd2/$(basename "$DEV")-*" >/dev/null; then
		FS="$FS, with journal"
	else
		FS="$FS, without journal"
	fi
	;;
esac
{
	echo "nproc=$(nproc)"
	echo "mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
	echo "kernel=$(uname -r)"
	echo "fs=$FS ($TMP)"
	echo "cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
	echo "debian=$(cat /etc/debian_version 2>/dev/null || echo '?')"
	echo "go=$(go version | awk '{print $3}')"
	echo "dovecot=$(dovecot --version)"
	echo "duration=$DURATION"
	echo "rounds=$ROUNDS"
	echo "users=$USERS"
	echo "stat=$STAT"
	echo "cost=$COST"
	echo "size=$SIZE"
	echo "sessions=$SESSIONS"
	echo "loads=$LOADS"
	echo "uptime_start=$(uptime)"
} >"$RES/machine.txt"

log "temporary directory $TMP ($FS); ports $BASE-$((BASE + 5))"
log "measuring the disk's durable-write limit (fsynclat.py)"
"$PY" "$HERE/fsynclat.py" "$TMP" --json >"$RES/fsync.json"

# --- M-Store binary -------------------------------------------------------------

log "building M-Store"
(cd "$ROOT" && go build -o "$TMP/mstore" ./cmd/mstore) || die "go build ./cmd/mstore failed"
BIN=$TMP/mstore
# The load generator is a copy of the binary under another name: a
# profile (perf's "comm") tells it from the daemon, and the daemon's PSS
# does not shrink by sharing its text pages with the load generator (as a
# hard link or the same file would).
LOADGEN=$TMP/loadgen
cp "$BIN" "$LOADGEN"
"$LOADGEN" bench --help >/dev/null 2>&1 || die "this M-Store has no 'mstore bench' (the load generator) yet"

# --- users: the same bcrypt hash for both -------------------------------------------

HASH=$(doveadm pw -s BLF-CRYPT -r "$COST" -p "$PASSWORD") || die "doveadm pw failed"
BCRYPT=${HASH#\{BLF-CRYPT\}}
# One set of users per load, so that each load sees mailboxes that only it
# has filled (LMTP@16 on the faster server must not make the IMAP load's
# mailboxes bigger there).
LOADS_USERS="lmtp imap pop idle"
: >"$TMP/users.ms"
mkdir -p "$TMP/dovecot"
: >"$TMP/dovecot/passwd"
for prefix in $LOADS_USERS; do
	for i in $(seq 1 "$USERS"); do
		echo "$prefix$i@example.com:$BCRYPT" >>"$TMP/users.ms"
		echo "$prefix$i@example.com:$HASH::::::" >>"$TMP/dovecot/passwd"
	done
done

# --- Dovecot -----------------------------------------------------------------------

DC=$TMP/dovecot
DC_CONF=$DC/dovecot.conf
mkdir -p "$DC/run" "$DC/state" "$DC/log" "$DC/mail"
chown "$DC_USER:$DC_USER" "$DC/mail"
chmod 640 "$DC/passwd"
chgrp dovecot "$DC/passwd" 2>/dev/null || true
sed -e "s|@DIR@|$DC|g" \
	-e "s|@MAILUSER@|$DC_USER|g" -e "s|@MAILGROUP@|$DC_USER|g" \
	-e "s|@MAILUID@|$(id -u "$DC_USER")|g" -e "s|@MAILGID@|$(id -g "$DC_USER")|g" \
	-e "s|@IMAP_PORT@|$DC_IMAP|g" -e "s|@POP3_PORT@|$DC_POP3|g" -e "s|@LMTP_PORT@|$DC_LMTP|g" \
	"$HERE/dovecot.conf.in" >"$DC_CONF"
doveconf -c "$DC_CONF" -n >"$DC/doveconf-n.txt" 2>&1 || die "doveconf rejects $DC_CONF: $(cat "$DC/doveconf-n.txt")"

start_dovecot() {
	dovecot -F -c "$DC_CONF" >>"$DC/log/foreground.log" 2>&1 &
	DC_PID=$!
	echo "$DC_PID" >"$TMP/pids/dovecot.pid"
	wait_ports Dovecot "$DC_PID" "$DC_LMTP" "$DC_IMAP" "$DC_POP3"
}
stop_dovecot() {
	stop_pid "$DC_PID" 20
	DC_PID=
	: >"$TMP/pids/dovecot.pid"
}

# --- M-Store ---------------------------------------------------------------------------

MS=$TMP/ms
MS_CONF=$TMP/ms.conf
cat >"$MS_CONF" <<EOF
# M-Store configuration written by bench/compare.sh
ms-path = $MS
runtime-user = $MS_USER
lmtp-listen = 127.0.0.1:$MS_LMTP
imap-listen = 127.0.0.1:$MS_IMAP
pop3-listen = 127.0.0.1:$MS_POP3
imaps-listen = off
pop3s-listen = off
allow-plaintext-auth = yes
password-hash-cost = $COST
EOF
log "creating $((USERS * 4)) users on M-Store and Dovecot (bcrypt cost $COST, one hash)"
"$BIN" user import -f "$MS_CONF" "$TMP/users.ms" >"$TMP/ms-import.log" 2>&1 ||
	die "mstore user import failed: $(tail -3 "$TMP/ms-import.log")"

start_mstore() {
	"$BIN" serve -f "$MS_CONF" >>"$TMP/ms-serve.log" 2>&1 &
	MS_PID=$!
	echo "$MS_PID" >"$TMP/pids/mstore.pid"
	wait_ports M-Store "$MS_PID" "$MS_LMTP" "$MS_IMAP" "$MS_POP3"
}
stop_mstore() {
	stop_pid "$MS_PID" 30
	MS_PID=
	: >"$TMP/pids/mstore.pid"
}

start_dovecot
doveadm -c "$DC_CONF" auth test "lmtp1@example.com" "$PASSWORD" >"$DC/auth-test.txt" 2>&1 ||
	die "Dovecot does not accept the bcrypt hash ({BLF-CRYPT}${BCRYPT:0:7}...): $(cat "$DC/auth-test.txt")"
start_mstore

"$PY" "$HERE/proc.py" sample --interval 0.2 --out "$RES/peak.json" \
	mstore="$TMP/pids/mstore.pid" dovecot="$TMP/pids/dovecot.pid" &
SAMPLER_PID=$!

snap() { "$PY" "$HERE/proc.py" snap mstore="$TMP/pids/mstore.pid" dovecot="$TMP/pids/dovecot.pid"; }
settle() { "$PY" "$HERE/proc.py" settle --max 30 mstore="$TMP/pids/mstore.pid" dovecot="$TMP/pids/dovecot.pid"; }

# --- the loads -------------------------------------------------------------------------------

ports_of() { # server -> "LMTP IMAP POP3"
	case $1 in
	mstore) echo "$MS_LMTP $MS_IMAP $MS_POP3" ;;
	dovecot) echo "$DC_LMTP $DC_IMAP $DC_POP3" ;;
	esac
}

# bench_args load server: the mstore bench arguments of a load.
bench_args() {
	local lmtp imap pop3
	read -r lmtp imap pop3 <<<"$(ports_of "$2")"
	local common=(--host 127.0.0.1 --users "$USERS" --password "$PASSWORD" --duration "$DURATION" --size "$SIZE" --json)
	case $1 in
	lmtp1) echo lmtp --port "$lmtp" --concurrency 1 --user-pattern "lmtp%d@example.com" "${common[@]}" ;;
	lmtp16) echo lmtp --port "$lmtp" --concurrency "$CONC" --user-pattern "lmtp%d@example.com" "${common[@]}" ;;
	imap) echo imap --port "$imap" --lmtp-port "$lmtp" --prefill "$PREFILL" --concurrency "$CONC" --user-pattern "imap%d@example.com" "${common[@]}" ;;
	pop3) echo pop3 --port "$pop3" --lmtp-port "$lmtp" --prefill "$PREFILL" --concurrency "$CONC" --user-pattern "pop%d@example.com" "${common[@]}" ;;
	esac
}

# run_load id load server: one timed run; files $RES/<id>.{bench,err,pre,post,cpu,uptime}
run_load() {
	local id=$1 load=$2 server=$3 rc=0
	local -a args
	read -r -a args <<<"$(bench_args "$load" "$server")"
	uptime >"$RES/$id.uptime"
	snap >"$RES/$id.pre.json"
	"$PY" "$HERE/proc.py" run "$RES/$id.cpu.json" "$LOADGEN" bench "${args[@]}" >"$RES/$id.bench.json" 2>"$RES/$id.err" &
	BENCH_PID=$!
	wait "$BENCH_PID" || rc=$?
	BENCH_PID=
	snap >"$RES/$id.post.json"
	uptime >>"$RES/$id.uptime"
	if [ "$rc" -ne 0 ]; then
		log "  $id: mstore bench exited $rc: $(tail -2 "$RES/$id.err" | tr '\n' ' ')"
	fi
	"$PY" - "$RES/$id.bench.json" "$id" "$(head -1 "$RES/$id.uptime" | sed 's/.*load average: //')" <<'EOF' >&2 || true
import json, sys
try:
    b = json.load(open(sys.argv[1]))
except Exception as e:
    print("  %-22s no JSON result (%s)" % (sys.argv[2], e)); sys.exit(0)
ops = {o["command"]: o for o in b.get("ops", [])}
t = b.get("total", {})
extra = ""
if "RETR" in ops:
    extra = "  RETR %.0f/s" % ops["RETR"]["ops_per_sec"]
errors = sum(o.get("errors") or 0 for o in b.get("ops", []))
print("  %-22s %8.0f ops/s  errors %d%s  (load %s)" % (sys.argv[2], t.get("ops_per_sec", 0), errors, extra, sys.argv[3]))
EOF
}

# start_idle out err: one load generator holding $SESSIONS idle sessions
# (its pid in IDLE_PID); returns 1 if they are not all ready.
IDLE_PID=
IDLE_PORT=
start_idle() {
	local out=$1 err=$2 n=0
	"$LOADGEN" bench idle --host 127.0.0.1 --port "$IDLE_PORT" --users "$USERS" --sessions "$SESSIONS" \
		--user-pattern "idle%d@example.com" --password "$PASSWORD" --duration 900s >"$out" 2>"$err" &
	IDLE_PID=$!
	until grep -q '^ready' "$out" 2>/dev/null; do
		if ! kill -0 "$IDLE_PID" 2>/dev/null; then
			log "  mstore bench idle exited before it was ready: $(tail -2 "$err" | tr '\n' ' ')"
			IDLE_PID=
			return 1
		fi
		n=$((n + 1))
		if [ "$n" -gt 1800 ]; then
			log "  idle sessions not ready after 180 s"
			stop_pid "$IDLE_PID" 5
			IDLE_PID=
			return 1
		fi
		sleep 0.1
	done
}

# run_idle id server: memory of a fresh server ($id.pre.json), with
# $SESSIONS logged-in IDLE sessions ($id.post.json), and with a second
# batch of as many ($id.post2.json): the first difference includes what a
# Go heap had spare after start-up, the second is the marginal cost.
run_idle() {
	local id=$1 server=$2 lmtp pop3 first
	read -r lmtp IDLE_PORT pop3 <<<"$(ports_of "$server")"
	: "$lmtp" "$pop3"
	uptime >"$RES/$id.uptime"
	settle >"$RES/$id.pre.json"
	if start_idle "$RES/$id.bench.out" "$RES/$id.err"; then
		BENCH_PID=$IDLE_PID
		first=$IDLE_PID
		settle >"$RES/$id.post.json" # login processes gone, login garbage collected
		if start_idle "$RES/$id.bench2.out" "$RES/$id.err2"; then
			IDLE2_PID=$IDLE_PID
			settle >"$RES/$id.post2.json"
			stop_pid "$IDLE2_PID" 10
			IDLE2_PID=
		fi
		stop_pid "$first" 10
		BENCH_PID=
	fi
	uptime >>"$RES/$id.uptime"
	"$PY" - "$RES/$id" "$server" "$SESSIONS" <<'EOF' >&2 || true
import json, sys
pre, srv, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
def get(suffix):
    try:
        return json.load(open(pre + suffix))[srv]
    except Exception:
        return None
a, b, c = get(".pre.json"), get(".post.json"), get(".post2.json")
msg = "  %-22s PSS %d" % (pre.rsplit("/", 1)[1], a["pss_kb"])
if b:
    msg += " -> %d KiB (%.1f KiB/session)" % (b["pss_kb"], (b["pss_kb"] - a["pss_kb"]) / n)
if c:
    msg += " -> %d KiB (%.1f KiB/session)" % (c["pss_kb"], (c["pss_kb"] - b["pss_kb"]) / n)
print(msg + ", %d processes" % (c or b or a)["procs"])
EOF
}

SERVERS="mstore dovecot"

# The idle sessions' mailboxes get their messages once, here, so that no
# delivery process or delivery garbage is in the idle memory figures.
for s in $SERVERS; do
	case " $LOADS " in *" idle "*) ;; *) break ;; esac
	read -r lmtp imap pop3 <<<"$(ports_of "$s")"
	: "$pop3"
	"$LOADGEN" bench idle --host 127.0.0.1 --port "$imap" --lmtp-port "$lmtp" --prefill "$PREFILL" \
		--users "$USERS" --sessions 1 --user-pattern "idle%d@example.com" --password "$PASSWORD" \
		--duration 1s >"$RES/prefill-idle-$s.out" 2>&1 || log "prefill of the idle users on $s failed: $(tail -2 "$RES/prefill-idle-$s.out" | tr '\n' ' ')"
done

for r in $(seq 1 "$ROUNDS"); do
	log "round $r of $ROUNDS ($(uptime | sed 's/.*load average/load average/'))"
	# Fresh processes for the idle-memory baseline.
	stop_mstore
	stop_dovecot
	start_mstore
	start_dovecot
	for l in $LOADS; do
		[ "$l" = idle ] || continue
		for s in $SERVERS; do
			run_idle "r$r-idle-$s" "$s"
		done
	done
	for l in $LOADS; do
		[ "$l" != idle ] || continue
		for s in $SERVERS; do
			run_load "r$r-$l-$s" "$l" "$s"
		done
	done
done

# --- profiles (extra runs, not counted) ---------------------------------------------------------

if [ "$PROFILE" -eq 1 ]; then
	if ! command -v perf >/dev/null; then
		log "no perf: apt-get install linux-perf (profiles skipped)"
	else
		for l in lmtp16 imap; do
			case " $LOADS " in *" $l "*) ;; *) continue ;; esac
			for s in $SERVERS; do
				id=profile-$l-$s
				log "profiling $l on $s (perf record -a, cpu-clock)"
				perf record -a -g -e cpu-clock -F 499 -o "$RES/$id.perf.data" >"$RES/$id.perf.log" 2>&1 &
				PERF_PID=$!
				sleep 0.5
				run_load "$id" "$l" "$s"
				kill -INT "$PERF_PID" 2>/dev/null || true
				wait "$PERF_PID" 2>/dev/null || true
				PERF_PID=
				perf report -i "$RES/$id.perf.data" --stdio --no-children -g none --sort comm \
					>"$RES/$id.comm.txt" 2>/dev/null || true
				perf report -i "$RES/$id.perf.data" --stdio --no-children -g none --percent-limit 0.5 \
					--sort comm,dso,symbol >"$RES/$id.symbols.txt" 2>/dev/null || true
				perf report -i "$RES/$id.perf.data" --stdio --children -g none --percent-limit 2 \
					--sort comm,symbol >"$RES/$id.children.txt" 2>/dev/null || true
				rm -f "$RES/$id.perf.data"
			done
		done
	fi
fi

# --- disk bytes per message (servers stopped, so everything is on disk) --------------------------

log "stopping both servers and measuring disk use"
stop_pid "$SAMPLER_PID" 5
SAMPLER_PID=
stop_mstore
stop_dovecot
"$PY" "$HERE/disk.py" mstore "$MS" "$BIN" "$MS_CONF" >"$RES/disk-mstore.json" || log "disk.py mstore failed"
"$PY" "$HERE/disk.py" dovecot "$DC/mail" >"$RES/disk-dovecot.json" || log "disk.py dovecot failed"
echo "uptime_end=$(uptime)" >>"$RES/machine.txt"

# Errors the servers logged (M-Store: level=ERROR/WARN lines; Dovecot: its error log).
# compare.sh's own port probes (connect, close) make go-smtp log one
# "connection reset by peer" WARN per M-Store start: not counted.
grep -E 'level=(ERROR|WARN)' "$TMP/ms-serve.log" | grep -v 'connection reset by peer" proto=lmtp' \
	>"$RES/mstore-errors.log" 2>/dev/null || true
grep -iE 'error|fatal|panic' "$DC/log/dovecot.log" >"$RES/dovecot-errors.log" 2>/dev/null || true

fmt=text
[ "$MARKDOWN" -eq 1 ] && fmt=markdown
"$PY" "$HERE/report.py" "$RES" --format "$fmt" --stat "$STAT"
