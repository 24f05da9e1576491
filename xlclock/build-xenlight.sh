#!/bin/bash
# Build bin/xlclock-xenlight: xlclock with the xenlight build tag, which also
# takes domain state from libxl through Xen's Go binding
# (xenbits.xenproject.org/git-http/xen.git/tools/golang/xenlight). The Go
# module proxy does not serve that binding and Debian does not package it, so
# it is taken from Xen's source, wired in with a replace in a separate module
# file (the default build's go.mod never names it); cgo links it dynamically
# against Debian's libxen-dev.
#
# Xen's source, first found: $XEN_SRC (a Xen tree); the tarball
# kernel-patches/ already fetched (kernel-patches/build/dl); Debian's xen
# source package at the installed libxen-dev's version, else the newest the
# archive serves (said loudly: the binding must match libxl's IDL, which a
# stable branch keeps). Everything goes below $B (default build/xenlight).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
B=${B:-$ROOT/build/xenlight}
GO=${GO:-go}
MOD=xenbits.xenproject.org/git-http/xen.git/tools/golang/xenlight
mkdir -p "$B/dl"

# libxl's headers and library; the binding also links -lyajl.
for p in libxen-dev libyajl-dev; do
	dpkg -s "$p" >/dev/null 2>&1 || {
		echo "build-xenlight: installing $p"
		apt-get install -y -q "$p" >/dev/null
	}
done
LIBXL_VER=$(dpkg-query -W -f='${Version}' libxen-dev)

src=$B/xenlight
rm -rf "$src"
if [ -n "${XEN_SRC:-}" ]; then
	cp -r "$XEN_SRC/tools/golang/xenlight" "$src"
	echo "build-xenlight: binding from $XEN_SRC"
else
	tarball=$(ls "$ROOT"/kernel-patches/build/dl/xen_*.orig.tar.* "$B"/dl/xen_*.orig.tar.* 2>/dev/null | sed -n 1p || true)
	if [ -z "$tarball" ]; then
		cat > "$B/sources.list" <<SRC
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security bookworm-security main
SRC
		mkdir -p "$B/lists/partial"
		APT=(-o "Dir::Etc::SourceList=$B/sources.list" -o Dir::Etc::SourceParts=/dev/null -o "Dir::State::Lists=$B/lists")
		apt-get "${APT[@]}" update -q >/dev/null
		for v in "$LIBXL_VER" $(apt-cache "${APT[@]}" showsrc xen | awk '/^Version:/{print $2}' | sort -urV); do
			if (cd "$B/dl" && apt-get "${APT[@]}" source -q --download-only "xen=$v" >/dev/null 2>&1); then
				[ "$v" = "$LIBXL_VER" ] || echo "build-xenlight: WARNING: binding from xen source $v; libxen-dev is $LIBXL_VER"
				break
			fi
			echo "build-xenlight: xen source $v is not downloadable from the archive"
		done
		tarball=$(ls "$B"/dl/xen_*.orig.tar.* 2>/dev/null | sed -n 1p || true)
		[ -n "$tarball" ] || { echo "build-xenlight: no xen source package downloadable" >&2; exit 1; }
	fi
	top=$(tar -tf "$tarball" | sed -n 1p | cut -d/ -f1)
	tar -xf "$tarball" -C "$B" "$top/tools/golang/xenlight"
	mv "$B/$top/tools/golang/xenlight" "$src"
	rm -rf "${B:?}/$top"
	echo "build-xenlight: binding from $(basename "$tarball"); libxen-dev $LIBXL_VER"
fi

# The separate module file: the project's go.mod plus the binding, replaced
# by the extracted source.
cp go.mod "$B/xenlight.mod"
cp go.sum "$B/xenlight.sum"
"$GO" mod edit -modfile="$B/xenlight.mod" -require="$MOD@v0.0.0-00010101000000-000000000000" -replace="$MOD=$src"
mkdir -p bin
CGO_ENABLED=1 "$GO" vet -modfile="$B/xenlight.mod" -tags xenlight ./xlclock
CGO_ENABLED=1 "$GO" build -modfile="$B/xenlight.mod" -tags xenlight -o bin/xlclock-xenlight ./xlclock
echo "build-xenlight: bin/xlclock-xenlight"
ldd bin/xlclock-xenlight | grep -E 'libxenlight|libxentoollog' || true
