#!/usr/bin/env bash
# The project's test command (CI runs exactly this, as root, on a fresh Debian machine):
#   1. hermetic tests: `cargo test --locked` (fake servers in-process, loopback only);
#   2. end-to-end: installs what is missing from Debian, starts real servers on loopback
#      (Postfix, Dovecot, the smtpwatch agent, Prometheus), runs the e2e tests against them (plus
#      promtool, headless Chromium, Alertmanager (which its test starts and restarts), the
#      dashboard's queries, the alerting rules' unit tests and the systemd unit), and stops what
#      it started.
# Any server that cannot start fails the run; nothing is skipped silently.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export DEBIAN_FRONTEND=noninteractive

echo "== hermetic tests"
# jemalloc (the binary's allocator) is built with make.
command -v make >/dev/null || { apt-get update -q >/dev/null; apt-get install -y -q make >/dev/null; }
cargo test --locked

echo "== end-to-end: packages"
need=()
for pair in prometheus:prometheus promtool:prometheus chromium:chromium curl:curl ip:iproute2 \
    prometheus-alertmanager:prometheus-alertmanager systemd-analyze:systemd setpriv:util-linux \
    nsd:nsd ldns-signzone:ldnsutils unbound:unbound dig:bind9-dnsutils python3:python3 openssl:openssl certutil:libnss3-tools strace:strace \
    musl-gcc:musl-tools; do
    command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${need[@]}" fonts-dejavu-core >/dev/null
fi

echo "== end-to-end: building the release binary"
cargo build --locked --release

state=$(mktemp -d /tmp/smtpwatch-e2e.XXXXXX)
started_postfix=no
pids=()
cleanup() {
    for file in "$state"/dnslab/*.pid "$state"/fleet/*.pid; do
        [ -f "$file" ] && pids+=("$(cat "$file")")
    done
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ -f "$state/dovecot/run/master.pid" ]; then
        kill "$(cat "$state/dovecot/run/master.pid")" 2>/dev/null || true
    fi
    if [ "$started_postfix" = yes ]; then postfix stop >/dev/null 2>&1 || true; fi
    "$root/tests/e2e/fleet-up.sh" --down
    rm -rf "$state"
}
trap cleanup EXIT

# Polls URL until it answers 200, at most 30 s; prints LOG and fails otherwise.
wait_http() {
    for _ in $(seq 300); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "$1 did not become ready; log:" >&2
    tail -n 30 "$2" >&2 || true
    return 1
}

echo "== end-to-end: Postfix with STARTTLS on 127.0.0.1:2525 and [::1]:2525"
postfix status >/dev/null 2>&1 || started_postfix=yes
"$root/tests/e2e/postfix-up.sh" "$state/postfix"

echo "== end-to-end: mail flow: Postfix submission :2587 with Dovecot SASL, LMTP, IMAP(S) :10143/:10993"
"$root/tests/e2e/mailflow-up.sh" "$state" "$state/postfix"
echo agent-pw > "$state/agent-imap.pw"

agent=127.0.0.1:19925
prom=127.0.0.1:9090
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
closed_port=$(free_port)
# Closed until the alerting test opens it; its alerts go to the test's Alertmanager. Not 9093:
# the Debian package may start its own Alertmanager there.
flappy_port=$(free_port)
alertmanager=127.0.0.1:19093

echo "== end-to-end: DNSSEC/DANE/MTA-STS lab (nsd :5353, unbound :5354, HTTPS :443, SMTP 127.0.0.2-3:25)"
"$root/tests/e2e/dnslab-up.sh" "$state/dnslab"

echo "== end-to-end: fleet lab (namespaces smtpwatch-fleet-*: Prometheus, two-peer Alertmanager cluster)"
"$root/tests/e2e/fleet-up.sh" "$state/fleet"

echo "== end-to-end: smtpwatch agent on $agent"
cat > "$state/agent.toml" <<TOML
[agent]
listen = "$agent"
ehlo_name = "e2e.smtpwatch.test"
interval = "2s"
timeout = "1500ms"
state_file = "$state/alerts.json"
history_file = "$state/history.db"
# The DNS lab's validating unbound (only mx: probes look names up).
dns_servers = ["127.0.0.1:5354"]

[[probe]]
name = "postfix"
target = "127.0.0.1:2525"
tls = "starttls"
ca_file = "$state/postfix/ca.pem"
server_name = "localhost"
labels = { team = "mail" }

[[probe]]
name = "closed"
target = "127.0.0.1:$closed_port"
notify = []

[[probe]]
name = "domain"
target = "mx:mail.test"
interval = "5s"
timeout = "4s"
ca_file = "$state/dnslab/pki/ca.pem"
dnssec_trust_anchor = "$state/dnslab/test.dnskey"
notify = []

[[probe]]
name = "mailflow"
target = "127.0.0.1:2525"
tls = "starttls"
ca_file = "$state/postfix/ca.pem"
server_name = "localhost"
interval = "15s"
timeout = "3s"
mail_from = "agent@e2e.smtpwatch.test"
notify = []

[probe.delivery]
to = "agent@mail.e2e.test"
imap = "imaps://localhost:10993"
user = "agent@mail.e2e.test"
password_file = "$state/agent-imap.pw"
timeout = "10s"
warn_after = "5s"

# Down from the start; its alerts go by email through Postfix into alerts@'s Maildir.
[[probe]]
name = "mailed"
target = "127.0.0.1:$closed_port"
notify = ["mail"]

[[probe]]
name = "flappy"
target = "127.0.0.1:$flappy_port"
notify = ["alertmanager"]
interval = "1s"
timeout = "500ms"

[alerting]
failure_threshold = 2
success_threshold = 2
resend_interval = "2s"
retry_backoff = "200ms"
retry_backoff_max = "1s"
retry_attempts = 3

[[alerting.alertmanager]]
name = "alertmanager"
urls = ["http://$alertmanager"]

[[alerting.email]]
name = "mail"
relay = "localhost:2525"
from = "smtpwatch@e2e.smtpwatch.test"
to = ["alerts@mail.e2e.test"]
ca_file = "$state/postfix/ca.pem"
TOML
"$root/target/release/smtpwatch" config check "$state/agent.toml"
"$root/target/release/smtpwatch" run --config "$state/agent.toml" --log-format json >"$state/agent.log" 2>&1 &
pids+=($!)
wait_http "http://$agent/-/ready" "$state/agent.log"

echo "== end-to-end: Prometheus on $prom scraping the agent"
cat > "$state/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: smtpwatch
    static_configs:
      - targets: ["$agent"]
YAML
prometheus --config.file="$state/prometheus.yml" --storage.tsdb.path="$state/prometheus" \
    --web.listen-address="$prom" >"$state/prometheus.log" 2>&1 &
pids+=($!)
wait_http "http://$prom/-/ready" "$state/prometheus.log"

echo "== end-to-end: the Debian package (build, lintian, install, use, remove)"
mkdir -p "$root/target/e2e"
"$root/tests/e2e/deb-check.sh" "$root/target/e2e" "$state/postfix/ca.pem"

echo "== end-to-end tests"
mkdir -p "$root/target/e2e"
SMTPWATCH_E2E_STATE="$state/postfix" SMTPWATCH_E2E_AGENT="$agent" SMTPWATCH_E2E_PROMETHEUS="$prom" \
SMTPWATCH_E2E_SCREENSHOTS="$root/target/e2e" \
SMTPWATCH_E2E_ALERTMANAGER="$alertmanager" SMTPWATCH_E2E_FLAPPY_PORT="$flappy_port" \
SMTPWATCH_E2E_DNSLAB="$state/dnslab" SMTPWATCH_E2E_MAILFLOW="$state" SMTPWATCH_E2E_FLEET="$state/fleet" \
    cargo test --locked --release --test e2e -- --ignored --test-threads=1
