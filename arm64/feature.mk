# arm64 (arm64/README.md): make's part, included by the Makefile.

# Without arm64 binaries runnable here (an arm64 host, or emulation), these fail and say how.
can_run_arm64 = [ "$$(uname -m)" = aarch64 ] || [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || \
	{ echo "make $@: this $$(uname -m) host cannot run arm64 binaries: sudo arm64/provision" >&2; exit 1; }

.PHONY: test-arm64
test-arm64: BASE_PLATFORM = linux/arm64
test-arm64: prereqs $(VENV)/.installed ## The end-to-end smoke set on arm64 images, natively or under emulation (sudo arm64/provision)
	@$(can_run_arm64)
	$(with_base) E2E_PLATFORM=linux/arm64 $(PYTEST_PARALLEL) -m smoke tests/e2e $(PYTEST_ARGS)

# What make test-arm64 builds first: .ci/run builds it while make test runs.
.PHONY: test-arm64-images
test-arm64-images: BASE_PLATFORM = linux/arm64
test-arm64-images: prereqs $(VENV)/.installed ## Build the images make test-arm64 runs, without running it
	@$(can_run_arm64)
	$(with_base) E2E_PLATFORM=linux/arm64 $(VENV)/bin/python -m tests.e2e.stack

# make build-platforms PLATFORMS=linux/amd64,linux/arm64: the images for each (arm64/build-platforms).
PLATFORMS ?= linux/amd64,linux/arm64
.PHONY: build-platforms
build-platforms: prereqs ## Build the images for each of PLATFORMS (default linux/amd64,linux/arm64)
	@$(can_run_arm64)
	host/sync-build-ca && $(with_revision) arm64/build-platforms "$(COMPOSE)" "$(PLATFORMS)"
