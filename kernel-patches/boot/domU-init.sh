#!/bin/sh
# DomU /init for the kernel-patches boot check (the patched kernel, PV, and
# PVH when its command line carries xrc_prefix=PVHU).  Every result line
# starts with "DOMU " (PV) or "PVHU " (PVH) and goes to the console, which
# Dom0's xenconsoled logs; Dom0 drives the phases through /xrctest/phase in
# Xenstore.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev 2>/dev/null
P=DOMU
case " $(cat /proc/cmdline) " in *" xrc_prefix=PVHU "*) P=PVHU ;; esac
say() { echo "$P $*"; }
CS=/sys/devices/system/clocksource/clocksource0
say "up $(cut -d' ' -f1 /proc/uptime)s kernel $(uname -r)"
# The DomU of domU-knob.cfg (xl.cfg platform_time = 0): denied from boot, so
# the kernel's own probe failed too and xen-platform must be missing.
if grep -q 'xrc_knob=deny' /proc/cmdline; then
	say "knob available_clocksource: $(cat $CS/available_clocksource)"
	say "knob: $(/bin/xenradclock-pt status 2>&1)"
	insmod /lib/modules/xenradclock_systime.ko 2>&1 | sed "s/^/$P knob insmod: /"
	/bin/xrst-read platform 1 2>&1 | sed "s/^/$P knob /"
	say "knob tests done"
	while :; do sleep 60; done # Dom0 destroys it once it has the log
fi
say "platform_time default: $(/bin/xenradclock-pt status 2>&1)"
say "available_clocksource: $(cat $CS/available_clocksource)"
say "current_clocksource: $(cat $CS/current_clocksource)"
dmesg | grep -i 'xen-platform' | sed "s/^/$P dmesg: /"
/bin/xenradclock-pt 2>&1 | sed "s/^/$P /"
/bin/xenradclock-pt badversion 2>&1 | sed "s/^/$P /"
insmod /lib/modules/xenradclock_systime.ko 2>&1 | sed "s/^/$P insmod: /"
say "systime node: $(stat -c '%A %t:%T %n' /dev/xen/systime 2>&1)"
/bin/xrst-read 2>&1 | sed "s/^/$P /"
/bin/xrst-read loop 2000 2>&1 | sed "s/^/$P /"
/bin/xrst-read platform 200 2>&1 | sed "s/^/$P /"
/bin/xenradclock-pt clockcost 2000 2>&1 | sed "s/^/$P xen /"
echo xen-platform > $CS/current_clocksource 2>/dev/null
say "selected: $(cat $CS/current_clocksource)"
/bin/xenradclock-pt clockcost 2000 2>&1 | sed "s/^/$P xen-platform /"
sleep 1
say "date after 1 s on xen-platform: $(cat /proc/uptime)"
/bin/xrst-read 2>&1 | sed "s/^/$P on-xen-platform /"
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up
/bin/goudp 2>&1 | sed "s/^/$P /"
echo xen > $CS/current_clocksource
say "back to: $(cat $CS/current_clocksource)"
say "tests done"
# Phases driven by Dom0.  TCG kills processes at random, mostly as they
# start: a loop killed by a signal within its first second runs again, and
# its output is prefixed by shell builtins rather than by a sed.
uptime_cs() { local u r; read u r < /proc/uptime; echo "${u%.*}${u#*.}"; }
loop_tool() { # phase xenradclock-pt-command
	local t0 rc l
	t0=$(uptime_cs); /bin/xenradclock-pt $2 12 > /tmp/$1.out 2>&1; rc=$?
	if [ $rc -ge 128 ] && [ $(( $(uptime_cs) - t0 )) -lt 100 ]; then
		/bin/xenradclock-pt $2 12 > /tmp/$1.out 2>&1
	fi
	while IFS= read -r l; do echo "$P $1 $l"; done < /tmp/$1.out
}
last=
while :; do
	p=$(xenstore-read /xrctest/phase 2>/dev/null)
	# An empty read (xenstore-read killed by TCG) is no phase change: it
	# would start the current phase's loop a second time.
	if [ -n "$p" ] && [ "$p" != "$last" ]; then
		case $p in
		hammer) loop_tool hammer hammer & ;;
		control) loop_tool control hammer-control & ;;
		deny) say "deny: $(/bin/xenradclock-pt status 2>&1)" ;;
		allow) say "allow: $(/bin/xenradclock-pt status 2>&1)" ;;
		restored) /bin/xrst-read 2>&1 | sed "s/^/$P restored /"
		          /bin/xenradclock-pt 2>&1 | sed "s/^/$P restored /" ;;
		esac
		last=$p; acks=3
	fi
	# Acknowledge a few times: one xenstore-write killed by TCG would
	# leave Dom0 waiting.
	if [ "${acks:-0}" -gt 0 ]; then
		xenstore-write data/ack "$last" 2>/dev/null; acks=$((acks - 1))
	fi
	sleep 0.3
done
