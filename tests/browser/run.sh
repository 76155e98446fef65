#!/usr/bin/env bash
# Browser end-to-end test of `broadsheet serve`: a reader subscribes in
# headless Chromium, confirms from the emailed link, gets a digest, and
# unsubscribes from its List-Unsubscribe link.
#
#   tests/browser/run.sh target/release/broadsheet
#
# Copies the sample publication (config.toml, content/, templates/) into a
# temporary folder, builds its feeds, starts `broadsheet serve` on a free
# port of 127.0.0.1 with mail going to the outbox folder, waits for
# /healthz, runs subscribe.mjs against it, and stops the server. Exits
# non-zero when any step fails. Nothing leaves this machine: the server
# binds to 127.0.0.1 and the browser may fetch nothing but that server.
#
# Installs what it needs when missing (Debian): chromium, a CJK font for
# readable screenshots, sqlite3, curl, nodejs and npm; and `npm ci` here
# when node_modules/ is missing.
#
# Arguments and environment:
#   $1 or BROADSHEET_BIN  the broadsheet binary to test (required)
#   SCREENSHOT_DIR=DIR    where the screenshots go (default: a folder
#                         browser-screenshots in the temporary folder, which
#                         is then kept; its path is printed at the end)
#   BROWSER_TEST_NOW=T    the clock of every broadsheet command, RFC 3339
#                         (default 2026-11-30T09:00:00+08:00)
#   BROWSER_TEST_COLUMN=S the column the reader ticks (default city-notes;
#                         it must have articles for the digest at that time)
#   CHROMIUM=PATH         the browser (default /usr/bin/chromium)
#   KEEP_WORK=1           keep the temporary folder even when all passed
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

log() { printf '%s\n' "$*" >&2; }
die() { log "browser test: error: $*"; exit 1; }

BIN="${1:-${BROADSHEET_BIN:-}}"
[ -n "$BIN" ] || die "usage: $0 PATH-TO-BROADSHEET-BINARY (or set BROADSHEET_BIN)"
[ -x "$BIN" ] || die "no executable broadsheet binary at $BIN"
BIN="$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")"

NOW="${BROWSER_TEST_NOW:-2026-11-30T09:00:00+08:00}"
COLUMN="${BROWSER_TEST_COLUMN:-city-notes}"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

# --- tools -----------------------------------------------------------------

SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
APT_UPDATED=0
apt_install() { # PACKAGE...
    log "installing $* with apt-get ..."
    local out
    out="$(mktemp)"
    if [ "$APT_UPDATED" = 0 ]; then
        $SUDO apt-get update -qq >"$out" 2>&1 || { cat "$out" >&2; rm -f "$out"; die "apt-get update failed"; }
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >"$out" 2>&1 \
        || { cat "$out" >&2; rm -f "$out"; die "apt-get install $* failed"; }
    rm -f "$out"
}

missing=()
[ -x "$CHROMIUM" ] || missing+=(chromium)
command -v sqlite3 >/dev/null 2>&1 || missing+=(sqlite3)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v fc-list >/dev/null 2>&1 || missing+=(fontconfig)
# Without a CJK font the screenshots show boxes where the Chinese text is.
if ! command -v fc-list >/dev/null 2>&1 || [ -z "$(fc-list :lang=zh-tw 2>/dev/null | head -n 1)" ]; then
    missing+=(fonts-wqy-microhei)
fi
if ! command -v node >/dev/null 2>&1; then
    missing+=(nodejs)
    command -v npm >/dev/null 2>&1 || missing+=(npm)
elif ! command -v npm >/dev/null 2>&1; then
    missing+=(npm)
fi
[ "${#missing[@]}" = 0 ] || apt_install "${missing[@]}"
[ -x "$CHROMIUM" ] || die "no browser at $CHROMIUM"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 18 ] || die "node $(node --version) is too old; playwright-core needs 18 or later"

if [ ! -d "$HERE/node_modules/playwright-core" ] || [ ! -d "$HERE/node_modules/mailparser" ]; then
    log "installing the test's npm packages (npm ci) ..."
    (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed in $HERE"
fi

# --- the publication -------------------------------------------------------

WORK="$(mktemp -d)"
PUB="$WORK/pub"
mkdir -p "$PUB"
SCREENSHOTS="${SCREENSHOT_DIR:-$WORK/browser-screenshots}"
mkdir -p "$SCREENSHOTS"
SCREENSHOTS="$(cd "$SCREENSHOTS" && pwd)"

SERVER_PID=""
PASSED=0
cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [ "$PASSED" = 1 ] && [ "${KEEP_WORK:-0}" != 1 ]; then
        if [ -n "${SCREENSHOT_DIR:-}" ]; then
            rm -rf "$WORK"
        else
            # Keep the screenshots, which live here; drop the rest.
            find "$WORK" -mindepth 1 -maxdepth 1 ! -name browser-screenshots -exec rm -rf {} +
        fi
    else
        log "browser test: the temporary folder is kept: $WORK"
    fi
}
trap cleanup EXIT

cp -r "$ROOT/config.toml" "$ROOT/content" "$PUB/"
[ -d "$ROOT/templates" ] && cp -r "$ROOT/templates" "$PUB/"

# A free port on loopback, found by binding port 0.
PORT="$(node -e '
const s = require("net").createServer();
s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });')"
BASE_URL="http://127.0.0.1:$PORT"

# Only what is set here reaches broadsheet: no BROADSHEET_* of the caller's
# (an SMTP host, say) may change where mail goes.
while IFS= read -r v; do
    case "$v" in BROADSHEET_BIN) ;; BROADSHEET_*) unset "$v" ;; esac
done < <(compgen -e)
export BROADSHEET_SERVER__BIND="127.0.0.1:$PORT"
export BROADSHEET_SERVER__PUBLIC_URL="$BASE_URL"
export BROADSHEET_SERVER__SECRET="browser-test-secret-$RANDOM$RANDOM"
export BROADSHEET_SITE__STATE_PATH="$PUB/broadsheet.db"
export BROADSHEET_SMTP__OUTBOX_DIR="$PUB/outbox"
export BROADSHEET_LOG="${BROADSHEET_LOG:-info}"

bs() { "$BIN" --config "$PUB/config.toml" --now "$NOW" "$@"; }

log "building the sample publication's feeds ..."
bs build >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log" >&2; die "broadsheet build failed"; }

# --- the server ------------------------------------------------------------

log "starting broadsheet serve on $BASE_URL ..."
"$BIN" --config "$PUB/config.toml" --now "$NOW" serve >"$WORK/serve.log" 2>&1 &
SERVER_PID=$!
ready=0
for _ in $(seq 1 150); do  # up to 15 s
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        cat "$WORK/serve.log" >&2
        die "broadsheet serve exited before answering /healthz"
    fi
    if curl -fsS -o /dev/null --max-time 1 "$BASE_URL/healthz" 2>/dev/null; then
        ready=1
        break
    fi
    sleep 0.1
done
if [ "$ready" != 1 ]; then
    cat "$WORK/serve.log" >&2
    die "broadsheet serve did not answer $BASE_URL/healthz with 200 within 15 s"
fi

# --- the browser -----------------------------------------------------------

status=0
BASE_URL="$BASE_URL" BROADSHEET_BIN="$BIN" BROADSHEET_CONFIG_PATH="$PUB/config.toml" \
    BROADSHEET_NOW="$NOW" STATE_DB="$PUB/broadsheet.db" OUTBOX_DIR="$PUB/outbox" \
    SCREENSHOT_DIR="$SCREENSHOTS" COLUMN="$COLUMN" CHROMIUM="$CHROMIUM" WORK_DIR="$WORK" \
    node "$HERE/subscribe.mjs" || status=$?

kill "$SERVER_PID" 2>/dev/null || true
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=""

if grep -qiE 'panicked|database is locked' "$WORK/serve.log"; then
    log "browser test: the server's log has a panic or a locked database:"
    grep -iE 'panicked|database is locked' "$WORK/serve.log" | head -n 20 >&2
    [ "$status" != 0 ] || status=1
fi

echo "screenshots: $SCREENSHOTS"
if [ "$status" != 0 ]; then
    log "browser test: FAILED; the server's log (last 40 lines):"
    tail -n 40 "$WORK/serve.log" >&2
    exit "$status"
fi
PASSED=1
echo "browser test: passed"
