# xenradclock build, test and benchmark entry points.
# `make demo` runs the main job on its embedded default; `make test` runs the
# test suite (installing what it needs on a fresh Debian 12 machine first).

GO        ?= go
BIN       := bin
BINARIES  := dom0d xlclock domu-agent
# --version of every binary: internal/version, set from git when available.
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS   := -X github.com/xenradclock/xenradclock/internal/version.Version=$(VERSION)
# domu-agent runs in every guest: static as packaged (CGO_ENABLED=0: no libc
# mapped, 1.5 MB less RSS), and urfave/cli's roff and Markdown generators
# (go-md2man, blackfriday) left out, 0.4 MB; its man page comes from a
# build without the tag (dist/deb/build.sh).
AGENT_TAGS := urfave_cli_no_docs
STATICCHECK_VERSION := v0.8.2
# Packages whose tests also run under the race detector (concurrency lives there).
RACE_PKGS := ./xenstore/... ./clockdata/... ./ntp/... ./counter/... ./hostclock/... ./guestclock/...

.PHONY: all build test test-short deps bench lint fmt demo clean kernel-patches test-vms xlclock-xenlight deb deb-check compare

all: build

build:
	@mkdir -p $(BIN)
	@echo "build: $(BINARIES) into $(BIN)/, version $(VERSION) (a first build also fetches the Go modules: a minute or so)"
	@for b in $(BINARIES); do \
		tags=; cgo=$${CGO_ENABLED:-1}; if [ $$b = domu-agent ]; then tags="$(AGENT_TAGS)"; cgo=0; fi; \
		if [ -d $$b ]; then CGO_ENABLED=$$cgo $(GO) build -tags "$$tags" -ldflags "$(LDFLAGS)" -o $(BIN)/$$b ./$$b || exit 1; fi; \
	done
	@$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/xenradclock-demo ./demo

deps:
	@./scripts/install-deps.sh

test: deps
	$(GO) vet ./...
	$(GO) test -count=1 ./...
	$(GO) test -race -count=1 $(RACE_PKGS)

# The unit tests only, no installs (a quick local loop).
test-short:
	$(GO) test -short ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

# The demo needs only Go and the module proxy; `make deps` (as root) adds
# the tools its suggested commands use (xenstore-ls) and the tests need.
demo: build
	@echo "demo: starting ./$(BIN)/xenradclock-demo: two hosts, four guests, one live migration (Ctrl-C stops it)"
	./$(BIN)/xenradclock-demo --bin $(BIN)

kernel-patches:
	$(MAKE) -C kernel-patches check

# Stock Debian Xen under QEMU TCG (root, Debian 12): the packaged dom0d and
# domu-agent on xen-system across xl migrate and save/restore (test-vms/README.md).
test-vms:
	$(MAKE) -C test-vms xenstore-check

# xlclock with libxl's view of the domains (cgo, Debian's libxen-dev, Xen's Go
# binding from the Xen source): bin/xlclock-xenlight.
xlclock-xenlight:
	GO=$(GO) ./xlclock/build-xenlight.sh

# dom0d against chronyd -x on emulated paths through network namespaces
# (root; docs/compare.md): results.md and one PNG per scenario in
# build/compare. COMPARE_FLAGS picks scenarios, e.g. --scenarios clean.
# Debian 12's chronyd 4.3 and trixie's 4.6, built once into CHRONY46 by
# scripts/build-chrony46.sh (apt-extra); CHRONY46= leaves 4.6 out.
COMPARE_FLAGS ?=
CHRONY46      ?= build/chrony-4.6
compare: build
	$(if $(CHRONY46),./scripts/build-chrony46.sh $(CHRONY46))
	$(GO) run ./bench/compare/cmd/compare --dom0d $(BIN)/dom0d --out build/compare \
		$(if $(CHRONY46),--chronyd2 $(CHRONY46)/chronyd --chronyc2 $(CHRONY46)/chronyc) $(COMPARE_FLAGS)

# Debian packages into build/deb (docs/packaging.md), and their install,
# removal and purge checked in throwaway bookworm and trixie roots.
deb:
	./dist/deb/build.sh build/deb

deb-check: deb
	./dist/deb/check.sh build/deb

clean:
	rm -rf $(BIN) build
