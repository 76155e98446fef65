#!/usr/bin/env bash
# Build benchmark: broadsheet vs. Hugo on a synthetic 100,000-article publication.
#
#   bench/build.sh
#
# Builds target/release/broadsheet, generates the publication with
# gen_publication.py into a temporary directory, and times with /usr/bin/time -v:
#   - broadsheet build, cold, column feeds only: what Hugo is asked to build
#     too, and what the targets are for
#   - broadsheet build, nothing changed (the last cold output kept)
#   - broadsheet build, cold, with the author feeds the configuration turns
#     on by default (about a thousand authors, three files each)
#   - hugo, building only the per-section RSS of the same content
# then prints each figure against its target. Missing a target is reported,
# not an error: the script exits non-zero only when something actually fails.
#
# "Cold" means no earlier output: each cold run writes into a folder of its
# own that does not exist yet, and all of them are removed at the end.
# Removing thousands of files just before a run would time the file
# system instead: ext4 goes on freeing them in the background, and skips
# over recently freed inodes each time it creates a file, which at 3,000
# files costs more than the build itself. For the same reason, leave a few
# minutes between two runs of this script: it removes its folders at the end.
#
# Environment:
#   BENCH_DIR=DIR        use this publication directory; generated there if it
#                        has no config.toml, reused as is (no regeneration) if
#                        it has one, and never deleted
#   BENCH_ARTICLES=N     articles to generate (default 100000)
#   BENCH_COLUMNS=N      columns to generate (default 50)
#   BENCH_RUNS=N         timed runs per measurement (default 3)
#   BROADSHEET_BIN=PATH  time this binary; skips cargo build
#   HUGO_ONLY=1          skip cargo and broadsheet; time Hugo only
#   SKIP_HUGO=1          skip the Hugo measurement
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"

ARTICLES="${BENCH_ARTICLES:-100000}"
COLUMNS="${BENCH_COLUMNS:-50}"
RUNS="${BENCH_RUNS:-3}"
NOW="2026-11-27T00:00:00+08:00"
HUGO_ONLY="${HUGO_ONLY:-0}"
SKIP_HUGO="${SKIP_HUGO:-0}"

# Targets.
COLD_TARGET_S=1.0
NOCHANGE_TARGET_S=0.3
RSS_TARGET_MB=300
RATIO_TARGET=10

log() { printf '%s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

WORK="$(mktemp -d)"
cleanup() { rm -rf "$WORK"; }
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
if [ "$SKIP_HUGO" != 1 ] && ! command -v hugo >/dev/null 2>&1; then
    apt_install hugo
fi
command -v python3 >/dev/null 2>&1 || die "python3 is needed to generate the publication"

# --- the binary ------------------------------------------------------------

BIN=""
if [ "$HUGO_ONLY" != 1 ]; then
    if [ -n "${BROADSHEET_BIN:-}" ]; then
        BIN="$BROADSHEET_BIN"
    else
        log "building the release binary (cargo build --release) ..."
        (cd "$ROOT" && cargo build --release --quiet) || die "cargo build --release failed"
        target_dir="${CARGO_TARGET_DIR:-target}"
        case "$target_dir" in /*) ;; *) target_dir="$ROOT/$target_dir" ;; esac
        BIN="$target_dir/release/broadsheet"
    fi
    [ -x "$BIN" ] || die "no broadsheet binary at $BIN"
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
    log "generating $ARTICLES articles in $COLUMNS columns ..."
    python3 "$HERE/gen_publication.py" "$PUB" --articles "$ARTICLES" --columns "$COLUMNS" \
        || die "gen_publication.py failed"
fi
N_ARTICLES="$(find "$PUB/content" -type f -name '*.md' | wc -l)"
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

log "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
log "publication: $N_ARTICLES articles, $N_COLUMNS columns, ${CONTENT_MB} MB of content"

if [ "$HUGO_ONLY" != 1 ]; then
    BS=("$BIN" --config "$PUB/config.toml" --now "$NOW" build)
    export BROADSHEET_FEEDS__AUTHOR_FEEDS=false
    log "broadsheet, cold, column feeds ($RUNS runs, each into a new folder) ..."
    measure COLD fresh_out "${BS[@]}"
    [ -s "$OUT/col-00/rss.xml" ] || die "broadsheet build wrote no $OUT/col-00/rss.xml"
    BS_FEEDS="$(find "$OUT" -mindepth 2 -maxdepth 2 -name rss.xml | wc -l)"
    BS_FILES="$(find "$OUT" -type f | wc -l)"
    log "  broadsheet wrote $BS_FEEDS column rss.xml files, $BS_FILES files in all"
    touch "$WORK/after-cold"
    sleep 0.05
    log "broadsheet, nothing changed ($RUNS runs, on the last cold output) ..."
    measure NOCHANGE no_prep "${BS[@]}"
    BS_REWRITTEN="$(find "$OUT" -type f -newer "$WORK/after-cold" | wc -l)"
    log "  files modified by the nothing-changed runs: $BS_REWRITTEN"
    unset BROADSHEET_FEEDS__AUTHOR_FEEDS
    log "broadsheet, cold, with author feeds ($RUNS runs, each into a new folder) ..."
    measure AUTHORS fresh_out "${BS[@]}"
    AUTHOR_FEEDS="$(find "$OUT/authors" -mindepth 2 -maxdepth 2 -name rss.xml 2>/dev/null | wc -l)"
    AUTHOR_FILES="$(find "$OUT" -type f | wc -l)"
    log "  broadsheet wrote $AUTHOR_FEEDS author rss.xml files, $AUTHOR_FILES files in all"
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

row() { printf '%-34s %9s %9s %10s   %-10s %s\n' "$@"; }
echo
echo "broadsheet build benchmark: $N_ARTICLES articles, $N_COLUMNS columns, ${CONTENT_MB} MB;" \
    "$RUNS runs each; wall time from /usr/bin/time -v; verdicts on the median"
row "measurement" "best" "median" "peak RSS" "target" "result"
row "----------------------------------" "---------" "---------" "----------" "----------" "------"
if [ "$HUGO_ONLY" != 1 ]; then
    row "broadsheet build, cold" "${BEST_COLD} s" "${MEDIAN_COLD} s" "$(kb_to_mb "$RSS_COLD") MB" \
        "<= ${COLD_TARGET_S} s" "$(verdict "$MEDIAN_COLD" "$COLD_TARGET_S")"
    row "broadsheet build, nothing changed" "${BEST_NOCHANGE} s" "${MEDIAN_NOCHANGE} s" "$(kb_to_mb "$RSS_NOCHANGE") MB" \
        "<= ${NOCHANGE_TARGET_S} s" "$(verdict "$MEDIAN_NOCHANGE" "$NOCHANGE_TARGET_S")"
    row "  cold, with author feeds" "${BEST_AUTHORS} s" "${MEDIAN_AUTHORS} s" "$(kb_to_mb "$RSS_AUTHORS") MB" \
        "<= ${COLD_TARGET_S} s" "$(verdict "$MEDIAN_AUTHORS" "$COLD_TARGET_S")"
    PEAK_KB=$(( RSS_COLD > RSS_NOCHANGE ? RSS_COLD : RSS_NOCHANGE ))
    PEAK_KB=$(( RSS_AUTHORS > PEAK_KB ? RSS_AUTHORS : PEAK_KB ))
    PEAK_MB="$(kb_to_mb "$PEAK_KB")"
    row "broadsheet peak memory" "" "" "${PEAK_MB} MB" "<= ${RSS_TARGET_MB} MB" "$(verdict "$PEAK_MB" "$RSS_TARGET_MB")"
fi
if [ "$SKIP_HUGO" != 1 ]; then
    row "hugo, section RSS only" "${BEST_HUGO} s" "${MEDIAN_HUGO} s" "$(kb_to_mb "$RSS_HUGO") MB" "reference" ""
fi
if [ "$HUGO_ONLY" != 1 ] && [ "$SKIP_HUGO" != 1 ]; then
    if awk -v b="$MEDIAN_COLD" 'BEGIN { exit !(b > 0) }'; then
        RATIO="$(awk -v h="$MEDIAN_HUGO" -v b="$MEDIAN_COLD" 'BEGIN { printf "%.1f", h / b }')"
        RATIO_RESULT="$(awk -v r="$RATIO" -v t="$RATIO_TARGET" 'BEGIN { print (r >= t) ? "PASS" : "MISS" }')"
    else
        RATIO=">$(awk -v h="$MEDIAN_HUGO" 'BEGIN { printf "%.0f", h / 0.01 }')"  # below time's 10 ms resolution
        RATIO_RESULT="PASS"
    fi
    row "hugo time / broadsheet cold time" "" "${RATIO}x" "" ">= ${RATIO_TARGET}x" "$RATIO_RESULT"
fi
echo
[ "$HUGO_ONLY" = 1 ] || echo "broadsheet: $BS_FEEDS column rss.xml files ($BS_FILES files); $BS_REWRITTEN files modified by the nothing-changed runs (the spec wants 0)"
[ "$HUGO_ONLY" = 1 ] || echo "broadsheet with author feeds: $AUTHOR_FEEDS author rss.xml files ($AUTHOR_FILES files)"
[ "$SKIP_HUGO" = 1 ] || echo "hugo: $HUGO_VERSION; $HUGO_FEEDS section RSS files, $HUGO_ITEMS items in col-00/index.xml"
