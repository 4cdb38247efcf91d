#!/bin/sh
# make deb: builds the Debian package from this checkout in a copy of it
# under OUT (so that dpkg-buildpackage's ../*.deb and its `make clean` stay
# inside build/), then holds it to lintian: no error, no warning that
# debian/a2dpsrc.lintian-overrides does not explain.
#
# As root it first installs what building needs (apt-get build-dep on
# debian/control, and lintian); as another user it needs them installed.
#
# Usage: tools/build-deb.sh OUT       -> OUT/a2dpsrc_<version>_<arch>.deb
set -eu
OUT=${1:?usage: tools/build-deb.sh OUT}
cd "$(dirname "$0")/.."
ROOT=$(pwd)

say() { printf '%s\n' "build-deb: $*"; }

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    if ! dpkg-checkbuilddeps debian/control >/dev/null 2>&1 || ! command -v lintian >/dev/null; then
        say "installing the build dependencies and lintian"
        apt-get update -qq
        apt-get build-dep -y -qq "$ROOT" >/dev/null
        apt-get install -y -qq --no-install-recommends lintian build-essential >/dev/null
    fi
fi
dpkg-checkbuilddeps debian/control || {
    say "missing build dependencies (as root: apt-get build-dep $ROOT)" >&2; exit 1; }

version=$(dpkg-parsechangelog -S Version)
src="$OUT/a2dpsrc-${version%-*}"
rm -rf "$OUT"
mkdir -p "$src"
# the checkout as it is now, committed or not, without build products
tar -C "$ROOT" --exclude=./build --exclude=./.git -cf - . | tar -C "$src" -xf -

say "dpkg-buildpackage -us -uc -b in $src"
(cd "$src" && dpkg-buildpackage -us -uc -b) >"$OUT/build.log" 2>&1 || {
    tail -n 40 "$OUT/build.log" >&2; say "FAIL: dpkg-buildpackage (log: $OUT/build.log)" >&2; exit 1; }

changes=$(ls "$OUT"/a2dpsrc_*.changes)
say "lintian $changes"
# --fail-on warning: each warning is fixed or overridden with its reason
rc=0
lintian --fail-on error,warning --display-info "$changes" >"$OUT/lintian.log" 2>&1 || rc=$?
cat "$OUT/lintian.log"
[ "$rc" = 0 ] || { say "FAIL: lintian (log: $OUT/lintian.log)" >&2; exit 1; }
ls "$OUT"/a2dpsrc_*.deb
