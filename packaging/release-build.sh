#!/usr/bin/env bash
# Builds the release binary as it ships (the Debian package) and as the benchmarks measure it,
# and prints its path: target/<triple>/release/smtpwatch.
#
# It is a static PIE (still position-independent, so ASLR applies) on musl, with packed
# relative relocations (RELR) and without jemalloc's constructor
# (packaging/without-jemalloc-constructor.ld). A one-off `check` is mostly process start-up,
# and on this kind of machine (a virtual machine where each CPUID instruction traps to the
# hypervisor, 9 µs) glibc's start-up alone runs 68 of them to size the CPU caches: 0.6 ms, a
# third of a plaintext check. musl runs none; against the dynamic glibc binary the static
# build also saves the dynamic loader's work (README "Performance"). The agent keeps jemalloc
# either way and one-off commands a bump arena (src/allocator/), so musl's malloc is only
# their fallback. Name lookups (webhook and Alertmanager hosts; probes use their own resolver)
# go through musl's resolver: /etc/hosts, then the servers of /etc/resolv.conf, no NSS modules.
#
# Needs the Rust target <arch>-unknown-linux-musl (added with rustup when missing) and
# musl-gcc (Debian: musl-tools) for the C parts (ring, jemalloc). Without them it says so and
# builds the previous form, a static PIE on glibc, so packaging still works offline.
# `cargo build --release` still gives an ordinary dynamic binary in target/release.
#
# `release-build.sh bench ARGS...` runs `cargo bench ARGS...` built the same way instead, so a
# benchmark measures the code as it ships (e.g. `release-build.sh bench --bench agent -- 100k`).
set -euo pipefail
bench=false
if [ "${1:-}" = bench ]; then
    bench=true
    shift
fi
cd "$(dirname "$0")/.."
host=$(rustc -vV | sed -n 's/^host: //p')
case "$host" in
*-linux-gnu) ;;
*) echo "release-build.sh: needs a *-linux-gnu host, not $host" >&2; exit 1 ;;
esac
musl=${host%-gnu}-musl
musl_ready() {
    command -v musl-gcc >/dev/null || return 1
    rustup target list --installed 2>/dev/null | grep -qx "$musl" && return 0
    rustup target add "$musl" >&2
}
flags="-C link-arg=-Wl,-z,pack-relative-relocs -C link-arg=-Wl,-T,$PWD/packaging/without-jemalloc-constructor.ld"
if musl_ready; then
    triple=$musl   # static PIE is the musl target's default
else
    echo "release-build.sh: no $musl target or musl-gcc (apt-get install musl-tools;" \
        "rustup target add $musl): building the static PIE on glibc instead" >&2
    triple=$host
    flags="-C target-feature=+crt-static $flags"
fi
# Only the target's flags change: build scripts and proc macros (host) stay dynamic.
export "CARGO_TARGET_$(echo "$triple" | tr 'a-z-' 'A-Z_')_RUSTFLAGS=$flags"
if $bench; then
    exec cargo bench --locked --target "$triple" "$@"
fi
cargo build --locked --release --target "$triple" "$@" >&2
echo "target/$triple/release/smtpwatch"
