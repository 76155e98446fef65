#!/usr/bin/env bash
# Build benchmark: broadsheet vs. Hugo on a synthetic 100,000-article publication.
#
#   bench/build.sh
#
# Builds target/release/broadsheet, generates the publication with
# gen_publication.py into a temporary directory (by default an op-ed page:
# about a quarter as many distinct authors as articles, most writing once,
# a few hundred regulars writing weekly), and times with /usr/bin/time -v:
#   - broadsheet build, cold, column feeds only: what Hugo is asked to build
#     too
#   - broadsheet build, cold, the default config (author feeds for those
#     with feeds.author_min_articles articles), once per threshold in
#     BENCH_AUTHOR_MIN when it is set
#   - broadsheet build, first build: cold with the default config into a
#     new state as well, which keeps every article the feeds carry
#   - broadsheet build, nothing changed (the last default output kept)
#   - broadsheet build after one article added, and after one edited
#   - hugo, building only the per-section RSS of the same content, where
#     it fits (up to 200,000 articles: it took 3.5 GB at 100,000)
# then prints each figure against its target, and the files each run
# wrote. Missing a target is reported, not an error: the script exits
# non-zero only when something actually fails.
#
# "Cold" means no earlier output: each cold run writes into a folder of its
# own that does not exist yet, and all of them are removed at the end.
# Removing thousands of files just before a run would time the file
# system instead: ext4 goes on freeing them in the background, and skips
# over recently freed inodes each time it creates a file, which at 3,000
# files costs more than the build itself. For the same reason, leave a few
# minutes between two runs of this script: it removes its folders at the end.
# The cold runs share the publication's state (its `site.state_path`), as
# builds of one publication do: the first run keeps the articles the
# feeds carry beside it (the last good versions `run` falls back on: at
# 100,000 articles about 43,000 of them, 430 MB, appended to one pack),
# and the others find them kept. A first build in a new place pays for
# keeping them once: the "first build" row times that, with a state of
# its own for each run.
#
# Environment:
#   BENCH_DIR=DIR        use this publication directory; generated there if it
#                        has no config.toml, reused as is (no regeneration) if
#                        it has one, and never deleted
#   BENCH_ARTICLES=N     articles to generate (default 100000; 1000000 for
#                        the archive-size targets: about 8.5 GB of content)
#   BENCH_COLUMNS=N      columns to generate (default 50)
#   BENCH_AUTHORS=MIX    op-ed (default) or columnists (20 per column, the
#                        mix this script used before)
#   BENCH_AUTHOR_MIN="1 2 3"  also time a default-config cold build with
#                        each of these feeds.author_min_articles
#   BENCH_RUNS=N         timed runs per measurement (default 3)
#   BROADSHEET_BIN=PATH  time this binary; skips cargo build
#   HUGO_ONLY=1          skip cargo and broadsheet; time Hugo only
#   SKIP_HUGO=1          skip the Hugo measurement
#
# The one-article runs add files named bench-added-N.md to content/col-00
# and edit one article there; both are undone at the end, also in a
# BENCH_DIR that is kept.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"

ARTICLES="${BENCH_ARTICLES:-100000}"
COLUMNS="${BENCH_COLUMNS:-50}"
RUNS="${BENCH_RUNS:-3}"
AUTHOR_MIX="${BENCH_AUTHORS:-op-ed}"
AUTHOR_MINS="${BENCH_AUTHOR_MIN:-}"
NOW="2026-11-27T00:00:00+08:00"
HUGO_ONLY="${HUGO_ONLY:-0}"
SKIP_HUGO="${SKIP_HUGO:-0}"

# Targets (issue 13's table); at 1,000,000 articles the cold and
# one-article targets are those of the archive size.
if [ "$ARTICLES" -ge 500000 ]; then
    DEFAULT_TARGET_S=12; ONE_TARGET_S=2; RSS_TARGET_MB=500
else
    DEFAULT_TARGET_S=1.5; ONE_TARGET_S=0.3; RSS_TARGET_MB=300
fi
NOCHANGE_TARGET_S=0.2
RATIO_TARGET=10          # Hugo / broadsheet, default config
COLUMNS_RATIO_TARGET=20  # Hugo / broadsheet, column feeds only
# Hugo held 3.5 GB at 100,000 articles and grows with them.
HUGO_MAX_ARTICLES=200000

. "$HERE/lib.sh"

WORK="$(mktemp -d)"
EDITED=""   # the article the edit runs change, restored from $WORK/edited.orig
cleanup() {
    if [ -n "${PUB:-}" ]; then
        rm -f "$PUB"/content/col-00/bench-added-*.md
        if [ -n "$EDITED" ] && [ -f "$WORK/edited.orig" ]; then cp -p "$WORK/edited.orig" "$EDITED"; fi
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# --- tools -----------------------------------------------------------------

SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
APT_UPDATED=0
apt_install() { # PACKAGE...
    log "installing $* with apt-get ..."
    if [ "$APT_UPDATED" = 0 ]; then
        $SUDO apt-get update -qq >"$WORK/apt.log" 2>&1 || { cat "$WORK/apt.log" >&2; die "apt-get update failed"; }
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" \
        >"$WORK/apt.log" 2>&1 || { cat "$WORK/apt.log" >&2; die "apt-get install $* failed"; }
}

[ -x /usr/bin/time ] || apt_install time
[ -x /usr/bin/time ] || die "/usr/bin/time is missing"
if [ "$SKIP_HUGO" != 1 ] && [ "$ARTICLES" -gt "$HUGO_MAX_ARTICLES" ]; then
    log "skipping Hugo: $ARTICLES articles is more than it fits in this machine's memory (up to $HUGO_MAX_ARTICLES)"
    SKIP_HUGO=1
fi
if [ "$SKIP_HUGO" != 1 ] && ! command -v hugo >/dev/null 2>&1; then
    apt_install hugo
fi
command -v python3 >/dev/null 2>&1 || die "python3 is needed to generate the publication"

# --- the binary ------------------------------------------------------------

BIN=""
if [ "$HUGO_ONLY" != 1 ]; then
    release_binary
fi

# --- the publication -------------------------------------------------------

if [ -n "${BENCH_DIR:-}" ]; then
    mkdir -p "$BENCH_DIR"
    PUB="$(cd "$BENCH_DIR" && pwd)"
else
    PUB="$WORK/pub"
fi
if [ -f "$PUB/config.toml" ] && [ -d "$PUB/content" ]; then
    log "reusing the publication in $PUB"
else
    log "generating $ARTICLES articles in $COLUMNS columns, $AUTHOR_MIX bylines ..."
    python3 "$HERE/gen_publication.py" "$PUB" --articles "$ARTICLES" --columns "$COLUMNS" \
        --authors "$AUTHOR_MIX" || die "gen_publication.py failed"
fi
rm -f "$PUB"/content/col-00/bench-added-*.md  # left by a run that was killed
N_ARTICLES="$(find "$PUB/content" -type f -name '*.md' | wc -l)"
# Distinct author names, as the front matter writes them.
N_AUTHORS="$(find "$PUB/content" -type f -name '*.md' -print0 | xargs -0 grep -h -o '{ name = "[^"]*"' \
    | sort -u | wc -l)"
N_COLUMNS="$(find "$PUB/content" -mindepth 1 -maxdepth 1 -type d | wc -l)"
CONTENT_MB="$(du -sm "$PUB/content" | cut -f1)"

# --- measuring -------------------------------------------------------------

# Seconds from /usr/bin/time's "Elapsed (wall clock) time (h:mm:ss or m:ss): 0:01.23".
parse_wall() {
    awk '/Elapsed \(wall clock\) time/ {
        n = split($NF, p, ":"); s = 0
        for (i = 1; i <= n; i++) s = s * 60 + p[i]
        printf "%.2f\n", s; found = 1 }
        END { if (!found) exit 1 }' "$1"
}
# Kilobytes from "Maximum resident set size (kbytes): 12345".
parse_rss_kb() {
    awk '/Maximum resident set size/ { print $NF; found = 1 } END { if (!found) exit 1 }' "$1"
}

# measure NAME PREP_FUNCTION COMMAND...: runs COMMAND $RUNS times under
# /usr/bin/time -v (PREP_FUNCTION before each), and sets
# BEST_<NAME>, MEDIAN_<NAME> (seconds) and RSS_<NAME> (peak kB over the runs).
# On a virtual machine the hypervisor may take CPU time from this one
# (the "steal" column of /proc/stat): wall times then stretch with it, so
# each run says how much of the machine's CPU time was taken.
cpu_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9, $9; exit }' /proc/stat; }
measure() {
    local name="$1" prep="$2"; shift 2
    local i tf lf wall rss peak=0 before after stolen
    local -a walls=()
    for ((i = 1; i <= RUNS; i++)); do
        "$prep"
        tf="$WORK/time.$name.$i"
        lf="$WORK/out.$name.$i"
        before="$(cpu_ticks 2>/dev/null || echo "0 0")"
        if ! /usr/bin/time -v -o "$tf" "$@" >"$lf" 2>&1; then
            log "error: $name, run $i failed: $*"
            tail -n 40 "$lf" >&2
            head -n 1 "$tf" >&2 || true
            exit 1
        fi
        wall="$(parse_wall "$tf")" || die "cannot read the wall time from $tf"
        rss="$(parse_rss_kb "$tf")" || die "cannot read the peak RSS from $tf"
        after="$(cpu_ticks 2>/dev/null || echo "0 0")"
        stolen="$(awk -v b="$before" -v a="$after" 'BEGIN { split(b, x, " "); split(a, y, " ")
            t = y[1] - x[1]; if (t > 0) printf "%.0f", 100 * (y[2] - x[2]) / t; else print 0 }')"
        log "  $name run $i: ${wall} s, $(kb_to_mb "$rss") MB, ${stolen}% of CPU time stolen by the host"
        walls+=("$wall")
        if [ "$rss" -gt "$peak" ]; then peak="$rss"; fi
    done
    printf -v "BEST_$name" '%s' "$(printf '%s\n' "${walls[@]}" | sort -g | head -n 1)"
    printf -v "MEDIAN_$name" '%s' "$(printf '%s\n' "${walls[@]}" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')"
    printf -v "RSS_$name" '%s' "$peak"
}

kb_to_mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k * 1024 / 1e6 }'; }  # MB = 10^6 bytes
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
verdict() { if le "$1" "$2"; then echo PASS; else echo MISS; fi; }

no_prep() { :; }
# A new output folder before each cold run (see the top of this file).
OUT_N=0
fresh_out() { OUT_N=$((OUT_N + 1)); OUT="$WORK/out-$OUT_N"; export BROADSHEET_SITE__OUTPUT_DIR="$OUT"; }
# A new state as well, for a first build: nothing kept yet, no cache.
fresh_state() {
    fresh_out
    mkdir -p "$WORK/state-$OUT_N"
    export BROADSHEET_SITE__STATE_PATH="$WORK/state-$OUT_N/broadsheet.db"
}
# Before each one-article run: a marker the files it writes are newer than.
mark() { sleep 0.05; touch "$WORK/mark"; sleep 0.05; }
ADDED_N=0
add_one() { # a new article by the first regular, newest of all
    ADDED_N=$((ADDED_N + 1))
    local by
    by="$(grep -h -m 1 -o '{ name = "[^"]*", role = "[^"]*" }' "$EDITED")"
    printf '+++\ntitle = "新增文章%d"\npublished = 2026-11-26T%02d:00:00+08:00\nauthors = [%s]\ntags = ["香港"]\n+++\n\n新增的一篇文章，第%d篇。\n' \
        "$ADDED_N" "$((ADDED_N % 24))" "$by" "$ADDED_N" >"$PUB/content/col-00/bench-added-$ADDED_N.md"
    mark
}
EDIT_N=0
edit_one() { # the newest article of col-00: one its column feed carries
    EDIT_N=$((EDIT_N + 1))
    { cat "$WORK/edited.orig"; printf '\n修訂第%d次。\n' "$EDIT_N"; } >"$EDITED"
    mark
}
files_in() { find "$1" -type f | wc -l; }
newer_in() { find "$1" -type f -newer "$WORK/mark" | wc -l; }

log "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
log "publication: $N_ARTICLES articles, $N_COLUMNS columns, $N_AUTHORS distinct authors, ${CONTENT_MB} MB of content"

if [ "$HUGO_ONLY" != 1 ]; then
    BS=("$BIN" --config "$PUB/config.toml" --now "$NOW" build)
    export BROADSHEET_FEEDS__AUTHOR_FEEDS=false
    log "broadsheet, cold, column feeds only ($RUNS runs, each into a new folder) ..."
    measure COLD fresh_out "${BS[@]}"
    [ -s "$OUT/col-00/rss.xml" ] || die "broadsheet build wrote no $OUT/col-00/rss.xml"
    FILES_COLD="$(files_in "$OUT")"
    unset BROADSHEET_FEEDS__AUTHOR_FEEDS
    for m in $AUTHOR_MINS; do
        case "$m" in *[!0-9]* | "") die "BENCH_AUTHOR_MIN: expected whole numbers, found $m" ;; esac
        export BROADSHEET_FEEDS__AUTHOR_MIN_ARTICLES="$m"
        log "broadsheet, cold, default config with feeds.author_min_articles = $m ($RUNS runs) ..."
        measure "MIN_$m" fresh_out "${BS[@]}"
        printf -v "FILES_MIN_$m" '%s' "$(files_in "$OUT")"
        printf -v "AUTHORFEEDS_MIN_$m" '%s' "$(find "$OUT/authors" -mindepth 2 -maxdepth 2 -name rss.xml 2>/dev/null | wc -l)"
    done
    unset BROADSHEET_FEEDS__AUTHOR_MIN_ARTICLES
    log "broadsheet, cold, default config ($RUNS runs, each into a new folder) ..."
    measure DEFAULT fresh_out "${BS[@]}"
    FILES_DEFAULT="$(files_in "$OUT")"
    AUTHOR_FEEDS="$(find "$OUT/authors" -mindepth 2 -maxdepth 2 -name rss.xml 2>/dev/null | wc -l)"
    log "  broadsheet wrote $AUTHOR_FEEDS author feeds, $FILES_DEFAULT files in all"
    log "broadsheet, first build: default config, cold, into a new state too ($RUNS runs) ..."
    measure FIRST fresh_state "${BS[@]}"
    unset BROADSHEET_SITE__STATE_PATH
    fresh_out
    "${BS[@]}" >/dev/null 2>&1 || die "the default build before the incremental runs failed"
    mark
    log "broadsheet, nothing changed ($RUNS runs, on the last default output) ..."
    measure NOCHANGE no_prep "${BS[@]}"
    FILES_NOCHANGE="$(newer_in "$OUT")"
    EDITED="$(find "$PUB/content/col-00" -maxdepth 1 -name 'a*.md' -exec grep -H -m 1 '^published = ' {} + \
        | sort -t= -k2 | tail -n 1 | cut -d: -f1)"
    [ -f "$EDITED" ] || die "found no article in $PUB/content/col-00 to edit"
    cp -p "$EDITED" "$WORK/edited.orig"
    log "broadsheet, one article added ($RUNS runs, each adding one more) ..."
    measure ADDED add_one "${BS[@]}"
    FILES_ADDED="$(newer_in "$OUT")"
    log "broadsheet, one article edited ($RUNS runs, each a new edit of $(basename "$EDITED")) ..."
    measure EDITED edit_one "${BS[@]}"
    FILES_EDITED="$(newer_in "$OUT")"
    unset BROADSHEET_SITE__OUTPUT_DIR
fi

if [ "$SKIP_HUGO" != 1 ]; then
    HUGO_VERSION="$(hugo version 2>/dev/null | head -n 1)"
    HSITE="$WORK/hugo"
    HPUB="$WORK/hugo-public"
    mkdir -p "$HSITE"
    # Only section RSS: regular pages get a permalink for the feed items but
    # no output of their own (_build.render = "link"); every other kind off.
    # The page date comes from `published`; buildFuture keeps the result
    # independent of this machine's clock (broadsheet gets --now).
    cat >"$HSITE/hugo.toml" <<EOF
baseURL = "https://news.example.com/"
title = "論壇"
languageCode = "zh-Hant-HK"
timeZone = "Asia/Hong_Kong"
hasCJKLanguage = true
contentDir = "$PUB/content"
publishDir = "$HPUB"
buildFuture = true
rssLimit = 50
disableKinds = ["home", "taxonomy", "term", "sitemap", "robotsTXT", "404"]

[outputs]
section = ["RSS"]

[frontmatter]
date = ["published", ":default"]
publishDate = ["published", ":default"]

[services.rss]
limit = 50

[[cascade]]
[cascade._build]
render = "link"
list = "always"
[cascade._target]
kind = "page"
EOF
    # Cold like broadsheet: each run into a folder of its own.
    HUGO_N=0
    fresh_hugo() { HUGO_N=$((HUGO_N + 1)); export HPUB="$WORK/hugo-public-$HUGO_N"; }
    export HSITE WORK
    log "hugo ($HUGO_VERSION), section RSS only ($RUNS runs, each into a new folder) ..."
    # shellcheck disable=SC2016 # expanded by the inner shell, per run
    measure HUGO fresh_hugo bash -c 'exec hugo --source "$HSITE" --config "$HSITE/hugo.toml" \
        --cacheDir "$WORK/hugo-cache" --noBuildLock --destination "$HPUB"' 
    [ -s "$HPUB/col-00/index.xml" ] || die "hugo wrote no section RSS ($HPUB/col-00/index.xml is missing)"
    HUGO_FEEDS="$(find "$HPUB" -name index.xml | wc -l)"
    HUGO_ITEMS="$(grep -c '<item>' "$HPUB/col-00/index.xml" || true)"
    HUGO_WARNINGS="$(grep -c 'WARN' "$WORK/out.HUGO.1" || true)"
    log "  hugo wrote $HUGO_FEEDS section RSS files ($HUGO_ITEMS items in col-00), $HUGO_WARNINGS warnings"
fi

# --- report ----------------------------------------------------------------

row() { printf '%-44s %9s %9s %10s %7s   %-10s %s\n' "$@"; }
ratio() { # HUGO BROADSHEET: Hugo's median over broadsheet's, as "12.3"
    awk -v h="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", h / b; else printf ">%.0f", h / 0.01 }'
}
ge() { awk -v a="$1" -v b="$2" 'BEGIN { a = (a ~ /^>/) ? substr(a, 2) : a; exit !(a >= b) }'; }
echo
echo "broadsheet build benchmark: $N_ARTICLES articles, $N_COLUMNS columns, $N_AUTHORS authors ($AUTHOR_MIX)," \
    "${CONTENT_MB} MB; $RUNS runs each; wall time from /usr/bin/time -v; verdicts on the median"
row "measurement" "best" "median" "peak RSS" "files" "target" "result"
row "--------------------------------------------" "---------" "---------" "----------" "-------" "----------" "------"
if [ "$HUGO_ONLY" != 1 ]; then
    row "cold, column feeds only" "${BEST_COLD} s" "${MEDIAN_COLD} s" "$(kb_to_mb "$RSS_COLD") MB" "$FILES_COLD" "" ""
    for m in $AUTHOR_MINS; do
        b="BEST_MIN_$m"; md="MEDIAN_MIN_$m"; r="RSS_MIN_$m"; f="FILES_MIN_$m"; af="AUTHORFEEDS_MIN_$m"
        row "cold, author_min_articles = $m (${!af} authors)" "${!b} s" "${!md} s" "$(kb_to_mb "${!r}") MB" "${!f}" \
            "<= ${DEFAULT_TARGET_S} s" "$(verdict "${!md}" "$DEFAULT_TARGET_S")"
    done
    row "cold, default config ($AUTHOR_FEEDS authors)" "${BEST_DEFAULT} s" "${MEDIAN_DEFAULT} s" "$(kb_to_mb "$RSS_DEFAULT") MB" \
        "$FILES_DEFAULT" "<= ${DEFAULT_TARGET_S} s" "$(verdict "$MEDIAN_DEFAULT" "$DEFAULT_TARGET_S")"
    row "first build (keeps what the feeds carry)" "${BEST_FIRST} s" "${MEDIAN_FIRST} s" "$(kb_to_mb "$RSS_FIRST") MB" \
        "$FILES_DEFAULT" "" ""
    row "nothing changed" "${BEST_NOCHANGE} s" "${MEDIAN_NOCHANGE} s" "$(kb_to_mb "$RSS_NOCHANGE") MB" \
        "$FILES_NOCHANGE" "<= ${NOCHANGE_TARGET_S} s" "$(verdict "$MEDIAN_NOCHANGE" "$NOCHANGE_TARGET_S")"
    row "one article added" "${BEST_ADDED} s" "${MEDIAN_ADDED} s" "$(kb_to_mb "$RSS_ADDED") MB" \
        "$FILES_ADDED" "<= ${ONE_TARGET_S} s" "$(verdict "$MEDIAN_ADDED" "$ONE_TARGET_S")"
    row "one article edited" "${BEST_EDITED} s" "${MEDIAN_EDITED} s" "$(kb_to_mb "$RSS_EDITED") MB" \
        "$FILES_EDITED" "<= ${ONE_TARGET_S} s" "$(verdict "$MEDIAN_EDITED" "$ONE_TARGET_S")"
    PEAK_KB=0
    for v in "$RSS_COLD" "$RSS_DEFAULT" "$RSS_FIRST" "$RSS_NOCHANGE" "$RSS_ADDED" "$RSS_EDITED"; do
        if [ "$v" -gt "$PEAK_KB" ]; then PEAK_KB="$v"; fi
    done
    PEAK_MB="$(kb_to_mb "$PEAK_KB")"
    row "peak memory (default config)" "" "" "${PEAK_MB} MB" "" "<= ${RSS_TARGET_MB} MB" "$(verdict "$PEAK_MB" "$RSS_TARGET_MB")"
fi
if [ "$SKIP_HUGO" != 1 ]; then
    row "hugo, section RSS only" "${BEST_HUGO} s" "${MEDIAN_HUGO} s" "$(kb_to_mb "$RSS_HUGO") MB" "$HUGO_FEEDS" "reference" ""
fi
if [ "$HUGO_ONLY" != 1 ] && [ "$SKIP_HUGO" != 1 ]; then
    R="$(ratio "$MEDIAN_HUGO" "$MEDIAN_DEFAULT")"
    row "hugo / broadsheet, default config" "" "${R}x" "" "" ">= ${RATIO_TARGET}x" "$(ge "$R" "$RATIO_TARGET" && echo PASS || echo MISS)"
    R="$(ratio "$MEDIAN_HUGO" "$MEDIAN_COLD")"
    row "hugo / broadsheet, column feeds only" "" "${R}x" "" "" ">= ${COLUMNS_RATIO_TARGET}x" "$(ge "$R" "$COLUMNS_RATIO_TARGET" && echo PASS || echo MISS)"
fi
echo
[ "$HUGO_ONLY" = 1 ] || echo "files: in the output of a cold run; for the other runs, those the last run modified (nothing changed: the spec wants 0)"
[ "$SKIP_HUGO" = 1 ] || echo "hugo: $HUGO_VERSION; $HUGO_FEEDS section RSS files, $HUGO_ITEMS items in col-00/index.xml"
