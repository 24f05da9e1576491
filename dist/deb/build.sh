#!/usr/bin/env bash
# Builds xenradclock's Debian packages with dpkg-deb from small control trees
# (no debhelper: the binaries are static Go programs, and the trees below
# are the whole truth of what each package installs).
#
#   dist/deb/build.sh [OUTDIR]      default build/deb
#
# Packages (one architecture, amd64; the same files install on Debian 12 and
# 13):
#   xenradclock-cli    xlclock, the C header, the Python reader
#   xenradclock-dom0   dom0d, its unit, config, tmpfiles entry
#   xenradclock-guest  domu-agent, its unit, config, tmpfiles and udev rule
#   xenradclock-dkms   the /dev/xen/systime module as DKMS source
set -euo pipefail
cd "$(dirname "$0")/../.."
top=$PWD
out=${1:-build/deb}
mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -f "$out"/xenradclock-*.deb # only this build's packages: check.sh installs them all
export PATH=$PATH:/usr/local/go/bin

sha=$(git rev-parse --short=10 HEAD 2>/dev/null || echo unknown)
# Debian version: the release number, then the commit (ordered by date).
when=$(git log -1 --format=%cd --date=format:%Y%m%d%H%M%S 2>/dev/null || date -u +%Y%m%d%H%M%S)
version=${XENRADCLOCK_VERSION:-0.1.0~git${when}.${sha}}
arch=amd64
maint="xenradclock developers <xenradclock@invalid.example>"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

# --- binaries, static, reproducible paths --------------------------------
bins=$stage/bin
mkdir -p "$bins"
# domu-agent, in every guest, leaves out urfave/cli's manual page and
# Markdown generators (0.4 MB); its page comes from a build with them, from
# the same command definitions, in $mangen.
mangen=$stage/mangen
mkdir -p "$mangen"
ldflags="-s -w -X github.com/xenradclock/xenradclock/internal/version.Version=$version"
for b in dom0d domu-agent xlclock; do
	tags=
	if [ "$b" = domu-agent ]; then
		tags=urfave_cli_no_docs
		CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$mangen/$b" "./$b"
	fi
	CGO_ENABLED=0 go build -trimpath -tags "$tags" -ldflags "$ldflags" -o "$bins/$b" "./$b"
done

# --- helpers -------------------------------------------------------------
# pkgdir NAME: a fresh tree for package NAME.
pkgdir() { local d=$stage/pkg/$1; rm -rf "$d"; mkdir -p "$d/DEBIAN"; echo "$d"; }

# install_file MODE SRC DEST (DEST inside the package tree).
install_file() { install -D -m "$1" "$2" "$3"; }

# manpage BIN SECTION TREE: the page generated from the binary's own CLI.
manpage() {
	local d=$3/usr/share/man/man$2
	mkdir -p "$d"
	local gen=$bins/$1
	if [ -x "$mangen/$1" ]; then gen=$mangen/$1; fi
	"$gen" man | sed "s/^\.TH $1 [0-9]*/.TH $1 $2/" | gzip -9n > "$d/$1.$2.gz"
}

# docs NAME TREE LICENCE: copyright and changelog, as policy wants them.
docs() {
	local d=$2/usr/share/doc/$1
	mkdir -p "$d"
	{
		echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
		echo "Upstream-Name: xenradclock"
		echo
		echo "Files: *"
		echo "Copyright: 2026 the xenradclock developers"
		echo "License: $3"
		if [ "$3" = "Apache-2.0" ]; then
			echo " On Debian systems, the full text of the Apache License 2.0 is in"
			echo " /usr/share/common-licenses/Apache-2.0."
		else
			echo " On Debian systems, the full text of the GNU General Public License"
			echo " version 2 is in /usr/share/common-licenses/GPL-2."
		fi
	} > "$d/copyright"
	printf '%s (%s) unstable; urgency=medium\n\n  * Built from commit %s.\n\n -- %s  %s\n' \
		"$1" "$version" "$sha" "$maint" "$(git log -1 --format=%aD 2>/dev/null || date -R)" | gzip -9n > "$d/changelog.gz"
}

# control TREE NAME SECTION DEPENDS DESCRIPTION (first line) LONG...
control() {
	local tree=$1 name=$2 section=$3 depends=$4 short=$5
	shift 5
	local size
	size=$(du -sk --exclude=DEBIAN "$tree" | cut -f1)
	{
		echo "Package: $name"
		echo "Version: $version"
		echo "Architecture: $arch"
		echo "Maintainer: $maint"
		echo "Installed-Size: $size"
		[ -n "$depends" ] && echo "Depends: $depends"
		echo "Section: $section"
		echo "Priority: optional"
		echo "Homepage: https://github.com/xenradclock/xenradclock"
		echo "Description: $short"
		for l in "$@"; do
			if [ -z "$l" ]; then echo " ."; else echo " $l"; fi
		done
	} > "$tree/DEBIAN/control"
}

# build TREE: md5sums, then the .deb into $out.
build() {
	local tree=$1
	(cd "$tree" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0r md5sum) > "$tree/DEBIAN/md5sums"
	find "$tree" -type d -exec chmod 0755 {} +
	dpkg-deb --root-owner-group -Zxz --build "$tree" "$out" >/dev/null
}

# service_scripts TREE UNIT: enable on install, start only where systemd
# runs and policy-rc.d allows (deb-systemd-invoke asks it), so an image build
# in a chroot enables the service without starting it.
service_scripts() {
	local tree=$1 unit=$2
	sed "s/@UNIT@/$unit/g" "$top/dist/deb/postinst.service" > "$tree/DEBIAN/postinst"
	sed "s/@UNIT@/$unit/g" "$top/dist/deb/prerm.service" > "$tree/DEBIAN/prerm"
	sed "s/@UNIT@/$unit/g" "$top/dist/deb/postrm.service" > "$tree/DEBIAN/postrm"
	chmod 0755 "$tree/DEBIAN/postinst" "$tree/DEBIAN/prerm" "$tree/DEBIAN/postrm"
}

# --- xenradclock-cli ------------------------------------------------------
t=$(pkgdir xenradclock-cli)
install_file 0755 "$bins/xlclock" "$t/usr/bin/xlclock"
install_file 0644 clockdata/c/xenradclock_clock.h "$t/usr/include/xenradclock/xenradclock_clock.h"
py=$t/usr/lib/python3/dist-packages/xenradclock
install_file 0644 clockdata/c/python/xenradclock.py "$py/__init__.py"
gcc -O2 -shared -fPIC -Wl,-z,relro,-z,now -Iclockdata/c -o "$stage/libxenradclock.so" clockdata/c/python/xrc_shim.c
strip --strip-unneeded "$stage/libxenradclock.so"
install_file 0644 "$stage/libxenradclock.so" "$py/libxenradclock.so"
manpage xlclock 1 "$t"
docs xenradclock-cli "$t" Apache-2.0
install_file 0755 dist/deb/prerm.cli "$t/DEBIAN/prerm"
control "$t" xenradclock-cli admin "libc6 (>= 2.34), python3" \
	"feed-forward clock for Xen guests: CLI and readers" \
	"xenradclock gives every Xen guest its host's feed-forward clock. This" \
	"package has xlclock, the xl-style command that shows the host clock and" \
	"every guest's clock state, and the readers applications link against:" \
	"a header-only C reader and a Python reader of the shared clock page."
build "$t"

# --- xenradclock-dom0 -----------------------------------------------------
t=$(pkgdir xenradclock-dom0)
install_file 0755 "$bins/dom0d" "$t/usr/sbin/dom0d"
install_file 0644 dist/systemd/dom0d.service "$t/lib/systemd/system/dom0d.service"
install_file 0644 dist/dom0d.conf "$t/etc/xenradclock/dom0d.conf"
install_file 0644 dist/deb/tmpfiles.conf "$t/usr/lib/tmpfiles.d/xenradclock-dom0.conf"
echo /etc/xenradclock/dom0d.conf > "$t/DEBIAN/conffiles"
manpage dom0d 8 "$t"
docs xenradclock-dom0 "$t" Apache-2.0
service_scripts "$t" dom0d.service
control "$t" xenradclock-dom0 admin "xenradclock-cli (= $version), init-system-helpers (>= 1.54~), procps" \
	"feed-forward clock for Xen guests: the host daemon (Dom0)" \
	"dom0d runs in Xen's Dom0. It exchanges NTP packets stamped with a raw" \
	"counter, estimates the host clock with the RADclock algorithm and" \
	"publishes it to Xenstore and a shared page, for every guest to read." \
	"" \
	"The service is enabled on installation and started where systemd runs" \
	"and policy-rc.d allows; configure servers in /etc/xenradclock/dom0d.conf."
build "$t"

# --- xenradclock-guest ----------------------------------------------------
t=$(pkgdir xenradclock-guest)
install_file 0755 "$bins/domu-agent" "$t/usr/sbin/domu-agent"
install_file 0644 dist/systemd/domu-agent.service "$t/lib/systemd/system/domu-agent.service"
install_file 0644 dist/domu-agent.conf "$t/etc/xenradclock/domu-agent.conf"
install_file 0644 dist/deb/tmpfiles.conf "$t/usr/lib/tmpfiles.d/xenradclock-guest.conf"
install_file 0644 dist/deb/60-xenradclock.rules "$t/lib/udev/rules.d/60-xenradclock.rules"
echo /etc/xenradclock/domu-agent.conf > "$t/DEBIAN/conffiles"
manpage domu-agent 8 "$t"
docs xenradclock-guest "$t" Apache-2.0
service_scripts "$t" domu-agent.service
control "$t" xenradclock-guest admin "xenradclock-cli (= $version), init-system-helpers (>= 1.54~)" \
	"feed-forward clock for Xen guests: the guest agent (DomU)" \
	"domu-agent runs in each Xen guest. It serves the host's clock, read" \
	"from Xenstore, through a shared page that every local process reads" \
	"without system calls, and survives live migration without a shock." \
	"" \
	"Install xenradclock-dkms too on stock Xen, for /dev/xen/systime."
build "$t"

# --- xenradclock-dkms -----------------------------------------------------
t=$(pkgdir xenradclock-dkms)
src=$t/usr/src/xenradclock-systime-$version
for f in Makefile xenradclock_systime.c; do
	install_file 0644 "kernel-patches/module/$f" "$src/$f"
done
# The tree keeps the module's ABI header beside the patches; the DKMS
# source carries its own copy.
install_file 0644 kernel-patches/include/xenradclock_abi.h "$src/include/xenradclock_abi.h"
sed 's|\$(src)/\.\./include|$(src)/include|' kernel-patches/module/Kbuild > "$src/Kbuild"
chmod 0644 "$src/Kbuild"
grep -q 'src)/include' "$src/Kbuild" || { echo "build.sh: the module's Kbuild include path changed" >&2; exit 1; }
sed "s/@VERSION@/$version/" dist/deb/dkms.conf > "$src/dkms.conf"
chmod 0644 "$src/dkms.conf"
docs xenradclock-dkms "$t" GPL-2.0
for s in postinst prerm; do
	sed "s/@VERSION@/$version/g" "dist/deb/$s.dkms" > "$t/DEBIAN/$s"
	chmod 0755 "$t/DEBIAN/$s"
done
arch=all control "$t" xenradclock-dkms kernel "dkms (>= 2.1.0.0)" \
	"feed-forward clock for Xen guests: /dev/xen/systime module (DKMS)" \
	"The xenradclock_systime kernel module exposes Xen system time and the" \
	"resume generation to user space as /dev/xen/systime, the counter a" \
	"guest on stock Xen reads its host's clock with. DKMS rebuilds it on" \
	"every kernel update."
build "$t"

ls -1 "$out"/*_"$version"_*.deb
