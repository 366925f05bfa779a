#!/usr/bin/env bash
# Starts (or reloads) Postfix on 127.0.0.1:2525 and [::1]:2525 with STARTTLS, its certificate
# signed by a throw-away test CA made here, and on 127.0.0.1:2526 behind postscreen with every
# test on (pregreet, pipelining, non-SMTP command, bare newline) so a client's manners show in
# the log. Usage: postfix-up.sh STATE_DIR
# Writes STATE_DIR/ca.pem (the CA to trust) and logs to /var/log/postfix.log.
set -euo pipefail
state=${1:?usage: postfix-up.sh STATE_DIR}
mkdir -p "$state"
export DEBIAN_FRONTEND=noninteractive

if ! command -v postfix >/dev/null || ! command -v openssl >/dev/null; then
    echo "postfix postfix/main_mailer_type select Local only" | debconf-set-selections
    echo "postfix postfix/mailname string localhost" | debconf-set-selections
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends postfix openssl >/dev/null
fi

if [ ! -f "$state/ca.pem" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=smtpwatch e2e CA" \
        -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign' \
        -keyout "$state/ca.key" -out "$state/ca.pem" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj /CN=localhost \
        -keyout "$state/postfix.key" -out "$state/postfix.csr" 2>/dev/null
    cat > "$state/postfix.ext" <<'EXT'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
EXT
    openssl x509 -req -in "$state/postfix.csr" -CA "$state/ca.pem" -CAkey "$state/ca.key" \
        -CAcreateserial -days 825 -extfile "$state/postfix.ext" -out "$state/postfix.pem" 2>/dev/null
fi
install -m 600 "$state/postfix.key" /etc/postfix/smtpwatch-e2e.key
cat "$state/postfix.pem" "$state/ca.pem" > /etc/postfix/smtpwatch-e2e.pem

postconf -e 'myhostname = mx.e2e.test' 'inet_interfaces = loopback-only' 'inet_protocols = all' \
    'maillog_file = /var/log/postfix.log' \
    'smtpd_tls_cert_file = /etc/postfix/smtpwatch-e2e.pem' \
    'smtpd_tls_key_file = /etc/postfix/smtpwatch-e2e.key' \
    'smtpd_tls_security_level = may' 'smtpd_tls_loglevel = 1'
postconf -MX smtp/inet                               # nothing on :25
postconf -M '2525/inet=2525 inet n - n - - smtpd'   # :2525, not chrooted
# :2526 behind postscreen: loopback is not exempt (no access list), no DNSBL, a two-line
# greeting with a 2 s pause (a client talking early is a PREGREET), the deep tests enforced.
postconf -M '2526/inet=2526 inet n - n - 1 postscreen' 'smtpd/pass=smtpd pass - - n - - smtpd' \
    'tlsproxy/unix=tlsproxy unix - - n - 0 tlsproxy' 'dnsblog/unix=dnsblog unix - - n - 0 dnsblog'
postconf -e 'postscreen_access_list =' 'postscreen_dnsbl_sites =' 'postscreen_greet_wait = 2s' \
    'postscreen_greet_action = enforce' \
    'postscreen_pipelining_enable = yes' 'postscreen_pipelining_action = enforce' \
    'postscreen_non_smtp_command_enable = yes' 'postscreen_non_smtp_command_action = enforce' \
    'postscreen_bare_newline_enable = yes' 'postscreen_bare_newline_action = enforce' \
    'postscreen_cache_map = btree:$data_directory/postscreen_e2e_cache' \
    'postscreen_cache_retention_time = 1s' 'postscreen_bare_newline_ttl = 1s' \
    'postscreen_pipelining_ttl = 1s' 'postscreen_non_smtp_command_ttl = 1s' 'postscreen_greet_ttl = 1s'
postfix check
if postfix status >/dev/null 2>&1; then postfix reload >/dev/null 2>&1; else postfix start >/dev/null 2>&1; fi

# Ready when both addresses greet with 220.
greets() { timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2 && head -c 3 <&3" 2>/dev/null | grep -q '^220'; }
for _ in $(seq 100); do
    if greets 127.0.0.1 2525 && greets ::1 2525 && greets 127.0.0.1 2526; then
        echo "postfix: ready on 127.0.0.1:2525, [::1]:2525 and (postscreen) 127.0.0.1:2526"
        exit 0
    fi
    sleep 0.1
done
echo "postfix did not come up on ports 2525 and 2526; last log lines:" >&2
tail -n 20 /var/log/postfix.log >&2 || true
exit 1
