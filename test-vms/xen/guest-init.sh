#!/bin/sh
# DomU /init of the Xenstore check: run the xstest battery as a guest over
# /dev/xen/xenbus, report its result under data/xrc, then run the guest
# agent (watches of the clock record and of "domid") until Dom0 shuts the
# domain down through the kernel's own control/shutdown watch.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
# `xl shutdown` reaches the kernel's control/shutdown watch; the kernel runs
# /sbin/poweroff, which (busybox) signals PID 1: this shell.
trap 'echo "XRC-GUEST shutdown requested through control/shutdown"; kill $AGENT 2>/dev/null; sync; poweroff -f' USR2 TERM INT
echo "XRC-GUEST up $(cut -d' ' -f1 /proc/uptime)s domid=$(xenstore-read domid 2>&1) clocksource=$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
XSTEST_REAL=guest /usr/bin/xstest.test -test.run 'TestRealGuest$' -test.v > /tmp/xstest.out 2>&1
rc=$?
sed 's/^/XRC-GUEST xstest: /' /tmp/xstest.out
oks=$(grep -c '^ *xstest_test.go:[0-9]*: ok ' /tmp/xstest.out)
fails=$(grep -c 'FAIL ' /tmp/xstest.out)
if [ $rc -eq 0 ] && grep -q -- '--- PASS: TestRealGuest' /tmp/xstest.out; then
  res="pass $oks"
else
  res="fail rc=$rc ok=$oks failed=$fails"
fi
echo "XRC-GUEST xstest result: $res"
xenstore-write data/xrc/xstest "$res"
/usr/bin/vmcheck guest-agent &
AGENT=$!
while :; do sleep 1; done
