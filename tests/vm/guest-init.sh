#!/bin/bash
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc; mount -t sysfs sys /sys
R=/run/vm/results
echo "booted $(cut -d' ' -f1 /proc/uptime)" > $R/booted
modprobe hci_vhci; modprobe snd-aloop
ls /dev/snd > $R/snd.txt
cat /proc/uptime >> $R/booted
t0=$EPOCHREALTIME; /usr/bin/true; t1=$EPOCHREALTIME; echo "true: $t0 $t1" >> $R/booted
t0=$EPOCHREALTIME; btmgmt --index 0 info >/dev/null 2>&1 ; t1=$EPOCHREALTIME; echo "btmgmt: $t0 $t1" >> $R/booted
t0=$EPOCHREALTIME; python3 -c 'import dbus' ; t1=$EPOCHREALTIME; echo "python dbus: $t0 $t1" >> $R/booted
grep -m1 "now at" /proc/timer_list >> $R/booted
sync
echo o > /proc/sysrq-trigger
sleep 5
