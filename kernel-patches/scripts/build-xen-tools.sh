#!/bin/bash
# Build the Xen tools that the xl.cfg knob platform_time needs from the same
# patched tree as the hypervisor ($B/xen, after apply.sh): libxenctrl,
# libxenlight and the other tools/libs it links, xl, and tools/helpers
# (xen-init-dom0 links libxenlight, whose ABI the knob changes).  Configured like
# Debian's xen-utils (same prefix, libdir and libexec layout, so libxl's
# compiled-in paths are Debian's), but minimal: no stubdom, docs, firmware
# (qemu-traditional, rombios, seabios, ipxe, ovmf), OCaml, Go, XSM policy
# or monitors, and the system's QEMU instead of building one, so nothing is
# downloaded.  Only tools/include, tools/libs, tools/helpers and tools/xl
# are built.
#
# Installs into $B/xen-tools-dist (DESTDIR), which boot-check.sh lays over
# Dom0's stock 4.17.7 tools.  Log: $B/xen-tools-build.log.
set -euo pipefail
B=${B:?}
JOBS=${JOBS:-2}
X=$B/xen
DIST=$B/xen-tools-dist
LOG=$B/xen-tools-build.log
[ -f "$X/tools/libs/light/libxl_types.idl" ] ||
	{ echo "build-xen-tools: no Xen tree at $X (run apply.sh first)" >&2; exit 1; }
grep -q 'xc_domain_set_platform_time' "$X/tools/include/xenctrl.h" ||
	{ echo "build-xen-tools: $X lacks the tools patches of ../xen/ (stale tree? run apply.sh)" >&2; exit 1; }

fail() { tail -40 "$LOG"; echo "build-xen-tools: $1 failed (log: $LOG)" >&2; exit 1; }
start=$(date +%s)
: > "$LOG"
cd "$X"
# Debian's source package deletes the generated configure scripts and
# config.guess/config.sub (its rules take them from the build system).
if [ ! -x tools/configure ] || [ tools/configure.ac -nt tools/configure ]; then
	{ autoconf -f && (cd tools && autoconf -f && autoheader); } >> "$LOG" 2>&1 || fail autoconf
fi
for f in config.guess config.sub; do
	[ -e "$f" ] && continue
	for d in /usr/share/misc /usr/share/autoconf/build-aux; do
		[ -e "$d/$f" ] && { cp "$d/$f" .; break; }
	done
	[ -e "$f" ] || { echo "build-xen-tools: no $f (install autoconf)" >&2; exit 1; }
done
MA=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
old_cfg=$({ cat config/Tools.mk tools/config.h 2>/dev/null || true; } | md5sum) # none in a fresh tree
./configure --prefix=/usr --includedir=/usr/include --libdir=/usr/lib/"$MA" \
	--with-libexec-libdir-suffix=/"$MA" --with-libexec-leaf-dir=xen-4.17 \
	--sysconfdir=/etc --localstatedir=/var \
	--disable-stubdom --disable-docs \
	--disable-qemu-traditional --disable-rombios --disable-seabios --disable-ipxe \
	--disable-ovmf --disable-ocamltools --disable-golang --disable-xsmpolicy \
	--disable-monitors --disable-pvshim --disable-9pfs \
	--with-system-qemu=/usr/libexec/xen-qemu-system-i386 >> "$LOG" 2>&1 || fail configure
# Objects do not depend on the configuration: a changed one (e.g. a newly
# installed -dev package) needs a clean rebuild.
if [ "$old_cfg" != "$(cat config/Tools.mk tools/config.h | md5sum)" ]; then
	for d in tools/include tools/libs tools/helpers tools/xl; do
		make -C "$d" clean >> "$LOG" 2>&1 || fail "make -C $d clean"
	done
fi
for d in tools/include tools/libs tools/helpers tools/xl; do
	echo "build-xen-tools: make -C $d" >> "$LOG"
	nice -n 19 make -C "$d" -j"$JOBS" >> "$LOG" 2>&1 || fail "make -C $d"
done
rm -rf "$DIST"
for d in tools/libs tools/helpers tools/xl; do
	make -C "$d" install DESTDIR="$DIST" >> "$LOG" 2>&1 || fail "make -C $d install"
done
end=$(date +%s)

# The knob must have made it into the binaries, not only the sources.
XL=$DIST/usr/sbin/xl # Debian's package moves it to /usr/lib/xen-4.17/bin
[ -x "$XL" ] || { echo "build-xen-tools: no $XL" >&2; exit 1; }
[ -x "$DIST/usr/lib/xen-4.17/bin/libxl-save-helper" ] ||
	{ echo "build-xen-tools: no libxl-save-helper under $DIST" >&2; exit 1; }
LXL=$(ls "$DIST"/usr/lib/"$MA"/libxenlight.so.4.17.*)
LXC=$(ls "$DIST"/usr/lib/"$MA"/libxenctrl.so.4.17.*)
syms=$(nm -D --defined-only "$LXC") # not piped into grep -q: pipefail + SIGPIPE
grep -qw xc_domain_set_platform_time <<< "$syms" ||
	{ echo "build-xen-tools: $LXC does not export xc_domain_set_platform_time" >&2; exit 1; }
grep -q 'platform_time' "$LXL" ||
	{ echo "build-xen-tools: $LXL has no platform_time field" >&2; exit 1; }
grep -q 'platform_time' "$XL" ||
	{ echo "build-xen-tools: $XL does not parse platform_time" >&2; exit 1; }
echo "build-xen-tools: xl $XL"
echo "build-xen-tools: built and installed into $DIST in $((end - start)) s wall"
