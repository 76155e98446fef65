#!/usr/bin/env bash
# Digest delivery benchmark: one issue to 100,000 subscribers (each following
# 1-5 of 20 columns) through Postfix's discarding server smtp-sink on
# loopback, compared with Postfix's own C load client smtp-source sending
# messages of the same size at the same concurrency into the same sink.
#
#   bench/digest.sh
#
# Environment:
#   BENCH_SUBSCRIBERS=N   subscribers (default 100000)
#   BENCH_CONNECTIONS=N   SMTP connections for both clients (default 16)
#   BROADSHEET_BIN=PATH   time this binary; skips cargo build
#   BENCH_STATE_URL=URL   keep the state in this PostgreSQL database (empty;
#                         `eval "$(scripts/test-postgres.sh)"` gives one in
#                         BROADSHEET_TEST_POSTGRES_URL) instead of SQLite
#   BENCH_SENDERS=N       sender processes sharing the issue (default 1;
#                         more than one needs BENCH_STATE_URL)
#   BENCH_SOURCE_MESSAGES=N  messages smtp-source sends to measure its rate
#                         (default: as many as subscribers; fewer saves
#                         time at a million, the rate is the same)
#
# The publication is a big paper's opinion pages: 20 columns, about 30
# articles a day in all (an issue of about 210), readers following 1-5
# columns at random (about 17,000 distinct sets per 100,000 readers).
#
# Targets: broadsheet reaches at least 80% of smtp-source's rate at 16
# connections and peaks at no more than 200 MB of memory; on PostgreSQL
# one sender within 15% of SQLite; with several senders the sink's count
# state records every subscriber sent once (nobody twice).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
SUBSCRIBERS="${BENCH_SUBSCRIBERS:-100000}"
CONNECTIONS="${BENCH_CONNECTIONS:-16}"
SENDERS="${BENCH_SENDERS:-1}"
SOURCE_MESSAGES="${BENCH_SOURCE_MESSAGES:-$SUBSCRIBERS}"
STATE_URL="${BENCH_STATE_URL:-}"
if [ "$SENDERS" -gt 1 ] && [ -z "$STATE_URL" ]; then
    echo "BENCH_SENDERS=$SENDERS needs BENCH_STATE_URL: on SQLite a second sender stands down" >&2
    exit 2
fi
BACKEND=sqlite
[ -n "$STATE_URL" ] && { export BROADSHEET_STATE__URL="$STATE_URL"; BACKEND=postgres; }
PORT=2727
NOW="2026-11-30T09:00:00+08:00"

. "$HERE/lib.sh"

need() { # COMMAND PACKAGE
    command -v "$1" >/dev/null 2>&1 && return
    log "installing $2 with apt-get ..."
    export DEBIAN_FRONTEND=noninteractive
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections 2>/dev/null || true
    apt-get update -qq >/dev/null 2>&1 || true
    apt-get install -y -qq --no-install-recommends "$2" >/dev/null
}
export PATH="$PATH:/usr/sbin"
need smtp-sink postfix
need /usr/bin/time time
need sqlite3 sqlite3

release_binary

WORK="$(mktemp -d)"
SINK_PID=""
cleanup() { [ -n "$SINK_PID" ] && kill "$SINK_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

log "writing a publication of 20 columns and $SUBSCRIBERS subscribers ..."
python3 - "$WORK" "$SUBSCRIBERS" "$PORT" "$CONNECTIONS" <<'PY'
import os, random, sys
work, n, port, conns = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
rng = random.Random(7)
pool = "的一是在不了有和人這中大為上個國我以要他時來用們生到作地於出就分對成會可主發年動同工也能下過子說產種面而方後多定行學法所民得經十三之進著等部度家電力裡如水化高自二理起小物現實加量都兩體制機當使點從業本去把性好應開它合還因由其些然前外天政四日那社義事平形相全表間樣與關各重新線內數正心反你明看原又麼利比或但質氣第向道命此變條只沒結解問意建月公無系軍很情者最立代想已通並提直題黨程展五果料象員革位入常文總次品式活設及管特件長求老頭基資邊流路級少圖山統接知較將組見計別她手角期根論運農指幾九區強放決西被幹做必戰先回則任取據處隊南給色光門即保治北造百規熱領七海口東導器壓志世金增爭濟階油思術極交受聯什認六共權收證改清己美再採轉更單風切打白教速花帶安場身車例真務具萬每目至達走積示議聲報鬥完類八離華名確才科張信馬節話米整空元況今集溫傳土許步群廣石記需段研界拉林律叫且究觀越織裝影算低持音眾書布复容兒須際商非驗連斷深難近礦千週委素技備半辦青省列習響約支般史感勞便團往酸歷市克何除消構府稱太準精值號率族維劃選標寫存候毛親快效斯院查江型眼王按格養易置派層片始卻專狀育廠京識適屬圓包火住調滿縣局照參紅細引聽該鐵價嚴"
def sentence(lo, hi):
    return "".join(rng.choice(pool) for _ in range(rng.randint(lo, hi))) + rng.choice("。。。！？")
os.makedirs(f"{work}/content", exist_ok=True)
cols = [f"col-{i:02d}" for i in range(20)]
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
public_url = "https://news.example.com/newsletter"
secret = "bench-secret-for-loopback"
''')
    for c in cols:
        f.write(f'\n[[columns]]\nslug = "{c}"\ntitle = "{sentence(3, 6)[:-1]}"\ndescription = "{sentence(20, 40)}"\n')
# A big paper's opinion pages: about 30 articles a day across the 20
# columns, some columns busier than others, over the week the issue covers
# (its cutoff is Monday 08:00), so the issue carries about 210 articles.
weight = [rng.uniform(0.4, 1.6) for _ in cols]
count = {c: 0 for c in cols}
for day in range(7):
    start = 23 + day
    for k in range(rng.randint(26, 34)):
        c = rng.choices(cols, weight)[0]
        count[c] += 1
        minute = rng.randint(8 * 60, 8 * 60 + 24 * 60 - 1)
        when = f"2026-11-{start + minute // (24 * 60):02d}T{minute % (24 * 60) // 60:02d}:{minute % 60:02d}:00+08:00"
        body = "\n\n".join(sentence(30, 80) + sentence(30, 80) for _ in range(6))
        os.makedirs(f"{work}/content/{c}", exist_ok=True)
        with open(f"{work}/content/{c}/d{day}-{k}.md", "w") as f:
            f.write(f'+++\ntitle = "{sentence(8, 16)[:-1]}"\npublished = {when}\n'
                    f'authors = [{{ name = "{sentence(2, 3)[:-1]}", role = "{sentence(6, 10)[:-1]}" }}]\n+++\n\n{body}\n')
sets = set()
with open(f"{work}/subscribers.csv", "w") as f:
    f.write("email,name,columns\n")
    for i in range(n):
        follows = ";".join(sorted(rng.sample(cols, rng.randint(1, 5))))
        sets.add(follows)
        name = sentence(2, 3)[:-1] if rng.random() < 0.7 else ""
        f.write(f"reader{i}@bench{i % 97}.example,{name},{follows}\n")
with open(f"{work}/shape.txt", "w") as f:
    f.write(f"{sum(count.values())} {len(sets)}\n")
PY
read -r ARTICLES SETS < "$WORK/shape.txt"
log "$ARTICLES articles this week; $SUBSCRIBERS readers follow $SETS distinct sets of columns"

"$BIN" --config "$WORK/config.toml" --now "$NOW" -q subscribers import "$WORK/subscribers.csv"

log "starting smtp-sink on 127.0.0.1:$PORT ..."
smtp-sink -u nobody -c 127.0.0.1:$PORT 1024 >"$WORK/sink-count.txt" 2>&1 &
SINK_PID=$!
sleep 0.5

log "measuring the size of one message ..."
# A preview changes no state; it writes to the outbox of a copy of the config.
sed 's/^host = .*$/# host: none, to the outbox/' "$WORK/config.toml" > "$WORK/preview.toml"
"$BIN" --config "$WORK/preview.toml" --now "$NOW" -q digest preview --out "$WORK/pv" >/dev/null
SIZE=$(stat -c %s "$(ls "$WORK"/pv/*.eml | head -1)")

# The host's load on this machine varies (a virtual machine's stolen time
# is in /proc/stat): smtp-source runs just before and just after
# broadsheet, and its rate is the mean of the two.
steal() { awk '/^cpu / { print $9 }' /proc/stat; }
source_run() { # before|after
    log "sending $SOURCE_MESSAGES messages of $SIZE bytes with smtp-source ($1 broadsheet) ..."
    /usr/bin/time -v -o "$WORK/time-src-$1.txt" smtp-source -s "$CONNECTIONS" -m "$SOURCE_MESSAGES" -l "$SIZE" \
        -f digest@news.example.com -t reader@bench.example 127.0.0.1:$PORT
}
# smtp-sink -c rewrites one line of counters with a carriage return: the
# last one is the messages it has taken so far.
sink_count() {
    sleep 0.5
    local n
    n=$(tr '\r' '\n' < "$WORK/sink-count.txt" | sed -n 's/.*mesg=\([0-9]*\).*/\1/p' | tail -1)
    echo "${n:-0}"
}
source_run before
SINK_BEFORE_SOURCE=$(sink_count)

# Processor seconds of the processes named $1 (with those they have
# reaped: a PostgreSQL backend's time goes to the postmaster when its
# connection closes), from /proc: what the other parts of the run took
# from the same cores.
cpu_of() {
    local ticks=0 f
    for f in /proc/[0-9]*/stat; do
        read -r line < "$f" 2>/dev/null || continue
        case "$line" in
            *"($1)"*) set -- "$1" ${line##*) }
                      ticks=$((ticks + ${13} + ${14} + ${15} + ${16})) ;;
        esac
    done
    python3 -c "print($ticks / $(getconf CLK_TCK))"
}
PG0=$(cpu_of postgres)
SINKCPU0=$(cpu_of smtp-sink)

log "sending one issue to $SUBSCRIBERS subscribers with $SENDERS broadsheet sender(s) ($BACKEND) ..."
START=$(date +%s.%N)
STEAL0=$(steal)
pids=()
for i in $(seq 1 "$SENDERS"); do
    /usr/bin/time -v -o "$WORK/time$i.txt" "$BIN" --config "$WORK/config.toml" --now "$NOW" -q digest send &
    pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid" || true; done
END=$(date +%s.%N)
STEAL1=$(steal)
sleep 1  # a backend that has just exited is counted once the server has reaped it
PG_CPU=$(python3 -c "print(round($(cpu_of postgres) - $PG0, 1))")
SINK_CPU=$(python3 -c "print(round($(cpu_of smtp-sink) - $SINKCPU0, 1))")
wall() { awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; print s }' "$1"; }
cpu_s() { awk -F': ' '/(User|System) time \(seconds\)/ { s += $2 } END { printf "%.1f", s }' "$1"; }
rss_mb() { awk -F': ' '/Maximum resident set size/ { printf "%.0f", $2 / 1024 }' "$1"; }
B_WALL=$(python3 -c "print($END - $START)")
B_RSS=$(for i in $(seq 1 "$SENDERS"); do rss_mb "$WORK/time$i.txt"; echo; done | sort -n | tail -1)
if [ -n "$STATE_URL" ]; then
    SENT=$(psql -At "$STATE_URL" -c "select count(*) from deliveries where status='sent'")
else
    SENT=$(sqlite3 "$WORK/broadsheet.db" "select count(*) from deliveries where status='sent'")
fi
# What the sink took between the two smtp-source runs: broadsheet's.
SINK=$(( $(sink_count) - SINK_BEFORE_SOURCE ))
STOLEN=$(python3 -c "print(round(100 * ($STEAL1 - $STEAL0) / $(getconf CLK_TCK) / ($END - $START) / $(nproc)))")

source_run after
S_WALL=$(python3 -c "print(($(wall "$WORK/time-src-before.txt") + $(wall "$WORK/time-src-after.txt")) / 2)")
B_CPU=$(for i in $(seq 1 "$SENDERS"); do cpu_s "$WORK/time$i.txt"; echo; done | awk '{ s += $1 } END { printf "%.1f", s }')
S_CPU=$(cpu_s "$WORK/time-src-after.txt")

python3 - "$SUBSCRIBERS" "$SENT" "$B_WALL" "$B_RSS" "$S_WALL" "$SIZE" "$CONNECTIONS" "$ARTICLES" "$SETS" "$SENDERS" "${STATE_URL:+postgres}" "$SINK" "$B_CPU" "$S_CPU" "$SOURCE_MESSAGES" "$STOLEN" "$PG_CPU" "$SINK_CPU" <<'PY'
import sys, os
n, sent, bw, brss, sw, size, conns = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
articles, sets = sys.argv[8], sys.argv[9]
senders, backend, sink = sys.argv[10], sys.argv[11] or "sqlite", sys.argv[12]
bcpu, scpu, smsgs = float(sys.argv[13]), float(sys.argv[14]), int(sys.argv[15])
stolen = sys.argv[16]
pgcpu, sinkcpu = float(sys.argv[17]), float(sys.argv[18])
print(f"\nstate: {backend}, {senders} sender process(es); peak memory is the largest of them")
brate, srate = n / bw, smsgs / sw
ratio = brate / srate
print(f"\ndigest delivery: {n} subscribers, {conns} connections, messages of about {size // 1024} KB")
print(f"issue of {articles} articles in 20 columns; {sets} distinct sets of followed columns")
print(f"{'':34}{'measured':>14}{'target':>14}")
print(f"{'broadsheet wall time':34}{bw:>12.2f} s")
print(f"{'broadsheet messages/s':34}{brate:>14,.0f}")
print(f"{'broadsheet peak memory':34}{brss:>11.0f} MB{'<= 200 MB':>14}  {'PASS' if brss <= 200 else 'MISS'}")
print(f"{'broadsheet processor time':34}{bcpu:>12.1f} s  (user + system, all senders)")
print(f"{'host time stolen during the send':34}{stolen:>13}%")
print(f"{'smtp-sink processor time':34}{sinkcpu:>12.1f} s  (during the send)")
if backend == "postgres":
    print(f"{'PostgreSQL server processor time':34}{pgcpu:>12.1f} s  (during the send; 0 if the server is elsewhere)")
print(f"{'cores busy during the send':34}{(bcpu + sinkcpu + pgcpu) / bw:>12.2f}    of {os.cpu_count()}")
print(f"{'smtp-source messages/s (ceiling)':34}{srate:>14,.0f}  (mean of a run before and after)")
print(f"{'smtp-source processor time':34}{scpu:>12.1f} s")
print(f"{'smtp-source wall time':34}{sw:>12.2f} s  for {smsgs} messages")
print(f"{'broadsheet / smtp-source':34}{ratio:>13.0%}{'>= 80%':>14}  {'PASS' if ratio >= 0.8 else 'MISS'}")
print(f"{'delivered (state says sent)':34}{sent:>14}")
print(f"{'each subscriber once (sent = all)':34}{sent:>14}{'= ' + str(n):>14}  {'PASS' if sent == str(n) else 'MISS'}")
print(f"{'nobody twice (sink received = all)':34}{sink:>14}{'= ' + str(n):>14}  {'PASS' if sink == str(n) else 'MISS'}")
PY
