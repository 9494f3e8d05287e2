# vmmd — the two commands of the README, and the steps they are made of.
#   make demo   a real arm64 guest under vmmd, in the nested arm64 KVM bed
#   make test   every test: unit + integration (x86_64), the same under ASan+UBSan plus the fuzz
#               targets (build/sanitize), and the end-to-end scenarios (nested bed)
# Each step installs or fetches what it needs first and is a no-op when already done.

SHELL := /bin/bash
ROOT := $(abspath .)
BUILD := $(ROOT)/build
NATIVE := $(BUILD)/native
ARM64 := $(BUILD)/arm64
CROSS := $(BUILD)/cross
SANITIZE := $(BUILD)/sanitize
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 300
# Every compile goes through ccache (Debian's, installed by `make deps`), kept outside the clone
# (~/.cache/ccache) and keyed by the compile's inputs: a build that changed a few files
# compiles only those, in any clone (paths are taken relative to the clone, not hashed with
# it). The sloppiness lets it cache the compiles that use the tests' precompiled headers. A
# machine without the cache compiles everything, with the same commands.
export CCACHE_BASEDIR := $(ROOT)
export CCACHE_NOHASHDIR := 1
export CCACHE_SLOPPINESS := pch_defines,time_macros,include_file_mtime,include_file_ctime
CCACHE := -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache

.PHONY: all deps build build-arm64 build-sanitize cross-sysroot image e2e-assets debian-image \
  test unit-test sanitize-test fuzz bench demo clean

all: build

deps:
	@deploy/host/install-build-deps.sh

build: deps
	@cmake -S . -B $(NATIVE) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CCACHE) >/dev/null
	@cmake --build $(NATIVE) -j $(JOBS)

# The clang ASan+UBSan tree (VMMD_SANITIZE, docs/testing.md "Sanitizers and fuzzing"): only the
# test binaries (GoogleTest suites, the vmmctl the integration tests run, the libFuzzer targets
# of tests/fuzz). -O1 with line tables keeps it quick to build and its reports symbolized.
build-sanitize: deps
	@CC=clang CXX=clang++ cmake -S . -B $(SANITIZE) -G Ninja -DVMMD_SANITIZE=ON $(CCACHE) \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld \
	  -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
	  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" >/dev/null
	@cmake --build $(SANITIZE) -j $(JOBS) --target vmmd_test_binaries

cross-sysroot: deps
	@deploy/host/fetch-cross-sysroot.sh $(CROSS)

build-arm64: cross-sysroot
	@cmake -S . -B $(ARM64) -G Ninja -DCMAKE_BUILD_TYPE=Release -DVMMD_BUILD_TESTS=OFF $(CCACHE) \
	  -DCMAKE_TOOLCHAIN_FILE=$(ROOT)/cmake/toolchain-aarch64.cmake \
	  -DVMMD_CROSS_SYSROOT=$(CROSS)/sysroot -DVMMD_UAPI_INCLUDE=$(CROSS)/uapi/usr/include >/dev/null
	@cmake --build $(ARM64) -j $(JOBS) --target vmmd vmmctl vmm-autoscaler e2e-driver

# The arm64 container image, no registry or base image needed (deploy/image/README.md):
# build/image/vmmd-oci (OCI layout) and build/image/vmmd-arm64.oci.tar, tagged with the version.
image: build-arm64
	@deploy/image/build-image.sh $(BUILD)/image

e2e-assets: deps
	@tests/e2e/fetch-assets.sh $(BUILD)/e2e

# The Debian trixie arm64 guest image (tests/e2e/image/README.md), cached outside the clone by
# its inputs (~/.cache/vmmd/images): a cold build takes ~12-17 min, a cached one seconds. Its
# arm64 maintainer scripts run under qemu-user: binfmt-arm64.sh registers it when it is not.
debian-image: deps
	@deploy/host/binfmt-arm64.sh
	@tests/e2e/image/build-debian-image.sh $(BUILD)/e2e/debian-image

# Unit and integration tests only (fast, x86_64).
unit-test: build
	@ctest --test-dir $(NATIVE) -L 'unit|integration' --output-on-failure -j $(JOBS)

# Benchmarks: they print numbers, assert nothing (docs/benchmarks.md). vmmd's own code on the
# fake hypervisor (native), then vmmd against Debian's QEMU in the nested bed, one L1 boot each:
# boot and resize (~15 min on a quiet host), devices with the busybox test guest (~10 min),
# what vmmd costs beside its guests (idle CPU, memory with 1 and 20 VMs, leaks, API round
# trip; ~15 min), what each UEFI VM costs (~3 min), vmmctl's start-up (~1 min), where a direct
# boot's seconds go before the guest's clock starts (~3 min), many possible
# vCPUs and a 1 -> 32 step (~10 min), boot on N vs boot on 1 and grow vs start_vcpus (~10 min),
# then the Debian image (~25 min). Each keeps going if one before it failed; the make fails at the end if any did.
# The other nested-bed benchmarks: tests/e2e/bench/*.sh.
bench: build debian-image
	@rc=0; \
	$(NATIVE)/bin/metrics_scrape_bench || rc=1; \
	$(NATIVE)/bin/autoscaler_bench || rc=1; \
	L1_TIMEOUT=2400 L1_SCENARIO_TIMEOUT=2100 tests/e2e/l1-run tests/e2e/bench/boot_resize_vs_qemu.sh || rc=1; \
	L1_TIMEOUT=3000 L1_SCENARIO_TIMEOUT=2700 tests/e2e/l1-run tests/e2e/bench/vmmd_vs_qemu.sh || rc=1; \
	L1_MEM=6G L1_TIMEOUT=2400 L1_SCENARIO_TIMEOUT=2100 tests/e2e/l1-run tests/e2e/bench/footprint.sh || rc=1; \
	L1_MEM=4G tests/e2e/l1-run tests/e2e/bench/uefi_memory.sh || rc=1; \
	tests/e2e/l1-run tests/e2e/bench/vmmctl_start.sh || rc=1; \
	L1_MEM=4G tests/e2e/l1-run tests/e2e/bench/boot_breakdown.sh || rc=1; \
	L1_TIMEOUT=1800 L1_SCENARIO_TIMEOUT=1500 tests/e2e/l1-run tests/e2e/bench/vcpu_counts.sh || rc=1; \
	L1_TIMEOUT=1800 L1_SCENARIO_TIMEOUT=1500 tests/e2e/l1-run tests/e2e/bench/boot_then_grow.sh || rc=1; \
	L1_TIMEOUT=3600 L1_SCENARIO_TIMEOUT=3300 tests/e2e/l1-run tests/e2e/bench/debian_vs_qemu.sh || rc=1; \
	exit $$rc

# Unit and integration tests under ASan+UBSan, and each fuzz target for 20 s from its seeds.
sanitize-test: build-sanitize
	@ctest --test-dir $(SANITIZE) -L 'unit|integration|fuzz' --output-on-failure -j $(JOBS)

# Every fuzz target for FUZZ_SECONDS (default 300) from its seeds, JOBS at a time; prints the
# executions, exec/s and coverage (cov:, ft:) of each. Corpora and logs:
# build/sanitize/tests/fuzz/fuzz-runs/.
fuzz: build-sanitize
	@tests/fuzz/fuzz-all.sh $(SANITIZE) $(FUZZ_SECONDS) $(JOBS)

# Both trees run even if the first fails, each ending with its own ctest summary line.
test: build build-arm64 e2e-assets debian-image image build-sanitize
	@rc=0; echo "== build/native: unit, integration, end-to-end =="; \
	  ctest --test-dir $(NATIVE) --output-on-failure -j $(JOBS) || rc=1; \
	  echo "== build/sanitize (ASan+UBSan): unit, integration, fuzz =="; \
	  ctest --test-dir $(SANITIZE) -L 'unit|integration|fuzz' --output-on-failure -j $(JOBS) || rc=1; \
	  exit $$rc

demo: build-arm64 e2e-assets debian-image
	@tests/e2e/l1-run tests/e2e/demo.sh

clean:
	rm -rf $(BUILD)
