#!/usr/bin/env bash
# Mail-domain posture test bed on loopback, for the end-to-end suite:
#   - a test PKI (openssl): CA, mta-sts.mail.test, mx1.mail.test, mx2.mail.test, and an old
#     key of mx2 that its TLSA record still names (a renewal without a TLSA roll-over);
#   - zones signed with ldns-signzone: test. (signed; DS for mail.test, an unsigned delegation
#     to plain.test), mail.test. (signed: MX mx1/mx2, TLSA, _mta-sts, _smtp._tls), plain.test.
#     (unsigned), served by nsd on 127.0.0.1:5353;
#   - unbound on 127.0.0.1:5354 validating with test.'s key as its only trust anchor; every
#     other name goes to nsd too (REFUSED), so nothing ever leaves loopback;
#   - the MTA-STS policy over HTTPS on 127.0.0.1:443;
#   - STARTTLS servers mx1 on 127.0.0.2:25 and mx2 on 127.0.0.3:25.
# Usage: dnslab-up.sh STATE_DIR (writes PIDs to STATE_DIR/*.pid; kill them to stop).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
lab=$1
mkdir -p "$lab"/{pki,nsd,unbound}
cd "$lab/pki"

# --- PKI -------------------------------------------------------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/CN=smtpwatch dnslab CA" -keyout ca.key -out ca.pem \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
leaf() { # NAME HOST: a CA-signed leaf for HOST (CA:FALSE: rustls refuses CA certs as leaves)
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$2" \
        -keyout "$1.key" -out "$1.csr" 2>/dev/null
    printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:%s\n' "$2" > "$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 825 -sha256 \
        -extfile "$1.ext" -out "$1.pem" 2>/dev/null
    cat "$1.pem" ca.pem > "$1.chain.pem"
}
leaf mta-sts mta-sts.mail.test
leaf mx1 mx1.mail.test
leaf mx2 mx2.mail.test
leaf mx2-old mx2.mail.test
tlsa311() { openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER | openssl dgst -sha256 -r | cut -d' ' -f1; }
tlsa311 mx1.pem > mx1.tlsa311
tlsa311 mx2-old.pem > mx2.tlsa311   # the old key: mx2 now presents another one

# --- zones ---------------------------------------------------------------------------------
cd "$lab/nsd"
cat > mail.test.zone <<ZONE
\$ORIGIN mail.test.
\$TTL 300
@            IN SOA  ns1.mail.test. hostmaster.mail.test. 1 3600 600 86400 300
@            IN NS   ns1.mail.test.
ns1          IN A    127.0.0.1
@            IN MX   10 mx1.mail.test.
@            IN MX   20 mx2.mail.test.
mx1          IN A    127.0.0.2
mx2          IN A    127.0.0.3
mta-sts      IN A    127.0.0.1
_mta-sts     IN TXT  "v=STSv1; id=20261128T000000;"
_smtp._tls   IN TXT  "v=TLSRPTv1; rua=mailto:tlsrpt@mail.test"
_25._tcp.mx1 IN TLSA 3 1 1 $(cat ../pki/mx1.tlsa311)
_25._tcp.mx2 IN TLSA 3 1 1 $(cat ../pki/mx2.tlsa311)
ZONE
cat > plain.test.zone <<'ZONE'
$ORIGIN plain.test.
$TTL 300
@            IN SOA  ns1.plain.test. hostmaster.plain.test. 1 3600 600 86400 300
@            IN NS   ns1.plain.test.
ns1          IN A    127.0.0.1
@            IN MX   10 mx.plain.test.
mx           IN A    127.0.0.4
_25._tcp.mx  IN TLSA 3 1 1 0000000000000000000000000000000000000000000000000000000000000000
ZONE
sign() { ldns-signzone -i 20200101000000 -e 20361231000000 -f "$1.zone.signed" "$1.zone" "$2"; }
mkey=$(ldns-keygen -a ECDSAP256SHA256 -k mail.test)
sign mail.test "$mkey"
{
    cat <<'ZONE'
$ORIGIN test.
$TTL 300
@            IN SOA  ns.test. hostmaster.test. 1 3600 600 86400 300
@            IN NS   ns.test.
ns           IN A    127.0.0.1
mail         IN NS   ns1.mail.test.
ns1.mail     IN A    127.0.0.1
plain        IN NS   ns1.plain.test.
ns1.plain    IN A    127.0.0.1
ZONE
    cat "$mkey.ds"
} > test.zone
tkey=$(ldns-keygen -a ECDSAP256SHA256 -k test)
sign test "$tkey"
cp "$tkey.ds" ../unbound/test.anchor    # unbound takes the DS form
cp "$tkey.key" ../test.dnskey           # smtpwatch --dnssec-trust-anchor takes DNSKEY records

cat > nsd.conf <<CONF
server:
    ip-address: 127.0.0.1@5353
    server-count: 1
    username: ""
    chroot: ""
    zonesdir: "$lab/nsd"
    database: ""
    pidfile: "$lab/nsd.pid"
    logfile: "$lab/nsd/nsd.log"
    xfrdfile: "$lab/nsd/xfrd.state"
    zonelistfile: "$lab/nsd/zone.list"
    xfrdir: "$lab/nsd"
remote-control:
    control-enable: no
zone:
    name: "test"
    zonefile: "test.zone.signed"
zone:
    name: "mail.test"
    zonefile: "mail.test.zone.signed"
zone:
    name: "plain.test"
    zonefile: "plain.test.zone"
CONF
nsd-checkconf nsd.conf
cat > ../unbound/unbound.conf <<CONF
server:
    interface: 127.0.0.1@5354
    access-control: 127.0.0.0/8 allow
    username: ""
    chroot: ""
    directory: "$lab/unbound"
    pidfile: "$lab/unbound.pid"
    logfile: "$lab/unbound/unbound.log"
    use-syslog: no
    do-daemonize: yes
    num-threads: 1
    val-log-level: 2
    do-not-query-localhost: no
    # unbound serves RFC 6761's test. itself unless told not to.
    local-zone: "test." nodefault
    trust-anchor-file: "$lab/unbound/test.anchor"
    trust-anchor-signaling: no
    harden-dnssec-stripped: yes
    cache-max-ttl: 5
    cache-max-negative-ttl: 5
stub-zone:
    name: "test."
    stub-addr: 127.0.0.1@5353
stub-zone:
    name: "."
    stub-addr: 127.0.0.1@5353
remote-control:
    control-enable: no
CONF
unbound-checkconf ../unbound/unbound.conf >/dev/null
nsd -c "$lab/nsd/nsd.conf"
unbound -c "$lab/unbound/unbound.conf"

# --- MTA-STS policy and STARTTLS servers ------------------------------------------------------
mkdir -p "$lab/www/.well-known"
printf 'version: STSv1\r\nmode: enforce\r\nmx: mx1.mail.test\r\nmx: *.mail.test\r\nmax_age: 86400\r\n' \
    > "$lab/www/.well-known/mta-sts.txt"
cd "$lab"
nohup python3 "$here/dnslab-https.py" 127.0.0.1 443 "$lab/www" pki/mta-sts.chain.pem pki/mta-sts.key \
    > https.log 2>&1 & echo $! > https.pid
nohup python3 "$here/dnslab-smtp.py" 127.0.0.2 25 mx1.mail.test pki/mx1.chain.pem pki/mx1.key \
    > smtp-mx1.log 2>&1 & echo $! > smtp-mx1.pid
nohup python3 "$here/dnslab-smtp.py" 127.0.0.3 25 mx2.mail.test pki/mx2.chain.pem pki/mx2.key \
    > smtp-mx2.log 2>&1 & echo $! > smtp-mx2.pid

for _ in $(seq 100); do
    if dig +time=1 +tries=1 @127.0.0.1 -p 5354 +dnssec MX mail.test | grep -q 'flags:.* ad' &&
        curl -fs -o /dev/null --cacert pki/ca.pem --resolve mta-sts.mail.test:443:127.0.0.1 \
            https://mta-sts.mail.test/.well-known/mta-sts.txt &&
        python3 -c 'import socket,sys; [socket.create_connection((a,25),1).close() for a in ("127.0.0.2","127.0.0.3")]' 2>/dev/null
    then
        echo "dnslab: nsd 127.0.0.1:5353, unbound 127.0.0.1:5354 (validating), HTTPS 127.0.0.1:443, SMTP 127.0.0.2:25 and 127.0.0.3:25"
        exit 0
    fi
    sleep 0.2
done
echo "dnslab did not come up; logs:" >&2
tail -n 20 "$lab"/nsd/nsd.log "$lab"/unbound/unbound.log "$lab"/*.log >&2 || true
exit 1
