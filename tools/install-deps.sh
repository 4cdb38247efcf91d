#!/bin/sh
# Installs the Debian packages that building and testing a2dpsrc need.
# As root on Debian it runs apt-get; otherwise it prints the exact list and
# fails, so nothing half-works silently.
set -eu

PKGS="build-essential pkg-config libdbus-1-dev libasound2-dev libsbc-dev
libsystemd-dev libbluetooth-dev check dbus python3 python3-dbus
python3-dbusmock python3-gi sbc-tools alsa-utils valgrind systemd
clang libclang-rt-14-dev stress-ng scdoc man-db
libglib2.0-dev libglib2.0-bin bash-completion
libldacbt-enc-dev libldacbt-abr-dev libfreeaptx-dev libfreeaptx0 libavcodec-dev"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "install-deps: installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
    exit 0
fi

echo "install-deps: missing Debian packages:$missing" >&2
echo "install-deps: run as root: apt-get install$missing" >&2
exit 1
