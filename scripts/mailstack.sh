#!/usr/bin/env bash
# mailstack.sh: the real mail stack mailcanary's tests run against, on 127.0.0.1 only.
#
# Postfix (SMTP 25, submission 587 STARTTLS, submissions 465 implicit TLS), filtered by rspamd,
# delivers over LMTP into Dovecot (IMAP 143 STARTTLS, IMAPS 993, POP3 110 STLS, POP3S 995), with
# a throwaway CA made on first `up`; Unbound serves the DNS zone example.test to rspamd.
# Debian 12, as root, no systemd: daemons are started here and stopped by their pid.
#
#   mailstack.sh install          apt-get the packages the test suite needs (idempotent)
#   mailstack.sh up               install, configure, start; waits until every listener answers
#                                 a real login (IMAP, POP3, submission AUTH) and a message
#                                 submitted on 587 arrives with dkim, spf, dmarc pass and a score
#   mailstack.sh down             stop Postfix, rspamd, Unbound and Dovecot by pid
#   mailstack.sh status           running or not, one line each
#   mailstack.sh fault NAME on|off   see `mailstack.sh faults`
#
# Every smtpd has rspamd as its milter (mail filter; rspamd resolves only through Unbound, which
# serves the zone example.test on 127.0.0.1:5300 and answers NXDOMAIN for every other name).
# Mail submitted on 587/465 is DKIM-signed there (d=example.test, s=mailstack), then re-injected
# through a second smtpd on 127.0.0.1:10025 where rspamd verifies it; mail on 25 is verified
# directly. The delivered message carries, on top (below the receiving hops' Received headers),
# `Authentication-Results: mail.example.test; dkim=... spf=... dmarc=...`, and after its own
# headers `X-Spam-Status: No, score=...`. Mail to mallory also carries a sender-side forged
# Authentication-Results (all fail) below the Received headers and the real one. The
# `dkim-broken` fault makes submitted mail fail DKIM verification (a signed header rewritten
# after signing).
#
# Delivery runs Dovecot Sieve (Pigeonhole): every user has a Junk folder announced by SPECIAL-USE
# `\Junk`, and the `junk` fault files all new mail into it (see set_junk).
#
# Users: <name>@example.test with password <name>-secret, for each name in $USERS (nina is kept
# for one end-to-end test of authentication verdicts; stackcheck for `up`'s filter check).
#
# OAuth (XOAUTH2 / OAUTHBEARER, IMAP and SMTP submission through Dovecot SASL): Dovecot's oauth2
# passdb asks the token-introspection URL $OAUTH_INTROSPECTION_URL (RFC 7662, POST token=...).
# Nothing serves it by default: the tests that log in with a token serve it themselves
# (tests/support/oauth.rs). Password logins never reach it.
set -euo pipefail
STATE=${MAILSTACK_STATE:-/var/lib/mailstack}
DOMAIN=example.test
# stackcheck: only `up`'s check of the filter sends to it (check_filter).
USERS="canary alice bob carol dave erin frank grace henry ivan judy kim lena mallory nina stackcheck"
PKGS="postfix dovecot-imapd dovecot-pop3d dovecot-lmtpd dovecot-sieve openssl nftables python3 prometheus prometheus-alertmanager unbound rspamd"
LOCK=/tmp/mailcanary-mailstack.lock
OAUTH_INTROSPECTION_URL=${MAILSTACK_OAUTH_URL:-http://127.0.0.1:9799/introspect}
POSTFIX_PID=/var/spool/postfix/pid/master.pid
SIEVE_JUNK=$STATE/sieve/junk.sieve
DOVECOT_PID=/run/dovecot/master.pid
# The DNS server for example.test (Unbound) and rspamd's milter; the re-injection smtpd where
# mail signed on submission comes back to be verified. No other part of the project uses these.
DNS_PORT=5300
DNS_DIR=$STATE/dns
DNS_PID=$DNS_DIR/unbound.pid
RSPAMD_DIR=$STATE/rspamd
RSPAMD_PID=$RSPAMD_DIR/rspamd.pid
# A Unix socket, not TCP: Postfix's milter protocol writes small packets and waits for the
# answer, and over loopback TCP each pass then lost ~40 ms to delayed ACKs, enough to make
# delivery miss a POP3 client's first poll. Inside Postfix's chroot (every smtpd here runs
# chrooted) it is /rspamd/milter.sock.
MILTER_DIR=/var/spool/postfix/rspamd
MILTER_SOCK=$MILTER_DIR/milter.sock
REINJECT_PORT=10025
DKIM_SELECTOR=mailstack
DKIM_KEY=$STATE/dkim/$DOMAIN.$DKIM_SELECTOR.key
DKIM_BROKEN=/etc/postfix/mailstack_dkim_broken

log() { echo "mailstack: $*" >&2; }

# Installed means dpkg's "ii": a package it knows only by its leftover config files ("rc", e.g.
# dovecot-imapd after another IMAP server replaced it) or half-installed counts as missing.
installed() { [ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null)" = "ii " ]; }

install_pkgs() {
  local missing=""
  for p in $PKGS; do installed "$p" || missing="$missing $p"; done
  [ -z "$missing" ] && return 0
  [ "$(id -u)" = 0 ] || { log "must run as root to install:$missing"; exit 1; }
  log "installing:$missing"
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  # Another apt-get running (e.g. a second package install on the machine): wait for it.
  apt-get -o DPkg::Lock::Timeout=300 update -qq
  # Packages try to start their services through invoke-rc.d; without systemd that is refused
  # and harmless. The daemons are started below, by this script.
  # --force-confmiss: a reinstalled package gets back the config files removed with it.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 \
    -o Dpkg::Options::=--force-confmiss -o Dpkg::Options::=--force-confold $missing \
    </dev/null >/dev/null
  # The prometheus package may have started daemons on their default ports: stop them, the tests
  # start their own on free loopback ports.
  pkill -x prometheus 2>/dev/null || true
  pkill -x prometheus-alertmanager 2>/dev/null || true
  pkill -x prometheus-node-exporter 2>/dev/null || true
}

make_certs() {
  [ -f "$STATE/tls/server.crt" ] && return 0
  mkdir -p "$STATE/tls"
  (
    cd "$STATE/tls"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=mailstack test CA" \
      -keyout ca.key -out ca.crt 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=mail.$DOMAIN" -keyout server.key \
      -out server.csr 2>/dev/null
    printf 'subjectAltName=DNS:mail.%s,DNS:localhost,IP:127.0.0.1\n' "$DOMAIN" > san.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 \
      -extfile san.ext -out server.crt 2>/dev/null
    chmod 644 server.crt ca.crt; chmod 640 server.key; chgrp dovecot server.key 2>/dev/null || true
  )
}

configure_dovecot() {
  id vmail >/dev/null 2>&1 || useradd -r -u 5000 -U -d "$STATE/mail" -s /usr/sbin/nologin vmail
  mkdir -p "$STATE/mail"; chown vmail:vmail "$STATE/mail"
  : > "$STATE/users.new"
  for u in $USERS; do
    echo "$u@$DOMAIN:{PLAIN}$u-secret:5000:5000::$STATE/mail/$u" >> "$STATE/users.new"
    for d in "" /Maildir /Maildir/new /Maildir/cur /Maildir/tmp; do
      install -d -o vmail -g "$(id -g vmail)" -m 700 "$STATE/mail/$u$d"
    done
  done
  mv "$STATE/users.new" "$STATE/users"
  # Secrets for mailcanary's example config: one password file per user and a canary HMAC key.
  install -d -m 700 "$STATE/secrets"
  for u in $USERS; do (umask 077; printf '%s-secret\n' "$u" > "$STATE/secrets/$u.password"); done
  [ -s "$STATE/secrets/hmac.key" ] || (umask 077; openssl rand -hex 32 > "$STATE/secrets/hmac.key")
  chmod 640 "$STATE/users"; chgrp dovecot "$STATE/users"
  # Logins the deny passdb refuses, one `<service>-<user>:` line each (the pop3-auth fault)
  [ -f "$STATE/denied" ] || : > "$STATE/denied"
  install -d -o vmail -g "$(id -g vmail)" -m 755 "$STATE/sieve"
  chmod 640 "$STATE/denied"; chgrp dovecot "$STATE/denied"
  local before; before=$(cat /etc/dovecot/local.conf /etc/dovecot/oauth2.conf.ext 2>/dev/null | md5sum || true)
  cat > /etc/dovecot/oauth2.conf.ext <<CONF
# mailstack: OAuth access tokens checked by RFC 7662 token introspection (served by the tests)
introspection_mode = post
introspection_url = $OAUTH_INTROSPECTION_URL
username_attribute = username
active_attribute = active
active_value = true
CONF
  chmod 644 /etc/dovecot/oauth2.conf.ext
  cat > /etc/dovecot/local.conf <<CONF
# mailstack: everything on loopback, users from a passwd-file, Maildir under $STATE/mail
protocols = imap pop3 lmtp
listen = 127.0.0.1
ssl = yes
ssl_cert = <$STATE/tls/server.crt
ssl_key = <$STATE/tls/server.key
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = plain login xoauth2 oauthbearer
mail_location = maildir:~/Maildir
first_valid_uid = 5000
# Refuses a login whose "<service>-<user>" is listed in $STATE/denied (e.g. pop3-canary@...),
# whatever the mechanism: POP3 logins can fail while IMAP and SMTP AUTH logins of the same user
# succeed. Dovecot re-reads a changed passwd-file by itself: no reload.
passdb {
  driver = passwd-file
  deny = yes
  args = username_format=%s-%u $STATE/denied
}
passdb {
  driver = passwd-file
  mechanisms = plain login none
  args = scheme=PLAIN username_format=%u $STATE/users
}
passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = /etc/dovecot/oauth2.conf.ext
}
userdb {
  driver = passwd-file
  args = username_format=%u $STATE/users
}
service imap-login {
  inet_listener imap {
    port = 143
  }
  inet_listener imaps {
    port = 993
    ssl = yes
  }
}
service pop3-login {
  inet_listener pop3 {
    port = 110
  }
  inet_listener pop3s {
    port = 995
    ssl = yes
  }
}
# One LMTP process per delivery connection: Pigeonhole looks for the junk fault's script when a
# process first delivers for a user and a long-lived process keeps what it found, so it would
# not see the fault change (checked on Debian 12's Dovecot 2.3.19). A few such processes wait
# ready (none has delivered yet, so each still reads the script at its first delivery): forking
# one per delivery cost ~10-20 ms, and with the filter's second pass on submitted mail that was
# enough for a canary to miss a POP3 client's first poll.
service lmtp {
  service_count = 1
  process_min_avail = 4
  unix_listener /var/spool/postfix/private/dovecot-lmtp {
    mode = 0600
    user = postfix
    group = postfix
  }
}
service auth {
  unix_listener /var/spool/postfix/private/auth {
    mode = 0660
    user = postfix
    group = postfix
  }
}
# No auth-failure penalty: after a test's deliberately failed logins, Dovecot would otherwise
# delay every login from 127.0.0.1 by up to 15 s, and unrelated tests would time out.
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
protocol imap {
  imap_idle_notify_interval = 2 mins
  mail_max_userip_connections = 100
}
# UIDL: the message's IMAP UID and the mailbox's UIDVALIDITY, so a message keeps its UIDL across
# sessions and restarts (written out, not left to the version's default).
protocol pop3 {
  pop3_uidl_format = %08Xu%08Xv
  mail_max_userip_connections = 100
}
# A Junk folder for every user, created and subscribed on first access, announced by
# SPECIAL-USE \Junk (RFC 6154), as a receiving side's spam filter files into it.
namespace inbox {
  mailbox Junk {
    special_use = \Junk
    auto = subscribe
  }
}
# LMTP delivery runs Sieve. The junk fault's script is $SIEVE_JUNK, run before anything else;
# while it does not exist Pigeonhole skips it. Each delivery connection gets a fresh LMTP
# process (service lmtp below), which opens the script anew, so creating or removing it takes
# effect at the next message: no reload.
protocol lmtp {
  mail_plugins = \$mail_plugins sieve
}
plugin {
  sieve_before = $SIEVE_JUNK
}
log_path = $STATE/dovecot.log
CONF
  # Debian's default auth-system.conf.ext puts a PAM passdb before ours: every login would first
  # fail in PAM (with its ~1.5 s failure delay) before the passwd-file answers.
  sed -i 's/^!include auth-system.conf.ext/#!include auth-system.conf.ext/' /etc/dovecot/conf.d/10-auth.conf
  doveconf -n >/dev/null
  # `up` on a running stack: a running Dovecot picks up a changed config (e.g. the oauth2 passdb
  # added to an older stack) now; an unchanged one is left alone.
  if [ "$before" != "$(cat /etc/dovecot/local.conf /etc/dovecot/oauth2.conf.ext | md5sum)" ] \
     && pid_alive "$DOVECOT_PID"; then
    doveadm reload; wait_dovecot_ports
  fi
}

# The DKIM key rspamd signs submitted mail with (selector $DKIM_SELECTOR, d=$DOMAIN); its public
# half is published in the zone (configure_dns). Made once, like the CA.
make_dkim_key() {
  install -d -m 750 -g _rspamd "$STATE/dkim"
  if [ ! -s "$DKIM_KEY" ]; then
    openssl genrsa -out "$DKIM_KEY.new" 2048 2>/dev/null; mv "$DKIM_KEY.new" "$DKIM_KEY"
  fi
  # rspamd's workers run as _rspamd: readable by that group, by no one else.
  chmod 640 "$DKIM_KEY"; chgrp _rspamd "$DKIM_KEY"
}

# Unbound on 127.0.0.1:$DNS_PORT answers for example.test from its own local data (SPF, DKIM key,
# DMARC p=reject, A, MX) and NXDOMAIN for every other name at once: the root is a static local
# zone, so it never sends a query anywhere. Unbound rather than an authoritative-only server:
# rspamd asks with recursion desired, as it would ask a site's resolver, and an NXDOMAIN for
# outside names is an ordinary answer where a REFUSED counts against the server.
configure_dns() {
  install -d -m 755 -o unbound -g unbound "$DNS_DIR"
  local p txt="" i
  p=$(openssl rsa -in "$DKIM_KEY" -pubout -outform DER 2>/dev/null | base64 -w0)
  # A TXT string holds at most 255 bytes: the key goes in as several strings.
  for ((i = 0; i < ${#p}; i += 200)); do txt="$txt \"${p:i:200}\""; done
  cat > "$DNS_DIR/unbound.conf.new" <<CONF
# mailstack: the zone example.test for rspamd's SPF, DKIM and DMARC checks, on loopback only
server:
  interface: 127.0.0.1@$DNS_PORT
  port: $DNS_PORT
  do-ip6: no
  access-control: 127.0.0.0/8 allow
  username: "unbound"
  chroot: ""
  directory: "$DNS_DIR"
  pidfile: "$DNS_PID"
  logfile: "$DNS_DIR/unbound.log"
  use-syslog: no
  verbosity: 1
  num-threads: 1
  module-config: "iterator"
  do-not-query-localhost: yes
  local-zone: "." static
  local-zone: "$DOMAIN." static
  local-data: "$DOMAIN. 300 IN A 127.0.0.1"
  local-data: "mail.$DOMAIN. 300 IN A 127.0.0.1"
  local-data: "$DOMAIN. 300 IN MX 10 mail.$DOMAIN."
  local-data: '$DOMAIN. 300 IN TXT "v=spf1 ip4:127.0.0.0/8 ip6:::1 -all"'
  local-data: 'mail.$DOMAIN. 300 IN TXT "v=spf1 ip4:127.0.0.0/8 ip6:::1 -all"'
  local-data: '_dmarc.$DOMAIN. 300 IN TXT "v=DMARC1; p=reject"'
  local-data: '$DKIM_SELECTOR._domainkey.$DOMAIN. 300 IN TXT "v=DKIM1; k=rsa; p="$txt'
remote-control:
  control-enable: no
CONF
  unbound-checkconf "$DNS_DIR/unbound.conf.new" >/dev/null
  if ! cmp -s "$DNS_DIR/unbound.conf.new" "$DNS_DIR/unbound.conf"; then
    mv "$DNS_DIR/unbound.conf.new" "$DNS_DIR/unbound.conf"
    # `up` on a running stack: a changed zone is served now.
    stop_pid "$DNS_PID"
  else
    rm -f "$DNS_DIR/unbound.conf.new"
  fi
}

# Answers a query for the zone's SPF record over UDP (python: no dig on a fresh machine).
dns_answers() {
  /usr/bin/python3 -I - "$DNS_PORT" "$DOMAIN" <<'PY'
import socket, struct, sys
port, domain = int(sys.argv[1]), sys.argv[2]
q = struct.pack(">HHHHHH", 0x4d53, 0x0100, 1, 0, 0, 0)
q += b"".join(bytes([len(l)]) + l.encode() for l in domain.split("."))
q += b"\0" + struct.pack(">HH", 16, 1)  # TXT, IN
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.5)
try:
    s.sendto(q, ("127.0.0.1", port)); r = s.recv(4096)
except OSError:
    sys.exit(1)
# Our id, a response, NOERROR, at least one answer
ok = r[:2] == q[:2] and r[2] & 0x80 and r[3] & 0x0f == 0 and struct.unpack(">H", r[6:8])[0] > 0
sys.exit(0 if ok else 1)
PY
}

start_dns() {
  pid_alive "$DNS_PID" || detached unbound -c "$DNS_DIR/unbound.conf" </dev/null >/dev/null 2>&1
  for _ in $(seq 50); do dns_answers && return 0; sleep 0.1; done
  log "the DNS server (unbound on 127.0.0.1:$DNS_PORT) does not answer for $DOMAIN;" \
    "see $DNS_DIR/unbound.log"
  return 1
}
stop_dns() { stop_pid "$DNS_PID"; }

# rspamd, Postfix's milter on $MILTER_SOCK (its proxy worker, scanning itself). It
# resolves through the DNS server above only; every module that would reach the network (RBLs,
# URIBLs, fuzzy hashes, ASN lookups, anything on Redis, which is not configured) is off. Its
# actions never reject, greylist or defer: every test's mail goes through it.
# Signs mail of authenticated users (submission) with the key above; checks SPF, DKIM and DMARC of
# mail from unauthenticated clients, loopback included (port 25 and the re-injection smtpd), and
# writes Authentication-Results (authserv-id: Postfix's myhostname, from the milter macro) and
# X-Spam-Status on top of those messages.
configure_rspamd() {
  local d=/etc/rspamd/local.d before
  install -d -m 755 -o _rspamd -g _rspamd "$RSPAMD_DIR" /run/rspamd "$MILTER_DIR"
  before=$(cat $d/*.conf $d/*.inc 2>/dev/null | md5sum || true)
  mkdir -p $d
  cat > $d/options.inc <<CONF
# mailstack: DNS only from the loopback server for example.test
dns {
  nameserver = ["127.0.0.1:$DNS_PORT"];
  timeout = 1s;
  retransmits = 1;
}
CONF
  cat > $d/logging.inc <<CONF
type = "file";
filename = "$RSPAMD_DIR/rspamd.log";
level = "notice";
CONF
  cat > $d/worker-proxy.inc <<CONF
bind_socket = "$MILTER_SOCK mode=0666";
milter = yes;
timeout = 30s;
upstream "local" {
  default = yes;
  self_scan = yes;
}
CONF
  echo 'bind_socket = "127.0.0.1:11333"; count = 1;' > $d/worker-normal.inc
  echo 'bind_socket = "127.0.0.1:11334"; count = 1;' > $d/worker-controller.inc
  # Never reject, greylist or defer; "add header" (an X-Spam: Yes, nothing more) stays.
  cat > $d/actions.conf <<CONF
reject = null;
greylist = null;
rewrite_subject = null;
add_header = 15;
CONF
  # Mail from loopback is checked (everything here comes from 127.0.0.1); authenticated
  # submissions are not (they are signed, then checked on re-injection).
  for m in spf dkim dmarc; do
    printf 'check_local = true;\ncheck_authed = false;\n' > "$d/$m.conf"
  done
  cat > $d/dkim_signing.conf <<CONF
path = "$STATE/dkim/\$domain.\$selector.key";
selector = "$DKIM_SELECTOR";
sign_authenticated = true;
sign_local = false;
use_esld = false;
CONF
  cat > $d/milter_headers.conf <<CONF
use = ["authentication-results", "x-spam-status", "x-spamd-result"];
skip_local = false;
skip_authenticated = true;
# Authentication-Results already in the message stay (rspamd's default removes them all): the
# sender-side forgery for mallory must reach the mailbox, below the real one.
routines {
  authentication-results {
    remove = false;
  }
}
CONF
  # Off: whatever asks outside servers (RBLs and URIBLs, fuzzy hashes, ASN, DCC), needs Redis,
  # or lives on lists fetched from maps.rspamd.com (whitelist, multimap, mid, phishing). A map
  # still fetched by what stays on (mime_types) fails at once: that name is NXDOMAIN here.
  for m in rbl fuzzy_check asn phishing url_redirector reputation neural ratelimit greylist \
           replies history_redis mx_check dcc external_services antivirus spamassassin \
           rspamd_update clickhouse elastic metadata_exporter whitelist multimap mid; do
    echo 'enabled = false;' > "$d/$m.conf"
  done
  # Quiet when the configuration is good (it warns about composites naming the modules
  # turned off above); the whole output when it is not.
  rspamadm configtest >/dev/null 2>&1 || { rspamadm configtest >&2; return 1; }
  if [ "$before" != "$(cat $d/*.conf $d/*.inc | md5sum)" ]; then stop_pid "$RSPAMD_PID"; fi
}

# Until the milter port answers and rspamd's log says its workers are up (the first start on a
# machine may compile its regexps for a while before the proxy worker serves).
start_rspamd() {
  if ! pid_alive "$RSPAMD_PID"; then
    install -d -m 755 -o _rspamd -g _rspamd "$RSPAMD_DIR" /run/rspamd "$MILTER_DIR"
    detached rspamd -u _rspamd -g _rspamd -p "$RSPAMD_PID" </dev/null >/dev/null 2>&1
  fi
  for _ in $(seq 600); do
    /usr/bin/python3 -I -c 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.settimeout(1); s.connect(sys.argv[1])' \
      "$MILTER_SOCK" 2>/dev/null && return 0
    pid_alive "$RSPAMD_PID" || break
    sleep 0.1
  done
  log "rspamd's milter ($MILTER_SOCK) does not answer; see $RSPAMD_DIR/rspamd.log"
  return 1
}
stop_rspamd() { stop_pid "$RSPAMD_PID"; }

configure_postfix() {
  # Debian's "No configuration" choice leaves no main.cf: start from an empty one.
  [ -f /etc/postfix/main.cf ] || : > /etc/postfix/main.cf
  postconf -e \
    "myhostname = mail.$DOMAIN" "mydomain = $DOMAIN" "myorigin = $DOMAIN" \
    "inet_interfaces = loopback-only" "inet_protocols = ipv4" "mydestination = localhost" \
    "mynetworks = 127.0.0.0/8" "relayhost =" \
    "virtual_mailbox_domains = $DOMAIN" "virtual_transport = lmtp:unix:private/dovecot-lmtp" \
    "smtpd_tls_cert_file = $STATE/tls/server.crt" "smtpd_tls_key_file = $STATE/tls/server.key" \
    "smtpd_tls_security_level = may" "smtpd_sasl_type = dovecot" "smtpd_sasl_path = private/auth" \
    "smtpd_relay_restrictions = permit_mynetworks permit_sasl_authenticated reject_unauth_destination" \
    "smtpd_recipient_restrictions = check_recipient_access hash:/etc/postfix/mailstack_rcpt" \
    "smtpd_end_of_data_restrictions =" "defer_transports =" \
    "maillog_file = $STATE/postfix.log" "compatibility_level = 3.6" \
    "smtpd_peername_lookup = no" "alias_maps =" "alias_database =" \
    "queue_run_delay = 1s" "minimal_backoff_time = 1s" "maximal_backoff_time = 2s" \
    "service_throttle_time = 1s"
  # Every smtpd runs rspamd as its milter. A dead rspamd lets mail through unfiltered (accept):
  # the tests that do not look at the filter's headers are not made to fail by it, and `up`
  # fails loudly when the filter does not work (check_filter).
  postconf -e "smtpd_milters = unix:${MILTER_SOCK#/var/spool/postfix}" "non_smtpd_milters =" \
    "milter_default_action = accept" "milter_protocol = 6" "milter_connect_timeout = 5s" \
    "milter_command_timeout = 10s" "milter_content_timeout = 20s" \
    "milter_mail_macros = i {mail_addr} {client_addr} {client_name} {auth_type} {auth_authen}" \
    "header_checks = regexp:/etc/postfix/mailstack_forge"
  # A sender's forgery for mallory: every message to mallory carries an Authentication-Results
  # header claiming failures, inserted when the message is received (before its To: header, so
  # below the Received headers and below the one rspamd adds on top).
  printf '%s\n' "/^To:.*mallory@${DOMAIN//./\\.}/ PREPEND Authentication-Results: mail.$DOMAIN; spf=fail smtp.mailfrom=x; dkim=fail header.d=x; dmarc=fail header.from=x" \
    > /etc/postfix/mailstack_forge
  [ -f "$DKIM_BROKEN" ] || : > "$DKIM_BROKEN"
  : > /etc/postfix/mailstack_rcpt; postmap /etc/postfix/mailstack_rcpt
  postconf -M "submission/inet=submission inet n - y - - smtpd"
  postconf -P "submission/inet/syslog_name=postfix/submission" \
    "submission/inet/smtpd_tls_security_level=encrypt" "submission/inet/smtpd_sasl_auth_enable=yes" \
    "submission/inet/smtpd_client_restrictions=permit_sasl_authenticated,reject"
  postconf -M "submissions/inet=submissions inet n - y - - smtpd"
  postconf -P "submissions/inet/syslog_name=postfix/submissions" \
    "submissions/inet/smtpd_tls_wrappermode=yes" "submissions/inet/smtpd_sasl_auth_enable=yes" \
    "submissions/inet/smtpd_client_restrictions=permit_sasl_authenticated,reject"
  # Two passes through rspamd for submitted mail: the submission services sign (their milter
  # sees an authenticated user) and hand every message, through the mailstack-reinject SMTP
  # client, to a second smtpd on 127.0.0.1:$REINJECT_PORT whose milter verifies it as a receiving
  # side would. The dkim-broken fault rewrites a signed header in between ($DKIM_BROKEN).
  local sub r="127.0.0.1:$REINJECT_PORT/inet"
  for sub in submission submissions; do
    postconf -P "$sub/inet/content_filter=mailstack-reinject:[127.0.0.1]:$REINJECT_PORT"
  done
  postconf -M "mailstack-reinject/unix=mailstack-reinject unix - - n - - smtp"
  # Its connection to the re-injection smtpd stays open between messages (no connect and EHLO
  # per message: the second pass adds as little as it can between acceptance and delivery).
  postconf -P "mailstack-reinject/unix/syslog_name=postfix/reinject-client" \
    "mailstack-reinject/unix/smtp_header_checks=regexp:$DKIM_BROKEN" \
    "mailstack-reinject/unix/smtp_connection_cache_destinations=[127.0.0.1]:$REINJECT_PORT"
  postconf -M "$r=127.0.0.1:$REINJECT_PORT inet n - y - - smtpd"
  # Accepted once already: no recipient map (tempfail/permfail faults), no end-of-data
  # restriction (hold, slow data), no header checks a second time; only from loopback.
  postconf -P "$r/syslog_name=postfix/reinject" "$r/content_filter=" \
    "$r/receive_override_options=no_header_body_checks,no_unknown_recipient_checks" \
    "$r/smtpd_client_restrictions=permit_mynetworks,reject" \
    "$r/smtpd_relay_restrictions=permit_mynetworks,reject" \
    "$r/smtpd_recipient_restrictions=permit_mynetworks,reject" \
    "$r/smtpd_end_of_data_restrictions=" "$r/smtpd_sasl_auth_enable=no"
  postfix check
  # `up` on a running stack: the running Postfix picks up the configuration now.
  if pid_alive "$POSTFIX_PID"; then postfix reload >/dev/null 2>&1 || true; fi
}

wait_port() { # port up|down
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then [ "$2" = up ] && return 0
    else [ "$2" = down ] && return 0; fi
    sleep 0.1
  done
  log "port $1 did not come $2"; return 1
}

pid_alive() { [ -f "$1" ] && kill -0 "$(tr -d ' \n' < "$1")" 2>/dev/null; }

stop_pid() { # pidfile
  pid_alive "$1" || return 0
  local pid; pid=$(tr -d ' \n' < "$1")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}

# Runs a daemon's start command with no descriptor of the caller's but stdin, stdout and stderr
# (all three redirected by the callers): a daemon that inherited the caller's flock or a test's
# output pipe would hold it for as long as it runs, and whoever waits on it would wait forever.
detached() {
  (
    for fd in /proc/$BASHPID/fd/*; do
      fd=${fd##*/}
      if [ "$fd" -gt 2 ] 2>/dev/null; then eval "exec $fd>&-"; fi
    done
    exec "$@"
  )
}

wait_dovecot_ports() { wait_port 993 up; wait_port 143 up; wait_port 995 up; wait_port 110 up; }
start_dovecot() { pid_alive "$DOVECOT_PID" || detached dovecot </dev/null >/dev/null 2>&1; wait_dovecot_ports; }
start_postfix() { pid_alive "$POSTFIX_PID" || detached postfix start </dev/null >/dev/null 2>&1; wait_port 25 up; wait_port 587 up; wait_port 465 up; }
stop_dovecot() { stop_pid "$DOVECOT_PID"; wait_port 993 down; }
stop_postfix() { stop_pid "$POSTFIX_PID"; wait_port 25 down; }

set_rcpt_map() { # "code text" or empty
  : > /etc/postfix/mailstack_rcpt
  if [ -n "$1" ]; then for u in $USERS; do echo "$u@$DOMAIN $1" >> /etc/postfix/mailstack_rcpt; done; fi
  postmap /etc/postfix/mailstack_rcpt
  # An idle smtpd keeps the old table for one more session: make every process reopen it now.
  postfix reload >/dev/null 2>&1
}

wait_auth() { # ok|fail [service]: until Dovecot (which re-reads its passwd-files lazily) agrees
  local svc=${2:-imap}
  for _ in $(seq 50); do
    if doveadm auth test -x "service=$svc" "canary@$DOMAIN" canary-secret >/dev/null 2>&1; then [ "$1" = ok ] && return 0
    else [ "$1" = fail ] && return 0; fi
    sleep 0.1
  done
  log "Dovecot did not start to $1 the canary's $svc login"; return 1
}

# POP3 logins refused for every user (the deny passdb), IMAP and SMTP AUTH logins untouched.
# Only a passwd-file changes: no reload, so no session or login in progress on any listener is
# disturbed; POP3 sessions already logged in stay open.
set_pop3_denied() { # on|off
  : > "$STATE/denied.new"
  if [ "$1" = on ]; then for u in $USERS; do echo "pop3-$u@$DOMAIN::" >> "$STATE/denied.new"; done; fi
  chmod 640 "$STATE/denied.new"; chgrp dovecot "$STATE/denied.new"
  mv "$STATE/denied.new" "$STATE/denied"
}

# Every new message filed into Junk, as a spam filter would (the junk fault): a Sieve script run
# before any other, present only while the fault is on. Only a file changes: no reload, so no
# session or login in progress is disturbed. Written whole then renamed, so a delivery never
# reads half a script.
set_junk() { # on|off
  if [ "$1" = on ]; then
    printf 'require "fileinto";\nfileinto "Junk";\n' > "$SIEVE_JUNK.new"
    chmod 644 "$SIEVE_JUNK.new"; mv "$SIEVE_JUNK.new" "$SIEVE_JUNK"
  else
    rm -f "$SIEVE_JUNK" "$SIEVE_JUNK.new" "${SIEVE_JUNK%.sieve}.svbin"
  fi
}

# One listener down, nothing else touched: a kernel rule (nftables, its own table per fault)
# answers new TCP connections to 127.0.0.1:PORT with a reset, exactly what a client sees when
# nothing listens there. The daemon keeps running: its other listeners, and the sessions already
# open on this one, are untouched. (Reconfiguring the daemon instead, e.g. a `doveadm reload`,
# also ends logins in progress on every other listener.)
refuse_port() { # fault-name port...
  local t="mailstack_${1//-/_}" p; shift
  local ports; ports=$(IFS=,; echo "$*")
  nft -f - <<NFT
table inet $t
delete table inet $t
table inet $t {
  chain input {
    type filter hook input priority -10; policy accept;
    ip daddr 127.0.0.1 tcp dport { $ports } tcp flags & (syn | ack) == syn reject with tcp reset
  }
}
NFT
  for p in "$@"; do wait_port "$p" down; done
}
accept_port() { # fault-name port...
  local p
  nft delete table inet "mailstack_${1//-/_}" 2>/dev/null || true
  shift
  # A port another fault still refuses stays refused (e.g. imap-143-down outlasting imap-refused)
  for p in "$@"; do
    nft list ruleset 2>/dev/null | grep -Eq "dport .*\b$p\b" || wait_port "$p" up
  done
}

# Submitted mail fails DKIM verification (the dkim-broken fault): between signing and
# verification the re-injection SMTP client rewrites the signed Subject header, as a relay that
# tags subjects would. The canary's own headers and body are untouched. Postfix reloads, so its
# SMTP clients read the changed table; sessions in progress finish as they are.
set_dkim_broken() { # on|off
  if [ "$1" = on ]; then
    printf '%s\n' '/^Subject:(.*)$/ REPLACE Subject:${1} [rewritten after signing]' > "$DKIM_BROKEN.new"
  else
    : > "$DKIM_BROKEN.new"
  fi
  mv "$DKIM_BROKEN.new" "$DKIM_BROKEN"
}

FAULTS="imap-down imap-refused smtp-down smtp-hold delivery-defer smtp-tempfail smtp-permfail imap-auth imap-143-down slow-delivery smtp-slow-data pop3-down pop3-auth junk dkim-broken"

fault() {
  local name=${1:-} mode=${2:-}
  case "$name:$mode" in
    # Dovecot stopped: IMAP and POP3 alike (and LMTP delivery: mail waits in Postfix's queue)
    imap-down:on)   stop_dovecot ;;
    imap-down:off)  start_dovecot ;;
    smtp-down:on)   stop_postfix ;;
    smtp-down:off)  start_postfix ;;
    # accepted with 250, never delivered: every new message is put on hold in the queue
    smtp-hold:on)   postconf -e "smtpd_end_of_data_restrictions = check_client_access static:HOLD"; postfix reload >/dev/null 2>&1 ;;
    smtp-hold:off)  postconf -e "smtpd_end_of_data_restrictions ="; postfix reload >/dev/null 2>&1; postsuper -H ALL 2>/dev/null; postqueue -f ;;
    # accepted, but the 250 after DATA comes 1 s late: a window in which the message is queued
    # and the client does not know yet (tests/e2e_kill9.rs kills the agent there)
    smtp-slow-data:on)  postconf -e "smtpd_end_of_data_restrictions = sleep 1"; postfix reload >/dev/null 2>&1 ;;
    smtp-slow-data:off) postconf -e "smtpd_end_of_data_restrictions ="; postfix reload >/dev/null 2>&1 ;;
    # accepted, then deferred: LMTP deliveries wait until released
    delivery-defer:on)  postconf -e "defer_transports = lmtp"; postfix reload >/dev/null 2>&1 ;;
    delivery-defer:off) postconf -e "defer_transports ="; postfix reload >/dev/null 2>&1; postqueue -f ;;
    # slow delivery: held like smtp-hold; the caller releases it when it wants the delay to end
    slow-delivery:on)  fault smtp-hold on ;;
    slow-delivery:off) fault smtp-hold off ;;
    smtp-tempfail:on)  set_rcpt_map "451 4.3.0 mailstack fault: try again later" ;;
    smtp-tempfail:off) set_rcpt_map "" ;;
    smtp-permfail:on)  set_rcpt_map "550 5.1.1 mailstack fault: no such user" ;;
    smtp-permfail:off) set_rcpt_map "" ;;
    # IMAP (and SMTP AUTH) logins fail for the canary user: the account is unavailable
    imap-auth:on)   sed -i "s/^canary@$DOMAIN:{PLAIN}canary-secret/canary@$DOMAIN:{PLAIN}locked-out/" "$STATE/users"; wait_auth fail ;;
    imap-auth:off)  sed -i "s/^canary@$DOMAIN:{PLAIN}locked-out/canary@$DOMAIN:{PLAIN}canary-secret/" "$STATE/users"; wait_auth ok ;;
    # one client type broken: new connections to the IMAP STARTTLS listener on 143 are refused,
    # IMAPS 993 and every session already open are untouched (no Dovecot reload)
    # IMAP unreachable for every client the same way: new connections to 143 and 993 refused,
    # Dovecot and Postfix untouched (delivery goes on); recovers the moment it is turned off
    imap-refused:on)  refuse_port imap-refused 143 993 ;;
    imap-refused:off) accept_port imap-refused 143 993 ;;
    imap-143-down:on)  refuse_port imap-143-down 143 ;;
    imap-143-down:off) accept_port imap-143-down 143 ;;
    # POP3 gone, IMAP working: new connections to 110 and 995 refused, nothing else touched
    pop3-down:on)  refuse_port pop3-down 110 995 ;;
    pop3-down:off) accept_port pop3-down 110 995 ;;
    # POP3 logins fail (-ERR) for every user, whatever the mechanism; IMAP and SMTP AUTH succeed
    pop3-auth:on)  set_pop3_denied on; wait_auth fail pop3; wait_auth ok imap ;;
    pop3-auth:off) set_pop3_denied off; wait_auth ok pop3 ;;
    # new mail for every user is filed into Junk by Sieve (IMAP only: POP3 reads just the Inbox)
    junk:on)  set_junk on ;;
    junk:off) set_junk off ;;
    # new mail submitted on 587/465 gets dkim=fail from rspamd; off: dkim=pass again
    dkim-broken:on)  set_dkim_broken on; postfix reload >/dev/null 2>&1 ;;
    dkim-broken:off) set_dkim_broken off; postfix reload >/dev/null 2>&1 ;;
    *) echo "usage: mailstack.sh fault NAME on|off; NAME one of: $FAULTS" >&2; return 2 ;;
  esac
}

# Every listener answers a real login of the canary user (TLS checked against the stack's CA):
# IMAP 143 STARTTLS and 993, POP3 110 STLS and 995, submission 587 STARTTLS and 465 AUTH. An
# open port is not enough: Dovecot listens on 993 even when its imap-login binary is gone.
# Each attempt is bounded by a 5 s socket timeout; a listener is retried until 30 s have passed,
# then the first one still failing is named.
check_logins() {
  /usr/bin/python3 -I - "$STATE" "$DOMAIN" canary <<'PY'
import imaplib, poplib, smtplib, ssl, sys, time
state, domain, user = sys.argv[1:4]
with open(f"{state}/secrets/{user}.password") as f:
    pw = f.read().strip()
login = f"{user}@{domain}"
ctx = ssl.create_default_context(cafile=f"{state}/tls/ca.crt")
H, T = "127.0.0.1", 5

def imap143():
    c = imaplib.IMAP4(H, 143, timeout=T); c.starttls(ssl_context=ctx); c.login(login, pw); c.logout()
def imap993():
    c = imaplib.IMAP4_SSL(H, 993, ssl_context=ctx, timeout=T); c.login(login, pw); c.logout()
def pop110():
    c = poplib.POP3(H, 110, timeout=T); c.stls(context=ctx); c.user(login); c.pass_(pw); c.quit()
def pop995():
    c = poplib.POP3_SSL(H, 995, context=ctx, timeout=T); c.user(login); c.pass_(pw); c.quit()
def smtp587():
    c = smtplib.SMTP(H, 587, timeout=T); c.starttls(context=ctx); c.login(login, pw); c.quit()
def smtp465():
    c = smtplib.SMTP_SSL(H, 465, context=ctx, timeout=T); c.login(login, pw); c.quit()

LISTENERS = [("IMAP 143 (STARTTLS)", imap143), ("IMAPS 993", imap993),
             ("POP3 110 (STLS)", pop110), ("POP3S 995", pop995),
             ("submission 587 (STARTTLS)", smtp587), ("submissions 465", smtp465)]
deadline = time.monotonic() + 30
for name, attempt in LISTENERS:
    while True:
        try:
            attempt()
            break
        except Exception as e:  # any failure: retried until the deadline, then reported
            if time.monotonic() > deadline:
                print(f"mailstack: {name}: no login as {login}: {type(e).__name__}: {e}",
                      file=sys.stderr)
                sys.exit(1)
            time.sleep(0.5)
PY
}

# The filter works end to end: one message submitted on 587 by an authenticated user (stackcheck,
# to itself) comes back over IMAPS with rspamd's verdicts on top: the topmost
# Authentication-Results, from mail.example.test, says dkim=pass, spf=pass and dmarc=pass, and
# X-Spam-Status carries a score. The message is deleted after reading. Waits at most 30 s for it.
check_filter() {
  /usr/bin/python3 -I - "$STATE" "$DOMAIN" stackcheck <<'PY'
import email.parser, email.policy, imaplib, re, smtplib, ssl, sys, time, uuid
state, domain, user = sys.argv[1:4]
with open(f"{state}/secrets/{user}.password") as f:
    pw = f.read().strip()
addr = f"{user}@{domain}"
ctx = ssl.create_default_context(cafile=f"{state}/tls/ca.crt")
H, T = "127.0.0.1", 5
token = uuid.uuid4().hex

def fail(why):
    print(f"mailstack: the mail filter does not work: {why}", file=sys.stderr)
    sys.exit(1)

msg = (f"From: <{addr}>\r\nTo: <{addr}>\r\nSubject: mailstack filter check\r\n"
       f"Message-ID: <{token}@{domain}>\r\nX-Mailstack-Check: {token}\r\n\r\nfilter check\r\n")
try:
    c = smtplib.SMTP(H, 587, timeout=T); c.starttls(context=ctx); c.login(addr, pw)
    c.sendmail(addr, [addr], msg); c.quit()
except Exception as e:
    fail(f"submission on 587: {type(e).__name__}: {e}")

deadline = time.monotonic() + 30
header = None
while header is None:
    try:
        m = imaplib.IMAP4_SSL(H, 993, ssl_context=ctx, timeout=T); m.login(addr, pw); m.select("INBOX")
        _, data = m.uid("SEARCH", None, "HEADER", "X-Mailstack-Check", token)
        uids = data[0].split()
        if uids:
            _, fetched = m.uid("FETCH", uids[0], "(BODY.PEEK[HEADER])")
            header = fetched[0][1]
            m.uid("STORE", b",".join(uids), "+FLAGS.SILENT", r"(\Deleted)"); m.expunge()
        m.logout()
    except Exception as e:
        if time.monotonic() > deadline:
            fail(f"reading it back over IMAPS: {type(e).__name__}: {e}")
    if header is None:
        if time.monotonic() > deadline:
            fail("the message submitted on 587 did not arrive within 30 s (see postfix.log)")
        time.sleep(0.2)

h = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(header)
ars = h.get_all("Authentication-Results") or []
if not ars:
    fail("no Authentication-Results header on the delivered message (is rspamd the milter?)")
top = " ".join(ars[0].split())
if not top.startswith(f"mail.{domain};"):
    fail(f"the topmost Authentication-Results is not from mail.{domain}: {top}")
for method in ("dkim", "spf", "dmarc"):
    if not re.search(rf"\b{method}=pass\b", top):
        fail(f"the topmost Authentication-Results does not say {method}=pass: {top}")
status = " ".join((h.get("X-Spam-Status") or "").split())
if not re.search(r"score=-?[0-9.]+", status):
    fail(f"no spam score (X-Spam-Status: score=...) on the delivered message: {status!r}")
PY
}

# Takes the stack's exclusive lock on fd 9 (tests/support/stack.rs takes the same lock, shared or
# exclusive), unless an ancestor process already holds it, as with
# `flock -x /tmp/mailcanary-mailstack.lock mailstack.sh up`: waiting for it then would wait for
# ourselves.
lock_stack() {
  exec 9>"$LOCK"
  flock -x -n 9 && return 0
  local inode holders p h
  inode=$(stat -c %i "$LOCK")
  holders=$(awk -v i="$inode" '$2 == "FLOCK" && $4 == "WRITE" && $6 ~ (":" i "$") {print $5}' /proc/locks)
  p=$$
  while [ -n "$p" ] && [ "$p" -gt 1 ]; do
    for h in $holders; do [ "$h" = "$p" ] && { exec 9>&-; return 0; }; done
    p=$(awk '/^PPid:/ {print $2}' "/proc/$p/status" 2>/dev/null)
  done
  log "waiting for the stack lock ($LOCK): a test is using the stack"
  flock -x 9
}

reset_faults() {
  # A clean `up` never inherits a fault left on by an interrupted test run.
  if [ -f /etc/dovecot/local.conf ]; then sed -i 's/port = 0$/port = 143/' /etc/dovecot/local.conf; fi
  [ -f "$STATE/denied" ] && set_pop3_denied off
  set_junk off
  set_dkim_broken off
  local t
  for t in $(nft list tables 2>/dev/null | awk '$3 ~ /^mailstack_/ {print $3}'); do
    nft delete table inet "$t"
  done
}

case "${1:-}" in
  install) install_pkgs ;;
  up)
    install_pkgs
    # Reconfiguring resets faults: wait until no test holds the stack.
    lock_stack
    # fd 9 is closed for everything that may start a daemon: a daemon inheriting it would hold
    # the lock for as long as it runs.
    make_certs; make_dkim_key; reset_faults; configure_dovecot 9>&-
    configure_dns 9>&-; configure_rspamd 9>&-; configure_postfix 9>&-
    start_dovecot 9>&-; start_dns 9>&-; start_rspamd 9>&-; start_postfix 9>&-
    check_logins 9>&-
    check_filter 9>&-
    exec 9>&-
    echo "mailstack up: SMTP 25/587/465, IMAP 143/993, POP3 110/995 on 127.0.0.1, logins checked," \
      "rspamd milter $MILTER_SOCK (dkim, spf, dmarc pass checked), DNS $DNS_PORT, CA $STATE/tls/ca.crt"
    ;;
  down)   stop_postfix; stop_rspamd; stop_dns; stop_dovecot ;;
  status)
    if pid_alive "$POSTFIX_PID"; then echo "postfix running"; else echo "postfix stopped"; fi
    if pid_alive "$DOVECOT_PID"; then echo "dovecot running"; else echo "dovecot stopped"; fi
    if pid_alive "$RSPAMD_PID"; then echo "rspamd running (milter $MILTER_SOCK)"; else echo "rspamd stopped"; fi
    if pid_alive "$DNS_PID"; then echo "dns running (unbound 127.0.0.1:$DNS_PORT, zone $DOMAIN)"; else echo "dns stopped"; fi
    ;;
  fault)  fault "${2:-}" "${3:-}" ;;
  faults) echo "$FAULTS" ;;
  *) echo "usage: $0 install|up|down|status|fault NAME on|off|faults" >&2; exit 2 ;;
esac
