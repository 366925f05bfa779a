#!/usr/bin/env bash
# The project's test command (CI runs exactly this, as root, on a fresh Debian machine):
#   1. hermetic tests: `cargo test --locked` (fake servers in-process, loopback only);
#   2. end-to-end: installs what is missing from Debian, starts real servers on loopback,
#      runs the e2e tests against them, stops what it started.
# Any server that cannot start fails the run; nothing is skipped silently.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

echo "== hermetic tests"
cargo test --locked

echo "== end-to-end: building the release binary"
cargo build --locked --release

state=$(mktemp -d /tmp/smtpwatch-e2e.XXXXXX)
started_postfix=no
cleanup() {
    if [ "$started_postfix" = yes ]; then postfix stop >/dev/null 2>&1 || true; fi
    rm -rf "$state"
}
trap cleanup EXIT

echo "== end-to-end: Postfix with STARTTLS on 127.0.0.1:2525 and [::1]:2525"
postfix status >/dev/null 2>&1 || started_postfix=yes
"$root/tests/e2e/postfix-up.sh" "$state/postfix"

echo "== end-to-end tests"
SMTPWATCH_E2E_STATE="$state/postfix" cargo test --locked --release --test e2e -- --ignored --test-threads=1
