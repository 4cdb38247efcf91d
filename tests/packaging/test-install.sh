#!/bin/bash
# `make install` on the running system (no DESTDIR), as root, makes the
# a2dpsrc user from the installed sysusers.d entry, so that `systemctl
# start a2dpsrcd` needs no user made by hand (issue 10, defect 8); and the
# installed unit passes `systemd-analyze verify`.
#
# Root only; it removes any a2dpsrc user first and leaves the one it makes.
# Everything else goes under a scratch PREFIX (the directories that do not
# follow PREFIX are pointed there too). Run by `make check-install` in CI.
set -euo pipefail
cd "$(dirname "$0")/../.."
say() { printf '%s\n' "test-install: $*"; }
[ "$(id -u)" = 0 ] || { say "needs root" >&2; exit 1; }

if dpkg-query -W -f='${Status}' a2dpsrc 2>/dev/null | grep -q 'ok installed'; then
    say "the a2dpsrc package is installed: its user is not ours to remove" >&2; exit 1
fi
if getent passwd a2dpsrc >/dev/null; then userdel a2dpsrc; fi
if getent group a2dpsrc >/dev/null; then groupdel a2dpsrc; fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
make -s install PREFIX="$tmp/usr" SYSCONFDIR="$tmp/etc" DBUSPOLICYDIR="$tmp/dbus" \
    BUILD="${BUILD:-build}" >"$tmp.log" 2>&1 || { cat "$tmp.log" >&2; rm -f "$tmp.log"; exit 1; }
rm -f "$tmp.log"
fails=0
if getent passwd a2dpsrc >/dev/null && id -nG a2dpsrc | tr ' ' '\n' | grep -qx audio; then
    say "ok: make install made the user: $(getent passwd a2dpsrc), groups: $(id -nG a2dpsrc)"
else
    say "FAIL: no a2dpsrc user (in audio) after make install" >&2; fails=1
fi
# MANPATH: the unit's Documentation= pages are installed there
out=$(MANPATH="$tmp/usr/share/man" systemd-analyze verify "$tmp/usr/lib/systemd/system/a2dpsrcd.service" 2>&1) && [ -z "$out" ] &&
    say "ok: systemd-analyze verify: clean" || { say "FAIL: systemd-analyze verify: $out" >&2; fails=1; }
# the producer's state (producer-watch.c) is read from /proc/asound, which
# ProcSubset=pid hides: every producer underrun would then end the stream
unit="$tmp/usr/lib/systemd/system/a2dpsrcd.service"
if grep -q '^ProcSubset=pid' "$unit"; then
    say "FAIL: the unit's ProcSubset=pid hides /proc/asound from the daemon" >&2; fails=1
else
    say "ok: the unit leaves /proc/asound readable"
fi
exit $fails
