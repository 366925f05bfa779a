#!/usr/bin/env bash
# Builds the release binary as it ships (the Debian package) and as the benchmarks measure it,
# and prints its path: target/<host triple>/release/smtpwatch.
#
# It is a static PIE (glibc linked in, still position-independent, so ASLR applies) with packed
# relative relocations (RELR). A one-off `check` is mostly process start-up; against the plain
# `cargo build --release` binary this saves the dynamic loader's work (four shared objects and
# their symbol lookups, libgcc_s' CPU probing at 9 µs per CPUID instruction on a virtual
# machine) and most of the 24,500 relocations' processing: 18 % of a plaintext check's CPU
# (README "Performance"). Name lookups (webhook and Alertmanager hosts) use glibc's built-in
# `files` and `dns` sources; NSS modules named in /etc/nsswitch.conf beyond those are not
# loaded. `cargo build --release` still gives an ordinary dynamic binary in target/release.
set -euo pipefail
cd "$(dirname "$0")/.."
triple=$(rustc -vV | sed -n 's/^host: //p')
case "$triple" in
*-linux-gnu) ;;
*) echo "release-build.sh: static PIE needs a *-linux-gnu host, not $triple" >&2; exit 1 ;;
esac
# Only the target's flags change: build scripts and proc macros (host) stay dynamic.
var="CARGO_TARGET_$(echo "$triple" | tr 'a-z-' 'A-Z_')_RUSTFLAGS"
export "$var=-C target-feature=+crt-static -C link-arg=-Wl,-z,pack-relative-relocs"
cargo build --locked --release --target "$triple" "$@" >&2
echo "target/$triple/release/smtpwatch"
