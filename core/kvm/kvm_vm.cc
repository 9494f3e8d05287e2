#include "core/kvm/kvm_vm.h"

#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <cerrno>

#include "absl/strings/str_format.h"
#include "core/common/errno_status.h"
#include "core/kvm/device_attr.h"
#include "core/kvm/kvm_vcpu.h"

namespace vmmd::core::kvm {

// ---- vGICv3 -------------------------------------------------------------------------------

absl::Status KvmVgic::SetAttr(uint32_t group, uint64_t attr, const void* value, const char* what) {
  return SetDeviceAttr(fd_.get(), group, attr, value, what);
}

absl::Status KvmVgic::SetNrIrqs(uint32_t nr_irqs) {
  return SetAttr(KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0, &nr_irqs, "vGIC NR_IRQS");
}

absl::Status KvmVgic::SetDistributor(uint64_t base) {
  return SetAttr(KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST, &base,
                 "vGIC distributor address");
}

absl::Status KvmVgic::AddRedistributorRegion(uint32_t index, const RedistributorRegion& region) {
  // count[63:52] | base[51:16] | flags[15:12] = 0 | index[11:0]
  if (region.count == 0 || region.count > 0xfff || index > 0xfff || (region.base & 0xffff) != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "redistributor region %u (base 0x%x, %u vCPUs) cannot be encoded", index, region.base,
        region.count));
  }
  uint64_t value = (uint64_t{region.count} << 52) | (region.base & 0x000f'ffff'ffff'0000ULL) | index;
  return SetAttr(KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST_REGION, &value,
                 "vGIC redistributor region");
}

absl::Status KvmVgic::Initialize() {
  return SetAttr(KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, nullptr, "vGIC CTRL_INIT");
}

// ---- VM -----------------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<KvmVm>> KvmVm::Create(ScopedFd vm_fd, size_t run_size) {
  // MMIO accesses KVM cannot decode (load/store pair, SIMD, writeback: no valid syndrome) are
  // reported as an exit with the address instead of a bare ENOSYS from KVM_RUN.
  if (ioctl(vm_fd.get(), KVM_CHECK_EXTENSION, KVM_CAP_ARM_NISV_TO_USER) > 0) {
    kvm_enable_cap cap{};
    cap.cap = KVM_CAP_ARM_NISV_TO_USER;
    if (ioctl(vm_fd.get(), KVM_ENABLE_CAP, &cap) < 0) {
      return ErrnoStatus(errno, "KVM_ENABLE_CAP(ARM_NISV_TO_USER)");
    }
  }
  kvm_vcpu_init preferred{};
  if (ioctl(vm_fd.get(), KVM_ARM_PREFERRED_TARGET, &preferred) < 0) {
    return ErrnoStatus(errno, "KVM_ARM_PREFERRED_TARGET");
  }
  return std::unique_ptr<KvmVm>(new KvmVm(std::move(vm_fd), run_size, preferred.target));
}

absl::StatusOr<std::unique_ptr<VcpuHandle>> KvmVm::CreateVcpu(uint32_t id) {
  int fd = ioctl(fd_.get(), KVM_CREATE_VCPU, static_cast<unsigned long>(id));
  if (fd < 0) return ErrnoStatus(errno, absl::StrFormat("KVM_CREATE_VCPU %u", id));
  ScopedFd vcpu_fd(fd);
  void* run = mmap(nullptr, run_size_, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fd.get(), 0);
  if (run == MAP_FAILED) return ErrnoStatus(errno, absl::StrFormat("mmap kvm_run of vCPU %u", id));
  return std::unique_ptr<VcpuHandle>(
      new KvmVcpu(id, std::move(vcpu_fd), static_cast<kvm_run*>(run), run_size_, target_));
}

absl::Status KvmVm::MapMemory(uint32_t slot, uint64_t gpa, uint64_t size, void* host,
                              bool read_only) {
  kvm_userspace_memory_region region{};
  region.slot = slot;
  region.flags = read_only ? KVM_MEM_READONLY : 0;
  region.guest_phys_addr = gpa;
  region.memory_size = size;
  region.userspace_addr = reinterpret_cast<uint64_t>(host);
  if (ioctl(fd_.get(), KVM_SET_USER_MEMORY_REGION, &region) < 0) {
    return ErrnoStatus(errno, absl::StrFormat("KVM_SET_USER_MEMORY_REGION slot %u at 0x%x", slot, gpa));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<VgicHandle>> KvmVm::CreateVgicV3() {
  kvm_create_device dev{};
  dev.type = KVM_DEV_TYPE_ARM_VGIC_V3;
  if (ioctl(fd_.get(), KVM_CREATE_DEVICE, &dev) < 0) {
    return ErrnoStatus(errno, "KVM_CREATE_DEVICE(VGIC_V3)");
  }
  return std::unique_ptr<VgicHandle>(new KvmVgic(ScopedFd(static_cast<int>(dev.fd))));
}

absl::Status KvmVm::SetSmcccFilter(uint32_t base, uint32_t count, SmcccAction action) {
  kvm_smccc_filter filter{};
  filter.base = base;
  filter.nr_functions = count;
  switch (action) {
    case SmcccAction::kHandleInKernel:
      filter.action = KVM_SMCCC_FILTER_HANDLE;
      break;
    case SmcccAction::kDeny:
      filter.action = KVM_SMCCC_FILTER_DENY;
      break;
    case SmcccAction::kForwardToUser:
      filter.action = KVM_SMCCC_FILTER_FWD_TO_USER;
      break;
  }
  return SetDeviceAttr(fd_.get(), KVM_ARM_VM_SMCCC_CTRL, KVM_ARM_VM_SMCCC_FILTER, &filter,
                       absl::StrFormat("SMCCC filter [0x%x, +%u)", base, count));
}

absl::Status KvmVm::SetSpiLevel(uint32_t spi, bool level) {
  kvm_irq_level irq{};
  irq.irq = (KVM_ARM_IRQ_TYPE_SPI << KVM_ARM_IRQ_TYPE_SHIFT) | ((32 + spi) & KVM_ARM_IRQ_NUM_MASK);
  irq.level = level ? 1 : 0;
  if (ioctl(fd_.get(), KVM_IRQ_LINE, &irq) < 0) {
    return ErrnoStatus(errno, absl::StrFormat("KVM_IRQ_LINE SPI %u", spi));
  }
  return absl::OkStatus();
}

absl::Status KvmVm::AttachIrqFd(uint32_t spi, int fd) {
  // On arm64 without a routing table, an irqfd's GSI is the SPI number (INTID 32 + gsi).
  kvm_irqfd irqfd{};
  irqfd.fd = static_cast<uint32_t>(fd);
  irqfd.gsi = spi;
  if (ioctl(fd_.get(), KVM_IRQFD, &irqfd) < 0) {
    return ErrnoStatus(errno, absl::StrFormat("KVM_IRQFD SPI %u", spi));
  }
  return absl::OkStatus();
}

absl::Status KvmVm::AttachIoEventFd(uint64_t gpa, uint32_t len, uint64_t value, int fd) {
  kvm_ioeventfd ioeventfd{};
  ioeventfd.datamatch = value;
  ioeventfd.addr = gpa;
  ioeventfd.len = len;
  ioeventfd.fd = fd;
  ioeventfd.flags = KVM_IOEVENTFD_FLAG_DATAMATCH;
  if (ioctl(fd_.get(), KVM_IOEVENTFD, &ioeventfd) < 0) {
    return ErrnoStatus(errno, absl::StrFormat("KVM_IOEVENTFD 0x%x/%u = %u", gpa, len, value));
  }
  return absl::OkStatus();
}

}  // namespace vmmd::core::kvm
