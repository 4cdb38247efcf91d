#!/bin/bash
# The Debian package as a user gets it: `apt-get install ./a2dpsrc_*.deb`
# on Debian 12, then checks that the files are in place, that
# `systemd-analyze verify` is clean on the installed unit, that the a2dpsrc
# user exists (made by the package's sysusers.d entry), that the unit is
# enabled and `a2dpsrcd --version` runs; then `apt-get purge` and checks
# that nothing is left but what Debian policy allows (the system user).
#
# Root only, and it changes the machine (installs the package and bluez):
# run by .ci/run on a throwaway CI machine, not by make check.
#
# Usage: tests/packaging/test-deb.sh DIR   (DIR holds a2dpsrc_*.deb: make deb)
set -euo pipefail
DIR=${1:?usage: test-deb.sh DIR}
fails=0
say() { printf '%s\n' "test-deb: $*"; }
ok() { say "ok: $*"; }
bad() { say "FAIL: $*" >&2; fails=$((fails + 1)); }

[ "$(id -u)" = 0 ] || { say "needs root (it installs the package)" >&2; exit 1; }
deb=$(ls "$DIR"/a2dpsrc_*.deb)
[ "$(printf '%s\n' "$deb" | wc -l)" = 1 ] || { say "not one a2dpsrc_*.deb in $DIR" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive

# a previous run's package out of the way, and its user too (a purge
# leaves it), so that this package has to make it
if dpkg-query -W a2dpsrc >/dev/null 2>&1; then
    dpkg --purge a2dpsrc >/dev/null
fi
if getent passwd a2dpsrc >/dev/null; then userdel a2dpsrc; fi
if getent group a2dpsrc >/dev/null; then groupdel a2dpsrc; fi

say "apt-get install $deb"
apt-get update -qq
apt-get install -y -qq --no-install-recommends "$(realpath "$deb")" >"$DIR/install.log" 2>&1 ||
    { tail -n 20 "$DIR/install.log" >&2; say "FAIL: apt-get install" >&2; exit 1; }
dpkg-query -W -f='${Status}\n' a2dpsrc | grep -q 'install ok installed' &&
    ok "installed" || bad "dpkg does not say installed"

# ---- files ------------------------------------------------------------------
unitdir=$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || echo /lib/systemd/system)
want=(
    /usr/sbin/a2dpsrcd
    /usr/bin/a2dpsrcctl
    "$unitdir/a2dpsrcd.service"
    /usr/lib/sysusers.d/a2dpsrc.conf
    /usr/share/dbus-1/system.d/org.a2dpsrc.conf
    /usr/share/dbus-1/system-services/org.a2dpsrc.service
    /usr/share/dbus-1/interfaces/org.a2dpsrc.Manager1.xml
    /usr/share/bash-completion/completions/a2dpsrcctl
    /usr/share/man/man8/a2dpsrcd.8.gz
    /usr/share/man/man1/a2dpsrcctl.1.gz
    /usr/share/man/man5/a2dpsrcd.conf.5.gz
    /usr/share/doc/a2dpsrc/copyright
    /usr/share/doc/a2dpsrc/examples/a2dpsrcd.conf.example
    /usr/share/doc/a2dpsrc/examples/gdbus-state.c
)
for f in "${want[@]}"; do
    [ -f "$f" ] || bad "missing $f"
done
ok "${#want[@]} files in place"
grep -qx "ExecStart=/usr/sbin/a2dpsrcd.*" "$unitdir/a2dpsrcd.service" &&
    ok "the unit starts /usr/sbin/a2dpsrcd" || bad "ExecStart= does not name /usr/sbin/a2dpsrcd"
for p in a2dpsrcd.8 a2dpsrcctl.1 a2dpsrcd.conf.5; do
    man -w "${p%.*}" "${p%%.*}" >/dev/null 2>&1 || man -w "${p##*.}" "${p%.*}" >/dev/null 2>&1 ||
        bad "man cannot find $p"
done
ok "man finds the pages"

# ---- the unit ---------------------------------------------------------------
out=$(systemd-analyze verify "$unitdir/a2dpsrcd.service" 2>&1) && [ -z "$out" ] &&
    ok "systemd-analyze verify: clean" || bad "systemd-analyze verify: $out"
for l in /etc/systemd/system/multi-user.target.wants/a2dpsrcd.service \
         /etc/systemd/system/dbus-org.a2dpsrc.service; do
    [ -L "$l" ] || bad "not enabled: no $l"
done
ok "enabled (multi-user.target.wants, dbus-org.a2dpsrc.service alias)"

# ---- the user ---------------------------------------------------------------
if getent passwd a2dpsrc >/dev/null; then
    ok "user: $(getent passwd a2dpsrc)"
    id -nG a2dpsrc | tr ' ' '\n' | grep -qx audio && ok "a2dpsrc is in audio" ||
        bad "a2dpsrc is not in group audio"
    case $(getent passwd a2dpsrc | cut -d: -f7) in
        */nologin | */false) ok "no login shell" ;;
        *) bad "a2dpsrc has a login shell" ;;
    esac
else
    bad "no user a2dpsrc"
fi
getent group a2dpsrc >/dev/null && ok "group a2dpsrc" || bad "no group a2dpsrc"

# ---- it runs ----------------------------------------------------------------
v=$(a2dpsrcd --version) && [[ $v == "a2dpsrcd "* ]] && ok "a2dpsrcd --version: $v" ||
    bad "a2dpsrcd --version: '$v'"
v=$(a2dpsrcctl --version) && [[ $v == "a2dpsrcctl "* ]] && ok "a2dpsrcctl --version: $v" ||
    bad "a2dpsrcctl --version: '$v'"
# the D-Bus policy is one dbus-daemon accepts
conf=$(mktemp)
cat >"$conf" <<CONF
<busconfig><type>system</type><listen>unix:tmpdir=/tmp</listen>
<policy context="default"><allow user="*"/></policy>
<include>/usr/share/dbus-1/system.d/org.a2dpsrc.conf</include></busconfig>
CONF
err=$(mktemp)
if out=$(timeout 5 dbus-daemon --config-file="$conf" --print-address --fork --print-pid 2>"$err"); then
    kill "$(printf '%s\n' "$out" | sed -n 2p)"
    [ -s "$err" ] && bad "dbus-daemon warns about the policy: $(cat "$err")" ||
        ok "dbus-daemon accepts the policy"
else
    bad "dbus-daemon refuses the policy: $(cat "$err")"
fi
rm -f "$err"
rm -f "$conf"

# ---- purge ------------------------------------------------------------------
mapfile -t files < <(dpkg -L a2dpsrc | while read -r f; do [ -d "$f" ] || echo "$f"; done)
# the service's state, as systemd's StateDirectory= would have made it
owner=root
getent passwd a2dpsrc >/dev/null && owner=a2dpsrc
install -d -o "$owner" -m 0750 /var/lib/a2dpsrcd
echo "a2dpsrc-state 1" >/var/lib/a2dpsrcd/state
say "apt-get purge a2dpsrc"
apt-get purge -y -qq a2dpsrc >"$DIR/purge.log" 2>&1 ||
    { tail -n 20 "$DIR/purge.log" >&2; bad "apt-get purge"; }
status=$(dpkg-query -W -f='${Status}' a2dpsrc 2>/dev/null || true)
case $status in
    "" | *not-installed) ok "dpkg: not installed" ;;
    *) bad "dpkg still has a2dpsrc: $status" ;;
esac
for f in "${files[@]}"; do
    [ -e "$f" ] || [ -L "$f" ] && bad "left after purge: $f"
done
ok "the package's ${#files[@]} files are gone"
[ -e /var/lib/a2dpsrcd ] && bad "left after purge: /var/lib/a2dpsrcd" || ok "/var/lib/a2dpsrcd is gone"
# not looked at: apt's cache and logs, and man-db's cat page cache (man
# wrote formatted pages there when systemd-analyze checked Documentation=;
# man-db's, not the package's, as its own cron job expires them)
left=$(find /etc /usr /var /lib /run \( -path /var/cache/apt -o -path /var/log \
       -o -path /var/cache/man \) -prune -o \
       -name '*a2dpsrc*' -print 2>/dev/null || true)
[ -z "$left" ] && ok "nothing named a2dpsrc left in /etc /usr /var /lib /run" ||
    bad "left after purge: $left"
# Debian policy (9.2.2): system users stay on purge, files may still be theirs
getent passwd a2dpsrc >/dev/null && ok "the a2dpsrc user stays (allowed: policy 9.2.2)"

if [ "$fails" -gt 0 ]; then say "$fails failed"; exit 1; fi
say "all passed"
