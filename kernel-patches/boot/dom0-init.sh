#!/bin/sh
# Dom0 /init for the kernel-patches boot check: Debian's stock 6.1 kernel on
# the patched Xen.  Brings up the toolstack from the initramfs, checks the
# hypercall (privcmd) and the module's device in Dom0, boots the patched
# DomU, drives its phases through Xenstore, then powers off.  Every result
# line starts with "DOM0 " (this console) or "DOMU " (the DomU's console log,
# printed at the end); boot-check.sh judges them.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin:/usr/lib/xen-4.17/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mount -t tmpfs tmp /run; mount -t tmpfs tmp /tmp
mkdir -p /dev/pts; mount -t devpts devpts /dev/pts
mkdir -p /run/xen /run/xenstored /var/log/xen/console /var/lib/xen /var/lib/xenstored /run/lock
say() { echo "DOM0 $*"; }
mark() { echo "MARK T=$(cut -d' ' -f1 /proc/uptime) $*"; }
finish() { mark "all done, powering off"; sync; poweroff -f; }
mark "dom0 init started"
KVER=$(uname -r)
for m in xen-evtchn xen-privcmd xenfs xen-gntdev xen-gntalloc xen-blkback xen-netback; do
	insmod /lib/modules/$KVER/$m.ko 2>&1 | sed "s/^/insmod $m: /"
done
mount -t xenfs xenfs /proc/xen
say "kernel $KVER current_clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
xenstored --pid-file /run/xen/xenstored.pid
i=0; while ! xenstore-read / >/dev/null 2>&1 && [ $i -lt 50 ]; do sleep 0.2; i=$((i+1)); done
xen-init-dom0 >/tmp/xen-init-dom0.log 2>&1 ||
	{ say "xen-init-dom0 failed:"; sed 's/^/DOM0   /' /tmp/xen-init-dom0.log; }
xenconsoled --pid-file=/run/xen/xenconsoled.pid --log=guest --log-dir=/var/log/xen/console
mark "toolstack up"
xl info 2>&1 | grep -E 'xen_version|xen_extra' | sed 's/^/DOM0 xl info: /'
xl dmesg 2>&1 | grep -iE 'platform timer' | sed 's/^/DOM0 xl dmesg: /'

# 1. The hypercall from Dom0, through privcmd.
xenradclock-pt 2>&1 | sed 's/^/DOM0 /'
xenradclock-pt badversion 2>&1 | sed 's/^/DOM0 /'
xenradclock-pt loop 2000 2>&1 | sed 's/^/DOM0 /'

# 2. The out-of-tree module, built against Debian's headers for this kernel.
insmod /lib/modules/$KVER/xenradclock_systime.ko 2>&1 | sed 's/^/DOM0 insmod: /'
say "systime node: $(stat -c '%A %n' /dev/xen/systime 2>&1)"
xrst-read 2>&1 | sed 's/^/DOM0 /'
xrst-read loop 2000 2>&1 | sed 's/^/DOM0 /'
xrst-read platform 200 2>&1 | sed 's/^/DOM0 /'

# 3. The patched DomU.
xenstore-write /xrctest/phase start
xenstore-chmod -r /xrctest r0
mark "xl create"
xl create /etc/xen/domU.cfg 2>&1 | tail -3
DOMID=$(xl domid domU 2>/dev/null)
[ -n "$DOMID" ] || { say "domU did not start"; xl dmesg | tail -20; finish; }
LOG=/var/log/xen/console/guest-domU.log
waitlog() { # pattern seconds
	i=0; while ! tr -d '\r' < $LOG 2>/dev/null | grep -q "$1"; do
		sleep 0.5; i=$((i+1)); [ $i -ge $(($2 * 2)) ] && { say "timeout waiting for '$1'"; return 1; }
	done
}
phase() { # name: set it, wait for the DomU's ack
	xenstore-write /xrctest/phase "$1"
	i=0; while [ "$(xenstore-read /local/domain/$DOMID/data/ack 2>/dev/null)" != "$1" ]; do
		sleep 0.3; i=$((i+1)); [ $i -ge 100 ] && { say "timeout waiting for ack of $1"; return 1; }
	done
}
waitlog "DOMU tests done" 180 && mark "domU tests done"

# 4. Xen's calibration seen from Dom0, idle, while the DomU loops on a
#    cheap hypercall (control), and while it loops on the sub-op: the
#    calibration instants (xrc_calibmon, which needs xenradclock_systime's
#    time areas, so that module goes first) and the residual of system time
#    against the platform count over 1 s.  judge-boot.sh gates on them.
# TCG kills processes at random, mostly as they start (glibc's __ctype_init
# reads a TLS whose base was lost): a tool killed by a signal within its
# first second runs again (never later: its window would move), and its
# output is prefixed by shell builtins, not by a sed that could die too.
uptime_cs() { local u r; read u r < /proc/uptime; echo "${u%.*}${u#*.}"; }
rerun_early() { # outfile cmd...
	local out=$1 t0 rc; shift
	t0=$(uptime_cs); "$@" > "$out" 2>&1; rc=$?
	if [ $rc -ge 128 ] && [ $(( $(uptime_cs) - t0 )) -lt 100 ]; then
		say "rerun after signal $((rc - 128)) at start: $*"
		"$@" > "$out" 2>&1; rc=$?
	fi
	return $rc
}
prefix_file() { # prefix file
	local l
	while IFS= read -r l; do echo "$1 $l"; done < "$2"
}
calib_phase() { # name seconds
	rerun_early /tmp/calibwatch.$1 xenradclock-pt calibwatch "$2" &
	rerun_early /tmp/calib.$1 xenradclock-pt calib "$2"
	wait $!
	prefix_file "DOM0 $1" /tmp/calibwatch.$1
	prefix_file "DOM0 $1" /tmp/calib.$1
}
rmmod xenradclock_systime 2>&1 | sed 's/^/DOM0 rmmod: /'
insmod /lib/modules/$KVER/xrc_calibmon.ko 2>&1 | sed 's/^/DOM0 insmod calibmon: /'
calib_phase idle 8
phase control
calib_phase control 8
waitlog "DOMU control PT hammer-control" 90
phase hammer
calib_phase hammered 8
waitlog "DOMU hammer PT hammer" 90

# 5. Deny and allow the sub-op to the DomU (the hypervisor side of the
#    xl.cfg knob platform_time).
xenradclock-pt deny $DOMID 2>&1 | sed 's/^/DOM0 /'
phase deny
xenradclock-pt allow $DOMID 2>&1 | sed 's/^/DOM0 /'
phase allow

# 6. Save and restore: the DomU's resume_gen and incarnation must move.
mark "xl save"
xl save domU /run/domU.save >/dev/null 2>&1; say "xl save rc=$?"
xl restore /run/domU.save >/dev/null 2>&1; say "xl restore rc=$?"
DOMID=$(xl domid domU 2>/dev/null)
mark "restored as domid $DOMID"
[ -n "$DOMID" ] && phase restored && waitlog "DOMU restored PT" 30

tr -d '\r' < $LOG | grep -E '^DOMU' 
xl dmesg 2>&1 | grep -iE 'platform|panic|crash' | tail -5 | sed 's/^/DOM0 xl dmesg: /'
xl destroy domU 2>/dev/null

# 7. The same kernel and initramfs as a PVH DomU: its init's checks (lines
#    "PVHU ..."), not the phases above.
pvh_domU() {
	local log=/var/log/xen/console/guest-domU-pvh.log i=0
	xenstore-write /xrctest/phase pvh
	mark "xl create pvh"
	xl create /etc/xen/domU-pvh.cfg 2>&1 | tail -3
	if [ -z "$(xl domid domU-pvh 2>/dev/null)" ]; then
		say "pvh domU did not start"; xl dmesg | tail -20 | sed 's/^/DOM0 xl dmesg: /'; return 1
	fi
	while ! tr -d '\r' < $log 2>/dev/null | grep -q "PVHU tests done"; do
		sleep 0.5; i=$((i+1))
		[ $i -ge 360 ] && { say "timeout waiting for 'PVHU tests done'"; break; }
	done
	mark "pvh domU tests done"
	tr -d '\r' < $log | grep -E '^PVHU'
	xl list 2>&1 | sed 's/^/DOM0 xl list: /'
	xl destroy domU-pvh 2>/dev/null
}
pvh_domU

# 8. The xl.cfg knob platform_time, through the patched xl and libxl
#    (../xen/0004-0006, laid over the stock tools): parsed (dry run),
#    bad values refused, and a DomU created with platform_time = 0 denied
#    the sub-op from before it first ran.
say "knob xl: $(grep -c platform_time /usr/lib/xen-4.17/bin/xl) mentions of platform_time in xl"
xl create -n /etc/xen/domU-knob.cfg 2>&1 | grep -o '"platform_time": *"[A-Za-z]*"' | sed 's/^/DOM0 knob dry run: /'
for v in 2 '"no"'; do
	sed "s/^platform_time.*/platform_time = $v/" /etc/xen/domU-knob.cfg > /tmp/bad.cfg
	out=$(xl create -n /tmp/bad.cfg 2>&1 >/dev/null); rc=$?
	say "knob bad value $v: rc=$rc $(echo "$out" | grep ERROR | head -1)"
done
mark "xl create domU-knob"
KLOG=/var/log/xen/console/guest-domU-knob.log
xl create /etc/xen/domU-knob.cfg 2>&1 | tail -3
i=0; while ! tr -d '\r' < $KLOG 2>/dev/null | grep -q "DOMU knob tests done"; do
	sleep 0.5; i=$((i+1)); [ $i -ge 240 ] && { say "timeout waiting for domU-knob"; break; }
done
mark "domU-knob done"
tr -d '\r' < $KLOG | grep -E '^DOMU'
xl destroy domU-knob 2>/dev/null
finish
