# SPDX-License-Identifier: GPL-2.0
# kernel-patches: fetch Debian's Xen and Linux sources, apply the series,
# build the patched hypervisor, the DomU kernel and the module, and boot them
# under QEMU.  `make check` does it all; each step is also a target.
# Everything is built under build/ (gitignored); downloads are cached there.

B ?= $(CURDIR)/build
JOBS ?= 2
export B JOBS

.PHONY: check deps fetch apply patch-style xen linux module tools boot clean distclean

check: deps fetch apply patch-style xen linux module tools boot

deps:
	./scripts/install-deps.sh

fetch: deps
	./scripts/fetch.sh

apply: fetch
	./scripts/apply.sh

# Linux series: checkpatch --strict clean.  Xen series: Signed-off-by and a
# "subsystem: summary" subject on every patch (Xen has no style checker).
patch-style: apply
	@cd $(B)/linux && for p in $(CURDIR)/linux/*.patch; do \
		out=$$(perl scripts/checkpatch.pl --strict "$$p"); \
		echo "$$out" | grep -q '^total: 0 errors, 0 warnings, 0 checks' || \
			{ echo "$$out"; echo "checkpatch: $$p is not clean"; exit 1; }; \
		echo "checkpatch --strict: $$(basename $$p): clean"; \
	done
	@for p in xen/*.patch linux/*.patch; do \
		grep -q '^Signed-off-by: ' "$$p" || { echo "$$p: no Signed-off-by"; exit 1; }; \
		grep -qE '^Subject: \[PATCH[^]]*\] [a-z0-9_/.-]+: ' "$$p" || \
			{ echo "$$p: subject is not 'subsystem: summary'"; exit 1; }; \
	done; echo "patch-style: subjects and Signed-off-by ok"

xen: apply
	./scripts/build-xen.sh

linux: apply
	./scripts/build-linux.sh

module: linux
	./scripts/build-module.sh

tools: deps
	./scripts/build-tools.sh

boot: xen linux module tools
	./scripts/boot-check.sh

clean:
	rm -rf $(B)/xen $(B)/linux $(B)/linux-out $(B)/module-* $(B)/headers $(B)/boot $(B)/tools

distclean:
	rm -rf $(B)
