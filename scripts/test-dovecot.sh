#!/usr/bin/env bash
# Starts a throwaway Dovecot (IMAP over TLS only) for the IMAP tests, on
# 127.0.0.1, in a new folder, and prints the lines to export:
#
#   eval "$(scripts/test-dovecot.sh)"    # sets BROADSHEET_TEST_IMAP_*
#   cargo test --test cli imap
#
# It needs Debian's `dovecot-imapd` package (installed when missing, as
# root) and openssl. Everything it makes is in its folder: the config, a
# test CA and the server's certificate for localhost and 127.0.0.1 (signed
# by that CA, which the tests trust through bounces.imap_ca_file), one
# user in a passwd file, and that user's Maildir. Run as root, the mail
# processes run as `nobody`; run as anyone else, everything runs as them.
# Stop it with: kill "$BROADSHEET_TEST_IMAP_PID"; rm -rf "$BROADSHEET_TEST_IMAP_DIR"
set -euo pipefail
log() { printf '%s\n' "$*" >&2; }
# A free port of 127.0.0.1 unless one is asked for: another server (or an
# earlier run of this script) may hold any fixed one.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PORT="${IMAPTEST_PORT:-$(free_port 59930 60030)}"

dovecot="$(command -v dovecot || ls /usr/sbin/dovecot 2>/dev/null || true)"
if [ -z "$dovecot" ]; then
    if [ "$(id -u)" != 0 ]; then
        log "dovecot is not installed; as root: apt-get install dovecot-imapd"
        exit 1
    fi
    log "installing dovecot-imapd with apt-get ..."
    export DEBIAN_FRONTEND=noninteractive
    # The package would start a system-wide Dovecot listening on every
    # interface; a policy that refuses to start services prevents it.
    made_policy=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends dovecot-imapd openssl >/dev/null
    [ -n "$made_policy" ] && rm -f /usr/sbin/policy-rc.d
    dovecot="$(command -v dovecot || ls /usr/sbin/dovecot)"
fi

dir="$(mktemp -d /tmp/broadsheet-imap.XXXXXX)"
chmod 755 "$dir"
user=bounces
password="imap-test-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"

# A CA, and the server's certificate it signs: webpki takes no
# self-signed certificate as a server's own.
(
    cd "$dir"
    openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
        -keyout ca.key -out ca.crt -days 7 -subj "/CN=broadsheet test CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
    openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
        -keyout server.key -out server.csr -subj "/CN=localhost"
    printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" "basicConstraints=critical,CA:FALSE" \
        "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" >server.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
        -out server.crt -days 7 -extfile server.ext
) >"$dir/openssl.log" 2>&1 || { cat "$dir/openssl.log" >&2; exit 1; }

if [ "$(id -u)" = 0 ]; then
    internal=dovecot internal_group=dovecot login=dovenull
    mail_uid="$(id -u nobody)" mail_gid="$(id -g nobody)"
else
    internal="$(id -un)" internal_group="$(id -gn)" login="$(id -un)"
    mail_uid="$(id -u)" mail_gid="$(id -g)"
fi
home="$dir/home/$user"
mkdir -p "$dir/run" "$dir/state" "$home/Maildir/new" "$home/Maildir/cur" "$home/Maildir/tmp"
chown -R "$mail_uid:$mail_gid" "$dir/home"
echo "$user:{PLAIN}$password:$mail_uid:$mail_gid::$home::" >"$dir/users"
chmod 644 "$dir/users"

cat >"$dir/dovecot.conf" <<CONF
# A throwaway server for broadsheet's IMAP tests (scripts/test-dovecot.sh).
protocols = imap
listen = 127.0.0.1
base_dir = $dir/run
state_dir = $dir/state
log_path = $dir/dovecot.log
default_internal_user = $internal
default_internal_group = $internal_group
default_login_user = $login
first_valid_uid = 1
# A wrong password is answered at once, and counts against no later
# login (the anvil socket below, mode 0, turns the penalty off): the tests
# try one on purpose, and the delay would grow for every login from
# 127.0.0.1 after it, past the tests' timeouts.
auth_failure_delay = 0
ssl = required
ssl_cert = <$dir/server.crt
ssl_key = <$dir/server.key
ssl_min_protocol = TLSv1.2
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $dir/users
}
userdb {
  driver = passwd-file
  args = username_format=%u $dir/users
}
service imap-login {
  inet_listener imap {
    port = 0
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $PORT
    ssl = yes
  }
  chroot =
}
service anvil {
  chroot =
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
CONF

"$dovecot" -c "$dir/dovecot.conf" 2>"$dir/start.log" \
    || { cat "$dir/start.log" "$dir/dovecot.log" >&2 2>/dev/null; exit 1; }
# Ready once it listens and has written its pid (a moment after).
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && [ -s "$dir/run/master.pid" ]; }
for _ in $(seq 1 100); do
    listening && break
    sleep 0.1
done
listening || { log "dovecot did not start on 127.0.0.1:$PORT"; cat "$dir/dovecot.log" >&2 2>/dev/null; exit 1; }

echo "export BROADSHEET_TEST_IMAP_PORT=$PORT"
echo "export BROADSHEET_TEST_IMAP_USER=$user"
echo "export BROADSHEET_TEST_IMAP_PASSWORD=$password"
echo "export BROADSHEET_TEST_IMAP_CA_FILE=$dir/ca.crt"
echo "export BROADSHEET_TEST_IMAP_MAILDIR=$home/Maildir"
echo "export BROADSHEET_TEST_IMAP_DIR=$dir"
echo "export BROADSHEET_TEST_IMAP_PID=$(cat "$dir/run/master.pid")"
