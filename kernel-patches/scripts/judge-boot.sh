#!/bin/bash
# Judge the serial log of boot-check.sh.  Prints PASS/FAIL per check and the
# measured figures; exit status 0 when every check passed.
set -uo pipefail
RAW=${1:?usage: judge-boot.sh LOG}
LOG=$(mktemp); trap 'rm -f "$LOG"' EXIT
tr -d '\r' < "$RAW" > "$LOG" # guest console lines carry CRs
fail=0
pass() { echo "PASS $*"; }
bad() { echo "FAIL $*"; fail=1; }
has() { grep -qE "$2" "$LOG" && pass "$1" || bad "$1"; }
field() { # line-prefix-regex key: value of key=... on the first matching line
	grep -E "$1" "$LOG" | head -1 | grep -oE "(^| )$2=[^ ]*" | head -1 | cut -d= -f2
}

has "patched Xen booted, Dom0 init ran"   'MARK T=.* toolstack up'
has "dom0: hypercall answers via privcmd" '^DOM0 PT version=1 kind=[1-5]\(.*flags=0x3 '
has "dom0: version 2 refused (EINVAL)"    '^DOM0 PT badversion rc=-22'
has "dom0: platform count monotonic"      '^DOM0 PT loop calls=2000 .*monotonic=yes'
has "dom0: /dev/xen/systime mode 0444"    '^DOM0 systime node: cr--r--r-- /dev/xen/systime'
has "dom0: device answers (read, pread, ioctl)" '^DOM0 XRST magic=0x54535258 version=1 .*resume_gen=1 .*checks=ok'
has "domU: patched kernel registered xen-platform" '^DOMU available_clocksource: .*xen-platform'
has "domU: xen stays the default"         '^DOMU current_clocksource: xen$'
has "domU: hypercall answers"             '^DOMU PT version=1 kind=[1-5]\(.*flags=0x3 '
has "domU: version 2 refused (EINVAL)"    '^DOMU PT badversion rc=-22'
has "domU: /dev/xen/systime mode 0444"    '^DOMU systime node: cr--r--r-- '
has "domU: device answers (read, pread, ioctl)" '^DOMU XRST magic=0x54535258 version=1 .*resume_gen=1 .*checks=ok'
has "domU: xen-platform selectable via sysfs" '^DOMU selected: xen-platform$'
has "domU: device answers on xen-platform" '^DOMU on-xen-platform XRST .*checks=ok'
has "domU: static Go binary with a UDP socket" '^DOMU GOUDP ok '
has "domU: denied by domctl (EPERM)"      '^DOMU deny: PT rc=-1$'
has "domU: allowed again"                 '^DOMU allow: PT rc=0$'
has "domU: resume_gen bumped by save/restore" '^DOMU restored XRST .*resume_gen=2 .*checks=ok'

# Dom0 and DomU see the same platform timer of the same host.
for k in kind platform_hz host_id; do
	d0=$(field '^DOM0 PT version=' $k); du=$(field '^DOMU PT version=' $k)
	[ -n "$d0" ] && [ "$d0" = "$du" ] && pass "same $k in dom0 and domU ($d0)" ||
		bad "same $k in dom0 and domU (dom0 '$d0', domU '$du')"
done
i0=$(field '^DOMU PT version=' incarnation); i1=$(field '^DOMU restored PT version=' incarnation)
[ -n "$i0" ] && [ -n "$i1" ] && [ "$i1" -gt "$i0" ] && pass "domU incarnation moved on restore ($i0 -> $i1)" ||
	bad "domU incarnation moved on restore ('$i0' -> '$i1')"
c0=$(field '^DOM0 PT version=' platform_count); cu=$(field '^DOMU PT version=' platform_count)
[ -n "$c0" ] && [ -n "$cu" ] && [ "$cu" -gt "$c0" ] && pass "domU platform count follows dom0's ($c0 < $cu)" ||
	bad "domU platform count follows dom0's ('$c0' < '$cu')"

# Xen's calibration seen from Dom0 while the DomU calls the sub-op in a
# loop: Dom0 must keep sampling (the sub-op takes no lock Xen's calibration
# needs).  The residuals are printed for comparison with the idle and
# control phases; under QEMU TCG they are dominated by emulation noise
# (thousands of ppm), so they are figures, not a pass/fail threshold.
idle=$(field '^DOM0 idle PT calib' mean_abs_ppm); ctl=$(field '^DOM0 control PT calib' mean_abs_ppm)
ham=$(field '^DOM0 hammered PT calib' mean_abs_ppm)
calls=$(field '^DOMU hammer PT hammer ' calls); ccalls=$(field '^DOMU control PT hammer-control' calls)
if [ -n "$idle" ] && [ -n "$ham" ] && [ "${calls:-0}" -gt 0 ]; then
	pass "dom0 calibration sampled while the domU hammered ($calls sub-op calls)"
else
	bad "dom0 calibration sampled while the domU hammered (idle '$idle' control '$ctl' hammered '$ham' ppm, calls '$calls'/'$ccalls')"
fi
echo "INFO dom0 calibration residual, mean |ppm| over 1 s: idle $idle, domU control loop $ctl (${ccalls:-no} calls), domU sub-op loop $ham ($calls calls)"

echo "FIGURES (QEMU TCG, emulated: not real-hardware costs):"
grep -E '^(DOM0|DOMU).*(ns_per_call|ns_per_read|calib|CLOCKCOST)' "$LOG" | sed 's/^/  /'
grep -E 'MARK T=' "$LOG" | sed 's/^/  /'
[ $fail = 0 ] && echo "boot-check: all checks passed" || echo "boot-check: FAILED"
exit $fail
