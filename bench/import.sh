#!/usr/bin/env bash
# Subscriber import benchmark: a newsroom moving its list to broadsheet.
# Imports N readers (each following 1-5 of 20 columns, 70% with a Chinese
# name) into a fresh state, then the same file again (nothing changes),
# then a file where a tenth of the readers changed their name or columns
# and one in a hundred is new.
#
#   bench/import.sh
#
# Environment:
#   BENCH_SUBSCRIBERS=N   readers (default 100000; try 1000000)
#   BROADSHEET_BIN=PATH   time this binary; skips cargo build
#   BENCH_STATE_URL=URL   import into this PostgreSQL database (emptied
#                         first; `eval "$(scripts/test-postgres.sh)"` gives
#                         one in BROADSHEET_TEST_POSTGRES_URL) instead of SQLite
#
# What to watch: peak memory must not grow with the file beyond the
# 24 bytes an address takes to tell repeated ones (about 50 MB at
# 1,000,000 rows, with the hash table's slack); time is one transaction
# however long the file, on both backends.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
SUBSCRIBERS="${BENCH_SUBSCRIBERS:-100000}"
NOW="2026-11-30T09:00:00+08:00"

. "$HERE/lib.sh"
state_backend
need_time

release_binary

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

log "writing $SUBSCRIBERS readers ..."
python3 - "$WORK" "$SUBSCRIBERS" <<'PY'
import random, sys
work, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(11)
pool = "的一是在不了有和人這中大為上個國我以要他時來用們生到作地於出就分對成會可主發年動同工也能下過子說產種面而方後多定行學法所民得經十三之進著等部度家電力裡如水化高自二理起小物現實加量都兩體制機當使點從業本去把性好應開它合還因由其些然前外天政四日那社義事平形相全表間樣與關各重新線內數正心反你明看原又麼利比或但質氣第向道命此變條只沒結解問意建月公無系軍很情者最立代想已通並提直題黨程展五果料象員革位入常文總次品式活設及管特件長求老頭基資邊流路級少圖山統接知較將組見計別她手角期根論運農指幾九區強放決西被幹做必戰先回則任取據處隊南給色光門即保治北造百規熱領七海口東導器壓志世金增爭濟階油思術極交受聯什認六共權收證改清己美再採轉更單風切打白教速花帶安場身車例真務具萬每目至達走積示議聲報鬥完類八離華名確才科張信馬節話米整空元況今集溫傳土許步群廣石記需段研界拉林律叫且究觀越織裝影算低持音眾書布复容兒須際商非驗連斷深難近礦千週委素技備半辦青省列習響約支般史感勞便團往酸歷市克何除消構府稱太準精值號率族維劃選標寫存候毛親快效斯院查江型眼王按格養易置派層片始卻專狀育廠京識適屬圓包火住調滿縣局照參紅細引聽該鐵價嚴"
cols = [f"col-{i:02d}" for i in range(20)]
with open(f"{work}/config.toml", "w") as f:
    f.write('[site]\ntitle = "論壇"\nbase_url = "https://news.example.com"\n\n'
            '[digest]\nfrom = "論壇 <digest@news.example.com>"\nschedule = "Mon 08:00"\n')
    for c in cols:
        f.write(f'\n[[columns]]\nslug = "{c}"\ntitle = "{c}"\n')
def reader(i):
    follows = ";".join(sorted(rng.sample(cols, rng.randint(1, 5))))
    name = "".join(rng.choice(pool) for _ in range(rng.randint(2, 3))) if rng.random() < 0.7 else ""
    return f"reader{i}@bench{i % 97}.example,{name},{follows}\n"
rows = [reader(i) for i in range(n)]
with open(f"{work}/readers.csv", "w") as f:
    f.write("email,name,columns\n")
    f.writelines(rows)
with open(f"{work}/changed.csv", "w") as f:
    f.write("email,name,columns\n")
    for i, row in enumerate(rows):
        f.write(reader(i) if rng.random() < 0.1 else row)
    f.writelines(reader(i) for i in range(n, n + n // 100))
PY
log "$(wc -c < "$WORK/readers.csv") bytes; backend: $BACKEND"

if [ "$BACKEND" = postgres ]; then
    psql -q "$STATE_URL" -c "DROP SCHEMA public CASCADE; CREATE SCHEMA public" >/dev/null 2>&1
fi

import() { # LABEL FILE
    /usr/bin/time -f "%e %M" -o "$WORK/time" \
        "$BIN" --config "$WORK/config.toml" --now "$NOW" subscribers import "$2" > "$WORK/out"
    read -r wall kb < "$WORK/time"
    printf '%-34s %8.1f s %7d MB   %s\n' "$1" "$wall" $((kb / 1024)) "$(tail -1 "$WORK/out")"
}

printf '\n%s readers, %s\n' "$SUBSCRIBERS" "$BACKEND"
import "into an empty state" "$WORK/readers.csv"
import "the same file again" "$WORK/readers.csv"
import "a tenth changed, 1% new" "$WORK/changed.csv"
