#!/bin/bash
# Build the patched hypervisor in $B/xen with Debian's own configuration
# (/boot/xen-4.17-amd64.config of xen-hypervisor-4.17-amd64, extracted, not
# installed), so that it differs from Debian's only by the series.
set -euo pipefail
B=${B:?}
JOBS=${JOBS:-2}
mkdir -p "$B/ext"
dpkg-deb -x "$B"/dl/xen-hypervisor-4.17-amd64_*.deb "$B/ext"
cp "$B/ext/boot/xen-4.17-amd64.config" "$B/xen/xen/.config"
make -C "$B/xen/xen" -s olddefconfig
nice -n 19 make -C "$B/xen/xen" -j"$JOBS" > "$B/xen-build.log" 2>&1 ||
	{ tail -40 "$B/xen-build.log"; echo "build-xen: failed (log: $B/xen-build.log)" >&2; exit 1; }
grep -q 'xenver_platform_time\|XENVER_platform_time' "$B/xen/xen/include/public/version.h"
ls -l "$B/xen/xen/xen.gz"
