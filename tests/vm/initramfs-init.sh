#!/bin/busybox sh
# /init of the check-vm initramfs (busybox-static and a few modules): mounts
# the host's root read-only over virtio-9p, the repository and a writable
# results folder beside it, tmpfs where the guest must write, and
# switch_roots into the host's own system to run tests/vm/guest-init.sh.
# Everything it says goes to the serial console; run-vm.sh looks for the
# "vm-init:" lines to tell why a VM did not boot.
export PATH=/bin
busybox mkdir -p /proc /sys /dev /newroot
busybox mount -t proc proc /proc
busybox mount -t sysfs sys /sys
busybox mount -t devtmpfs dev /dev

fail() {
    echo "vm-init: FAIL: $*"
    busybox sleep 1
    busybox poweroff -f
}

# run-vm.sh boots with maxcpus=1 (see there): the other CPUs come up now,
# after the boot's code patching, before anything of ours runs
for c in /sys/devices/system/cpu/cpu[0-9]*/online; do
    [ -f "$c" ] || continue
    [ "$(busybox cat "$c")" = 1 ] || echo 1 > "$c" || fail "cannot bring ${c%/online} online"
done

for m in $(busybox cat /modules.order); do
    busybox insmod "/modules/$m.ko" || fail "insmod $m"
done

# 9p tags come up as the virtio devices are probed; give them a moment
opts="trans=virtio,version=9p2000.L,msize=262144"
i=0
until busybox mount -t 9p -o "$opts,ro,cache=loose" hostroot /newroot 2>/dev/null; do
    i=$((i + 1))
    [ $i -gt 50 ] && fail "cannot mount the host root over virtio-9p (tag hostroot)"
    busybox sleep 0.1
done
[ -x /newroot/bin/bash ] || fail "host root has no /bin/bash"

# where the guest writes: all of it thrown away at power-off
busybox mount -t tmpfs -o mode=0755 tmpfs /newroot/run || fail "tmpfs /run"
busybox mount -t tmpfs -o mode=1777 tmpfs /newroot/tmp || fail "tmpfs /tmp"
if [ -d /newroot/var/lib/bluetooth ]; then
    busybox mount -t tmpfs -o mode=0700 tmpfs /newroot/var/lib/bluetooth || fail "tmpfs /var/lib/bluetooth"
else
    fail "/var/lib/bluetooth missing on the host (bluez not installed?)"
fi
busybox mkdir -p /newroot/run/vm/repo /newroot/run/vm/results
busybox mount -t 9p -o "$opts,ro,cache=loose" repo /newroot/run/vm/repo || fail "cannot mount the repository (tag repo)"
busybox mount -t 9p -o "$opts,rw,cache=none" results /newroot/run/vm/results || fail "cannot mount the results folder (tag results)"
# VM_KMODS (run-vm.sh's VM_KERNEL_ROOT): the booted kernel's modules are
# in the repository, not on the host's /lib/modules
if [ -n "${VM_KMODS:-}" ]; then
    busybox mount --bind "/newroot/run/vm/repo/$VM_KMODS" /newroot/usr/lib/modules ||
        fail "cannot bind $VM_KMODS over /usr/lib/modules"
fi

busybox mount --move /dev /newroot/dev || fail "cannot move /dev"
busybox umount /proc /sys
echo "vm-init: switching root"
exec busybox switch_root /newroot /bin/bash /run/vm/repo/tests/vm/guest-init.sh
