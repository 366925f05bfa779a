#!/usr/bin/env bash
# The fleet lab: network namespaces this script creates, joined by a bridge, and the real
# software that joins a fleet of agents. Nothing in it is reachable from outside the machine.
#
#   smtpwatch-fleet-hub   bridge 10.213.0.1/24; two plaintext SMTP servers: 10.214.0.1:2525
#                         for 299 probes, 10.214.0.2:2525 for probe mx-299, the one the test
#                         cuts vantages off from; Prometheus on 10.213.0.1:19090 with the
#                         shipped rules; a two-peer Alertmanager cluster on 10.213.0.1:19301
#                         and :19302 (gossip on the hub's loopback, 127.0.0.1:19401 and :19402,
#                         with the default 15 s peer timeout: the second peer sends only if the
#                         first has not logged the notification by then; gossip every 50 ms and
#                         a full state exchange every 2 s, so on a loaded machine the log still
#                         reaches the second peer well inside that timeout);
#                         a webhook receiver behind it on the hub's 127.0.0.1:19500 writing
#                         notifications.jsonl
#   smtpwatch-fleet-a0..2 one agent each (started by the test: tests/e2e/fleet.rs), addresses
#                         10.213.0.10-12, default route through the hub. Cutting one off from
#                         mx-299's server is a route: `ip -n smtpwatch-fleet-a0 route add
#                         unreachable 10.214.0.2/32` (Prometheus still scrapes it)
#   the root namespace    10.213.0.2/24 on a veth into the bridge, so the test reaches
#                         Prometheus, Alertmanager and the agents
#
# Writes the agents' shared configuration (300 probes of the target) to STATE_DIR/probes.toml
# and the PIDs of what it starts to STATE_DIR/*.pid. `fleet-up.sh --down` removes the namespaces.
# Usage: fleet-up.sh STATE_DIR | fleet-up.sh --down
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
hub=smtpwatch-fleet-hub
agents=(smtpwatch-fleet-a0 smtpwatch-fleet-a1 smtpwatch-fleet-a2)

down() {
    for ns in "$hub" "${agents[@]}"; do
        ip netns del "$ns" 2>/dev/null || true
    done
    ip link del smtpwatch-fl0 2>/dev/null || true
}
if [ "${1:-}" = --down ]; then down; exit 0; fi
lab=${1:?usage: fleet-up.sh STATE_DIR | fleet-up.sh --down}
down
mkdir -p "$lab"
lab=$(cd "$lab" && pwd)

ip netns add "$hub"
ip -n "$hub" link set lo up
ip -n "$hub" link add br0 type bridge
ip -n "$hub" addr add 10.213.0.1/24 dev br0
ip -n "$hub" link set br0 up
ip -n "$hub" addr add 10.214.0.1/32 dev lo
ip -n "$hub" addr add 10.214.0.2/32 dev lo
for i in 0 1 2; do
    ns=${agents[$i]}
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip -n "$ns" link add eth0 type veth peer name port$i netns "$hub"
    ip -n "$ns" addr add "10.213.0.1$i/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" route add default via 10.213.0.1
    ip -n "$hub" link set "port$i" master br0 up
done
ip link add smtpwatch-fl0 type veth peer name portroot netns "$hub"
ip addr add 10.213.0.2/24 dev smtpwatch-fl0
ip link set smtpwatch-fl0 up
ip -n "$hub" link set portroot master br0 up

in_hub() { ip netns exec "$hub" "$@"; }
cd "$lab"
nohup ip netns exec "$hub" python3 "$here/dnslab-smtp.py" 10.214.0.1 2525 target.fleet.test \
    > smtp.log 2>&1 & echo $! > smtp.pid
nohup ip netns exec "$hub" python3 "$here/dnslab-smtp.py" 10.214.0.2 2525 mx.fleet.test \
    > smtp-mx.log 2>&1 & echo $! > smtp-mx.pid
: > notifications.jsonl
nohup ip netns exec "$hub" python3 "$here/fleet-receiver.py" 127.0.0.1 19500 "$lab/notifications.jsonl" \
    > receiver.log 2>&1 & echo $! > receiver.pid

# Quorum alerts page the on-call receiver; everything else goes to the channel. Grouped by
# alertname and probe, as the README shows, so what several agents and both Prometheus
# notifications report about one probe is one group.
cat > alertmanager.yml <<'YAML'
route:
  receiver: channel
  group_by: [alertname, probe]
  group_wait: 1s
  # Also how long Alertmanager gives the receiver to answer: 300 groups notify at once.
  group_interval: 10s
  repeat_interval: 4h
  routes:
    - matchers: ['alertname = "SMTPProbeFailingQuorum"']
      receiver: oncall
receivers:
  - name: oncall
    webhook_configs:
      - url: http://127.0.0.1:19500/oncall
        send_resolved: true
  - name: channel
    webhook_configs:
      - url: http://127.0.0.1:19500/channel
        send_resolved: true
YAML
for peer in 1 2; do
    other=$((3 - peer))
    nohup ip netns exec "$hub" prometheus-alertmanager --config.file="$lab/alertmanager.yml" \
        --storage.path="$lab/am$peer" --web.listen-address="10.213.0.1:1930$peer" \
        --cluster.listen-address="127.0.0.1:1940$peer" --cluster.peer="127.0.0.1:1940$other" \
        --cluster.gossip-interval=50ms --cluster.pushpull-interval=2s \
        > "am$peer.log" 2>&1 & echo $! > "am$peer.pid"
done

cat > prometheus.yml <<YAML
global:
  scrape_interval: 2s
  evaluation_interval: 2s
rule_files:
  - $root/dashboards/smtpwatch-rules.yml
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["10.213.0.1:19301", "10.213.0.1:19302"]
scrape_configs:
  - job_name: smtpwatch
    static_configs:
      - targets: ["10.213.0.10:9925", "10.213.0.11:9925", "10.213.0.12:9925"]
YAML
nohup ip netns exec "$hub" prometheus --config.file="$lab/prometheus.yml" \
    --storage.tsdb.path="$lab/prometheus" --web.listen-address=10.213.0.1:19090 \
    > prometheus.log 2>&1 & echo $! > prometheus.pid

# The agents' one configuration: 300 plaintext probes of the target, alerts to both peers.
{
    cat <<TOML
[agent]
listen = "0.0.0.0:9925"
ehlo_name = "fleet.smtpwatch.test"
interval = "3s"
timeout = "1s"

[alerting]
failure_threshold = 2
success_threshold = 2
resend_interval = "10s"

[[alerting.alertmanager]]
name = "cluster"
urls = ["http://10.213.0.1:19301", "http://10.213.0.1:19302"]

TOML
    for n in $(seq -w 0 298); do
        printf '[[probe]]\nname = "mx-%s"\ntarget = "10.214.0.1:2525"\ntls = "none"\n\n' "$n"
    done
    printf '[[probe]]\nname = "mx-299"\ntarget = "10.214.0.2:2525"\ntls = "none"\n'
} > probes.toml

ready() {
    for _ in $(seq 300); do
        if "$@" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "fleet lab: not ready: $*" >&2
    tail -n 20 "$lab"/*.log >&2 || true
    return 1
}
ready curl -fsS -o /dev/null http://10.213.0.1:19090/-/ready
ready curl -fsS -o /dev/null http://10.213.0.1:19301/-/ready
ready curl -fsS -o /dev/null http://10.213.0.1:19302/-/ready
ready in_hub curl -fsS -o /dev/null http://127.0.0.1:19500/
ready in_hub python3 -c 'import socket; [socket.create_connection((a, 2525), 1).close() for a in ("10.214.0.1", "10.214.0.2")]'
# The two peers see each other before any alert arrives, so they deduplicate from the start.
ready python3 -c 'import json, sys, urllib.request as u; c = json.load(u.urlopen("http://10.213.0.1:19301/api/v2/status", timeout=2))["cluster"]; sys.exit(0 if c["status"] == "ready" and len(c["peers"]) == 2 else 1)'
echo "fleet lab up in $lab"
