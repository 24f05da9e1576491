#!/bin/bash
# Build the patched DomU kernel: tinyconfig plus ../config/domU.config, in
# $B/linux-out.  Also its modules (the xenradclock_systime patch) and the
# Module.symvers an out-of-tree module needs.
set -euo pipefail
B=${B:?}
KP=$(cd "$(dirname "$0")/.." && pwd)
JOBS=${JOBS:-2}
O=$B/linux-out
rm -rf "$O"; mkdir -p "$O"
make -C "$B/linux" -s O="$O" tinyconfig > /dev/null
"$B/linux/scripts/kconfig/merge_config.sh" -m -O "$O" "$O/.config" "$KP/config/domU.config" > "$B/linux-merge.log" 2>&1
make -C "$B/linux" -s O="$O" olddefconfig
# Every option the fragment asks for must have survived olddefconfig.
bad=0
while IFS= read -r line; do
	case $line in CONFIG_*=*) ;; *) continue ;; esac
	grep -qx "$line" "$O/.config" || { echo "build-linux: $line did not stick" >&2; bad=1; }
done < "$KP/config/domU.config"
[ $bad = 0 ]
nice -n 19 make -C "$B/linux" O="$O" -j"$JOBS" bzImage modules > "$B/linux-build.log" 2>&1 ||
	{ tail -40 "$B/linux-build.log"; echo "build-linux: failed (log: $B/linux-build.log)" >&2; exit 1; }
if grep -E '(^|/)[a-z_/]+\.c:[0-9]+:[0-9]+: warning' "$B/linux-build.log"; then
	echo "build-linux: compiler warnings (above)" >&2; exit 1
fi
ls -l "$O/arch/x86/boot/bzImage"
