# What the benchmark scripts share. Source it after setting ROOT:
#
#   . "$HERE/lib.sh"

log() { printf '%s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Sets BIN to $BROADSHEET_BIN, or to the release binary, built now
# (where CARGO_TARGET_DIR puts it, if set).
release_binary() {
    if [ -n "${BROADSHEET_BIN:-}" ]; then
        BIN="$BROADSHEET_BIN"
    else
        log "building the release binary (cargo build --release) ..."
        (cd "$ROOT" && cargo build --release --quiet) || die "cargo build --release failed"
        local target_dir="${CARGO_TARGET_DIR:-target}"
        case "$target_dir" in /*) ;; *) target_dir="$ROOT/$target_dir" ;; esac
        BIN="$target_dir/release/broadsheet"
    fi
    [ -x "$BIN" ] || die "no broadsheet binary at $BIN"
}

# Sets BACKEND (and STATE_URL): postgres, with the state's URL exported
# for every command, when BENCH_STATE_URL names a database; sqlite
# otherwise.
state_backend() {
    STATE_URL="${BENCH_STATE_URL:-}"
    BACKEND=sqlite
    if [ -n "$STATE_URL" ]; then
        export BROADSHEET_STATE__URL="$STATE_URL"
        BACKEND=postgres
        command -v psql >/dev/null || die "BENCH_STATE_URL needs psql"
    fi
}

# Makes sure of /usr/bin/time (whose -v gives the peak memory),
# installing it when missing.
need_time() {
    [ -x /usr/bin/time ] && return
    log "installing time with apt-get ..."
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends time >/dev/null \
        || die "apt-get install time failed"
}
