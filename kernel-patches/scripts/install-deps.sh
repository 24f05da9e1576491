#!/bin/bash
# Install the Debian packages that `make -C kernel-patches check` needs:
# fetch (apt, the archive keyring), apply (dpkg-source, patch), the Xen,
# DomU kernel and module builds (gcc, make, bc, bison, flex, libelf, libssl,
# perl, python3), Xen's tools (autoconf, iasl, the -dev packages of
# libxl's dependencies, python3-dev for configure), and the boot check
# (QEMU, cpio, gzip, busybox, Debian's Xen tools and xenstore clients
# copied into the initramfs).  Go comes
# from the main job's setup (.ci/run).
# Idempotent: does nothing when everything is there.
set -euo pipefail
PKGS=(build-essential bc bison flex cpio dpkg-dev patch xz-utils gzip perl python3
      libelf-dev libssl-dev debian-archive-keyring
      autoconf acpica-tools pkg-config libyajl-dev uuid-dev libncurses-dev
      zlib1g-dev libbz2-dev liblzma-dev libzstd-dev python3-dev
      qemu-system-x86 xen-utils-4.17 xenstore-utils busybox-static)
missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
		missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "install-deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	# xen-utils' init script fails harmlessly outside Xen
	apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
