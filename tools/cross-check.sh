#!/bin/sh
# Cross-builds a2dpsrc for an ARM board and proves the result on this x86
# Debian host: installs the cross toolchain and the target's -dev packages,
# builds the daemon, the CLI and the C unit tests for the target, checks with
# file(1) and readelf(1) that every binary is for the target (and that no
# header of the build machine leaked in), runs the unit tests under
# qemu-user, and checks that `make install` lays out exactly the files the
# board packages (packaging/) are written against.
#
#   tools/cross-check.sh [arm64|armhf]...      (default: arm64 armhf)
#   make cross-check ARCH=arm64
#
# Two ways to get the target's libraries, one per architecture by default,
# so that both keep working:
#
#   multiarch (arm64)  Debian multiarch: `dpkg --add-architecture`, the
#                      :arm64 -dev packages installed beside the host's, and
#                      the Makefile's short spelling `make CROSS=<triplet>`.
#   sysroot   (armhf)  the :armhf -dev packages and their dependencies
#                      downloaded with a private apt state and unpacked into
#                      a sysroot ($SYSROOT_CACHE/sysroot-armhf); built with
#                      the toolchain given as make arguments (CC=...
#                      --sysroot, PKG_CONFIG_LIBDIR, PKG_CONFIG_SYSROOT_DIR),
#                      the way Buildroot and Yocto drive a Makefile. It
#                      leaves the host's dpkg alone:
#                      multiarch needs every Multi-Arch: same library at the
#                      exact version of the host's, which a mirror that lags
#                      for one architecture (or a host with newer security
#                      updates) cannot always give.
#
# As root on Debian the missing host packages are installed with apt-get;
# otherwise the exact list is printed and the script fails, like
# tools/install-deps.sh. Objects go to build/<arch>/, never mixed with the
# host's build/.
#
# Environment:
#   SYSROOT_ARCHS="armhf"    which architectures use the sysroot way
#                            ("" = all multiarch, "arm64 armhf" = all sysroot)
#   SYSROOT_CACHE=dir        where sysroots are kept (~/.cache/a2dpsrc-cross);
#                            outside build/, whose *.d files the Makefile reads
#   JOBS=n                   parallel make jobs (default: nproc)
#   CK_TIMEOUT_MULTIPLIER=n  Check's per-test timeouts x n under qemu (default 10)
#   CK_FORK=no               run Check tests in-process (faster under qemu)
#   TEST_TIMEOUT=s           stop a unit test binary after s seconds (300)
set -eu
cd "$(dirname "$0")/.."

MAKE=${MAKE:-make}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
SYSROOT_ARCHS=${SYSROOT_ARCHS-armhf}
SYSROOT_CACHE=${SYSROOT_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/a2dpsrc-cross}
MANIFEST=packaging/install-manifest.txt
# the target's libraries: the five the daemon links plus Check (unit tests),
# and the codecs' (headers; the AAC and aptX unit tests link libavcodec to
# decode, and load libfreeaptx)
TARGET_DEV="libc6-dev libdbus-1-dev libasound2-dev libsbc-dev libsystemd-dev
            libbluetooth-dev check libldacbt-enc-dev libldacbt-abr-dev libavcodec-dev libfreeaptx-dev"
HOST_PKGS="make pkg-config file binutils qemu-user-static"

say() { printf '%s\n' "cross-check: $*"; }
die() { printf '%s\n' "cross-check: FAIL: $*" >&2; exit 1; }
now() { date +%s; }

arch_vars() {
    case $1 in
    arm64)
        TRIPLET=aarch64-linux-gnu
        QEMU=qemu-aarch64-static
        ELF_CLASS=ELF64
        ELF_MACHINE=AArch64
        FILE_RE='ELF 64-bit LSB .*ARM aarch64'
        INTERP=/lib/ld-linux-aarch64.so.1
        ;;
    armhf)
        TRIPLET=arm-linux-gnueabihf
        QEMU=qemu-arm-static
        ELF_CLASS=ELF32
        ELF_MACHINE=ARM
        FILE_RE='ELF 32-bit LSB .*ARM, EABI5'
        INTERP=/lib/ld-linux-armhf.so.3
        ;;
    *)
        die "unknown ARCH '$1' (arm64 or armhf)"
        ;;
    esac
    MODE=multiarch
    for s in $SYSROOT_ARCHS; do
        [ "$s" = "$1" ] && MODE=sysroot
    done
    BUILD=build/$1
    SYSROOT=$SYSROOT_CACHE/sysroot-$1
}

# ---- host packages ----------------------------------------------------------

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

install_packages() {
    missing=""
    new_archs=""
    for p in $HOST_PKGS; do
        installed "$p" || missing="$missing $p"
    done
    for a in "$@"; do
        arch_vars "$a"
        installed "crossbuild-essential-$a" || missing="$missing crossbuild-essential-$a"
        [ "$MODE" = multiarch ] || continue
        for p in $TARGET_DEV; do
            installed "$p:$a" || missing="$missing $p:$a"
        done
        if [ "$a" != "$(dpkg --print-architecture)" ] &&
           ! dpkg --print-foreign-architectures | grep -qx "$a"; then
            new_archs="$new_archs $a"
        fi
    done
    [ -z "$missing" ] && return 0

    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        for a in $new_archs; do
            echo "cross-check: run as root: dpkg --add-architecture $a" >&2
        done
        echo "cross-check: missing Debian packages:$missing" >&2
        echo "cross-check: run as root: apt-get update && apt-get install$missing" >&2
        exit 1
    fi

    t0=$(now)
    for a in $new_archs; do
        say "dpkg --add-architecture $a"
        dpkg --add-architecture "$a"
    done
    say "installing:$missing"
    log=$(mktemp)
    export DEBIAN_FRONTEND=noninteractive
    # The :arm64 -dev packages are Multi-Arch: same and sit beside the
    # amd64 ones; installing libsystemd-dev:arm64 may upgrade the host's
    # systemd packages to the same version. An index that fails to update
    # (a mirror mid-sync) is not fatal by itself: the install says whether
    # what is there is enough.
    apt-get update -qq >"$log" 2>&1 || { say "warning: apt-get update:"; tail -n 5 "$log"; }
    # shellcheck disable=SC2086
    if ! apt-get install -y -qq --no-install-recommends $missing >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        rm -f "$log"
        die "apt-get install failed"
    fi
    rm -f "$log"
    say "host packages installed in $(($(now) - t0)) s"
}

# The target's -dev packages and everything they depend on, downloaded with
# apt under a private state directory (this host's sources, the target's
# architecture, an empty dpkg status) and unpacked into $SYSROOT/root.
make_sysroot() {
    root=$SYSROOT/root
    stamp=$SYSROOT/stamp
    # shellcheck disable=SC2086,SC2116
    want=$(echo "$ARCH" $TARGET_DEV)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        say "[$ARCH] sysroot $root is up to date"
        return 0
    fi
    t0=$(now)
    apt_dir=$SYSROOT/apt
    rm -rf "$root" "$stamp"
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$root"
    : >"$apt_dir/status"
    set -- -o "APT::Architecture=$ARCH" -o "APT::Architectures::=$ARCH" \
        -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::State::Status=$apt_dir/status" \
        -o "Dir::Cache=$apt_dir" -o "Dir::Cache::Archives=$apt_dir/archives" \
        -o Debug::NoLocking=1 -o APT::Sandbox::User=root
    log=$apt_dir/log
    say "[$ARCH] downloading the $ARCH -dev packages for $root"
    apt-get "$@" update -qq >"$log" 2>&1 ||
        { say "[$ARCH] warning: apt-get update:"; grep '^[EW]:' "$log" | head -n 3; }
    # shellcheck disable=SC2086
    if ! apt-get "$@" install -y -qq --download-only --no-install-recommends \
            $TARGET_DEV >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        die "[$ARCH] could not download the $ARCH -dev packages"
    fi
    n=0
    for deb in "$apt_dir"/archives/*.deb; do
        dpkg-deb -x "$deb" "$root"
        n=$((n + 1))
    done
    # absolute symlinks (libm.so -> /lib/...) must stay inside the sysroot
    find "$root" -type l -lname '/*' | while read -r l; do
        ln -sfr "$root$(readlink "$l")" "$l"
    done
    echo "$want" >"$stamp"
    say "[$ARCH] sysroot: $n packages in $(($(now) - t0)) s"
}

# ---- one architecture -------------------------------------------------------

# make with the target's toolchain, the way each route spells it
xmake() {
    if [ "$MODE" = multiarch ]; then
        $MAKE BUILD="$BUILD" CROSS="$TRIPLET" "$@"
    else
        r=$SYSROOT/root
        $MAKE BUILD="$BUILD" CC="$TRIPLET-gcc --sysroot=$r" AR="$TRIPLET-ar" \
            PKG_CONFIG=pkg-config PKG_CONFIG_SYSROOT_DIR="$r" \
            PKG_CONFIG_LIBDIR="$r/usr/lib/$TRIPLET/pkgconfig:$r/usr/share/pkgconfig" \
            "$@"
    fi
}

# the binaries the build must have produced for the target
target_binaries() {
    echo "$BUILD/a2dpsrcd"
    echo "$BUILD/a2dpsrcctl"
    for t in tests/unit/test-*.c; do
        n=${t##*/}
        echo "$BUILD/tests/${n%.c}"
    done
}

check_binary() {
    f=$1
    [ -f "$f" ] || die "$f was not built"
    desc=$(file -b "$f")
    echo "$desc" | grep -Eq "$FILE_RE" ||
        die "$f: file(1) says '$desc', expected /$FILE_RE/"
    hdr=$(LC_ALL=C readelf -h "$f")
    echo "$hdr" | grep -Eq "Class: +$ELF_CLASS\$" ||
        die "$f: readelf: not $ELF_CLASS"
    echo "$hdr" | grep -Eq "Machine: +$ELF_MACHINE\$" ||
        die "$f: readelf: Machine is not $ELF_MACHINE"
    if [ "$ARCH" = armhf ]; then
        echo "$hdr" | grep -Eq "Flags:.*hard-float ABI" ||
            die "$f: readelf: not the hard-float ABI"
    fi
    LC_ALL=C readelf -l "$f" | grep -Fq "[Requesting program interpreter: $INTERP]" ||
        die "$f: program interpreter is not $INTERP"
}

# The objects must have been compiled against the target's headers: the
# dependency files name dbus's architecture-specific header, which lives
# under the target triplet, and no header from the build machine's.
check_headers() {
    host_ma=$(gcc -print-multiarch 2>/dev/null || echo "$(uname -m)-linux-gnu")
    grep -lq "/lib/$TRIPLET/dbus-1.0/include/dbus/dbus-arch-deps.h" "$BUILD"/src/*.d ||
        die "$BUILD/src/*.d: not compiled against $TRIPLET's dbus-arch-deps.h"
    if grep -l "/usr/lib/$host_ma/" "$BUILD"/src/*.d >&2; then
        die "objects above were compiled with headers of the build machine ($host_ma)"
    fi
}

# `make install` into a scratch DESTDIR: the exact file list must match
# packaging/install-manifest.txt, which the Buildroot package and the docs
# are written against, and the unit must start the installed binary.
check_install() {
    stage=$(mktemp -d)
    xmake -s install DESTDIR="$stage" PREFIX=/usr >/dev/null
    got=$(cd "$stage" && find . -type f -o -type l | sed 's|^\.||' | LC_ALL=C sort)
    want=$(grep -v '^[[:space:]]*#' "$MANIFEST" | grep -v '^[[:space:]]*$' | LC_ALL=C sort)
    if [ "$got" != "$want" ]; then
        printf '%s\n' "$want" >"$stage.want"
        printf '%s\n' "$got" >"$stage.got"
        diff -u "$stage.want" "$stage.got" >&2 || true
        rm -rf "$stage" "$stage.want" "$stage.got"
        die "make install (PREFIX=/usr) no longer matches $MANIFEST: update it" \
            "and packaging/ (Buildroot package, docs/board-integration.md) together"
    fi
    grep -Eq '^ExecStart=/usr/sbin/a2dpsrcd( |$)' \
            "$stage/usr/lib/systemd/system/a2dpsrcd.service" ||
        die "installed a2dpsrcd.service does not start /usr/sbin/a2dpsrcd"
    check_binary "$stage/usr/sbin/a2dpsrcd"
    check_binary "$stage/usr/bin/a2dpsrcctl"
    rm -rf "$stage"
}

cross_check() {
    ARCH=$1
    arch_vars "$ARCH"
    t0=$(now)

    command -v "$TRIPLET-gcc" >/dev/null || die "$TRIPLET-gcc not found"
    command -v "$QEMU" >/dev/null || die "$QEMU not found"
    if [ "$MODE" = sysroot ]; then
        make_sysroot
        ld_prefix=$SYSROOT/root
    else
        # The target's own runtime libc6:<arch>, which the -dev packages
        # brought in, as on a Debian board. Not /usr/<triplet> (the cross
        # toolchain's libc6-<arch>-cross): under qemu 7.2 every forked Check
        # test hangs with it, the child spinning right after fork().
        ld_prefix=/
    fi
    [ -d "$ld_prefix" ] || die "$ld_prefix missing"
    t_deps=$(now)

    say "[$ARCH] $($TRIPLET-gcc --version | head -n 1); $MODE"
    say "[$ARCH] building the daemon, the CLI and the unit tests in $BUILD"
    # shellcheck disable=SC2046
    xmake -j"$JOBS" all $(target_binaries | grep /tests/)
    t_build=$(now)

    say "[$ARCH] checking the binaries with file and readelf"
    for f in $(target_binaries); do
        check_binary "$f"
    done
    check_headers
    say "[$ARCH] $BUILD/a2dpsrcd: $(file -b "$BUILD/a2dpsrcd" | cut -d, -f1-3)"
    [ "$ARCH" = armhf ] &&
        say "[$ARCH] $(LC_ALL=C readelf -h "$BUILD/a2dpsrcd" | grep Flags: | tr -s ' ')"

    # Always through qemu, named: binfmt_misc may be missing (containers) and
    # where it is there this is the same thing.
    # A test binary that hangs is stopped after TEST_TIMEOUT seconds.
    say "[$ARCH] running the unit tests under $QEMU -L $ld_prefix"
    CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-10}
    export CK_TIMEOUT_MULTIPLIER
    # (less the one that needs the kernel's arrival stamps: Makefile)
    xmake check-unit-emulated \
        TEST_RUNNER="timeout -k 10 ${TEST_TIMEOUT:-300} $QEMU -L $ld_prefix"
    t_test=$(now)

    say "[$ARCH] make install PREFIX=/usr vs $MANIFEST"
    check_install

    say "[$ARCH] OK: libraries $((t_deps - t0)) s, build $((t_build - t_deps)) s," \
        "unit tests under qemu $((t_test - t_build)) s, total $(($(now) - t0)) s"
}

[ $# -gt 0 ] || set -- arm64 armhf
for a in "$@"; do arch_vars "$a"; done

T0=$(now)
install_packages "$@"
for a in "$@"; do
    cross_check "$a"
done
say "OK: $* in $(($(now) - T0)) s"
