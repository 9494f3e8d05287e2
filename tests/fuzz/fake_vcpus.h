// A VcpuManager over the fake hypervisor for the fuzz targets: `possible` vCPUs, the first
// `boot` of them boot vCPUs, none started. The same setup as core/vcpu's test fixture, without
// GoogleTest.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/bus/bus.h"
#include "core/vcpu/vcpu_manager.h"
#include "tests/fakes/fake_hypervisor.h"
#include "tests/fuzz/fuzz_input.h"

namespace vmmd::fuzz {

class NullVcpuSink : public core::VcpuEventSink {
 public:
  void OnGuestSystemEvent(uint32_t, const core::SystemEventExit&) override {}
  void OnVcpuFailed(uint32_t vcpu, const absl::Status& status) override {
    Fail(__FILE__, __LINE__, "vCPU " + std::to_string(vcpu) + " failed: " + status.ToString());
  }
};

struct FakeVcpus {
  FakeVcpus(uint32_t possible, uint32_t boot) {
    auto created = hv.CreateVm({});
    if (!created.ok()) Fail(__FILE__, __LINE__, created.status().ToString());
    vm = std::move(*created);
    record = hv.vms().back();
    std::vector<core::VcpuSetup> setups;
    for (uint32_t i = 0; i < possible; ++i) {
      auto v = vm->CreateVcpu(i);
      if (!v.ok()) Fail(__FILE__, __LINE__, v.status().ToString());
      if (!(*v)->Init(core::VcpuFeatures{.power_off = i != 0}).ok())
        Fail(__FILE__, __LINE__, "Init");
      setups.push_back(core::VcpuSetup{std::move(*v), testing::FakeMpidr(i), i < boot});
    }
    auto gic = vm->CreateVgicV3();
    if (!gic.ok() || !(*gic)->SetDistributor(0x800'0000).ok() ||
        !(*gic)->AddRedistributorRegion(0, {0x80a'0000, possible}).ok() ||
        !(*gic)->Initialize().ok()) {
      Fail(__FILE__, __LINE__, "vGIC setup");
    }
    mgr = std::make_unique<core::VcpuManager>("fuzz", std::move(setups), core::VcpuFeatures{}, &bus,
                                              &sink);
  }
  ~FakeVcpus() { mgr.reset(); }

  testing::FakeHypervisor hv;
  std::unique_ptr<core::VmHandle> vm;
  std::shared_ptr<testing::FakeVmRecord> record;
  core::Bus bus;
  NullVcpuSink sink;
  std::unique_ptr<core::VcpuManager> mgr;
};

}  // namespace vmmd::fuzz
