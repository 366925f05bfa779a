#!/usr/bin/env bash
# The Debian package end to end: build it (packaging/build-deb.sh), lint it (no lintian
# error), install it, use it from /usr/bin (--version, a check of the local Postfix on
# 127.0.0.1:2525, config check of the installed conffile), find its man page, verify its unit,
# remove it (only the configuration may stay), purge it. Writes the package's file list and
# lintian's output to OUT_DIR. Usage: deb-check.sh OUT_DIR POSTFIX_CA_FILE
set -euo pipefail
out=${1:?usage: deb-check.sh OUT_DIR POSTFIX_CA_FILE}
ca=${2:?usage: deb-check.sh OUT_DIR POSTFIX_CA_FILE}
cd "$(dirname "$0")/../.."
export DEBIAN_FRONTEND=noninteractive
mkdir -p "$out"
need=()
command -v lintian >/dev/null || need+=(lintian)
command -v man >/dev/null || need+=(man-db)
command -v dpkg-shlibdeps >/dev/null || need+=(dpkg-dev)
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi
fail() { echo "deb-check: $*" >&2; exit 1; }

packaging/build-deb.sh >/dev/null
deb=$(ls -t target/debian/smtpwatch_*.deb | head -n 1)
dpkg-deb -c "$deb" | awk '{print $6}' > "$out/deb-contents.txt"
for path in ./usr/bin/smtpwatch ./lib/systemd/system/smtpwatch.service ./lib/systemd/system/smtpwatch@.service ./etc/smtpwatch/probes.toml \
    ./usr/share/doc/smtpwatch/examples/probes.toml ./usr/share/man/man1/smtpwatch.1.gz \
    ./usr/share/man/man1/smtpwatch-check.1.gz ./usr/share/bash-completion/completions/smtpwatch \
    ./usr/share/zsh/vendor-completions/_smtpwatch ./usr/share/fish/vendor_completions.d/smtpwatch.fish \
    ./usr/share/doc/smtpwatch/copyright ./usr/share/doc/smtpwatch/changelog.Debian.gz; do
    grep -qxF "$path" "$out/deb-contents.txt" || fail "$path is not in the package"
done

# Lintian refuses nothing it calls an error (warnings are listed in the output file).
lintian --allow-root --fail-on error "$deb" > "$out/lintian.txt" 2>&1 || {
    cat "$out/lintian.txt" >&2
    fail "lintian reports errors"
}

if dpkg -s smtpwatch >/dev/null 2>&1; then dpkg -P smtpwatch >/dev/null; fi
dpkg -i "$deb" >/dev/null
/usr/bin/smtpwatch --version | grep -q '^smtpwatch ' || fail "--version"
/usr/bin/smtpwatch check 127.0.0.1:2525 --ca-file "$ca" --server-name localhost --format nagios \
    | grep -q '^SMTP OK' || fail "check from /usr/bin"
/usr/bin/smtpwatch config check /etc/smtpwatch/probes.toml >/dev/null || fail "the installed configuration"
[ "$(man -w smtpwatch)" = /usr/share/man/man1/smtpwatch.1.gz ] || fail "man -w smtpwatch"
man -w smtpwatch-check >/dev/null || fail "man -w smtpwatch-check"
systemd-analyze verify /lib/systemd/system/smtpwatch.service || fail "systemd-analyze verify"
systemd-analyze verify /lib/systemd/system/smtpwatch@0-of-3.service || fail "systemd-analyze verify the shard template"

dpkg -r smtpwatch >/dev/null
[ ! -e /usr/bin/smtpwatch ] || fail "the binary is still there after dpkg -r"
[ -f /etc/smtpwatch/probes.toml ] || fail "dpkg -r removed the configuration"
dpkg -s smtpwatch 2>/dev/null | grep -q '^Status: deinstall ok config-files' || fail "not config-files after dpkg -r"
dpkg -P smtpwatch >/dev/null
[ ! -e /etc/smtpwatch/probes.toml ] || fail "dpkg -P left the configuration"
echo "deb: $(basename "$deb") built, lint-clean of errors, installed, used, removed and purged"
