#!/usr/bin/env bash
# Installs what the test suite needs on a Debian 12 machine, and nothing when
# it is already there: Debian's xenstore tools (run against the embedded
# Xenstore), chrony (a real NTP peer, always run with -x), gcc (the C reader
# tests), iproute2 (network namespaces), faketime (chronyd moved onto a leap
# day in the SOCK feed's leap test), python3 (the Python reader), debootstrap
# and lintian (make deb-check), and the Go modules.
set -euo pipefail
need=()
command -v xenstore-read >/dev/null 2>&1 || need+=(xenstore-utils)
command -v chronyd >/dev/null 2>&1 || [ -x /usr/sbin/chronyd ] || need+=(chrony)
command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v faketime >/dev/null 2>&1 || need+=(faketime)
command -v python3 >/dev/null 2>&1 || need+=(python3)
# make deb-check: throwaway Debian roots and the packages' lint.
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || need+=(debootstrap)
command -v lintian >/dev/null 2>&1 || need+=(lintian)
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "install-deps: missing ${need[*]}; run as root or install them" >&2
		exit 1
	fi
	echo "install-deps: installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# chrony's package starts its daemon through invoke-rc.d; a policy-rc.d
	# that says 101 keeps it from running (and from touching the system
	# clock) here. Debian container images ship their own policy-rc.d: it
	# is put back as it was, whatever happens to the install.
	# (XENRADCLOCK_POLICY_RC_D moves it for scripts/install_deps_test.go.)
	policy=${XENRADCLOCK_POLICY_RC_D:-/usr/sbin/policy-rc.d} saved=
	if [ -e "$policy" ] || [ -L "$policy" ]; then
		saved=$(mktemp "$(dirname "$policy")/.policy-rc.d.saved.XXXXXX")
		cp -a "$policy" "$saved"
	fi
	restore_policy() {
		if [ -n "$saved" ]; then mv -f "$saved" "$policy"; else rm -f "$policy"; fi
	}
	trap restore_policy EXIT
	printf '#!/bin/sh\nexit 101\n' > "$policy.new" && chmod +x "$policy.new" && mv -f "$policy.new" "$policy"
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
	restore_policy
	trap - EXIT
	systemctl disable --now chrony >/dev/null 2>&1 || true
fi
go mod download
