#!/bin/sh
# DomU /init for the kernel-patches boot check (patched kernel, PV).
# Every result line starts with "DOMU " and goes to the console, which Dom0's
# xenconsoled logs; Dom0 drives the phases through /xrctest/phase in Xenstore.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev 2>/dev/null
say() { echo "DOMU $*"; }
CS=/sys/devices/system/clocksource/clocksource0
say "up $(cut -d' ' -f1 /proc/uptime)s kernel $(uname -r)"
say "available_clocksource: $(cat $CS/available_clocksource)"
say "current_clocksource: $(cat $CS/current_clocksource)"
dmesg | grep -i 'xen-platform' | sed 's/^/DOMU dmesg: /'
/bin/xenradclock-pt 2>&1 | sed 's/^/DOMU /'
/bin/xenradclock-pt badversion 2>&1 | sed 's/^/DOMU /'
insmod /lib/modules/xenradclock_systime.ko 2>&1 | sed 's/^/DOMU insmod: /'
say "systime node: $(stat -c '%A %t:%T %n' /dev/xen/systime 2>&1)"
/bin/xrst-read 2>&1 | sed 's/^/DOMU /'
/bin/xrst-read loop 2000 2>&1 | sed 's/^/DOMU /'
/bin/xenradclock-pt clockcost 2000 2>&1 | sed 's/^/DOMU xen /'
echo xen-platform > $CS/current_clocksource 2>/dev/null
say "selected: $(cat $CS/current_clocksource)"
/bin/xenradclock-pt clockcost 2000 2>&1 | sed 's/^/DOMU xen-platform /'
sleep 1
say "date after 1 s on xen-platform: $(cat /proc/uptime)"
/bin/xrst-read 2>&1 | sed 's/^/DOMU on-xen-platform /'
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up
/bin/goudp 2>&1 | sed 's/^/DOMU /'
echo xen > $CS/current_clocksource
say "back to: $(cat $CS/current_clocksource)"
say "tests done"
# Phases driven by Dom0.
last=
while :; do
	p=$(xenstore-read /xrctest/phase 2>/dev/null)
	if [ "$p" != "$last" ]; then
		case $p in
		hammer) /bin/xenradclock-pt hammer 12 2>&1 | sed 's/^/DOMU hammer /' & ;;
		control) /bin/xenradclock-pt hammer-control 12 2>&1 | sed 's/^/DOMU control /' & ;;
		deny) say "deny: $(/bin/xenradclock-pt status 2>&1)" ;;
		allow) say "allow: $(/bin/xenradclock-pt status 2>&1)" ;;
		restored) /bin/xrst-read 2>&1 | sed 's/^/DOMU restored /'
		          /bin/xenradclock-pt 2>&1 | sed 's/^/DOMU restored /' ;;
		esac
		[ -n "$p" ] && xenstore-write data/ack "$p" 2>/dev/null
		last=$p
	fi
	sleep 0.3
done
