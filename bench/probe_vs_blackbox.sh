#!/usr/bin/env bash
# Benchmark: one verified STARTTLS probe of the local Postfix through smtpwatch's /probe and
# through blackbox_exporter's /probe (its tcp prober scripted for SMTP), side by side in one
# run; prints CPU per probe of each server and the ratio, and beside them two floors: the same
# dialogue by a bare client with the agent's TLS stack (examples/starttls_floor.rs: rustls and
# ring over blocking sockets) and by one in C with the system's OpenSSL (bench/starttls_floor.c).
# Usage: bench/probe_vs_blackbox.sh [PROBES] [RUNS]   (default 1000 probes, 3 runs)
set -euo pipefail
cd "$(dirname "$0")/.."
probes=${1:-1000}
runs=${2:-3}
export DEBIAN_FRONTEND=noninteractive
if ! command -v prometheus-blackbox-exporter >/dev/null || ! command -v musl-gcc >/dev/null \
    || ! [ -e /usr/include/openssl/ssl.h ]; then
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends prometheus-blackbox-exporter musl-tools gcc \
        libssl-dev >/dev/null
fi
binary=$(packaging/release-build.sh -q)   # the binary as it ships
cargo build -q --release --example starttls_floor
rustls_floor=$PWD/target/release/examples/starttls_floor
# Postfix's certificates stay where Postfix reads them (the check benchmark's directory).
postfix_state=/tmp/smtpwatch-bench
tests/e2e/postfix-up.sh "$postfix_state" >/dev/null
state=$(mktemp -d /tmp/smtpwatch-bench-probe.XXXXXX)
gcc -O2 -o "$state/openssl_floor" bench/starttls_floor.c -lssl -lcrypto
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$state"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ours=127.0.0.1:$(free_port)
theirs=127.0.0.1:$(free_port)
cat > "$state/blackbox.yml" <<YAML
modules:
  smtp_starttls:
    prober: tcp
    timeout: 5s
    tcp:
      preferred_ip_protocol: ip4
      query_response:
        - expect: "^220 "
        - send: "EHLO bench.smtpwatch.test"
        - expect: "^250 "
        - send: "STARTTLS"
        - expect: "^220 "
        - starttls: true
        - send: "EHLO bench.smtpwatch.test"
        - expect: "^250 "
        - send: "QUIT"
        - expect: "^221 "
      tls_config:
        ca_file: $postfix_state/ca.pem
        server_name: localhost
YAML
cat > "$state/probes.toml" <<TOML
[agent]
listen = "$ours"
ehlo_name = "bench.smtpwatch.test"

# The same dialogue as blackbox_exporter's module above: EHLO, STARTTLS, EHLO, QUIT.
[[module]]
name = "smtp_starttls"
tls = "starttls"
noop = false
TOML
prometheus-blackbox-exporter --config.file="$state/blackbox.yml" --web.listen-address="$theirs" \
    > "$state/blackbox.log" 2>&1 &
pids+=($!)
blackbox_pid=$!
# The agent's /probe trusts the system store: here, the test CA alone.
SSL_CERT_FILE="$postfix_state/ca.pem" "$binary" run --config "$state/probes.toml" \
    > "$state/smtpwatch.log" 2>&1 &
pids+=($!)
smtpwatch_pid=$!
for address in "$ours" "$theirs"; do
    for _ in $(seq 100); do
        curl -fsS -o /dev/null "http://$address/metrics" 2>/dev/null && break
        sleep 0.1
    done
done
python3 bench/probe_vs_blackbox.py --probes "$probes" --runs "$runs" \
    --smtpwatch "$ours $smtpwatch_pid" --blackbox "$theirs $blackbox_pid" \
    --floor "rustls+ring=$rustls_floor $postfix_state/ca.pem" \
    --floor "C+OpenSSL=$state/openssl_floor $postfix_state/ca.pem"
