#!/bin/bash
# PID 1 of the check-vm guest (after the initramfs' switch_root): mounts
# what the host's system needs, runs tests/vm/guest-$VM_SCENARIO.sh under a
# time limit, records its status and powers the VM off. The scenario and
# its limit come on the kernel command line (VM_SCENARIO=, VM_LIMIT=).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export LANG=C.UTF-8 HOME=/root
mount -t proc proc /proc
mount -t sysfs sys /sys
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
hostname a2dpsrc-vm
ip link set lo up 2>/dev/null

R=/run/vm/results
read -r up _ < /proc/uptime
echo "booted $up" > $R/booted
echo "vm-guest: booted at $up s, scenario ${VM_SCENARIO:-?}" > /dev/console

script=/run/vm/repo/tests/vm/guest-${VM_SCENARIO:-none}.sh
if [[ -f $script ]]; then
    # the scenario runs as a child so that PID 1 survives whatever it does
    timeout -s KILL "${VM_LIMIT:-120}" /bin/bash "$script" < /dev/null
    rc=$?
    [[ $rc == 137 ]] && echo "scenario killed after ${VM_LIMIT:-120} s" >> $R/failures
else
    echo "no such scenario: $script" >> $R/failures
    rc=127
fi
echo "$rc" > $R/status
read -r up _ < /proc/uptime
echo "vm-guest: scenario exited with $rc at $up s" > /dev/console
sync
echo o > /proc/sysrq-trigger
sleep 10
