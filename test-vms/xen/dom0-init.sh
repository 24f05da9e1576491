#!/bin/sh
# Dom0 /init of the Xenstore check (test-vms/run-xenstore-check.sh): bring
# up the stock Xen 4.17 toolstack with the real C xenstored, run the
# project's Go binaries against it, run a PVH DomU that does the same over
# /dev/xen/xenbus, migrate, save and restore it, shut it down, power off.
# Every verdict is one line "XRC-CHECK PASS|FAIL <name>: <detail>" on the
# serial console; the host script parses them.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin:/usr/lib/xen-4.17/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mount -t tmpfs tmp /run; mount -t tmpfs tmp /tmp
mkdir -p /dev/pts; mount -t devpts devpts /dev/pts
mkdir -p /run/xen /run/xenstored /var/log/xen/console /var/lib/xen /var/lib/xenstored /run/lock /run/xenradclock
ln -sfn /run /var/run 2>/dev/null || true
t() { echo "MARK T=$(cut -d' ' -f1 /proc/uptime) $*"; }
# verdict NAME STATUS DETAIL: STATUS is the $? of the condition just tested
verdict() { if [ "$2" -eq 0 ]; then echo "XRC-CHECK PASS $1: $3"; else echo "XRC-CHECK FAIL $1: $3"; diag "$1"; fi; }
# waitfor SECONDS COMMAND...: poll until the command succeeds, by uptime
# (under a loaded TCG host a poll can take far longer than its sleep)
now() { cut -d. -f1 /proc/uptime; }
waitfor() { end=$(( $(now) + $1 )); shift; while ! "$@" >/dev/null 2>&1; do [ $(now) -ge $end ] && return 1; sleep 0.5; done; return 0; }
# on a failure, show what the guest said
diag() { echo "--- guest console (tail) after failed $1:"; tr -d '\r' < /var/log/xen/console/guest-domU.log 2>/dev/null | tail -25 | sed 's/^/    /'
  echo "--- guest reports:"; xenstore-ls /local/domain/${DOMID:-0}/data 2>&1 | sed 's/^/    /'
  echo "--- guest agent log (tail, one line each):"; xenstore-read /local/domain/${DOMID:-0}/data/xrc/agentlog 2>&1 | sed 's/\\n/\n/g' | cut -c1-400 | sed 's/^/    agent-log: /'
  echo "--- record now: $(xenstore-read /xenradclock/clock 2>&1 | cut -c1-60)"
  echo "--- dom0d: $(pgrep -x dom0d >/dev/null && echo running || echo NOT running); its crash lines and log tail:"
  grep -a -m4 -E '^(panic|fatal error|unexpected |\[signal|SIG)' /run/dom0d.log | cut -c1-250 | sed 's/^/    dom0d-crash: /'
  tail -3 /run/dom0d.log | cut -c1-250 | sed 's/^/    /'; }
xsr() { xenstore-read "$@" 2>/dev/null; }
t "dom0 init started"
KVER=$(uname -r)
for m in xen-evtchn xen-privcmd xenfs xen-gntdev xen-gntalloc xen-blkback xen-netback; do
  insmod /lib/modules/$KVER/$m.ko 2>&1 | sed "s/^/insmod $m: /"
done
mount -t xenfs xenfs /proc/xen
ifconfig lo 127.0.0.1 up
t "starting xenstored"
xenstored --pid-file /run/xen/xenstored.pid 2>&1
waitfor 20 xenstore-read /
t "xenstored up (pid $(cat /run/xen/xenstored.pid 2>/dev/null))"
xen-init-dom0 >/dev/null 2>&1
xenconsoled --pid-file=/run/xen/xenconsoled.pid --log=guest --log-dir=/var/log/xen/console
t "toolstack up"

# 1. the battery in Dom0, over xenstored's Unix socket
XSTEST_REAL=dom0 /usr/bin/xstest.test -test.run 'TestRealDom0$' -test.v > /tmp/xstest-dom0.out 2>&1
rc=$?
sed 's/^/xstest-dom0: /' /tmp/xstest-dom0.out
oks=$(grep -c '^ *xstest_test.go:[0-9]*: ok ' /tmp/xstest-dom0.out)
[ $rc -eq 0 ] && grep -q -- '--- PASS: TestRealDom0' /tmp/xstest-dom0.out && [ $oks -ge 17 ]
verdict xstest-dom0 $? "battery over $(grep -o 'connected to [^ ]*' /tmp/xstest-dom0.out): rc=$rc, $oks checks ok"
t "xstest dom0 done"

# 3. the packaged dom0d (xenradclock-dom0) on xen-system, the counter Dom0
# and every guest share through the project's module (/dev/xen/systime,
# built from xenradclock-dkms's source), publishing /xenradclock/clock (r0)
# to the real xenstored. Its command line is the installed unit's ExecStart
# plus what this VM needs: the loopback NTP server (no network), a 1 s
# poll, the counter named. /run/xenradclock and /var/lib/xenradclock are
# the unit's RuntimeDirectory= and StateDirectory=.
mkdir -p /run/xenradclock /var/lib/xenradclock
P=/var/log/xenradclock-postinst.log
missing=""
for f in /usr/sbin/dom0d /usr/bin/xlclock /lib/systemd/system/dom0d.service /etc/xenradclock/dom0d.conf \
         /usr/lib/tmpfiles.d/xenradclock-dom0.conf /usr/include/xenradclock/xenradclock_clock.h /usr/share/man/man8/dom0d.8.gz; do
  [ -e $f ] || missing="$missing $f"
done
pkgs=$(cut -d' ' -f1,2,4 $P | tr '\n' ';')
guest_pkg() { xsr /local/domain/$DOMID/data/xrc/pkg; }
insmod /lib/modules/$KVER/updates/dkms/xenradclock_systime.ko
rc=$?
dev=$(ls -l /dev/xen/systime 2>&1)
[ $rc -eq 0 ] && [ -c /dev/xen/systime ] && echo "$dev" | grep -q '^cr--r--r--'
verdict module-dom0 $? "insmod xenradclock_systime (built from xenradclock-dkms) rc=$rc: $dev; $(dmesg | grep -m1 xenradclock_systime | cut -c1-120)"
vmcheck ntp-server --addr 127.0.0.1:123 > /run/ntp.log 2>&1 &
EXEC=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/dom0d.service)
echo "dom0d: $EXEC --server 127.0.0.1:123 --poll 1s --counter xen-system --xenstore auto"
$EXEC --server 127.0.0.1:123 --poll 1s --counter xen-system --xenstore auto --log-level info > /run/dom0d.log 2>&1 &
DOM0D=$!
out=$(vmcheck dom0-record --wait 120s 2>&1)
echo "$out" | grep -q '^XRC-RECORD generation=[0-9]* perms=r0 .*counter_kind=1$'
verdict dom0d-publishes $? "packaged dom0d ($EXEC ...) on xen-system (kind 1): $out"
t "dom0d publishing"

# 2. the battery in a PVH DomU over /dev/xen/xenbus; then the guest agent
t "xl create"
# (not piped: xl leaves a child behind that keeps a pipe open)
xl create /etc/xen/domU.cfg > /run/create.log 2>&1
rc=$?
cat /run/create.log
waitfor 60 xl domid domU
DOMID=$(xl domid domU 2>/dev/null)
t "xl create rc=$rc, domU domid=${DOMID:-none}"
xl list
[ -n "$DOMID" ] || DOMID=none
G=/local/domain/$DOMID/data/xrc
waitfor 180 xsr $G/xstest
res=$(xsr $G/xstest)
echo "$res" | grep -q '^pass [0-9]'
verdict xstest-guest $? "battery in PVH domid $DOMID over /dev/xen/xenbus: ${res:-no result}"
t "xstest guest done"
waitfor 60 xsr $G/later
first=$(xsr $G/first)
[ -n "$first" ]
verdict guest-reads-record $? "the guest's Go client read and decoded generation ${first:-none}"
later=$(xsr $G/later)
[ -n "$later" ]
verdict guest-watch-update $? "the guest's watch brought a later record: ${later:-none}"
waitfor 30 xsr $G/denied
denied=$(xsr $G/denied)
[ "$denied" = EACCES ]
verdict guest-write-refused $? "guest overwrite of /xenradclock/clock and create beside it: ${denied:-no report}"
out=$(vmcheck dom0-record 2>&1)
echo "$out" | grep -q '^XRC-RECORD generation=[0-9]* perms=r0' && ! xenstore-read /xenradclock/clock-forged >/dev/null 2>&1
verdict record-intact $? "after the guest's attempts: $out"

# 5. the packaged guest agent: installed files and postinst in both images,
# the module in the guest, the agent serving its page (xlclock now in the
# guest) and reporting under data/xenradclock/ (xlclock list here)
waitfor 60 guest_pkg
gp=$(guest_pkg)
[ -z "$missing" ] && ! grep -v ' rc=0' $P | grep -q . && [ "${gp%% *}" = ok ]
verdict pkg-installed $? "Dom0 (xenradclock-cli + -dom0): missing:${missing:- none}; postinst: $pkgs guest (xenradclock-cli + -guest): ${gp:-no report}"
gm=$(xsr $G/module)
[ "${gm%% *}" = ok ]
verdict module-guest $? "in the PVH guest: ${gm:-no report}"
waitfor 150 xsr $G/now
now=$(xsr $G/now)
keys=$(xenstore-list /local/domain/$DOMID/data/xenradclock 2>/dev/null | tr '\n' ' ')
# Served: xlclock now reads a fresh or late dependent page, synchronised
# (rc=0), or unsynchronised (rc=2) while Dom0's own record still is: under
# TCG dom0d can take minutes to synchronise, and the agent serves Dom0's
# state as it is.
rec=$(vmcheck dom0-record 2>&1)
served() {
  echo "$now" | grep -q '^rc=0 status=\(fresh\|late\) ' && return 0
  echo "$now" | grep -q '^rc=2 status=\(fresh\|late\) state=unsynchronised mode=dependent ' &&
    echo "$rec" | grep -q ' state=unsynchronised '
}
served && echo "$keys" | grep -q report
verdict agent-serves $? "guest: $(xsr $G/agent-cmd); xlclock now in the guest: ${now:-none}; Dom0's record: $rec; data/xenradclock/ in Dom0: ${keys:-none}"
xlclock list > /run/xlclock-list.out 2>&1
rc=$?
cat /run/xlclock-list.out | cut -c1-200
row=$(grep -E "^domU +$DOMID " /run/xlclock-list.out)
[ $rc -eq 0 ] && [ -n "$row" ] && ! echo "$row" | grep -q -E '\(no agent\)|\(invalid report\)'
verdict xlclock-list $? "xlclock list rc=$rc; the guest's row: $(echo "${row:-none}" | tr -s ' ')"
# The xenlight build: the same rows, and libxl's view (an XL-STATE column)
xlclock-xenlight list > /run/xlclock-xl.out 2>&1
rc=$?
cat /run/xlclock-xl.out | cut -c1-200
hdr=$(head -1 /run/xlclock-xl.out)
row=$(grep -E "^domU +$DOMID " /run/xlclock-xl.out)
[ $rc -eq 0 ] && echo "$hdr" | grep -q XL-STATE && [ -n "$row" ] && ! echo "$row" | grep -q -E '\(no agent\)|\(invalid report\)'
verdict xlclock-list-xenlight $? "xlclock-xenlight list rc=$rc; header: $(echo "${hdr:-none}" | tr -s ' '); the guest's row: $(echo "${row:-none}" | tr -s ' ')"

# 4. after a move: the guest sees its new domid through its watch of
# "domid", and its watch of the record fires on a later Dom0 update
gen_above() { g=$(xsr $1); [ -n "$g" ] && [ "$g" -gt "$2" ]; }
after_move() { # what old-domid move-number
  NEW=$(xl domid domU 2>/dev/null)
  G=/local/domain/$NEW/data/xrc
  DOMID=${NEW:-$DOMID} # diag shows the moved guest's reports
  waitfor 60 xsr $G/domid
  seen=$(xsr $G/domid)
  [ -n "$NEW" ] && [ "$NEW" != "$2" ] && [ "$seen" = "$NEW" ]
  verdict "$1-domid" $? "domid $2 -> ${NEW:-none}; the guest's watch of domid reports ${seen:-nothing}"
  G0=$(vmcheck dom0-record | sed -n 's/^XRC-RECORD generation=\([0-9]*\).*/\1/p')
  waitfor 60 gen_above $G/gen "${G0:-0}"
  gen_above $G/gen "${G0:-999999999}"
  verdict "$1-watch" $? "generation ${G0:-none} published after the move; the guest's watch then brought $(xsr $G/gen)"
  waitfor 30 xsr $G/denied
  denied=$(xsr $G/denied)
  [ "$denied" = EACCES ]
  verdict "$1-write-refused" $? "guest write to the record as domid $NEW: ${denied:-no report}"
  # the same agent process, alive, logged the move and serves a newer generation
  waitfor 120 agent_moved $G $3
  ag=$(xsr $G/agent)
  waitfor 60 reader_newer $G "$RGEN"
  rd=$(xsr $G/reader)
  reader_newer $G "${RGEN:-999999999}" && echo "$ag" | grep -q "^move=$3 alive=yes pid=$AGPID "
  verdict "agent-$1" $? "domu-agent after the move: ${ag:-no report}; page generation before ${RGEN:-none}, reader now: ${rd:-none}"
}
agent_moved() { xsr $1/agent | grep -q "^move=$2 "; }
# reader_newer G GEN: the guest's page reader reads a generation above GEN, with a time
reader_newer() { r=$(xsr $1/reader); g=$(echo "$r" | sed -n 's/.* gen=\([0-9]*\) .*/\1/p'); [ -n "$g" ] && [ "$g" -gt "$2" ] && echo "$r" | grep -q -E 'status=(fresh|late) '; }
reader_gen() { xsr /local/domain/$DOMID/data/xrc/reader | sed -n 's/.* gen=\([0-9]*\) .*/\1/p'; }
t "xl migrate (PVH, localhost, fakessh)"
AGPID=$(xsr $G/agent | sed -n 's/.* pid=\([0-9]*\) .*/\1/p')
RGEN=$(reader_gen)
xl migrate -s /usr/bin/fakessh domU localhost > /run/migrate.log 2>&1
rc=$?
tail -12 /run/migrate.log
[ $rc -eq 0 ]
verdict migrate $? "xl migrate domU localhost: rc=$rc"
t "xl migrate returned"
after_move migrate $DOMID 1
RGEN=$(reader_gen)
t "xl save"
xl save domU /run/domU.save > /run/save.log 2>&1
rc1=$?
t "xl restore"
xl restore /run/domU.save > /run/restore.log 2>&1
rc2=$?
rm -f /run/domU.save
tail -2 /run/save.log /run/restore.log
[ $rc1 -eq 0 ] && [ $rc2 -eq 0 ]
verdict save-restore $? "xl save rc=$rc1, xl restore rc=$rc2"
after_move restore $DOMID 2
rd=$(xsr /local/domain/$DOMID/data/xrc/reader)
echo "$rd" | grep -q -E '^reads=[0-9]+ timed=[1-9][0-9]* .* backwards=0 bound=0 '
verdict reader-bounds $? "the guest's page reader across both moves: ${rd:-no report}"
echo "XRC-INFO dom0d's record now: $(vmcheck dom0-record 2>&1)"
xlclock host 2>&1 | head -20 | cut -c1-160
xlclock list 2>&1 | cut -c1-200

# The guest kernel's own watches still work: xl shutdown reaches the
# kernel through its control/shutdown watch.
t "xl shutdown"
timeout 180 xl shutdown -w domU > /run/shutdown.log 2>&1
rc=$?
tail -2 /run/shutdown.log
gone=no
xl domid domU >/dev/null 2>&1 || gone=yes
grep -q 'XRC-GUEST shutdown requested' /var/log/xen/console/guest-domU.log
asked=$?
[ $rc -eq 0 ] && [ $gone = yes ] && [ $asked -eq 0 ]
verdict guest-shutdown $? "xl shutdown -w rc=$rc, domain gone: $gone, guest init saw the request: $([ $asked -eq 0 ] && echo yes || echo no)"
kill $DOM0D
echo "=== dom0d log (head) ==="
head -5 /run/dom0d.log | cut -c1-300
grep -i -E 'synchronised|warm-up|state' /run/dom0d.log | head -5 | cut -c1-300
echo "=== domU console ==="
tr -d '\r' < /var/log/xen/console/guest-domU.log | grep -E 'XRC-GUEST|Kernel panic|BUG|segfault|protection fault|fatal error' | grep -v 'XRC-GUEST xstest: ' | head -80 | cut -c1-400
t "all done, powering off"
xl destroy domU >/dev/null 2>&1
sync
poweroff -f
