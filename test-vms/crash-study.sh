#!/bin/bash
# The TCG crash-rate study (issue 14): boots run-xenstore-check.sh (one attempt,
# no retry) N times per configuration, one boot at a time under nice -n 5, the
# configurations interleaved so that they share the host's load, and sorts each
# boot into clean / check-failure / emulator-crash kinds, keeping the lines that
# show it. README.md, section "TCG crash rate", has the results.
#
#   test-vms/crash-study.sh [N]              (as root; N boots per configuration, default 10)
#   test-vms/crash-study.sh classify LOG RC  (classify one serial log; RC is QEMU's exit status)
#   test-vms/crash-study.sh report           (reclassify every boot in results.tsv; one row per configuration)
# Env: CONFIGS (space-separated names, default "q72 q10"; also q10max), QEMU10
# (the 10.0 binary, default the private prefix below), STOP_AT (date; no boot
# starts after it), TIMEOUT (per boot, s; default 600).
# Output: out/study/results.tsv (one line per boot), out/study/NAME-K.{out,sig}.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$HERE/out/study
QEMU72=${QEMU72:-qemu-system-x86_64}
QEMU10=${QEMU10:-/var/cache/xenradclock/qemu-10/qemu-system-x86_64}
FLAGS=max,-smap,-smep,-avx,-avx2,-fma,-f16c,-pcid,-invpcid,-la57

# Crash signatures: in a Dom0 or guest process (kernel's segfault/trap report,
# Go runtime's fault or the tail of its goroutine dump, as Dom0 prints a daemon's log tail), in a kernel (oops, BUG, panic) or in Xen.
SIG_PROC='segfault at|runtime/asm_amd64\.s:[0-9]|goroutine [0-9]+ \[|traps: .* (general protection|trap invalid opcode|trap divide)|fatal error: |runtime: .*unknown pc |unexpected fault address|unexpected signal during runtime|unexpected return pc|SIGSEGV|SIGILL|Illegal instruction|Segmentation fault'
SIG_KERN='Oops|BUG:|Kernel panic|general protection fault:|invalid opcode:|Call Trace'
SIG_XEN='\(XEN\).*(FATAL (PAGE|TRAP)|Panic on CPU|Xen BUG at|Assertion .* failed|Reboot in five seconds|domain_crash|crashed on cpu)'

classify() { # LOG RC: prints KIND; writes the signature lines to stdout's fd 3
  local log=$1 rc=$2
  if [ "$rc" = 124 ]; then echo timeout; grep -a -n -E "$SIG_PROC|$SIG_KERN|$SIG_XEN" "$log" | head -20 >&3; tail -5 "$log" >&3; return; fi
  if [ "$rc" -ge 128 ] 2>/dev/null; then echo "qemu-died($rc)"; tail -5 "$log" >&3; return; fi
  if grep -a -q -E "$SIG_XEN" "$log"; then echo xen-crash; grep -a -n -E "$SIG_XEN" "$log" | head -20 >&3; return; fi
  if grep -a -q -E "$SIG_KERN" "$log"; then echo kernel-oops; grep -a -n -E "$SIG_KERN" "$log" | head -20 >&3; return; fi
  if grep -a -q -E "$SIG_PROC" "$log"; then
    if grep -a -q -E '^XRC-CHECK FAIL' "$log" || ! grep -a -q 'all done, powering off' "$log" || [ "$(grep -a -c -E '^XRC-CHECK PASS' "$log")" -lt 16 ]; then
      echo process-crash
    else
      echo clean-with-crash # a process died but every check passed (a retried poll)
    fi
    grep -a -n -E "$SIG_PROC|^XRC-CHECK FAIL" "$log" | head -20 >&3; return
  fi
  if grep -a -q -E '^XRC-CHECK FAIL' "$log" || ! grep -a -q 'all done, powering off' "$log" || [ "$(grep -a -c -E '^XRC-CHECK PASS' "$log")" -lt 16 ]; then
    echo check-failure; grep -a -n -E '^XRC-CHECK FAIL|XRC-GUEST.*FAIL' "$log" | head -20 >&3; tail -5 "$log" >&3; return
  fi
  echo clean
}

report() { # reclassify every boot in results.tsv from its log; print one row per configuration
  local name k kind secs rc rest cfg
  tail -n +2 "$OUT/results.tsv" | while IFS=$'\t' read -r name k kind secs rc rest; do
    printf '%s\t%s\t%s\n' "$name" "$(classify "$HERE/out/${rest##*$'\t'}" "$rc" 3> "$OUT/$name-$k.sig")" "$secs"
  done > "$OUT/report.tsv"
  for cfg in $(cut -f1 "$OUT/report.tsv" | sort -u); do
    printf '%s\tboots=%s\tmedian_s=%s\t%s\n' "$cfg" "$(grep -c "^$cfg"$'\t' "$OUT/report.tsv")" \
      "$(awk -F'\t' -v c="$cfg" '$1 == c {print $3}' "$OUT/report.tsv" | sort -n |
         awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}')" \
      "$(awk -F'\t' -v c="$cfg" '$1 == c {print $2}' "$OUT/report.tsv" | sort | uniq -c | awk '{printf "%s=%s ", $2, $1}')"
  done
}

if [ "${1:-}" = classify ]; then classify "$2" "$3" 3>&1; exit 0; fi
if [ "${1:-}" = report ]; then report; exit 0; fi
[ "$(id -u)" = 0 ] || { echo "crash-study: run as root" >&2; exit 2; }
N=${1:-10}
mkdir -p "$OUT"
[ -f "$OUT/results.tsv" ] || printf 'config\tboot\tkind\tseconds\tqemu_rc\tload_before\tload_after\tstarted_utc\tlog\n' > "$OUT/results.tsv"

boot() { # NAME K: one boot of configuration NAME
  local name=$1 k=$2 q cpu t0 t1 lb la rc log kind
  case $name in
    q72) q=$QEMU72; cpu=$FLAGS ;;
    q10) q=$QEMU10; cpu=$FLAGS ;;
    q10max) q=$QEMU10; cpu=max ;;
    *) echo "crash-study: unknown configuration $name" >&2; return 2 ;;
  esac
  lb=$(cut -d' ' -f1-3 /proc/loadavg); t0=$(date +%s)
  echo "[crash-study] $name boot $k: $("$q" --version | head -1), -cpu $cpu, load $lb"
  nice -n 5 env QEMU="$q" CPU="$cpu" SMP=1 ATTEMPTS=1 SKIP_APT=1 TIMEOUT="${TIMEOUT:-600}" \
    "$HERE/run-xenstore-check.sh" > "$OUT/$name-$k.out" 2>&1
  t1=$(date +%s); la=$(cut -d' ' -f1-3 /proc/loadavg)
  rc=$(sed -n 's/.*QEMU exited rc=\([0-9]*\).*/\1/p' "$OUT/$name-$k.out" | tail -1)
  log=$(readlink -f "$HERE/out/xenstore-check.log")
  kind=$(classify "$log" "${rc:-255}" 3> "$OUT/$name-$k.sig")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$k" "$kind" "$((t1 - t0))" "${rc:-none}" "$lb" "$la" \
    "$(date -u -d @"$t0" +%H:%M:%S)" "$(basename "$log")" >> "$OUT/results.tsv"
  echo "[crash-study] $name boot $k: $kind in $((t1 - t0)) s (QEMU rc ${rc:-none}, load after $la)"
}

stop=${STOP_AT:+$(date -d "$STOP_AT" +%s)}
for k in $(seq 1 "$N"); do
  for name in ${CONFIGS:-q72 q10}; do
    if [ -n "$stop" ] && [ "$(date +%s)" -ge "$stop" ]; then echo "[crash-study] STOP_AT reached"; exit 0; fi
    boot "$name" "$k"
  done
done
