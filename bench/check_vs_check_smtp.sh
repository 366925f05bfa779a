#!/usr/bin/env bash
# Benchmark: `smtpwatch check` (nagios output) against monitoring-plugins' `check_smtp`,
# alternating, against the same local Postfix: verified STARTTLS against `check_smtp -S`, then
# plaintext against `check_smtp`. Prints median wall and CPU time, callgrind instruction counts
# and the ratios, and two floors: /bin/true, and the plaintext dialogue in bare C
# (bench/floor_client.c).
# Usage: bench/check_vs_check_smtp.sh [RUNS]   (default 30 runs of each)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-30}
export DEBIAN_FRONTEND=noninteractive
if [ ! -x /usr/lib/nagios/plugins/check_smtp ] || ! command -v valgrind >/dev/null || ! command -v musl-gcc >/dev/null; then
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends monitoring-plugins-standard valgrind musl-tools >/dev/null
fi
binary=$(packaging/release-build.sh -q)   # the binary as it ships
state=/tmp/smtpwatch-bench
tests/e2e/postfix-up.sh "$state" >/dev/null
floor_client=target/bench/floor_client
mkdir -p target/bench
gcc -O2 -Wall -o "$floor_client" bench/floor_client.c
exec python3 bench/check_vs_check_smtp.py "$runs" \
    --smtpwatch "$binary" --ca-file "$state/ca.pem" --floor-client "$floor_client"
