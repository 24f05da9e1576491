#!/usr/bin/env bash
# make deb-check: install the packages into throwaway Debian 12 (bookworm)
# and 13 (trixie) roots made with debootstrap, check that every file lands
# where docs/packaging.md says, that systemd accepts the units, that DKMS
# builds the module against the release's kernel headers (vermagic checked),
# and that removing and purging leaves nothing behind. Prints one
# `PASS <release>: ...` or `FAIL <release>: ...` line per check and exits
# non-zero on any FAIL.
#
#   dist/deb/check.sh [DEBDIR]          default build/deb
#   RELEASES="bookworm trixie" (default) CACHE=/var/cache/xenradclock
#
# The pristine roots are cached under $CACHE (outside the clone, so a fresh
# clone on the same machine reuses them; a fresh machine makes them again).
set -euo pipefail
cd "$(dirname "$0")/../.."
debdir=$(cd "${1:-build/deb}" && pwd)
releases=${RELEASES:-bookworm trixie}
cache=${CACHE:-/var/cache/xenradclock}
mirror=$(sed -n 's/^URIs: *\([^ ]*\/debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)
[ -n "$mirror" ] || mirror=$(awk '$1=="deb" && $2 ~ /\/debian$/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
[ -n "$mirror" ] || { echo "deb-check: no Debian mirror in this machine's apt configuration" >&2; exit 1; }
# What the packages need from the release, installed before the snapshot
# that the purge is compared with.
deps="init-system-helpers python3 dkms linux-headers-amd64 kmod systemd udev procps"
fails=0
pass() { echo "PASS $rel: $*"; }
fail() { echo "FAIL $rel: $*"; fails=$((fails + 1)); }
check() { # check DESCRIPTION COMMAND...: PASS or FAIL by the command's status
	local what=$1
	shift
	if "$@" >>"$log" 2>&1; then pass "$what"; else fail "$what (see $log)"; fi
}

pristine() { # the cached root for $rel with the release dependencies, made once
	local r=$cache/root-$rel
	if [ ! -f "$r/.xenradclock-deps" ]; then
		if [ ! -f "$r/.xenradclock-ready" ]; then
			echo "deb-check: debootstrap $rel (cached in $r; several minutes the first time)" >&2
			rm -rf "$r"
			mkdir -p "$cache"
			debootstrap --variant=minbase --include=systemd,apt "$rel" "$r" "$mirror" >>"$log" 2>&1
			touch "$r/.xenradclock-ready"
		fi
		echo "deb-check: installing $deps into the cached $rel root" >&2
		root=$r
		mount_root
		no_services
		if ! in_root sh -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends $deps" >>"$log" 2>&1; then
			umount_root
			echo "FAIL $rel: release dependencies do not install ($deps; see $log)"
			return 1
		fi
		in_root apt-get clean
		umount_root
		touch "$r/.xenradclock-deps"
	fi
	echo "$r"
}

no_services() { # image-build conditions: maintainer scripts may not start services
	printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
	chmod 0755 "$root/usr/sbin/policy-rc.d"
}

in_root() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"; }

mount_root() {
	mount --bind /dev "$root/dev"
	mount -t proc proc "$root/proc"
	mount -t sysfs sys "$root/sys"
	cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
}

umount_root() {
	for m in sys proc dev; do umount -l "$root/$m" 2>/dev/null || true; done
}

files_of() { # every file and link in the root outside the churn of apt itself
	in_root find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /tmp -o -path /var/cache \
		-o -path /var/lib/apt -o -path /var/lib/dpkg -o -path /var/log -o -path /run -o -path /root \
		-o -path /var/lib/systemd/deb-systemd-helper-enabled -o -path /var/lib/systemd/deb-systemd-helper-masked \
		-o -path /var/lib/dkms \) -prune -o ! -path '/usr/lib/modules/*/modules.*' -print | sort
}

check_release() {
	rel=$1
	log=$(mktemp "/tmp/deb-check-$rel.XXXXXX.log")
	local base
	base=$(pristine) || { fails=$((fails + 1)); return; }
	root=$(mktemp -d "/tmp/deb-check-$rel.XXXXXX")
	cp -a "$base/." "$root/"
	trap 'umount_root; rm -rf "$root"' RETURN
	mount_root
	no_services
	# A cached root made before a dependency was added gets it now, before
	# the snapshot the purge is compared with.
	in_root sh -c "apt-get install -y -qq --no-install-recommends $deps" >>"$log" 2>&1 || true
	pass "root with the release's dependencies ($(in_root dpkg-query -W -f '${Version}' linux-headers-amd64) headers)"
	files_of > "$root/tmp/before"
	mkdir -p "$root/tmp/debs"
	cp "$debdir"/*.deb "$root/tmp/debs/"
	check "the four packages install" in_root sh -c 'apt-get install -y -qq --no-install-recommends /tmp/debs/*.deb'
	local f
	for f in /usr/bin/xlclock /usr/sbin/dom0d /usr/sbin/domu-agent /usr/include/xenradclock/xenradclock_clock.h \
		/usr/lib/python3/dist-packages/xenradclock/__init__.py /lib/systemd/system/dom0d.service \
		/lib/systemd/system/domu-agent.service /etc/xenradclock/dom0d.conf /etc/xenradclock/domu-agent.conf \
		/usr/share/man/man1/xlclock.1.gz /usr/share/man/man8/dom0d.8.gz /usr/share/man/man8/domu-agent.8.gz \
		/usr/lib/tmpfiles.d/xenradclock-dom0.conf /lib/udev/rules.d/60-xenradclock.rules; do
		if [ -e "$root$f" ]; then pass "installed $f"; else fail "missing $f"; fi
	done
	check "xlclock runs (--version)" in_root xlclock --version
	check "dom0d runs (--version)" in_root dom0d --version
	check "domu-agent runs (--version)" in_root domu-agent --version
	check "the Python reader imports" in_root python3 -c 'import xenradclock'
	check "systemd-analyze verify accepts the units" in_root systemd-analyze verify /lib/systemd/system/dom0d.service /lib/systemd/system/domu-agent.service
	for u in dom0d domu-agent; do
		if [ -L "$root/etc/systemd/system/multi-user.target.wants/$u.service" ]; then
			pass "$u.service enabled (not started: policy-rc.d forbids it in an image build)"
		else
			fail "$u.service not enabled"
		fi
	done
	local kver
	kver=$(ls "$root/usr/src" | sed -n 's/^linux-headers-\(.*-amd64\)$/\1/p' | sort -V | tail -1)
	local ver
	ver=$(in_root dpkg-query -W -f '${Version}' xenradclock-dkms)
	if in_root dkms install -m xenradclock-systime -v "$ver" -k "$kver" >>"$log" 2>&1; then
		local ko magic
		ko=$(find "$root/lib/modules/$kver" -name 'xenradclock_systime.ko*' | head -1)
		magic=$(in_root modinfo -F vermagic "${ko#"$root"}" 2>>"$log" || true)
		case "$magic" in
		"$kver "*) pass "DKMS built the module for $kver (vermagic $magic)" ;;
		*) fail "module for $kver has vermagic '$magic'" ;;
		esac
	else
		fail "DKMS could not build the module for ${kver:-no headers} (see $log)"
	fi
	check "remove and purge" in_root sh -c 'apt-get purge -y -qq xenradclock-cli xenradclock-dom0 xenradclock-guest xenradclock-dkms'
	files_of > "$root/tmp/after"
	if diff -u "$root/tmp/before" "$root/tmp/after" >>"$log"; then
		pass "purge left nothing behind (file lists before install and after purge are equal)"
	else
		fail "purge left files behind: $(diff "$root/tmp/before" "$root/tmp/after" | grep -c '^[<>]') differ (see $log)"
	fi
}

for r in $releases; do
	check_release "$r"
done
if [ "$fails" -gt 0 ]; then
	echo "deb-check: $fails checks failed"
	exit 1
fi
echo "deb-check: all checks passed"
