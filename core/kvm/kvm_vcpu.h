// KVM arm64 vCPU: one vCPU fd and its mmap'ed kvm_run. Internal to core/kvm.
#pragma once

#include <linux/kvm.h>
#include <pthread.h>

#include <cstddef>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "core/common/scoped_fd.h"
#include "core/hypervisor/hypervisor.h"

namespace vmmd::core::kvm {

// The signal that interrupts a vCPU thread in KVM_RUN. Blocked in vCPU threads except
// inside KVM_RUN (KVM_SET_SIGNAL_MASK), so it can only ever interrupt KVM_RUN.
int KickSignal();
// Installs the (empty) handler once per process.
void InstallKickHandler();

class KvmVcpu : public VcpuHandle {
 public:
  // `run` is the mmap of `run_size` bytes; `target` from KVM_ARM_PREFERRED_TARGET.
  KvmVcpu(uint32_t id, ScopedFd fd, kvm_run* run, size_t run_size, uint32_t target);
  ~KvmVcpu() override;

  uint32_t id() const override { return id_; }
  absl::Status Init(const VcpuFeatures& features) override;
  absl::StatusOr<uint64_t> GetReg(Reg reg) override;
  absl::Status SetReg(Reg reg, uint64_t value) override;
  absl::StatusOr<MpState> GetMpState() override;
  absl::Status SetMpState(MpState state) override;
  absl::Status SetTimerPpis(uint32_t vtimer, uint32_t ptimer) override;
  absl::Status InitPmu(uint32_t ppi) override;
  absl::StatusOr<VcpuExit> Run() override;
  void SetMmioReadData(absl::Span<const uint8_t> data) override;
  void Kick() override;

 private:
  absl::Status PrepareRunThread();
  absl::Status SetVcpuAttr(uint32_t group, uint64_t attr, const void* value, const char* what);
  VcpuExit DecodeExit();

  const uint32_t id_;
  ScopedFd fd_;
  kvm_run* const run_;
  const size_t run_size_;
  const uint32_t target_;
  bool signal_mask_set_ = false;  // only touched by the running thread
  absl::Mutex kick_mu_;
  bool in_run_ ABSL_GUARDED_BY(kick_mu_) = false;
  pthread_t run_thread_ ABSL_GUARDED_BY(kick_mu_){};
};

}  // namespace vmmd::core::kvm
