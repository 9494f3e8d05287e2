#include "core/kvm/kvm_hypervisor.h"

#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <string>

#include "absl/strings/str_format.h"
#include "core/common/errno_status.h"
#include "core/common/kernel_cmdline.h"
#include "core/common/log.h"
#include "core/kvm/kvm_vcpu.h"
#include "core/kvm/kvm_vm.h"

namespace vmmd::core {
namespace {

class KvmHypervisor : public Hypervisor {
 public:
  KvmHypervisor(ScopedFd kvm, size_t run_size, HostCapabilities caps)
      : kvm_(std::move(kvm)), run_size_(run_size), caps_(caps) {}

  const HostCapabilities& capabilities() const override { return caps_; }

  absl::StatusOr<std::unique_ptr<VmHandle>> CreateVm(const VmHandleConfig& config) override {
    if (config.ipa_bits > caps_.max_ipa_bits) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "IPA size %u exceeds the host limit of %u bits", config.ipa_bits, caps_.max_ipa_bits));
    }
    int fd = ioctl(kvm_.get(), KVM_CREATE_VM, KVM_VM_TYPE_ARM_IPA_SIZE(config.ipa_bits));
    if (fd < 0) return ErrnoStatus(errno, "KVM_CREATE_VM");
    auto vm = kvm::KvmVm::Create(ScopedFd(fd), run_size_);
    if (!vm.ok()) return vm.status();
    return std::unique_ptr<VmHandle>(std::move(*vm));
  }

 private:
  ScopedFd kvm_;
  const size_t run_size_;
  const HostCapabilities caps_;
};

int Check(int fd, long cap) { return ioctl(fd, KVM_CHECK_EXTENSION, cap); }

}  // namespace

absl::StatusOr<std::unique_ptr<Hypervisor>> OpenKvmHypervisor(const std::string& path) {
  int raw = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (raw < 0) return ErrnoStatus(errno, absl::StrFormat("open %s", path));
  ScopedFd kvm(raw);
  int version = ioctl(kvm.get(), KVM_GET_API_VERSION, 0);
  if (version != KVM_API_VERSION) {
    return absl::FailedPreconditionError(
        absl::StrFormat("%s: KVM API version %d, vmmd needs %d", path, version, KVM_API_VERSION));
  }
  struct Required {
    long cap;
    const char* name;
  };
  for (const Required& r : {Required{KVM_CAP_ARM_PSCI_0_2, "KVM_CAP_ARM_PSCI_0_2"},
                            Required{KVM_CAP_ONE_REG, "KVM_CAP_ONE_REG"},
                            Required{KVM_CAP_DEVICE_CTRL, "KVM_CAP_DEVICE_CTRL"},
                            Required{KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE"},
                            Required{KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
                            Required{KVM_CAP_READONLY_MEM, "KVM_CAP_READONLY_MEM"}}) {
    if (Check(kvm.get(), r.cap) <= 0) {
      return absl::FailedPreconditionError(absl::StrFormat("host KVM lacks %s", r.name));
    }
  }
  int run_size = ioctl(kvm.get(), KVM_GET_VCPU_MMAP_SIZE, 0);
  if (run_size < static_cast<int>(sizeof(kvm_run))) {
    return ErrnoStatus(errno, "KVM_GET_VCPU_MMAP_SIZE");
  }

  HostCapabilities caps;
  int ipa = Check(kvm.get(), KVM_CAP_ARM_VM_IPA_SIZE);
  caps.max_ipa_bits = ipa > 0 ? static_cast<uint32_t>(ipa) : 40;
  caps.pmu_v3 = Check(kvm.get(), KVM_CAP_ARM_PMU_V3) > 0;

  // VM-scoped facts need a VM: the vCPU limit (sized by the vGIC) and the SMCCC filter.
  int probe = ioctl(kvm.get(), KVM_CREATE_VM, 0);
  if (probe < 0) return ErrnoStatus(errno, "KVM_CREATE_VM (capability probe)");
  ScopedFd probe_vm(probe);
  kvm_create_device test_gic{};
  test_gic.type = KVM_DEV_TYPE_ARM_VGIC_V3;
  test_gic.flags = KVM_CREATE_DEVICE_TEST;
  if (ioctl(probe_vm.get(), KVM_CREATE_DEVICE, &test_gic) < 0) {
    return absl::FailedPreconditionError("host KVM cannot create a GICv3 (vGICv3 unsupported)");
  }
  int max_vcpus = Check(probe_vm.get(), KVM_CAP_MAX_VCPUS);
  caps.max_vcpus = max_vcpus > 0 ? static_cast<uint32_t>(max_vcpus) : 0;
  kvm_device_attr filter_attr{};
  filter_attr.group = KVM_ARM_VM_SMCCC_CTRL;
  filter_attr.attr = KVM_ARM_VM_SMCCC_FILTER;
  caps.smccc_filter = ioctl(probe_vm.get(), KVM_HAS_DEVICE_ATTR, &filter_attr) == 0;
  if (!caps.smccc_filter) {
    return absl::FailedPreconditionError(
        "host KVM lacks the SMCCC filter (KVM_ARM_VM_SMCCC_FILTER, Linux >= 6.4): vmmd cannot "
        "forward PSCI CPU_ON/CPU_OFF, so it cannot control vCPU hotplug");
  }
  if (absl::StatusOr<std::string> cmdline = ReadHostKernelCmdline(); cmdline.ok()) {
    caps.wfi_trapped = KernelParameter(*cmdline, "kvm-arm.wfi_trap_policy") != "notrap";
  } else {
    LogWarning("KVM: cannot read the host kernel command line (%s); assuming WFI is trapped",
               cmdline.status().ToString());
  }
  kvm::InstallKickHandler();
  LogInfo("KVM: max %u vCPUs per VM, IPA %u bits, PMUv3 %s, SMCCC filter yes, WFI %s",
          caps.max_vcpus, caps.max_ipa_bits, caps.pmu_v3 ? "yes" : "no",
          caps.wfi_trapped ? "trapped" : "not trapped");
  return std::unique_ptr<Hypervisor>(
      new KvmHypervisor(std::move(kvm), static_cast<size_t>(run_size), caps));
}

}  // namespace vmmd::core
