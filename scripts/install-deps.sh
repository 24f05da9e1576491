#!/usr/bin/env bash
# Installs what the test suite needs on a Debian 12 machine, and nothing when
# it is already there: Debian's xenstore tools (run against the embedded
# Xenstore), chrony (a real NTP peer, always run with -x), gcc (the C reader
# tests), iproute2 (network namespaces), faketime (chronyd moved onto a leap
# day in the SOCK feed's leap test), and the Go modules.
set -euo pipefail
need=()
command -v xenstore-read >/dev/null 2>&1 || need+=(xenstore-utils)
command -v chronyd >/dev/null 2>&1 || [ -x /usr/sbin/chronyd ] || need+=(chrony)
command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v faketime >/dev/null 2>&1 || need+=(faketime)
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "install-deps: missing ${need[*]}; run as root or install them" >&2
		exit 1
	fi
	echo "install-deps: installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# chrony's package starts its daemon through policy-rc.d-less invoke-rc.d;
	# keep it from running (and from touching the system clock) here.
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
	rm -f /usr/sbin/policy-rc.d
	systemctl disable --now chrony >/dev/null 2>&1 || true
fi
go mod download
