#!/usr/bin/env bash
# Subscriber service benchmark: `broadsheet serve` under wrk on loopback
# while `digest send --force` delivers one issue to 100,000 subscribers
# (each following 1-5 of 20 columns) through Postfix's discarding server
# smtp-sink, so the server and the sender share the state database.
#
#   bench/serve.sh
#
# Measures, each with wrk --latency for BENCH_DURATION while the send runs:
#   (a) GET /feeds/col-00/atom.xml with If-None-Match: <its ETag> (304s)
#   (b) POST /unsubscribe?token=... with List-Unsubscribe=One-Click
#       (RFC 8058), cycling through distinct subscribers' signed links
# then prints requests/s and p99 latency against the targets, whether the
# send finished and delivered, and any "database is locked" in the logs of
# either process. Missing a target is reported, not an error: the script
# exits non-zero only when something actually fails.
#
# The unsubscribe links are signed here with the server's secret in the
# format of src/token.rs: base64url(<id>.u.<expiry>) "." base64url(
# HMAC-SHA256(secret, <id>.u.<expiry> "\n" <address, domain lower-cased>)).
#
# Environment:
#   BENCH_SUBSCRIBERS=N      subscribers (default 100000)
#   BENCH_CONNECTIONS=N      SMTP connections of the digest send (default 16)
#   BENCH_DURATION=T         each wrk run, as wrk reads it (default 10s)
#   BENCH_WRK_THREADS=N      wrk threads (default 2)
#   BENCH_WRK_CONNECTIONS=N  wrk connections (default 32)
#   BENCH_TOKENS=N           distinct unsubscribe links for (b) (default: one
#                            per subscriber; fewer repeat, and a repeat
#                            unsubscribes someone already unsubscribed)
#   BENCH_SEND_LEAD=S        seconds between starting the send and the first
#                            wrk run (default 1)
#   BENCH_SEND=0             measure without the concurrent digest send (a
#                            baseline; the send is the default)
#   BENCH_SEND_TIMEOUT=S     give up on the send after this many seconds from
#                            its start (default 300); reported as a failure
#   BENCH_KEEP=1             keep the temporary folder (publication, state,
#                            logs, wrk output) and print its path
#   BROADSHEET_BIN=PATH      measure this binary; skips cargo build
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
SUBSCRIBERS="${BENCH_SUBSCRIBERS:-100000}"
CONNECTIONS="${BENCH_CONNECTIONS:-16}"
DURATION="${BENCH_DURATION:-10s}"
WRK_THREADS="${BENCH_WRK_THREADS:-2}"
WRK_CONNECTIONS="${BENCH_WRK_CONNECTIONS:-32}"
TOKENS="${BENCH_TOKENS:-$SUBSCRIBERS}"
SEND_LEAD="${BENCH_SEND_LEAD:-1}"
SEND_TIMEOUT="${BENCH_SEND_TIMEOUT:-300}"
WITH_SEND="${BENCH_SEND:-1}"
KEEP="${BENCH_KEEP:-0}"
NOW="2026-11-30T09:00:00+08:00"
SECRET="bench-secret-for-loopback-only"  # serve wants 16 characters or more
FEED_COLUMN="col-00"

# Targets.
FEED_RPS_TARGET=5000
FEED_P99_TARGET_MS=50
UNSUB_RPS_TARGET=1000
UNSUB_P99_TARGET_MS=50

. "$HERE/lib.sh"

need() { # COMMAND PACKAGE
    command -v "$1" >/dev/null 2>&1 && return
    log "installing $2 with apt-get ..."
    export DEBIAN_FRONTEND=noninteractive
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections 2>/dev/null || true
    apt-get update -qq >/dev/null 2>&1 || true
    apt-get install -y -qq --no-install-recommends "$2" >/dev/null || die "apt-get install $2 failed"
}
export PATH="$PATH:/usr/sbin"
need smtp-sink postfix
need sqlite3 sqlite3
need wrk wrk
need curl curl
command -v python3 >/dev/null 2>&1 || need python3 python3

release_binary

WORK="$(mktemp -d)"
SINK_PID=""
SERVER_PID=""
SEND_PID=""
WATCH_PID=""
stop() { # PID: ends one process this script started
    [ -n "$1" ] || return 0
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
cleanup() {
    stop "$SEND_PID"
    stop "$WATCH_PID"
    stop "$SERVER_PID"
    stop "$SINK_PID"
    if [ "$KEEP" = 1 ]; then
        log "kept: $WORK (serve.log, send.log, wrk-*.txt, broadsheet.db)"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
SMTP_PORT="$(free_port)"
HTTP_PORT="$(free_port)"
while [ "$HTTP_PORT" = "$SMTP_PORT" ]; do HTTP_PORT="$(free_port)"; done
BASE="http://127.0.0.1:$HTTP_PORT"

# Only the config below speaks: no BROADSHEET_* of the caller's.
while IFS= read -r v; do
    case "$v" in BROADSHEET_BIN) ;; BROADSHEET_*) unset "$v" ;; esac
done < <(compgen -e)

log "writing a publication of 20 columns and $SUBSCRIBERS subscribers ..."
python3 - "$WORK" "$SUBSCRIBERS" "$SMTP_PORT" "$CONNECTIONS" "$HTTP_PORT" "$SECRET" <<'PY'
import os, random, sys
work, n, port, conns, http_port, secret = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
rng = random.Random(7)
pool = ("的一是在不了有和人這中大為上個國我以要他時來用們生到作地於出就分對成會可主發年動同工也能下過子說產種面而方後多定行學法所民得經"
        "十三之進著等部度家電力裡如水化高自二理起小物現實加量都兩體制機當使點從業本去把性好應開它合還因由其些然前外天政四日那社義事平形相全"
        "表間樣與關各重新線內數正心反你明看原又麼利比或但質氣第向道命此變條只沒結解問意建月公無系軍很情者最立代想已通並提直題黨程展五果料象")
def sentence(lo, hi):
    return "".join(rng.choice(pool) for _ in range(rng.randint(lo, hi))) + rng.choice("。。。！？")
cols = [f"col-{i:02d}" for i in range(20)]
os.makedirs(f"{work}/content", exist_ok=True)
with open(f"{work}/config.toml", "w") as f:
    f.write(f'''[site]
title = "論壇"
base_url = "https://news.example.com"

[feeds]
id_authority = "news.example.com"

[digest]
from = "論壇 <digest@news.example.com>"
schedule = "Mon 08:00"

[smtp]
host = "127.0.0.1"
port = {port}
max_connections = {conns}
retries = 1
retry_backoff_ms = 100

[server]
bind = "127.0.0.1:{http_port}"
public_url = "http://127.0.0.1:{http_port}"
secret = "{secret}"
''')
    for c in cols:
        f.write(f'\n[[columns]]\nslug = "{c}"\ntitle = "{sentence(3, 6)[:-1]}"\ndescription = "{sentence(20, 40)}"\n')
for c in cols:
    os.makedirs(f"{work}/content/{c}", exist_ok=True)
    for k in range(3):
        body = "\n\n".join(sentence(30, 80) + sentence(30, 80) for _ in range(6))
        with open(f"{work}/content/{c}/a{k}.md", "w") as f:
            f.write(f'+++\ntitle = "{sentence(8, 16)[:-1]}"\npublished = 2026-11-{24 + k}T07:00:00+08:00\n'
                    f'authors = [{{ name = "{sentence(2, 3)[:-1]}", role = "{sentence(6, 10)[:-1]}" }}]\n+++\n\n{body}\n')
with open(f"{work}/subscribers.csv", "w") as f:
    f.write("email,name,columns\n")
    for i in range(n):
        follows = ";".join(sorted(rng.sample(cols, rng.randint(1, 5))))
        name = sentence(2, 3)[:-1] if rng.random() < 0.7 else ""
        f.write(f"reader{i}@Bench{i % 97}.example,{name},{follows}\n")
PY

bs() { "$BIN" --config "$WORK/config.toml" --now "$NOW" "$@"; }
bs -q subscribers import "$WORK/subscribers.csv" || die "subscribers import failed"
bs -q build || die "broadsheet build failed"
DB="$WORK/broadsheet.db"
[ -f "$DB" ] || die "no state database at $DB after the import"
ACTIVE="$(sqlite3 "$DB" "SELECT count(*) FROM subscribers WHERE status = 'active'")"
log "  $ACTIVE active subscribers in the state"

log "signing $TOKENS unsubscribe links ..."
sqlite3 -separator $'\t' "$DB" "SELECT id, email_key FROM subscribers WHERE status = 'active' ORDER BY id" >"$WORK/keys.tsv"
python3 - "$WORK" "$SECRET" "$NOW" "$TOKENS" <<'PY'
import base64, hashlib, hmac, random, sys
from datetime import datetime, timedelta
work, secret, now, count = sys.argv[1], sys.argv[2].encode(), sys.argv[3], int(sys.argv[4])
expires = int((datetime.fromisoformat(now) + timedelta(days=365)).timestamp())
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
rows = [line.rstrip("\n").split("\t", 1) for line in open(f"{work}/keys.tsv", encoding="utf-8")]
def token(sid, key):
    payload = f"{sid}.u.{expires}"
    tag = hmac.new(secret, payload.encode() + b"\n" + key.encode(), hashlib.sha256).digest()
    return f"{b64(payload.encode())}.{b64(tag)}"
# The last subscriber checks the signing with curl; wrk gets the others,
# shuffled so that consecutive requests touch unrelated rows.
probe_id, probe_key = rows.pop()
with open(f"{work}/probe.txt", "w") as f:
    f.write(f"{probe_id}\t/unsubscribe?token={token(probe_id, probe_key)}\n")
random.Random(11).shuffle(rows)
with open(f"{work}/unsubscribe-paths.txt", "w") as f:
    for sid, key in rows[:count]:
        f.write(f"/unsubscribe?token={token(sid, key)}\n")
PY
N_PATHS="$(wc -l <"$WORK/unsubscribe-paths.txt")"

cat >"$WORK/unsubscribe.lua" <<'LUA'
-- Each thread takes every Nth line of the file (N = threads, from the
-- arguments) and POSTs them in turn as RFC 8058 one-click unsubscribes.
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

local paths = {}
local i = 0
function init(args)
  local file, nthreads = args[1], tonumber(args[2])
  local n = 0
  for line in io.lines(file) do
    if n % nthreads == id then paths[#paths + 1] = line end
    n = n + 1
  end
  if #paths == 0 then error("no unsubscribe paths for thread " .. id) end
end

local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
function request()
  i = i % #paths + 1
  return wrk.format("POST", paths[i], headers, "List-Unsubscribe=One-Click")
end
LUA

log "starting smtp-sink on 127.0.0.1:$SMTP_PORT ..."
smtp-sink -u nobody -c "127.0.0.1:$SMTP_PORT" 1024 >/dev/null 2>&1 &
SINK_PID=$!

log "starting broadsheet serve on $BASE ..."
"$BIN" --config "$WORK/config.toml" --now "$NOW" serve >"$WORK/serve.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 150); do
    kill -0 "$SERVER_PID" 2>/dev/null || { tail -n 40 "$WORK/serve.log" >&2; die "broadsheet serve exited"; }
    curl -fsS -o /dev/null --max-time 1 "$BASE/healthz" 2>/dev/null && break
    sleep 0.1
done
curl -fsS -o /dev/null --max-time 1 "$BASE/healthz" || { tail -n 40 "$WORK/serve.log" >&2; die "no 200 from $BASE/healthz within 15 s"; }

FEED_URL="$BASE/feeds/$FEED_COLUMN/atom.xml"
ETAG="$(curl -fsS -D - -o /dev/null "$FEED_URL" | tr -d '\r' | awk -F': ' 'tolower($1) == "etag" { print $2 }')" \
    || die "GET $FEED_URL failed"
[ -n "$ETAG" ] || die "GET $FEED_URL carries no ETag"
code="$(curl -sS -o /dev/null -w '%{http_code}' -H "If-None-Match: $ETAG" "$FEED_URL")"
[ "$code" = 304 ] || die "GET $FEED_URL with If-None-Match: $ETAG answered $code, expected 304"
log "  $FEED_URL: ETag $ETAG, 304 when it matches"

IFS=$'\t' read -r PROBE_ID PROBE_PATH <"$WORK/probe.txt"
code="$(curl -sS -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/x-www-form-urlencoded' \
    --data 'List-Unsubscribe=One-Click' "$BASE$PROBE_PATH")"
[ "$code" = 200 ] || die "one-click POST of a link signed here answered $code, expected 200: is the token format still that of src/token.rs?"
probe_status="$(sqlite3 -cmd '.timeout 5000' "$DB" "SELECT status FROM subscribers WHERE id = $PROBE_ID")"
[ "$probe_status" = unsubscribed ] || die "after a one-click POST, subscriber $PROBE_ID is $probe_status, expected unsubscribed"
log "  a link signed here unsubscribes its subscriber"

# start_send: digest send --force in the background. A subshell notes when
# it ends; SEND_PID is the sender itself, WATCH_PID the subshell.
start_send() {
    log "starting digest send --force to $ACTIVE subscribers through smtp-sink ..."
    SEND_START="$(date +%s.%N)"
    (
        "$BIN" --config "$WORK/config.toml" --now "$NOW" digest send --force >"$WORK/send.log" 2>&1 &
        echo $! >"$WORK/send.pid"
        rc=0
        wait $! || rc=$?
        date +%s.%N >"$WORK/send.end"
        echo "$rc" >"$WORK/send.rc"
    ) &
    WATCH_PID=$!
    for _ in $(seq 1 50); do [ -s "$WORK/send.pid" ] && break; sleep 0.1; done
    SEND_PID="$(cat "$WORK/send.pid")"
    sleep "$SEND_LEAD"
}

# finish_send: waits for the send until SEND_TIMEOUT seconds after its start,
# stops it then; sets SEND_RC ("timeout" if stopped) and SEND_WALL.
finish_send() {
    log "waiting for digest send to finish (at most ${SEND_TIMEOUT} s from its start) ..."
    local deadline
    deadline="$(awk -v a="$SEND_START" -v t="$SEND_TIMEOUT" 'BEGIN { printf "%d", a + t }')"
    while kill -0 "$WATCH_PID" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ]; do sleep 1; done
    if kill -0 "$WATCH_PID" 2>/dev/null; then
        log "digest send has not finished after ${SEND_TIMEOUT} s; stopping it"
        log "  deliveries now: $(delivery_counts)"
        stop "$SEND_PID"
        stop "$WATCH_PID"
        SEND_RC="timeout"
        SEND_WALL=">$SEND_TIMEOUT"
    else
        wait "$WATCH_PID" 2>/dev/null || true
        SEND_RC="$(cat "$WORK/send.rc" 2>/dev/null || echo '?')"
        SEND_WALL="$(awk -v a="$SEND_START" -v b="$(cat "$WORK/send.end" 2>/dev/null || echo "$SEND_START")" \
            'BEGIN { printf "%.1f", b - a }')"
    fi
    SEND_PID=""
    WATCH_PID=""
}

delivery_counts() {
    sqlite3 -cmd '.timeout 5000' "$DB" "SELECT group_concat(status || ' ' || n, ', ')
        FROM (SELECT status, count(*) AS n FROM deliveries GROUP BY status ORDER BY status)"
}

SEND_RC="none"
SEND_WALL="0"
if [ "$WITH_SEND" = 1 ]; then
    start_send
else
    log "no digest send this time (BENCH_SEND=0): a baseline"
fi

run_wrk() { # NAME ARGS...
    local name="$1"; shift
    local running=no
    [ -n "$SEND_PID" ] && kill -0 "$SEND_PID" 2>/dev/null && running=yes
    log "wrk $name ($DURATION, $WRK_THREADS threads, $WRK_CONNECTIONS connections; send running at start: $running) ..."
    wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"$DURATION" --timeout 5s --latency "$@" >"$WORK/wrk-$name.txt" 2>&1 \
        || { cat "$WORK/wrk-$name.txt" >&2; die "wrk $name failed"; }
    local after=no
    [ -n "$SEND_PID" ] && kill -0 "$SEND_PID" 2>/dev/null && after=yes
    printf '%s %s\n' "$running" "$after" >"$WORK/overlap-$name.txt"
    sed 's/^/    /' "$WORK/wrk-$name.txt" >&2
}
run_wrk feed -H "If-None-Match: $ETAG" "$FEED_URL"
UNSUB_BEFORE="$(sqlite3 -cmd '.timeout 5000' "$DB" "SELECT count(*) FROM subscribers WHERE status = 'unsubscribed'")"
run_wrk unsubscribe -s "$WORK/unsubscribe.lua" "$BASE/unsubscribe" -- "$WORK/unsubscribe-paths.txt" "$WRK_THREADS"
UNSUB_AFTER="$(sqlite3 -cmd '.timeout 5000' "$DB" "SELECT count(*) FROM subscribers WHERE status = 'unsubscribed'")"

[ "$WITH_SEND" = 1 ] && finish_send
DELIVERIES="$(delivery_counts)"
SERVER_ALIVE=no
kill -0 "$SERVER_PID" 2>/dev/null && SERVER_ALIVE=yes
stop "$SERVER_PID"
SERVER_PID=""
LOCKED_SERVE="$(grep -ci 'database is locked' "$WORK/serve.log" || true)"
LOCKED_SEND="n/a"
[ -f "$WORK/send.log" ] && LOCKED_SEND="$(grep -ci 'database is locked' "$WORK/send.log" || true)"

python3 - "$WORK" "$SUBSCRIBERS" "$DURATION" "$WRK_THREADS" "$WRK_CONNECTIONS" "$N_PATHS" \
    "$FEED_RPS_TARGET" "$FEED_P99_TARGET_MS" "$UNSUB_RPS_TARGET" "$UNSUB_P99_TARGET_MS" \
    "$SEND_RC" "$SEND_WALL" "$DELIVERIES" "$UNSUB_BEFORE" "$UNSUB_AFTER" \
    "$LOCKED_SERVE" "$LOCKED_SEND" "$SERVER_ALIVE" "$FEED_COLUMN" <<'PY'
import re, sys
(work, n, duration, threads, conns, n_paths, feed_rps_t, feed_p99_t, unsub_rps_t, unsub_p99_t,
 send_rc, send_wall, deliveries, unsub_before, unsub_after, locked_serve, locked_send, server_alive,
 column) = sys.argv[1:]

def parse(name):
    text = open(f"{work}/wrk-{name}.txt", encoding="utf-8", errors="replace").read()
    rps = re.search(r"Requests/sec:\s*([\d.]+)", text)
    p99 = re.search(r"^\s*99(?:\.0+)?%\s+([\d.]+)(us|ms|s)\b", text, re.M)
    total = re.search(r"(\d+) requests in", text)
    bad = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", text)
    sock = re.search(r"Socket errors:\s*(.*)", text)
    ms = None
    if p99:
        ms = float(p99.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    return {
        "rps": float(rps.group(1)) if rps else None,
        "p99": ms,
        "total": int(total.group(1)) if total else 0,
        "bad": int(bad.group(1)) if bad else 0,
        "sock": sock.group(1).strip() if sock else "none",
    }

def overlap(name):
    start, end = open(f"{work}/overlap-{name}.txt").read().split()
    return {("yes", "yes"): "throughout", ("yes", "no"): "part of it", ("no", "no"): "no"}.get((start, end), "?")

feed, unsub = parse("feed"), parse("unsubscribe")
def verdict(ok):
    return "PASS" if ok else "MISS"
def fmt_rps(v):
    return "?" if v is None else f"{v:,.0f}"
def fmt_ms(v):
    return "?" if v is None else f"{v:.2f} ms"

during = (f" while digest send --force delivers to {int(n):,} subscribers through smtp-sink"
          if send_rc != "none" else f" with {int(n):,} subscribers and no digest send (baseline)")
print(f"\nsubscriber service under load: wrk -t{threads} -c{conns} -d{duration} --latency on loopback,{during}")
print(f"{'':44}{'measured':>14}{'target':>14}")
rows = [
    (f"(a) GET /feeds/{column}/atom.xml, 304: req/s", fmt_rps(feed["rps"]), f">= {int(feed_rps_t):,}",
     feed["rps"] is not None and feed["rps"] >= float(feed_rps_t)),
    ("(a) p99 latency", fmt_ms(feed["p99"]), f"<= {feed_p99_t} ms",
     feed["p99"] is not None and feed["p99"] <= float(feed_p99_t)),
    ("(b) POST /unsubscribe one-click: req/s", fmt_rps(unsub["rps"]), f">= {int(unsub_rps_t):,}",
     unsub["rps"] is not None and unsub["rps"] >= float(unsub_rps_t)),
    ("(b) p99 latency", fmt_ms(unsub["p99"]), f"<= {unsub_p99_t} ms",
     unsub["p99"] is not None and unsub["p99"] <= float(unsub_p99_t)),
]
for label, measured, target, ok in rows:
    print(f"{label:44}{measured:>14}{target:>14}  {verdict(ok)}")
print()
for label, r, name in (("(a)", feed, "feed"), ("(b)", unsub, "unsubscribe")):
    print(f"{label} {r['total']:,} requests; non-2xx/3xx: {r['bad']:,}; socket errors: {r['sock']};"
          f" digest send running: {overlap(name)}")
fresh = int(unsub_after) - int(unsub_before)
print(f"(b) {int(n_paths):,} distinct links; subscribers newly unsubscribed during the run: {fresh:,}"
      + (" (the links ran out: later requests repeated ones already used)" if unsub["total"] > int(n_paths) else ""))
if send_rc == "none":
    print("digest send: not run (BENCH_SEND=0)")
elif send_rc == "timeout":
    print(f"digest send: did NOT finish within {send_wall[1:]} s and was stopped; deliveries: {deliveries or 'none'}")
else:
    print(f"digest send: exit {send_rc} in {send_wall} s ({'finished OK' if send_rc == '0' else 'FAILED'}); deliveries: {deliveries or 'none'}")
print(f"'database is locked' lines: serve {locked_serve}, digest send {locked_send}")
print(f"server still running at the end: {server_alive}")
PY

FAILED=0
[ "$SEND_RC" = 0 ] || [ "$SEND_RC" = none ] || { log "digest send failed (exit $SEND_RC); its last lines:"; tail -n 20 "$WORK/send.log" >&2; FAILED=1; }
[ "$SERVER_ALIVE" = yes ] || { log "broadsheet serve died during the run; its last lines:"; tail -n 20 "$WORK/serve.log" >&2; FAILED=1; }
if [ "$LOCKED_SERVE" != 0 ] || { [ "$LOCKED_SEND" != 0 ] && [ "$LOCKED_SEND" != n/a ]; }; then
    log "first 'database is locked' lines:"
    grep -hi 'database is locked' "$WORK/serve.log" "$WORK/send.log" 2>/dev/null | head -n 5 >&2
fi
exit "$FAILED"
