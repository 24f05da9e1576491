#!/bin/bash
# Build the out-of-tree xenradclock_systime module against Debian's
# linux-headers for the kernel the test VMs' Dom0 boots (KREL from
# versions.env, i.e. from the linux-image package, not from uname -r), and
# check its vermagic against a module shipped in that linux-image package.
set -euo pipefail
B=${B:?}
KP=$(cd "$(dirname "$0")/.." && pwd)
. "$B/versions.env"
H=$B/headers
rm -rf "$H"; mkdir -p "$H"
for d in "$B"/dl/linux-headers-*.deb "$B"/dl/linux-kbuild-6.1_*.deb; do dpkg-deb -x "$d" "$H"; done
KDIR=$H/usr/src/linux-headers-$KREL
# The headers' Makefile includes the -common tree by absolute path.
sed -i "s#^include /usr/src/#include $H/usr/src/#" "$KDIR/Makefile"
M=$B/module-debian
rm -rf "$M"; mkdir -p "$M"
cp "$KP/module/xenradclock_systime.c" "$M/"
printf 'obj-m := xenradclock_systime.o\nccflags-y := -I%s/include\n' "$KP" > "$M/Kbuild"
make -C "$KDIR" M="$M" modules > "$B/module-build.log" 2>&1 ||
	{ cat "$B/module-build.log"; exit 1; }
if grep -q 'warning:' "$B/module-build.log"; then cat "$B/module-build.log"; exit 1; fi

modinfo_field() { tr '\0' '\n' < "$1" | sed -n "s/^$2=//p" | head -1; }
mkdir -p "$B/ext"
dpkg-deb -x "$B"/dl/linux-image-"$KREL"_*.deb "$B/ext"
want=$(modinfo_field "$B/ext/lib/modules/$KREL/kernel/drivers/xen/xen-evtchn.ko" vermagic)
got=$(modinfo_field "$M/xenradclock_systime.ko" vermagic)
echo "build-module: vermagic of the module: '$got'"
echo "build-module: vermagic of $KREL:      '$want'"
[ -n "$want" ] && [ "$got" = "$want" ] || { echo "build-module: vermagic mismatch" >&2; exit 1; }
[ "$(modinfo_field "$M/xenradclock_systime.ko" license)" = GPL ]

# The in-tree copy that linux/0002 adds must be this source, with the
# kernel's UAPI header in place of the shared ABI header.
if ! sed 's|#include "xenradclock_abi.h"|#include <uapi/xen/xenradclock.h>|' "$KP/module/xenradclock_systime.c" |
	diff -u --ignore-blank-lines - "$B/linux/drivers/xen/xenradclock_systime.c"; then
	echo "build-module: linux/0002 and module/ differ" >&2; exit 1
fi

# The boot check's test-only Dom0 module (tools/calibmon): Xen's calibration
# stamps for the calibration gate.  Same headers, same vermagic check.
C=$B/calibmon-debian
rm -rf "$C"; mkdir -p "$C"
cp "$KP/tools/calibmon/xrc_calibmon.c" "$C/"
echo 'obj-m := xrc_calibmon.o' > "$C/Kbuild"
make -C "$KDIR" M="$C" modules > "$B/calibmon-build.log" 2>&1 ||
	{ cat "$B/calibmon-build.log"; exit 1; }
if grep -q 'warning:' "$B/calibmon-build.log"; then cat "$B/calibmon-build.log"; exit 1; fi
[ "$(modinfo_field "$C/xrc_calibmon.ko" vermagic)" = "$want" ] ||
	{ echo "build-module: xrc_calibmon vermagic mismatch" >&2; exit 1; }
echo "build-module: xrc_calibmon built"
