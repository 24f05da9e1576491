#!/bin/bash
# Unpack pristine trees from the fetched packages and apply each series in
# order: $B/xen (Debian's xen source, Debian's own patches applied by
# dpkg-source) with ../xen/*.patch, and $B/linux (linux-source-6.1) with
# ../linux/*.patch.  A patch that does not apply stops here, naming the
# patch, the file and the hunk.
set -euo pipefail
B=${B:?}
KP=$(cd "$(dirname "$0")/.." && pwd)
. "$B/versions.env"

apply_series() { # tree dir-of-patches
	local tree=$1 dir=$2 p out
	for p in "$dir"/*.patch; do
		[ -e "$p" ] || continue
		if ! out=$(cd "$tree" && patch -p1 --forward --fuzz=0 --dry-run < "$p" 2>&1); then
			echo "apply: $(basename "$p") does not apply to $tree:" >&2
			echo "$out" | grep -E 'patching file|checking file|Hunk|FAILED|malformed|can.t find|Reversed' | sed 's/^/apply:   /' >&2
			return 1
		fi
		(cd "$tree" && patch -p1 --forward --fuzz=0 --no-backup-if-mismatch -s < "$p")
		echo "apply: $(basename "$p") applied to $(basename "$tree")"
	done
}

what=${1:-all}
if [ "$what" = all ] || [ "$what" = xen ]; then
	rm -rf "$B/xen"
	dpkg-source -q -x "$B/dl/xen_${XEN_SRC_VER#*:}.dsc" "$B/xen" >/dev/null
	apply_series "$B/xen" "${XEN_PATCHES:-$KP/xen}"
fi
if [ "$what" = all ] || [ "$what" = linux ]; then
	if [ ! -f "$B/dl/linux-source-6.1.tar.xz" ]; then
		dpkg-deb --fsys-tarfile "$B"/dl/linux-source-6.1_*_all.deb |
			tar -x -O ./usr/src/linux-source-6.1.tar.xz > "$B/dl/linux-source-6.1.tar.xz.tmp"
		mv "$B/dl/linux-source-6.1.tar.xz.tmp" "$B/dl/linux-source-6.1.tar.xz"
	fi
	rm -rf "$B/linux" "$B/linux.tmp"
	mkdir -p "$B/linux.tmp"
	tar -xJf "$B/dl/linux-source-6.1.tar.xz" -C "$B/linux.tmp"
	mv "$B/linux.tmp/linux-source-6.1" "$B/linux"
	rmdir "$B/linux.tmp"
	apply_series "$B/linux" "${LINUX_PATCHES:-$KP/linux}"
fi
