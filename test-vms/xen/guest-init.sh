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
# The packages (xenradclock-cli + -guest, extracted and postinst run by the
# host script) and the module, as the guest's image build installed them.
missing=""
for f in /usr/sbin/domu-agent /usr/bin/xlclock /lib/systemd/system/domu-agent.service /etc/xenradclock/domu-agent.conf \
         /usr/lib/tmpfiles.d/xenradclock-guest.conf /lib/udev/rules.d/60-xenradclock.rules; do
  [ -e $f ] || missing="$missing $f"
done
P=/var/log/xenradclock-postinst.log
if [ -z "$missing" ] && ! grep -v ' rc=0' $P | grep -q .; then pkg=ok; else pkg=fail; fi
xenstore-write data/xrc/pkg "$pkg missing:${missing:- none}; postinst: $(cut -d' ' -f1,2,4 $P | tr '\n' ';')"
insmod /lib/modules/$(uname -r)/updates/dkms/xenradclock_systime.ko
rc=$?
dev=$(ls -l /dev/xen/systime 2>&1)
if [ $rc -eq 0 ] && [ -c /dev/xen/systime ] && echo "$dev" | grep -q '^cr--r--r--'; then m=ok; else m=fail; fi
xenstore-write data/xrc/module "$m insmod rc=$rc: $dev"
echo "XRC-GUEST module: $m insmod rc=$rc: $dev"
# domu-agent: the installed unit's ExecStart (its RuntimeDirectory= made by
# hand), plus dependent mode on xen-system over /dev/xen/xenbus
mkdir -p /run/xenradclock
EXEC="$(sed -n 's/^ExecStart=//p' /lib/systemd/system/domu-agent.service) --xenstore auto --counter xen-system --mode dependent --log-level info"
xenstore-write data/xrc/agent-cmd "$EXEC"
echo "XRC-GUEST starting $EXEC"
$EXEC > /tmp/agent.log 2>&1 &
AG=$!
/usr/bin/vmcheck guest-agent &
AGENT=$!
# xlclock now reads the agent's page: rc, status, state, mode
now_report() {
  out=$(xlclock now --json 2>/tmp/now.err); rc=$?
  f() { echo "$out" | sed -n "s/.*\"$1\": *\"\{0,1\}\([^\",]*\).*/\1/p"; }
  echo "rc=$rc status=$(f status) state=$(f state) mode=$(f mode) counter=$(f counter) $(head -c 120 /tmp/now.err)"
}
i=0
while [ $i -lt 45 ]; do r=$(now_report); case "$r" in "rc=0 status=fresh"*|"rc=0 status=late"*) break;; esac; sleep 1; i=$((i+1)); done
xenstore-write data/xrc/now "$r"
echo "XRC-GUEST xlclock now: $r"
# the agent's log tail, after its crash lines (a Go runtime crash's header
# would otherwise be cut off by its goroutine dump)
agent_log() { { grep -a -m3 -E '^(panic|fatal error|unexpected |\[signal|SIG)' /tmp/agent.log | cut -c1-200
  grep -v '"level":"debug"' /tmp/agent.log | tail -c 1500; } | tr -d '\000-\011\013-\037' | sed 's/"ts":"[^"]*",//'; }
xenstore-write data/xrc/agentlog "$(agent_log)"
agent_log | sed 's/^/XRC-GUEST agent-log: /'
/usr/bin/vmcheck page-reader > /tmp/reader.log 2>&1 &
# After each move (a new domid): the same agent process, alive, and what it
# logged about the move (a "migrated ..." or "disruption over" line),
# reported under data/xrc/agent as "move=N alive=yes|no pid=PID ...".
moved_lines() { grep -c -E 'migrated |disruption over' /tmp/agent.log; }
agent_report() { # N
  a=no; kill -0 $AG 2>/dev/null && grep -q domu-agent /proc/$AG/cmdline && a=yes
  xenstore-write data/xrc/agent "move=$1 alive=$a pid=$AG $2"
  echo "XRC-GUEST agent: move=$1 alive=$a pid=$AG $2"
}
agent_report 0 "started"
moves=0; seen=$(moved_lines); dom=$(xenstore-read domid)
while :; do
  sleep 1
  d=$(xenstore-read domid 2>/dev/null) || continue
  [ "$d" = "$dom" ] && continue
  dom=$d; moves=$((moves+1))
  i=0; while [ $i -lt 90 ] && [ "$(moved_lines)" -le "$seen" ]; do sleep 1; i=$((i+1)); done
  seen=$(moved_lines)
  line=$(grep -E 'disruption:|migrated |disruption over|refused' /tmp/agent.log | tail -3 | cut -c1-220 | tr '\n' '|')
  agent_report $moves "logged: ${line:-nothing}"
  xenstore-write data/xrc/agentlog "$(agent_log)"
  grep -a -E 'BACKWARDS|BOUND' /tmp/reader.log | head -3 | sed 's/^/XRC-GUEST /'
done
