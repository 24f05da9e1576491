#!/bin/bash
# Boot the patched Xen under QEMU (TCG) with Debian's stock Dom0 kernel and
# the patched DomU kernel, after ../../shared/reference/xen-in-qemu.md, and
# judge the serial log.  Exit status 0 when every check passed.
set -uo pipefail
B=${B:?}
KP=$(cd "$(dirname "$0")/.." && pwd)
. "$B/versions.env"
# The DomU kernel's build tree (bzImage, in-tree module): another build
# dir's may be named to avoid rebuilding Linux.
LINUX_OUT=${LINUX_OUT:-$B/linux-out}
XT=$B/xen-tools-dist # build-xen-tools.sh: the patched xl and libraries
[ -x "$XT/usr/sbin/xl" ] ||
	{ echo "boot-check: no patched xl in $XT (run build-xen-tools.sh)" >&2; exit 1; }
OUT=$B/boot
rm -rf "$OUT"; mkdir -p "$OUT"

copy_libs() { # root file...: the shared libraries the files need, unless there
	local root=$1 f l; shift
	for f in "$@"; do
		for l in $(ldd "$f" 2>/dev/null | grep -oE '/[^ ]+'); do
			[ -e "$root$l" ] && continue
			mkdir -p "$root$(dirname "$l")"
			cp -L "$l" "$root$l"
		done
	done
}
copy_bin() { # root bin...: a binary and its shared libraries
	local root=$1 b; shift
	for b in "$@"; do
		mkdir -p "$root$(dirname "$b")"
		cp -a "$b" "$root$b"
		copy_libs "$root" "$b"
	done
}
busybox_root() { # root
	local r=$1 a
	mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,var,etc,root,lib64,lib/modules}
	cp /bin/busybox "$r/bin/busybox"
	for a in $(/bin/busybox --list-full); do [ -e "$r/$a" ] || ln -s /bin/busybox "$r/$a"; done
}
cpio_gz() { (cd "$1" && find . | cpio -o -H newc --quiet | gzip -1) > "$2"; }

# DomU: the patched kernel, busybox, xenstore clients, the tools, the module.
DU=$OUT/domUroot
busybox_root "$DU"
copy_bin "$DU" /usr/bin/xenstore /usr/bin/xenstore-read /usr/bin/xenstore-write
cp "$B/tools/xenradclock-pt" "$B/tools/xrst-read" "$B/tools/goudp" "$DU/bin/"
cp "$LINUX_OUT/drivers/xen/xenradclock_systime.ko" "$DU/lib/modules/" # linux/0002, in-tree
cp "$KP/boot/domU-init.sh" "$DU/init"
cpio_gz "$DU" "$OUT/domU.cpio.gz"

# Dom0: Debian's kernel and Xen modules, the host's Xen tools, our module
# (built against Debian's headers) and tools, and the DomU payload.
D0=$OUT/dom0root
busybox_root "$D0"
XB=/usr/lib/xen-4.17/bin
copy_bin "$D0" $XB/xl $XB/xenstored $XB/xenconsoled $XB/libxl-save-helper $XB/xen-init-dom0 \
	/usr/bin/xenstore /usr/bin/xenstore-read /usr/bin/xenstore-write /usr/bin/xenstore-chmod
cp -L /lib/x86_64-linux-gnu/libgcc_s.so.1 "$D0/lib/x86_64-linux-gnu/" # dlopen()ed by xl
# The patched xl, libxl-save-helper, libxenlight, libxenctrl and the rest of
# tools/libs, built with Debian's layout, replace the stock 4.17.7 ones
# (libxenlight's ABI changed: stock xl cannot use it, so all go together).
# copy_bin put the stock libraries where ldd found them (/lib/<multiarch>).
cp -a "$XT/usr/lib/xen-4.17/bin/." "$D0$XB/"
cp "$XT/usr/sbin/xl" "$D0$XB/xl" # where Debian's package puts it
for l in "$XT"/usr/lib/x86_64-linux-gnu/lib*.so.*; do
	cp -L --remove-destination "$l" "$D0/lib/x86_64-linux-gnu/"
done
# ... and what they link that the stock ones did not (e.g. libbz2).
LD_LIBRARY_PATH=$XT/usr/lib/x86_64-linux-gnu copy_libs "$D0" "$XT/usr/sbin/xl" \
	"$XT"/usr/lib/xen-4.17/bin/* "$XT"/usr/lib/x86_64-linux-gnu/lib*.so.*
mkdir -p "$D0/etc/xen" "$D0/var/lib/xen" "$D0/var/log/xen"; ln -sfn /run "$D0/var/run"
cp /etc/xen/xl.conf "$D0/etc/xen/"; cp -a /etc/xen/scripts "$D0/etc/xen/"
M=$D0/lib/modules/$KREL; mkdir -p "$M"
for k in drivers/xen/xen-evtchn.ko drivers/xen/xen-privcmd.ko drivers/xen/xenfs/xenfs.ko \
	 drivers/xen/xen-gntdev.ko drivers/xen/xen-gntalloc.ko \
	 drivers/block/xen-blkback/xen-blkback.ko drivers/net/xen-netback/xen-netback.ko; do
	cp "$B/ext/lib/modules/$KREL/kernel/$k" "$M/"
done
cp "$B/module-debian/xenradclock_systime.ko" "$M/"
cp "$B/calibmon-debian/xrc_calibmon.ko" "$M/" # test only: the calibration gate
cp "$B/tools/xenradclock-pt" "$B/tools/xrst-read" "$D0/bin/"
mkdir -p "$D0/guest"
cp "$LINUX_OUT/arch/x86/boot/bzImage" "$OUT/domU.cpio.gz" "$D0/guest/"
cp "$KP/boot/domU.cfg" "$KP/boot/domU-pvh.cfg" "$KP/boot/domU-knob.cfg" "$D0/etc/xen/"
cp "$KP/boot/dom0-init.sh" "$D0/init"
cpio_gz "$D0" "$OUT/dom0.cpio.gz"
zcat "$B/xen/xen/xen.gz" > "$OUT/xen.elf"
cp "$B/ext/boot/vmlinuz-$KREL" "$OUT/vmlinuz"

# QEMU TCG: SMAP/SMEP off (Xen's PV Dom0 faults otherwise under TCG).
LOG=$B/boot.log
XEN_CMDLINE="console=com1 com1=115200,8n1 loglvl=all guest_loglvl=all dom0_mem=1024M,max:1024M dom0_max_vcpus=2"
echo "boot-check: QEMU log in $LOG"
start=$(date +%s.%N)
nice -n 10 timeout "${BOOT_TIMEOUT:-900}" qemu-system-x86_64 -machine pc -accel tcg,thread=multi \
	-cpu "${QEMU_CPU:-max,-smap,-smep}" -smp 2 -m 2048 -display none -nic none -no-reboot -monitor none \
	-serial stdio -kernel "$OUT/xen.elf" -append "$XEN_CMDLINE" \
	-initrd "$OUT/vmlinuz console=hvc0 earlyprintk=xen,$OUT/dom0.cpio.gz" </dev/null 2>&1 |
	sed -u 's/\r*$//' > "$LOG"
rc=${PIPESTATUS[0]}
end=$(date +%s.%N)
echo "boot-check: QEMU rc=$rc after $(echo "$end - $start" | bc) s"

exec "$KP/scripts/judge-boot.sh" "$LOG"
