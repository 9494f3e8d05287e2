// KVM arm64 VM and vGICv3 handles. Internal to core/kvm.
#pragma once

#include <cstddef>
#include <memory>

#include "core/common/scoped_fd.h"
#include "core/hypervisor/hypervisor.h"

namespace vmmd::core::kvm {

class KvmVgic : public VgicHandle {
 public:
  explicit KvmVgic(ScopedFd fd) : fd_(std::move(fd)) {}
  absl::Status SetNrIrqs(uint32_t nr_irqs) override;
  absl::Status SetDistributor(uint64_t base) override;
  absl::Status AddRedistributorRegion(uint32_t index, const RedistributorRegion& region) override;
  absl::Status Initialize() override;

 private:
  absl::Status SetAttr(uint32_t group, uint64_t attr, const void* value, const char* what);
  ScopedFd fd_;
};

class KvmVm : public VmHandle {
 public:
  // `vm_fd` from KVM_CREATE_VM; `run_size` from KVM_GET_VCPU_MMAP_SIZE.
  static absl::StatusOr<std::unique_ptr<KvmVm>> Create(ScopedFd vm_fd, size_t run_size);

  absl::StatusOr<std::unique_ptr<VcpuHandle>> CreateVcpu(uint32_t id) override;
  absl::Status MapMemory(uint32_t slot, uint64_t gpa, uint64_t size, void* host,
                         bool read_only) override;
  absl::StatusOr<std::unique_ptr<VgicHandle>> CreateVgicV3() override;
  absl::Status SetSmcccFilter(uint32_t base, uint32_t count, SmcccAction action) override;
  absl::Status SetSpiLevel(uint32_t spi, bool level) override;
  absl::Status AttachIrqFd(uint32_t spi, int fd) override;
  absl::Status AttachIoEventFd(uint64_t gpa, uint32_t len, uint64_t value, int fd) override;

 private:
  KvmVm(ScopedFd fd, size_t run_size, uint32_t target)
      : fd_(std::move(fd)), run_size_(run_size), target_(target) {}
  ScopedFd fd_;
  const size_t run_size_;
  const uint32_t target_;
};

}  // namespace vmmd::core::kvm
