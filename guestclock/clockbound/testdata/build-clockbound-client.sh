#!/bin/bash
# build-clockbound-client.sh: build ClockBound's own client libraries from a
# checkout of ClockBound's public source -- the Rust clock-bound-client and
# the C libclockbound (crate clock-bound-ffi) -- and our small readers on
# them (testdata/cbcheck: cbcheck in Rust, cbcheck-c in C), offline, against
# Debian's packaged Rust crates (/usr/share/cargo/registry), for
# TestClockBoundClient.
#
#   build-clockbound-client.sh CLOCKBOUND_SRC [OUTDIR]
#
# CLOCKBOUND_SRC is a checked-out tree of ClockBound (2.0.x, protocol v2).
# OUTDIR defaults to /var/tmp/xenradclock-clockbound; the reader ends up as
# OUTDIR/bin/cbcheck and OUTDIR/bin/cbcheck-c, which the test finds there (or
# in the directory XENRADCLOCK_CLOCKBOUND_BIN names). Nothing of ClockBound's is copied into this
# repository. As root the script installs the Debian packages it needs.
#
# Debian 12 packages every crate the client needs (nix 0.26, libc 0.2,
# byteorder 1, tracing 0.1, tracing-subscriber 0.3) except errno 0.3
# (bookworm has 0.2.8): the script takes trixie's librust-errno-dev 0.3.8
# (Rust source only, nothing linked against trixie's libc): from ERRNO_DEB if
# given, else downloaded with the apt-extra tool named by APT_EXTRA.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "${1:?usage: build-clockbound-client.sh CLOCKBOUND_SRC [OUTDIR]}" && pwd)
out=${2:-/var/tmp/xenradclock-clockbound}
mkdir -p "$out"
out=$(cd "$out" && pwd)
[ -f "$src/clock-bound-client/Cargo.toml" ] || { echo "no clock-bound-client in $src" >&2; exit 1; }

crates=(librust-nix-dev librust-libc-dev librust-byteorder-dev librust-tracing-dev librust-tracing-subscriber-dev)
if [ "$(id -u)" = 0 ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${crates[@]}" >/dev/null
fi

# errno 0.3: trixie's source crate, unpacked privately (never onto the system).
errno_dir=$out/errno-deb
if [ ! -d "$errno_dir/usr/share/cargo/registry" ]; then
	deb=${ERRNO_DEB:-}
	if [ -z "$deb" ]; then
		apt_extra=${APT_EXTRA:-$(command -v apt-extra || true)}
		[ -n "$apt_extra" ] || { echo "errno 0.3 missing: set ERRNO_DEB to trixie's librust-errno-dev .deb, or APT_EXTRA" >&2; exit 1; }
		(cd "$out" && "$apt_extra" update && "$apt_extra" download librust-errno-dev=0.3.8-1)
		deb=$(ls "$out"/librust-errno-dev_0.3.8-1_*.deb)
	fi
	dpkg-deb -x "$deb" "$errno_dir"
fi

# A directory source: Debian's registry plus errno 0.3.
reg=$out/registry
rm -rf "$reg" && mkdir -p "$reg"
for d in /usr/share/cargo/registry/* "$errno_dir"/usr/share/cargo/registry/*; do
	ln -sfn "$d" "$reg/$(basename "$d")"
done

mkdir -p "$out/cargo-home" "$out/cbcheck/src"
cat >"$out/cargo-home/config.toml" <<CFG
[source.crates-io]
replace-with = "debian-local"
[source.debian-local]
directory = "$reg"
[net]
offline = true
CFG
sed "s|@CLOCKBOUND_SRC@|$src|" "$here/cbcheck/Cargo.toml.in" >"$out/cbcheck/Cargo.toml"
cp "$here/cbcheck/src/main.rs" "$out/cbcheck/src/main.rs"
rm -f "$out/cbcheck/Cargo.lock"
CARGO_HOME=$out/cargo-home cargo build --offline --release \
	--manifest-path "$out/cbcheck/Cargo.toml" --target-dir "$out/target"
mkdir -p "$out/bin"
cp "$out/target/release/cbcheck" "$out/bin/cbcheck.tmp"
mv "$out/bin/cbcheck.tmp" "$out/bin/cbcheck"
echo "built $out/bin/cbcheck"

# ClockBound's C library, libclockbound (static), and our C reader on it.
mkdir -p "$out/libclockbound"
sed "s|@CLOCKBOUND_SRC@|$src|" "$here/cbcheck/libclockbound.toml.in" >"$out/libclockbound/Cargo.toml"
rm -f "$out/libclockbound/Cargo.lock"
CARGO_HOME=$out/cargo-home cargo build --offline --release \
	--manifest-path "$out/libclockbound/Cargo.toml" --target-dir "$out/target"
gcc -O2 -Wall -Wextra -Werror -I "$src/clock-bound-ffi/include" -o "$out/bin/cbcheck-c.tmp" \
	"$here/cbcheck/cbcheck.c" "$out/target/release/libclockbound.a" -lpthread -ldl -lm
mv "$out/bin/cbcheck-c.tmp" "$out/bin/cbcheck-c"
echo "built $out/bin/cbcheck-c (libclockbound)"
