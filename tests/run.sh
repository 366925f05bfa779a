#!/usr/bin/env bash
# The project's test command: hermetic tests first, then the end-to-end suite on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --locked
