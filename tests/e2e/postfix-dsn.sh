#!/usr/bin/env bash
# End to end through a real Postfix: a digest goes to a throwaway Postfix
# instance on 127.0.0.1, which accepts both readers, delivers one to a
# Maildir and fails the other's delivery after accepting it (its alias is
# a command that exits 67, EX_NOUSER), so that Postfix writes a real
# delivery status notification back to the digest's VERP envelope sender.
# That DSN lands in the bounce mailbox's Maildir, and `bounces scan` reads
# it: the reader who bounced is `bounced`, with the report that decided it,
# the other is still active, the DSN is moved to cur/ flagged seen, and a
# second scan records nothing.
#
#   tests/e2e/postfix-dsn.sh [BINARY]     (default: target/debug/broadsheet)
#
# It needs root (Postfix's daemons start as root and drop to the postfix
# user) and Debian's postfix package, which it installs with apt-get when
# missing. Not root: it says so in one line and exits 0, except under
# CI=true, where that is a failure. The instance has a folder of its own
# (config, queue, data, mailboxes), listens on 127.0.0.1 alone, delivers
# only to news.test and bounces.news.test, and has no SMTP client at all:
# nothing leaves this machine. It is stopped, and its folder removed, on
# exit.
set -euo pipefail
cd "$(dirname "$0")/../.."

ok() { printf 'ok: %s\n' "$*"; }
fail() {
    printf 'postfix-dsn: %s\n' "$*" >&2
    if [ -n "${dir:-}" ] && [ -f "$dir/maillog" ]; then
        printf -- '--- the instance'"'"'s log:\n' >&2
        tail -40 "$dir/maillog" >&2
    fi
    exit 1
}

if [ "$(id -u)" != 0 ]; then
    if [ "${CI:-}" = true ]; then
        echo "postfix-dsn: CI=true but not root: this end-to-end test must run (it needs root for a Postfix instance)" >&2
        exit 1
    fi
    echo "postfix-dsn: skipped (needs root for a throwaway Postfix instance); run it as root: sudo tests/e2e/postfix-dsn.sh"
    exit 0
fi

bin="${1:-target/debug/broadsheet}"
[ -x "$bin" ] || fail "no broadsheet binary at $bin (cargo build first)"
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"

export PATH="$PATH:/usr/sbin:/usr/lib/postfix/sbin"
if ! command -v postfix >/dev/null 2>&1; then
    echo "installing postfix with apt-get ..." >&2
    export DEBIAN_FRONTEND=noninteractive
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends postfix >/dev/null
fi

# A free port of 127.0.0.1: another server may hold any fixed one.
port=""
for p in $(seq 2592 2692); do
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { port=$p; break; }
done
[ -n "$port" ] || fail "no free port between 2592 and 2692 on 127.0.0.1"

dir="$(mktemp -d -t broadsheet-postfix.XXXXXX)"
chmod 755 "$dir"
stop() {
    if [ -f "$dir/etc/main.cf" ]; then
        postfix -c "$dir/etc" stop >/dev/null 2>&1 || true
        # The master process takes a moment to go; its daemons with it.
        for _ in $(seq 50); do
            postfix -c "$dir/etc" status >/dev/null 2>&1 || break
            sleep 0.1
        done
    fi
    rm -rf "$dir"
}
trap stop EXIT

# The alias table in the database type this Postfix makes by default
# (hash on Debian 12, lmdb where Berkeley DB is gone).
db="$(postconf -d -h default_database_type)"
mkdir -p "$dir/etc" "$dir/queue" "$dir/data" "$dir/mail" "$dir/publication"
for box in bounces stays; do
    mkdir -p "$dir/mail/$box/new" "$dir/mail/$box/cur" "$dir/mail/$box/tmp"
done
# Deliveries to a file named in an alias run as default_privs (nobody),
# since root owns the alias database.
chown -R nobody "$dir/mail"
chown postfix "$dir/data"

cat >"$dir/etc/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $dir/queue
data_directory = $dir/data
meta_directory = /etc/postfix
maillog_file_prefixes = $dir
maillog_file = $dir/maillog
myhostname = mx.news.test
mydomain = news.test
myorigin = news.test
mydestination = news.test, bounces.news.test
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_peername_lookup = no
# No SMTP or LMTP client in master.cf, and every other destination fails
# at once: nothing leaves this machine.
default_transport = error:this test instance delivers nowhere else
relay_transport = error:this test instance delivers nowhere else
alias_maps = $db:$dir/etc/aliases
alias_database = $db:$dir/etc/aliases
# bounces+TOKEN@bounces.news.test is delivered as bounces@.
recipient_delimiter = +
home_mailbox = Maildir/
allow_mail_to_commands = alias
allow_mail_to_files = alias
biff = no
EOF
cat >"$dir/etc/master.cf" <<EOF
127.0.0.1:$port inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
# gone@ is accepted (it has an alias) but its delivery fails for good:
# exit 67 is EX_NOUSER, which local(8) reports as 5.1.1.
cat >"$dir/etc/aliases" <<EOF
postmaster: /dev/null
MAILER-DAEMON: /dev/null
gone: "|exit 67"
stays: $dir/mail/stays/
bounces: $dir/mail/bounces/
EOF
postalias -c "$dir/etc" "$db:$dir/etc/aliases"
postfix -c "$dir/etc" check >/dev/null 2>&1 || postfix -c "$dir/etc" check || fail "postfix check found problems in the test instance's config"
postfix -c "$dir/etc" start >/dev/null 2>&1 || { postfix -c "$dir/etc" start; fail "the test instance did not start"; }
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done
(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || fail "the test instance is not listening on 127.0.0.1:$port"
ok "a throwaway Postfix $(postconf -c "$dir/etc" -h mail_version) listens on 127.0.0.1:$port, delivering to news.test and bounces.news.test only"

pub="$dir/publication"
cp -r config.toml content "$pub/"
bs() {
    BROADSHEET_SMTP__HOST=127.0.0.1 BROADSHEET_SMTP__PORT=$port \
        BROADSHEET_SERVER__SECRET=e2e-only-secret-of-16-or-more \
        BROADSHEET_DIGEST__FROM="論壇 <digest@news.test>" \
        BROADSHEET_DIGEST__BOUNCE_DOMAIN=bounces.news.test \
        "$bin" --config "$pub/config.toml" --now 2026-11-30T09:00:00+08:00 "$@"
}
bs subscribers add gone@news.test >/dev/null
bs subscribers add stays@news.test >/dev/null
sent="$(bs run)" || fail "broadsheet run failed: $sent"
grep -q "2 sent" <<<"$sent" || fail "expected the digest to go to 2 readers: $sent"
ok "broadsheet run handed the digest to Postfix for gone@news.test and stays@news.test"

# Postfix delivers, fails gone@'s delivery and writes its DSN in a second
# or two; a minute is the bound against a hang.
waited=0
until [ -n "$(ls -A "$dir/mail/bounces/new")" ] && [ -n "$(ls -A "$dir/mail/stays/new")" ]; do
    [ "$waited" -lt 600 ] || fail "no DSN in the bounce mailbox, or no digest for stays@, after 60 s"
    sleep 0.1
    waited=$((waited + 1))
done
dsn="$(ls "$dir/mail/bounces/new")"
[ "$(wc -l <<<"$dsn")" = 1 ] || fail "expected one DSN, found: $dsn"
grep -q "^Return-Path: <bounces+[a-z2-7]*@bounces.news.test>" "$dir/mail/stays/new/"* \
    || fail "the digest stays@ got has no VERP Return-Path"
grep -qi "^Content-Type: multipart/report; report-type=delivery-status" "$dir/mail/bounces/new/$dsn" \
    || grep -qi "report-type=delivery-status" "$dir/mail/bounces/new/$dsn" \
    || fail "what came back is not a DSN"
grep -q "^Delivered-To: bounces+[a-z2-7]*@bounces.news.test" "$dir/mail/bounces/new/$dsn" \
    || fail "the DSN did not come to the VERP address"
ok "Postfix returned a DSN for gone@news.test to the VERP address within $((waited / 10)) s; stays@news.test got the digest"

scan="$(bs bounces scan "$dir/mail/bounces")" || fail "bounces scan failed: $scan"
grep -q "scanned 1 message: 1 recorded" <<<"$scan" || fail "the scan did not record the DSN: $scan"
grep -q "gone@news.test: now bounced" <<<"$scan" || fail "the scan did not bounce gone@: $scan"

listed="$(bs subscribers list --status bounced)"
# email, name, columns, status, then why: kind, code, source, when, the
# report's id, the diagnostic (cut, since read would join empty fields).
field() { cut -f"$1" <<<"$listed"; }
email="$(field 1)" status="$(field 4)" kind="$(field 5)" code="$(field 6)"
source="$(field 7)" id="$(field 9)" diagnostic="$(field 10)"
[ "$email" = gone@news.test ] && [ "$status" = bounced ] || fail "gone@ is not the bounced reader: $listed"
[ "$kind" = hard ] && [ "$code" = 5.1.1 ] && [ "$source" = maildir ] && [ -n "$id" ] \
    || fail "the reason is not Postfix's hard bounce: $listed"
[ -n "$diagnostic" ] || fail "the reason has no diagnostic: $listed"
bs subscribers list --status active | grep -q $'^stays@news.test\t' || fail "stays@ is not active"
[ "$(bs subscribers list --status bounced | wc -l)" = 1 ] || fail "someone else bounced"
bs bounces show "$id" | grep -q "^Final-Recipient: rfc822; gone@news.test" \
    || fail "bounces show $id does not print the DSN it kept"
ok "gone@news.test is bounced (hard 5.1.1 from the maildir, report $id: $diagnostic); stays@news.test is active"

[ -z "$(ls -A "$dir/mail/bounces/new")" ] || fail "the DSN is still in new/"
[ -f "$dir/mail/bounces/cur/$dsn:2,S" ] || fail "the DSN is not in cur/ flagged seen: $(ls "$dir/mail/bounces/cur")"
again="$(bs bounces scan "$dir/mail/bounces")"
grep -q ": 0 recorded" <<<"$again" || fail "a second scan recorded something: $again"
[ "$(bs bounces list | wc -l)" = 1 ] || fail "more than one report is recorded"
ok "the DSN moved to cur/ flagged seen, and a second scan recorded nothing"
