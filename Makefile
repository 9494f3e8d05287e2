# vmmd — the two commands of the README, and the steps they are made of.
#   make demo   a real arm64 guest under vmmd, in the nested arm64 KVM bed
#   make test   every test: unit + integration (x86_64) and the end-to-end scenarios (nested bed)
# Each step installs or fetches what it needs first and is a no-op when already done.

SHELL := /bin/bash
ROOT := $(abspath .)
BUILD := $(ROOT)/build
NATIVE := $(BUILD)/native
ARM64 := $(BUILD)/arm64
CROSS := $(BUILD)/cross
JOBS ?= $(shell nproc)

.PHONY: all deps build build-arm64 cross-sysroot image e2e-assets test unit-test bench demo clean

all: build

deps:
	@deploy/host/install-build-deps.sh

build: deps
	@cmake -S . -B $(NATIVE) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(NATIVE) -j $(JOBS)

cross-sysroot: deps
	@deploy/host/fetch-cross-sysroot.sh $(CROSS)

build-arm64: cross-sysroot
	@cmake -S . -B $(ARM64) -G Ninja -DCMAKE_BUILD_TYPE=Release -DVMMD_BUILD_TESTS=OFF \
	  -DCMAKE_TOOLCHAIN_FILE=$(ROOT)/cmake/toolchain-aarch64.cmake \
	  -DVMMD_CROSS_SYSROOT=$(CROSS)/sysroot -DVMMD_UAPI_INCLUDE=$(CROSS)/uapi/usr/include >/dev/null
	@cmake --build $(ARM64) -j $(JOBS) --target vmmd vmmctl vmm-autoscaler

# The arm64 container image, no registry or base image needed (deploy/image/README.md):
# build/image/vmmd-oci (OCI layout) and build/image/vmmd-arm64.oci.tar, tagged with the version.
image: build-arm64
	@deploy/image/build-image.sh $(BUILD)/image

e2e-assets: deps
	@tests/e2e/fetch-assets.sh $(BUILD)/e2e

# Unit and integration tests only (fast, x86_64).
unit-test: build
	@ctest --test-dir $(NATIVE) -L 'unit|integration' --output-on-failure -j $(JOBS)

# Benchmarks of vmmd's own code on the fake hypervisor (native): they print numbers, assert
# nothing (docs/benchmarks.md). The nested-bed benchmarks are tests/e2e/bench/*.sh.
bench: build
	@$(NATIVE)/bin/metrics_scrape_bench
	@$(NATIVE)/bin/autoscaler_bench

test: build build-arm64 e2e-assets image
	@ctest --test-dir $(NATIVE) --output-on-failure

demo: build-arm64 e2e-assets
	@tests/e2e/l1-run tests/e2e/demo.sh

clean:
	rm -rf $(BUILD)
