#!/usr/bin/env bash
# Builds the Debian package: target/debian/smtpwatch_<version>-1_<arch>.deb.
# Needs cargo-deb (installed here when missing) and dpkg-dev (dpkg-shlibdeps for $auto).
# Man pages and completions are generated from the binary itself, so they match its flags.
# The binary is the static musl PIE of packaging/release-build.sh (why: see there).
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
command -v dpkg-shlibdeps >/dev/null || { apt-get update -q >/dev/null; apt-get install -y -q --no-install-recommends dpkg-dev >/dev/null; }
command -v cargo-deb >/dev/null || cargo install --locked --quiet cargo-deb --version 3.8.0
binary=$(packaging/release-build.sh)
triple=$(basename "$(dirname "$(dirname "$binary")")")
out=target/deb
rm -rf "$out" && mkdir -p "$out/man" "$out/completions"
"$binary" man --dir "$out/man" >/dev/null
gzip -9n "$out"/man/*.1
"$binary" completions bash > "$out/completions/smtpwatch.bash"
"$binary" completions zsh > "$out/completions/_smtpwatch"
"$binary" completions fish > "$out/completions/smtpwatch.fish"
# The repository's unit names /usr/local/bin; the package installs /usr/bin.
sed 's|/usr/local/bin/smtpwatch|/usr/bin/smtpwatch|; s|^# smtpwatch agent. Install the binary as.*|# smtpwatch agent, as installed by the Debian package. Configure /etc/smtpwatch/probes.toml, then:|; s|^# configuration as /etc/smtpwatch/probes.toml, then:|#|' \
    systemd/smtpwatch.service > "$out/smtpwatch.service"
sed 's|/usr/local/bin/smtpwatch|/usr/bin/smtpwatch|; s| Install the binary as /usr/local/bin/smtpwatch (or adjust$||; s|^# ExecStart).$|#|' \
    systemd/smtpwatch@.service > "$out/smtpwatch@.service"
cargo deb --no-build --locked --target "$triple" --output target/debian/ "$@"
