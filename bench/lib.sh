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
