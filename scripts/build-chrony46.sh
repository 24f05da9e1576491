#!/bin/bash
# Build chronyd and chronyc 4.6 (Debian 13 trixie's chrony) for `make
# compare`'s second chronyd (docs/compare.md), from trixie's source package
# with Debian's patches, on this bookworm machine: nothing of trixie's is
# installed, only bookworm's build dependencies.
#
#   build-chrony46.sh [OUTDIR]      (default build/chrony-4.6)
#
# Result: OUTDIR/chronyd and OUTDIR/chronyc, OUTDIR/VERSION the Debian
# version built. A second run with both binaries there does nothing.
# The source comes through the apt-extra tool (trixie's archive without
# changing the machine's apt sources): $APT_EXTRA, else apt-extra on PATH,
# else shared/tools/apt-extra beside the repository. CHRONY_DEB_VERSION
# picks the source version (default below; if the archive no longer has it,
# the newest 4.6 trixie serves, said loudly).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${1:-$ROOT/build/chrony-4.6}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WANT=${CHRONY_DEB_VERSION:-4.6.1-3+deb13u2}
say() { echo "build-chrony46: $*"; }
die() { echo "build-chrony46: $*" >&2; exit 1; }

if [ -x "$OUT/chronyd" ] && [ -x "$OUT/chronyc" ] && [ -f "$OUT/VERSION" ] &&
	"$OUT/chronyd" --version 2>/dev/null | grep -q 'version 4\.6'; then
	say "$OUT/chronyd already built ($(cat "$OUT/VERSION")), nothing to do"
	exit 0
fi

find_apt_extra() {
	local common c
	common=$(git rev-parse --path-format=absolute --git-common-dir 2>/dev/null || true)
	for c in "${APT_EXTRA:-}" "$(command -v apt-extra || true)" "$ROOT/../shared/tools/apt-extra" \
		"${common:+$(dirname "$common")/../shared/tools/apt-extra}"; do
		if [ -n "$c" ] && [ -x "$c" ]; then
			echo "$c"
			return
		fi
	done
}
apt_extra=$(find_apt_extra)
[ -n "$apt_extra" ] || die "apt-extra not found (set APT_EXTRA to its path, or put it on PATH): it fetches trixie's chrony source"

# Build dependencies from bookworm (debian/control's, less the docs, AppArmor and test ones).
deps=(gcc make bison pkgconf libcap-dev libseccomp-dev nettle-dev libgnutls28-dev libedit-dev pps-tools dpkg-dev)
missing=()
for p in "${deps[@]}"; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	[ "$(id -u)" -eq 0 ] || die "missing build dependencies ${missing[*]}: run as root or install them"
	say "installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

dl=$OUT/dl
mkdir -p "$dl"
version=
[ -f "$dl/chrony_$WANT.dsc" ] || "$apt_extra" update
for v in "$WANT" $([ -f "$dl/chrony_$WANT.dsc" ] || "$apt_extra" madison chrony | awk -F' *[|] *' '$3 ~ /trixie.*Sources/ {print $2}' | sort -urV); do
	case $v in 4.6*) ;; *) continue ;; esac
	if [ -f "$dl/chrony_$v.dsc" ] || (cd "$dl" && "$apt_extra" source -q --download-only "chrony=$v" >/dev/null 2>&1); then
		version=$v
		break
	fi
	say "chrony source $v is not downloadable from the archive"
done
[ -n "$version" ] || die "no chrony 4.6 source package downloadable from trixie"
[ "$version" = "$WANT" ] || say "WARNING: built chrony source $version, not $WANT"

src=$OUT/src
rm -rf "$src"
# apt checked the files against the archive's signed index; dpkg-source's
# own warning (no Debian keyring here to check the .dsc's signature) goes
# to the log.
dpkg-source -x "$dl/chrony_$version.dsc" "$src" >"$OUT/dpkg-source.log" 2>&1 ||
	die "unpacking the source failed: $OUT/dpkg-source.log"
rm -f "$OUT"/chrony_*.orig.tar.* # dpkg-source's copy beside the tree; dl/ keeps the original
# debian/rules' configure flags; paths matter little: the harness gives
# chronyd its config (-f), and -u root overrides the _chrony user.
(cd "$src" && ./configure --sysconfdir=/etc/chrony --with-user=_chrony --enable-scfilter \
	--chronyrundir=/run/chrony --with-ntp-era=0 --enable-ntp-signd --with-hwclockfile=/etc/adjtime \
	--with-pidfile=/run/chrony/chronyd.pid --host-system=Linux >"$OUT/configure.log" 2>&1) ||
	die "configure failed: $OUT/configure.log"
make -C "$src" -j"$(nproc)" chronyd chronyc >"$OUT/make.log" 2>&1 || die "make failed: $OUT/make.log"
for b in chronyd chronyc; do
	cp "$src/$b" "$OUT/$b.tmp"
	mv "$OUT/$b.tmp" "$OUT/$b"
done
echo "$version" >"$OUT/VERSION"
say "$OUT/chronyd: $("$OUT/chronyd" --version)"
