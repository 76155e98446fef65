# What the test-server scripts share. Source it: . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Prints the first port of 127.0.0.1 from FROM to TO that nothing listens
# on: another server (or an earlier run of the same script) may hold any
# fixed one. Fails when all are taken.
free_port() { # FROM TO
    local p
    for p in $(seq "$1" "$2"); do
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
    return 1
}
