#!/bin/bash
# Fetch the pristine sources and binary packages into $B/dl (kept as a cache):
#   Debian's xen source package at the installed hypervisor's version when the
#   archive still serves it (else the newest one it serves, said loudly),
#   linux-source-6.1, and for the test VMs the linux-image the Debian meta
#   package linux-image-amd64 points at, its linux-headers, and the
#   xen-hypervisor-4.17-amd64 package (for its /boot config).
# Writes $B/versions.env with what was fetched.
set -euo pipefail
B=${B:?B must name the build directory}
DL=$B/dl
mkdir -p "$DL" "$B/apt/lists/partial"
cat > "$B/apt/sources.list" <<SRC
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security bookworm-security main
SRC
APT=(-o "Dir::Etc::SourceList=$B/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
     -o "Dir::State::Lists=$B/apt/lists")
apt-get "${APT[@]}" update -q >/dev/null

# The binary packages the test VMs use (the machine's own apt lists).
KPKG=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-6/{print $2; exit}')
KREL=${KPKG#linux-image-}
[ -n "$KREL" ] || { echo "fetch: cannot find linux-image-6.1.0-NN-amd64 (apt-get update?)" >&2; exit 1; }
XEN_BIN_VER=$(apt-cache policy xen-hypervisor-4.17-amd64 | awk '/Candidate:/{print $2}')
cd "$DL"
need=()
for p in "$KPKG" "linux-headers-$KREL" "linux-headers-${KREL%-amd64}-common" linux-kbuild-6.1 \
         linux-source-6.1 xen-hypervisor-4.17-amd64; do
	ls "${p}"_*.deb >/dev/null 2>&1 || need+=("$p")
done
[ ${#need[@]} -eq 0 ] || apt-get download -q "${need[@]}" 2>&1 | grep -v 'unsandboxed' || true
for p in "$KPKG" "linux-headers-$KREL" linux-source-6.1 xen-hypervisor-4.17-amd64; do
	ls "${p}"_*.deb >/dev/null 2>&1 || { echo "fetch: failed to download $p" >&2; exit 1; }
done

# Xen source: the installed hypervisor's version first.
XEN_SRC_VER=
for v in "$XEN_BIN_VER" $(apt-cache "${APT[@]}" showsrc xen | awk '/^Version:/{print $2}' | sort -urV); do
	if ls "xen_${v#*:}.dsc" >/dev/null 2>&1 ||
	   apt-get "${APT[@]}" source -q --download-only "xen=$v" >/dev/null 2>&1; then
		XEN_SRC_VER=$v
		break
	fi
	echo "fetch: xen source $v is not downloadable from the archive"
done
[ -n "$XEN_SRC_VER" ] || { echo "fetch: no xen source package downloadable" >&2; exit 1; }
if [ "$XEN_SRC_VER" != "$XEN_BIN_VER" ]; then
	echo "fetch: WARNING: building Xen from source $XEN_SRC_VER; the installed binaries are $XEN_BIN_VER"
fi
cat > "$B/versions.env" <<ENV
KREL=$KREL
XEN_BIN_VER=$XEN_BIN_VER
XEN_SRC_VER=$XEN_SRC_VER
LINUX_SRC_VER=$(ls linux-source-6.1_*.deb | sed 's/.*_\(.*\)_all.deb/\1/')
ENV
cat "$B/versions.env"
