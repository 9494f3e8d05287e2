// A CpuHotplugBackend for tests: per-vCPU status set by the test, every call recorded. AckInsert
// / AckRemove clear the event; Eject clears Enabled unless the vCPU is a boot vCPU.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "core/vcpu/cpu_hotplug_backend.h"

namespace vmmd::hw::testing {

class FakeCpuHotplugBackend final : public core::CpuHotplugBackend {
 public:
  // vCPU i has MPIDR mpidrs[i]; the first `boot` vCPUs are boot vCPUs (enabled).
  FakeCpuHotplugBackend(std::vector<uint64_t> mpidrs, uint32_t boot) : mpidrs_(std::move(mpidrs)) {
    absl::MutexLock lock(&mu_);
    status_.resize(mpidrs_.size());
    for (uint32_t i = 0; i < boot && i < status_.size(); ++i) status_[i].enabled = true;
    boot_ = boot;
  }

  uint32_t PossibleCpus() const override { return static_cast<uint32_t>(mpidrs_.size()); }
  core::CpuHotplugStatus Status(uint32_t cpu) const override {
    absl::MutexLock lock(&mu_);
    ++status_reads_;
    return status_.at(cpu);
  }
  // Counted per vCPU when an event was pending (not recorded in the calls).
  core::CpuHotplugStatus ReadStatus(uint32_t cpu) override {
    absl::MutexLock lock(&mu_);
    ++status_reads_;
    const core::CpuHotplugStatus s = status_.at(cpu);
    if (s.insert_pending || s.remove_pending) ++seen_[cpu];
    return s;
  }
  int seen(uint32_t cpu) const {
    absl::MutexLock lock(&mu_);
    auto it = seen_.find(cpu);
    return it == seen_.end() ? 0 : it->second;
  }
  uint64_t ArchId(uint32_t cpu) const override { return mpidrs_.at(cpu); }
  void AckInsert(uint32_t cpu) override {
    absl::MutexLock lock(&mu_);
    calls_.push_back(absl::StrFormat("AckInsert(%u)", cpu));
    status_.at(cpu).insert_pending = false;
  }
  void AckRemove(uint32_t cpu) override {
    absl::MutexLock lock(&mu_);
    calls_.push_back(absl::StrFormat("AckRemove(%u)", cpu));
    status_.at(cpu).remove_pending = false;
  }
  void Eject(uint32_t cpu) override {
    absl::MutexLock lock(&mu_);
    calls_.push_back(absl::StrFormat("Eject(%u)", cpu));
    if (cpu >= boot_) status_.at(cpu).enabled = false;
  }
  void Ost(uint32_t cpu, uint32_t event, uint32_t status) override {
    absl::MutexLock lock(&mu_);
    calls_.push_back(absl::StrFormat("Ost(%u,0x%x,0x%x)", cpu, event, status));
  }

  // Counted, not recorded in the calls; runs the hook set by OnFlush (outside the fake's lock).
  void FlushLog() override {
    std::function<void()> hook;
    {
      absl::MutexLock lock(&mu_);
      ++flushes_;
      hook = on_flush_;
    }
    if (hook) hook();
  }
  void OnFlush(std::function<void()> hook) {
    absl::MutexLock lock(&mu_);
    on_flush_ = std::move(hook);
  }
  int flushes() const {
    absl::MutexLock lock(&mu_);
    return flushes_;
  }

  void Set(uint32_t cpu, core::CpuHotplugStatus s) {
    absl::MutexLock lock(&mu_);
    status_.at(cpu) = s;
  }
  core::CpuHotplugStatus Get(uint32_t cpu) const { return Status(cpu); }
  std::vector<std::string> TakeCalls() {
    absl::MutexLock lock(&mu_);
    return std::move(calls_);
  }

 private:
  const std::vector<uint64_t> mpidrs_;
  mutable absl::Mutex mu_;
  uint32_t boot_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<core::CpuHotplugStatus> status_ ABSL_GUARDED_BY(mu_);
  mutable uint64_t status_reads_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<uint32_t, int> seen_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> calls_ ABSL_GUARDED_BY(mu_);
  int flushes_ ABSL_GUARDED_BY(mu_) = 0;
  std::function<void()> on_flush_ ABSL_GUARDED_BY(mu_);
};

// KVM's MPIDR for vCPU `id` (Aff0 = id & 0xf, Aff1 = (id >> 4) & 0xff, Aff2 = (id >> 12) & 0xff).
inline uint64_t KvmMpidr(uint32_t id) {
  return (id & 0xF) | (uint64_t{(id >> 4) & 0xFF} << 8) | (uint64_t{(id >> 12) & 0xFF} << 16);
}

inline std::vector<uint64_t> KvmMpidrs(uint32_t n) {
  std::vector<uint64_t> out;
  for (uint32_t i = 0; i < n; ++i) out.push_back(KvmMpidr(i));
  return out;
}

}  // namespace vmmd::hw::testing
