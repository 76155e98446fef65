#!/usr/bin/env bash
# What keeping going past an invalid article costs (`run`, `build
# --keep-going`), on a synthetic publication of 100,000 articles:
#   - a strict cold build, for comparison
#   - a cold keep-going build: the same, plus the source of every article
#     a feed carries appended to <state_path>.last-good.pack (the first
#     build only; every build keeps these versions)
#   - a keep-going build after one article changed: appends that one
#   - a keep-going build with one article invalid: read again without it,
#     its last good version in its place
# and prints each figure. The targets of the build benchmark (bench/build.sh)
# apply to the strict build; this script shows what keeping going adds.
#
# Environment:
#   BENCH_DIR=DIR        the publication (generated there by gen_publication.py
#                        if it has no config.toml; never deleted)
#   BENCH_ARTICLES=N     articles to generate (default 100000)
#   BENCH_COLUMNS=N      columns to generate (default 50)
#   BROADSHEET_BIN=PATH  time this binary; otherwise cargo build --release
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
ARTICLES="${BENCH_ARTICLES:-100000}"
COLUMNS="${BENCH_COLUMNS:-50}"
NOW="2026-11-27T00:00:00+08:00"
COLD_TARGET_S=1.0

. "$HERE/lib.sh"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

release_binary

PUB="${BENCH_DIR:-$WORK/pub}"
mkdir -p "$PUB"
if [ ! -f "$PUB/config.toml" ]; then
    log "generating $ARTICLES articles in $COLUMNS columns ..."
    python3 "$HERE/gen_publication.py" "$PUB" --articles "$ARTICLES" --columns "$COLUMNS" \
        || die "gen_publication.py failed"
fi
N="$(find "$PUB/content" -type f -name '*.md' | wc -l)"
log "publication: $N articles"

# seconds COMMAND...: prints the wall time of one run; its exit code goes
# to $WORK/code (the caller reads it: this runs in a subshell).
seconds() {
    local start end code
    start="$(date +%s.%N)"
    set +e
    "$@" >"$WORK/out" 2>&1
    code=$?
    set -e
    end="$(date +%s.%N)"
    echo "$code" >"$WORK/code"
    awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }'
}
code() { cat "$WORK/code"; }

export BROADSHEET_FEEDS__AUTHOR_FEEDS=false
export BROADSHEET_SITE__STATE_PATH="$WORK/state/broadsheet.db"
mkdir -p "$WORK/state"
BS=("$BIN" --config "$PUB/config.toml" --now "$NOW")

export BROADSHEET_SITE__OUTPUT_DIR="$WORK/out-strict"
STRICT="$(seconds "${BS[@]}" build)"
[ "$(code)" = 0 ] || { cat "$WORK/out" >&2; die "the strict build failed"; }

export BROADSHEET_SITE__OUTPUT_DIR="$WORK/out-keep"
COLD="$(seconds "${BS[@]}" build --keep-going)"
[ "$(code)" = 0 ] || { cat "$WORK/out" >&2; die "the keep-going build failed"; }
# The versions in the pack, each a header (the magic "bslg", the length of
# its path, the path under content_dir, the length of its bytes) and its
# bytes, after the pack's 8-byte id.
packed() {
    python3 - "$WORK/state/broadsheet.db.last-good.pack" <<'PY'
import struct, sys
data = open(sys.argv[1], 'rb').read()
at = 8
while at < len(data):
    assert data[at:at + 4] == b'bslg', at
    (n,) = struct.unpack_from('<I', data, at + 4)
    name = data[at + 8:at + 8 + n].decode()
    (size,) = struct.unpack_from('<Q', data, at + 8 + n)
    print(name)
    at += 8 + n + 8 + size
PY
}
COPIES="$(packed | wc -l)"
COPY_MB="$(du -sm "$WORK/state/broadsheet.db.last-good.pack" | cut -f1)"

# An article some feed carries: those are the ones with a version kept.
VICTIM="$PUB/content/$(packed | sort | tail -n 1)"
[ -f "$VICTIM" ] || die "no content file for the version kept of $VICTIM"
cp -p "$VICTIM" "$WORK/victim.md"
restore() { cp -p "$WORK/victim.md" "$VICTIM"; }
trap 'restore; rm -rf "$WORK"' EXIT

printf '\n' >>"$VICTIM"
ONE_CHANGED="$(seconds "${BS[@]}" build --keep-going)"
[ "$(code)" = 0 ] || { cat "$WORK/out" >&2; die "the keep-going build after an edit failed"; }

# Break its front matter: `title` becomes a number.
sed -i '0,/^title = .*/s//title = 3/' "$VICTIM"
ONE_INVALID="$(seconds "${BS[@]}" build --keep-going)"
[ "$(code)" = 1 ] || { cat "$WORK/out" >&2; die "the build with an invalid article exited $(code), not 1"; }
grep -q "the version published before is kept" "$WORK/out" \
    || { cat "$WORK/out" >&2; die "the invalid article's last good version was not kept"; }
restore

printf '\nkeep-going builds, %s articles, column feeds only\n' "$N"
printf '  %-52s %6s s   (build target %s s)\n' "strict cold build" "$STRICT" "$COLD_TARGET_S"
printf '  %-52s %6s s   (%s versions, %s MB, kept once)\n' "keep-going cold build (keeps what feeds carry)" "$COLD" "$COPIES" "$COPY_MB"
printf '  %-52s %6s s\n' "keep-going build, one article changed" "$ONE_CHANGED"
printf '  %-52s %6s s   (exit 1, last good version kept)\n' "keep-going build, one article invalid" "$ONE_INVALID"
