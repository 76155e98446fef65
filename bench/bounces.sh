#!/usr/bin/env bash
# Bounce processing benchmark: the morning after an issue to a list that
# has gone stale. N readers are imported and sent one issue into the
# outbox, so every message has its real VERP Return-Path (digest.bounce_domain);
# each is then turned into the report a mail system would send back: a
# Postfix-style DSN (8 in 10 a hard bounce, 5.1.1, 1 in 10 a full
# mailbox, 4.2.2) or an ARF abuse report (1 in 10, with the whole digest
# inside, as feedback loops send it). It times `bounces scan` over a
# Maildir of N of them, a second scan with nothing new, and `bounces
# ingest` for 1,000 more, one process each, as a mail server's pipe runs
# it, with the peak memory of each.
#
#   bench/bounces.sh
#
# Environment:
#   BENCH_SUBSCRIBERS=N   readers, and reports in the Maildir (default 100000)
#   BENCH_INGEST=N        reports given to `bounces ingest` one at a time
#                         (default 1000), about readers of their own
#   BROADSHEET_BIN=PATH   time this binary; skips cargo build
#   BENCH_STATE_URL=URL   keep the state in this PostgreSQL database (emptied
#                         first; `eval "$(scripts/test-postgres.sh)"` gives
#                         one in BROADSHEET_TEST_POSTGRES_URL) instead of SQLite
#
# The issue names no target for these: the figures are for the README,
# and to compare a change with. What to watch: a scan holds one message
# at a time, so its memory grows only with the list of names it sorts and
# the addresses it changed; every report must be recorded once, and each
# reader end with the status their report gives (the script checks both);
# a second scan must cost about the listing of cur/.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
SUBSCRIBERS="${BENCH_SUBSCRIBERS:-100000}"
INGEST="${BENCH_INGEST:-1000}"
NOW="2026-11-30T09:00:00+08:00"
LATER="2026-11-30T12:00:00+08:00"

. "$HERE/lib.sh"
state_backend
need_time

release_binary

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

READERS=$((SUBSCRIBERS + INGEST))
log "writing a publication of 5 columns and $READERS readers ..."
python3 - "$WORK" "$READERS" <<'PY'
import os, random, sys
work, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(5)
pool = "的一是在不了有和人這中大為上個國我以要他時來用們生到作地於出就分對成會可主發年動同工也能下過子說產種面而方後多定行學法所民得經十三之進著等部度家電力裡如水化高自二理起小物現實加量都兩體制機當使點從業本去把性好應開它合還因由其些然前外天政四日那社義事平形相全表間樣與關各重新線內數正心反你明看原又麼利比或但質氣第向道命此變條只沒結解問意建月公無系軍很情者最立代想已通並提直題黨程展五果料象員革位入常文總次品式活設及管特件長求老頭基資邊流路級少圖山統接知較將組見計別她手角期根論運農指幾九區強放決西被幹做必戰先回則任取據處隊南給色光門即保治北造百規熱領七海口東導器壓志世金增爭濟階油思術極交受聯什認六共權收證改清己美再採轉更單風切打白教速花帶安場身車例真務具萬每目至達走積示議聲報鬥完類八離華名確才科張信馬節話米整空元況今集溫傳土許步群廣石記需段研界拉林律叫且究觀越織裝影算低持音眾書布复容兒須際商非驗連斷深難近礦千週委素技備半辦青省列習響約支般史感勞便團往酸歷市克何除消構府稱太準精值號率族維劃選標寫存候毛親快效斯院查江型眼王按格養易置派層片始卻專狀育廠京識適屬圓包火住調滿縣局照參紅細引聽該鐵價嚴"
def sentence(lo, hi):
    return "".join(rng.choice(pool) for _ in range(rng.randint(lo, hi))) + "。"
cols = [f"col-{i}" for i in range(5)]
with open(f"{work}/config.toml", "w") as f:
    f.write('''[site]
title = "論壇"
base_url = "https://news.example.com"

[digest]
from = "論壇 <digest@news.example.com>"
schedule = "Mon 08:00"
bounce_domain = "bounces.news.example.com"

[smtp]
outbox_dir = "outbox"

[server]
public_url = "https://news.example.com/newsletter"
secret = "bench-secret-for-bounces"
''')
    for c in cols:
        f.write(f'\n[[columns]]\nslug = "{c}"\ntitle = "{sentence(3, 6)[:-1]}"\n')
for c in cols:
    os.makedirs(f"{work}/content/{c}", exist_ok=True)
    for k in range(4):
        body = "\n\n".join(sentence(40, 80) for _ in range(4))
        with open(f"{work}/content/{c}/a{k}.md", "w") as f:
            f.write(f'+++\ntitle = "{sentence(8, 14)[:-1]}"\npublished = 2026-11-2{4 + k}T10:00:00+08:00\n+++\n\n{body}\n')
with open(f"{work}/readers.csv", "w") as f:
    f.write("email,name,columns\n")
    for i in range(n):
        follows = ";".join(sorted(rng.sample(cols, rng.randint(1, 3))))
        name = sentence(2, 3)[:-1] if rng.random() < 0.7 else ""
        f.write(f"reader{i}@bench{i % 97}.example,{name},{follows}\n")
PY

if [ "$BACKEND" = postgres ]; then
    psql -q "$STATE_URL" -c "DROP SCHEMA public CASCADE; CREATE SCHEMA public" >/dev/null 2>&1
fi
bs() { "$BIN" --config "$WORK/config.toml" "$@"; }
bs --now "$NOW" -q subscribers import "$WORK/readers.csv"
log "sending the issue to $READERS readers, into the outbox ..."
bs --now "$NOW" -q digest send
SENT=$(find "$WORK/outbox" -name '*.eml' | wc -l)
[ "$SENT" = "$READERS" ] || die "expected $READERS digests in the outbox, found $SENT"

log "turning each digest into the report its reader's mail system sends back ..."
python3 - "$WORK" "$SUBSCRIBERS" <<'PY'
import os, re, sys
work, scanned = sys.argv[1], int(sys.argv[2])
for d in ("Maildir/new", "Maildir/cur", "Maildir/tmp", "ingest"):
    os.makedirs(f"{work}/{d}", exist_ok=True)
names = sorted(os.listdir(f"{work}/outbox"))
kinds = {"hard": 0, "soft": 0, "complaint": 0}
for n, name in enumerate(names):
    with open(f"{work}/outbox/{name}", "rb") as f:
        raw = f.read()
    # Line ends as \n here; the report is written with CRLF.
    raw = raw.decode("utf-8", "replace").replace("\r\n", "\n")
    text, _, _ = raw.partition("\n\n")
    unfolded = re.sub(r"\n[ \t]+", " ", text)
    fields = dict(
        (k.lower(), v) for k, v in (l.split(": ", 1) for l in unfolded.split("\n") if ": " in l)
    )
    rp = fields["return-path"].strip("<>")
    to = re.search(r"<([^>]+)>|(\S+@\S+)", fields["to"])
    to = to.group(1) or to.group(2)
    original_headers = text.split("\n", 1)[1]  # without the outbox's Return-Path
    i = int(re.search(r"reader(\d+)@", to).group(1))
    when = f"Mon, 30 Nov 2026 {9 + i % 3:02d}:{i % 60:02d}:{(i // 60) % 60:02d} +0800"
    b = f"=_bench_{i}"
    if i % 10 == 0:
        kind = "complaint"
        # A feedback loop sends the whole message back.
        body = raw.split("\n", 1)[1]
        report = f"""From: Feedback Loop <fbl@isp.bench.example>
To: {rp}
Date: {when}
Subject: FW: abuse report
Message-ID: <arf.{i}@isp.bench.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="{b}"

--{b}
Content-Type: text/plain; charset=us-ascii

This is an email abuse report for a message received from 192.0.2.10.

--{b}
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: bench-fbl/1.0
Version: 1
Original-Mail-From: <{rp}>
Original-Rcpt-To: <{to}>
Arrival-Date: {when}
Source-IP: 192.0.2.10
Reported-Domain: news.example.com

--{b}
Content-Type: message/rfc822

{body}
--{b}--
"""
    else:
        hard = i % 10 != 5
        kind = "hard" if hard else "soft"
        action, status, said = (
            ("failed", "5.1.1", f"550 5.1.1 <{to}>: Recipient address rejected: User unknown in virtual mailbox table")
            if hard else
            ("delayed", "4.2.2", f"452 4.2.2 <{to}>: Mailbox full")
        )
        subject = "Undelivered Mail Returned to Sender" if hard else "Delayed Mail (still being retried)"
        report = f"""Return-Path: <>
Delivered-To: {rp}
Date: {when}
From: MAILER-DAEMON@mx.bench{i % 97}.example (Mail Delivery System)
Subject: {subject}
To: {rp}
Auto-Submitted: auto-replied
Message-ID: <dsn.{i}@mx.bench{i % 97}.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="{b}"

--{b}
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.bench{i % 97}.example.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<{to}>: host mx.bench{i % 97}.example said: {said}

--{b}
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.bench{i % 97}.example
Arrival-Date: {when}

Final-Recipient: rfc822; {to}
Original-Recipient: rfc822;{to}
Action: {action}
Status: {status}
Remote-MTA: dns; mx.bench{i % 97}.example
Diagnostic-Code: smtp; {said}

--{b}
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

{original_headers}

--{b}--
"""
    kinds[kind] += int(n < scanned)
    where = f"Maildir/new/{1796000000 + n}.M{n}P1.bench" if n < scanned else f"ingest/{n:07d}.eml"
    with open(f"{work}/{where}", "w", newline="\r\n") as f:
        f.write(report)
with open(f"{work}/kinds.txt", "w") as f:
    f.write(f"{kinds['hard']} {kinds['soft']} {kinds['complaint']}\n")
PY
rm -rf "$WORK/outbox"
read -r HARD SOFT COMPLAINTS < "$WORK/kinds.txt"
log "$(du -sh "$WORK/Maildir" | cut -f1) of reports in the Maildir: $HARD hard, $SOFT soft, $COMPLAINTS complaints"

timed() { # LABEL COUNT COMMAND...: wall time, rate and peak memory
    local label="$1" count="$2"
    shift 2
    /usr/bin/time -f "%e %M" -o "$WORK/time" "$@" > "$WORK/out"
    read -r wall kb < "$WORK/time"
    local rate
    rate=$(python3 -c "w = $wall; print(f'{$count / w:,.0f}' if w > 0 and $count > 0 else '-')")
    printf '%-40s %8.2f s %10s messages/s %6d MB   %s\n' "$label" "$wall" "$rate" $((kb / 1024)) "$(head -1 "$WORK/out")"
}

printf '\n%s reports in a Maildir (%s hard, %s soft, %s complaints), %s more one at a time; %s\n' \
    "$SUBSCRIBERS" "$HARD" "$SOFT" "$COMPLAINTS" "$INGEST" "$BACKEND"
timed "bounces scan, $SUBSCRIBERS messages" "$SUBSCRIBERS" "$BIN" --config "$WORK/config.toml" --now "$LATER" bounces scan "$WORK/Maildir"
grep -q "scanned $SUBSCRIBERS messages: $SUBSCRIBERS recorded, 0 recorded before, 0 naming no subscriber" "$WORK/out" \
    || die "the scan did not record every report once: $(head -1 "$WORK/out")"
timed "bounces scan again, nothing new" 0 "$BIN" --config "$WORK/config.toml" --now "$LATER" bounces scan "$WORK/Maildir"
grep -q "scanned 0 messages" "$WORK/out" || die "a second scan read something: $(head -1 "$WORK/out")"

cat > "$WORK/ingest.sh" <<EOF
for f in "$WORK"/ingest/*.eml; do
    "$BIN" --config "$WORK/config.toml" --now "$LATER" -q bounces ingest < "\$f" || exit 1
done
echo "each taken, and exit 0"
EOF
timed "bounces ingest, $INGEST one process each" "$INGEST" bash "$WORK/ingest.sh"
bounced=$(bs subscribers list --status bounced | wc -l)
complained=$(bs subscribers list --status complained | wc -l)
# Every hard bounce bounces its reader; one soft bounce does not; each
# tenth reader complained. The ingested reports follow the same pattern.
want_bounced=$(python3 -c "print(sum(1 for i in range($READERS) if i % 10 not in (0, 5)))")
want_complained=$(python3 -c "print(sum(1 for i in range($READERS) if i % 10 == 0))")
[ "$bounced" = "$want_bounced" ] && [ "$complained" = "$want_complained" ] \
    || die "expected $want_bounced bounced and $want_complained complained, found $bounced and $complained"
printf '%s readers bounced, %s complained, as the reports say; the issue names no target for these figures\n' \
    "$bounced" "$complained"
