#!/usr/bin/env bash
# The mail-flow lab on loopback, for the delivery checks' end-to-end tests:
#   - Dovecot (its own configuration, base_dir and logs under STATE_DIR/dovecot): IMAPS on
#     127.0.0.1:10993, IMAP with STARTTLS on 127.0.0.1:10143 (LOGIN only after TLS), LMTP on
#     127.0.0.1:10024, SASL for Postfix on /var/spool/postfix/private/smtpwatch-auth; users from
#     a passwd-file: monitor@, other@, agent@ (the agent's delivery probe) and alerts@mail.e2e.test
#     (where the agent's email notifier sends).
#   - Postfix (already started by postfix-up.sh): submission on 127.0.0.1:2587 with SASL through
#     Dovecot, delivering mail.e2e.test to Dovecot over LMTP; defer.e2e.test goes to an LMTP port
#     where nothing listens, so its mail is deferred and stays queued. AUTH is offered even
#     before STARTTLS there (smtpd_tls_auth_only = no), so a test can show that smtpwatch still
#     never sends credentials in plaintext.
#   - Postfix has no authentication milter here; a header check stands in for one and adds an
#     Authentication-Results field to smtpwatch's test messages, so the probe reads the field
#     as a receiving server wrote it.
# Usage: mailflow-up.sh STATE_DIR POSTFIX_STATE_DIR (the latter holds the test CA).
# Dovecot's pid: STATE_DIR/dovecot/run/master.pid; passwords: monitor-pw, other-pw, agent-pw.
set -euo pipefail
state=${1:?usage: mailflow-up.sh STATE_DIR POSTFIX_STATE_DIR}
pki=${2:?usage: mailflow-up.sh STATE_DIR POSTFIX_STATE_DIR}
export DEBIAN_FRONTEND=noninteractive

if ! command -v dovecot >/dev/null || [ ! -x /usr/lib/dovecot/lmtp ] || [ ! -x /usr/lib/dovecot/imap ]; then
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends dovecot-imapd dovecot-lmtpd >/dev/null
fi

dir="$state/dovecot"
mkdir -p "$dir/mail" "$dir/run" "$dir/lib"
# Dovecot's users (dovenull, dovecot, mail) must reach their files under the test's state dir.
chmod 755 "$state" "$dir"
chown mail:mail "$dir/mail"

if [ ! -f "$dir/imap.pem" ]; then
    openssl req -newkey rsa:2048 -nodes -subj /CN=localhost \
        -keyout "$dir/imap.key" -out "$dir/imap.csr" 2>/dev/null
    cat > "$dir/imap.ext" <<'EXT'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1
EXT
    openssl x509 -req -in "$dir/imap.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" \
        -CAcreateserial -days 825 -extfile "$dir/imap.ext" -out "$dir/imap.pem" 2>/dev/null
    chmod 600 "$dir/imap.key"
fi

cat > "$dir/users" <<'USERS'
monitor@mail.e2e.test:{PLAIN}monitor-pw::::::
other@mail.e2e.test:{PLAIN}other-pw::::::
agent@mail.e2e.test:{PLAIN}agent-pw::::::
alerts@mail.e2e.test:{PLAIN}alerts-pw::::::
USERS
chmod 644 "$dir/users"

cat > "$dir/dovecot.conf" <<CONF
protocols = imap lmtp
listen = 127.0.0.1
base_dir = $dir/run
state_dir = $dir/lib
log_path = $dir/dovecot.log
info_log_path = $dir/dovecot.log
ssl = yes
ssl_cert = <$dir/imap.pem
ssl_key = <$dir/imap.key
disable_plaintext_auth = yes
auth_mechanisms = plain login
first_valid_uid = 8
mail_location = maildir:~/Maildir
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $dir/users
}
userdb {
  driver = static
  args = uid=mail gid=mail home=$dir/mail/%d/%n
}
service imap-login {
  inet_listener imap {
    port = 10143
  }
  inet_listener imaps {
    port = 10993
    ssl = yes
  }
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = 10024
  }
}
service auth {
  unix_listener /var/spool/postfix/private/smtpwatch-auth {
    mode = 0660
    user = postfix
    group = postfix
  }
}
protocol lmtp {
  postmaster_address = postmaster@mail.e2e.test
}
CONF

if [ -f "$dir/run/master.pid" ] && kill -0 "$(cat "$dir/run/master.pid")" 2>/dev/null; then
    doveadm -c "$dir/dovecot.conf" reload
else
    dovecot -c "$dir/dovecot.conf"
fi

printf 'monitor@mail.e2e.test OK\nother@mail.e2e.test OK\nagent@mail.e2e.test OK\nalerts@mail.e2e.test OK\nmonitor@defer.e2e.test OK\n' \
    > /etc/postfix/smtpwatch-e2e-vmailbox
printf 'defer.e2e.test lmtp:inet:127.0.0.1:10025\n' > /etc/postfix/smtpwatch-e2e-transport
printf '/^X-Smtpwatch-Token:/ PREPEND Authentication-Results: mx.e2e.test; spf=pass smtp.mailfrom=e2e.test; dkim=none (no signature); dmarc=none\n' \
    > /etc/postfix/smtpwatch-e2e-header-checks
postconf -e 'virtual_mailbox_domains = mail.e2e.test, defer.e2e.test' \
    'virtual_mailbox_maps = texthash:/etc/postfix/smtpwatch-e2e-vmailbox' \
    'virtual_transport = lmtp:inet:127.0.0.1:10024' \
    'transport_maps = texthash:/etc/postfix/smtpwatch-e2e-transport' \
    'header_checks = regexp:/etc/postfix/smtpwatch-e2e-header-checks'
postconf -M '2587/inet=2587 inet n - n - - smtpd'
postconf -P '2587/inet/smtpd_sasl_auth_enable=yes' '2587/inet/smtpd_sasl_type=dovecot' \
    '2587/inet/smtpd_sasl_path=private/smtpwatch-auth' '2587/inet/smtpd_tls_security_level=may' \
    '2587/inet/smtpd_tls_auth_only=no' \
    '2587/inet/smtpd_recipient_restrictions=permit_sasl_authenticated,reject_unauth_destination'
postfix check
postfix reload >/dev/null 2>&1

# Ready when submission greets, IMAPS and IMAP answer, and LMTP greets.
greets() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1 && head -c 3 <&3" 2>/dev/null | grep -q "$2"; }
# s_client stays until the timeout ends it: the first four bytes are all that matters.
imaps_greeting() { timeout 2 openssl s_client -connect 127.0.0.1:10993 -quiet </dev/null 2>/dev/null | head -c 4 || true; }
for _ in $(seq 100); do
    if greets 2587 '^220' && greets 10143 '^\* O' && greets 10024 '^220' \
        && [ "$(imaps_greeting)" = "* OK" ]; then
        echo "mail flow: submission on 127.0.0.1:2587, IMAP :10143 (STARTTLS), IMAPS :10993, LMTP :10024"
        exit 0
    fi
    sleep 0.1
done
echo "the mail-flow lab did not come up; last log lines:" >&2
tail -n 20 "$dir/dovecot.log" /var/log/postfix.log >&2 || true
exit 1
