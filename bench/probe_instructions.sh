#!/usr/bin/env bash
# Benchmark: instructions per verified STARTTLS probe of the local Postfix through the agent's
# /probe (valgrind callgrind), repeatable where CPU time on a shared machine is not. The agent
# runs under callgrind with instrumentation off; it is switched on for PROBES requests over one
# kept-alive connection after a warm-up, so start-up, the trust store and the first handshake
# are not counted. Valgrind hides some CPU features (ADX, SHA extensions), so ring runs its
# generic code here: the figure compares builds of smtpwatch, not smtpwatch with other tools.
# Usage: bench/probe_instructions.sh [PROBES] [RUNS]   (default 200 probes, 2 runs)
set -euo pipefail
cd "$(dirname "$0")/.."
probes=${1:-200}
runs=${2:-2}
export DEBIAN_FRONTEND=noninteractive
if ! command -v valgrind >/dev/null || ! command -v musl-gcc >/dev/null; then
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends valgrind musl-tools >/dev/null
fi
binary=$(packaging/release-build.sh -q)   # the binary as it ships
postfix_state=/tmp/smtpwatch-bench
tests/e2e/postfix-up.sh "$postfix_state" >/dev/null
state=$(mktemp -d /tmp/smtpwatch-bench-instr.XXXXXX)
agent=
cleanup() {
    [ -n "$agent" ] && kill "$agent" 2>/dev/null || true
    rm -rf "$state"
}
trap cleanup EXIT
listen=127.0.0.1:$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$state/probes.toml" <<TOML
[agent]
listen = "$listen"
ehlo_name = "bench.smtpwatch.test"

# The dialogue of bench/probe_vs_blackbox.sh: EHLO, STARTTLS, EHLO, QUIT.
[[module]]
name = "smtp_starttls"
tls = "starttls"
noop = false
TOML
drive() {
    python3 - "$listen" "$1" <<'PY'
import http.client, sys
address, count = sys.argv[1], int(sys.argv[2])
conn = http.client.HTTPConnection(address, timeout=60)
for _ in range(count):
    conn.request("GET", "/probe?module=smtp_starttls&target=127.0.0.1:2525")
    body = conn.getresponse().read().decode(errors="replace")
    if "\nprobe_success 1" not in "\n" + body:
        sys.exit(f"probe failed:\n{body[:600]}")
PY
}
for run in $(seq "$runs"); do
    SSL_CERT_FILE="$postfix_state/ca.pem" valgrind --tool=callgrind --instr-atstart=no \
        --callgrind-out-file="$state/callgrind.out" "$binary" run --config "$state/probes.toml" \
        > "$state/agent.log" 2>&1 &
    agent=$!
    for _ in $(seq 300); do
        curl -fsS -o /dev/null "http://$listen/metrics" 2>/dev/null && break
        sleep 0.2
    done
    drive 20
    callgrind_control --instr=on "$agent" >/dev/null 2>&1
    drive "$probes"
    callgrind_control --instr=off "$agent" >/dev/null 2>&1
    kill -INT "$agent"
    wait "$agent" || true
    agent=
    collected=$(sed -n 's/.*Collected : *//p' "$state/agent.log" | tr -d ,)
    [ -n "$collected" ] || { cat "$state/agent.log" >&2; exit 1; }
    echo "run $run: $((collected / probes)) instructions per verified STARTTLS /probe ($probes probes)"
    rm -f "$state"/callgrind.out*
done
