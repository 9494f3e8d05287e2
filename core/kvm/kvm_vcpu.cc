#include "core/kvm/kvm_vcpu.h"

#include <sys/ioctl.h>
#include <sys/mman.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <mutex>

#include "absl/strings/str_format.h"
#include "core/common/errno_status.h"
#include "core/kvm/device_attr.h"

namespace vmmd::core::kvm {
namespace {

constexpr uint64_t kCoreRegBase = KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE;
constexpr uint64_t kMpidrEl1 = ARM64_SYS_REG(3, 0, 0, 0, 5);

uint64_t CoreRegId(size_t byte_offset) { return kCoreRegBase | (byte_offset / sizeof(uint32_t)); }

absl::StatusOr<uint64_t> KvmRegId(Reg reg) {
  const auto n = static_cast<uint32_t>(reg);
  if (n <= 30) {
    return CoreRegId(offsetof(kvm_regs, regs.regs) + n * sizeof(uint64_t));
  }
  switch (reg) {
    case Reg::kSp:
      return CoreRegId(offsetof(kvm_regs, regs.sp));
    case Reg::kPc:
      return CoreRegId(offsetof(kvm_regs, regs.pc));
    case Reg::kPstate:
      return CoreRegId(offsetof(kvm_regs, regs.pstate));
    case Reg::kMpidrEl1:
      return kMpidrEl1;
    default:
      return absl::InvalidArgumentError(absl::StrFormat("unknown register %u", n));
  }
}

void KickHandler(int) {}

}  // namespace

int KickSignal() { return SIGRTMIN + 1; }

void InstallKickHandler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_handler = KickHandler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: KVM_RUN must return EINTR
    sigaction(KickSignal(), &sa, nullptr);
  });
}

KvmVcpu::KvmVcpu(uint32_t id, ScopedFd fd, kvm_run* run, size_t run_size, uint32_t target)
    : id_(id), fd_(std::move(fd)), run_(run), run_size_(run_size), target_(target) {}

KvmVcpu::~KvmVcpu() { munmap(run_, run_size_); }

absl::Status KvmVcpu::Init(const VcpuFeatures& features) {
  kvm_vcpu_init init{};
  init.target = target_;
  init.features[0] |= 1u << KVM_ARM_VCPU_PSCI_0_2;
  if (features.power_off) init.features[0] |= 1u << KVM_ARM_VCPU_POWER_OFF;
  if (features.pmu_v3) init.features[0] |= 1u << KVM_ARM_VCPU_PMU_V3;
  if (ioctl(fd_.get(), KVM_ARM_VCPU_INIT, &init) < 0) {
    return ErrnoStatus(errno, absl::StrFormat("KVM_ARM_VCPU_INIT vCPU %u", id_));
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> KvmVcpu::GetReg(Reg reg) {
  absl::StatusOr<uint64_t> reg_id = KvmRegId(reg);
  if (!reg_id.ok()) return reg_id.status();
  uint64_t value = 0;
  kvm_one_reg one{*reg_id, reinterpret_cast<uint64_t>(&value)};
  if (ioctl(fd_.get(), KVM_GET_ONE_REG, &one) < 0) {
    return ErrnoStatus(errno, absl::StrFormat("KVM_GET_ONE_REG 0x%x vCPU %u", *reg_id, id_));
  }
  return value;
}

absl::Status KvmVcpu::SetReg(Reg reg, uint64_t value) {
  absl::StatusOr<uint64_t> reg_id = KvmRegId(reg);
  if (!reg_id.ok()) return reg_id.status();
  kvm_one_reg one{*reg_id, reinterpret_cast<uint64_t>(&value)};
  if (ioctl(fd_.get(), KVM_SET_ONE_REG, &one) < 0) {
    return ErrnoStatus(errno, absl::StrFormat("KVM_SET_ONE_REG 0x%x vCPU %u", *reg_id, id_));
  }
  return absl::OkStatus();
}

absl::StatusOr<MpState> KvmVcpu::GetMpState() {
  kvm_mp_state mp{};
  if (ioctl(fd_.get(), KVM_GET_MP_STATE, &mp) < 0) {
    return ErrnoStatus(errno, absl::StrFormat("KVM_GET_MP_STATE vCPU %u", id_));
  }
  switch (mp.mp_state) {
    case KVM_MP_STATE_RUNNABLE:
      return MpState::kRunnable;
    case KVM_MP_STATE_STOPPED:
      return MpState::kStopped;
    case KVM_MP_STATE_SUSPENDED:
      return MpState::kSuspended;
    default:
      return absl::InternalError(absl::StrFormat("vCPU %u: unknown mp_state %u", id_, mp.mp_state));
  }
}

absl::Status KvmVcpu::SetMpState(MpState state) {
  kvm_mp_state mp{};
  switch (state) {
    case MpState::kRunnable:
      mp.mp_state = KVM_MP_STATE_RUNNABLE;
      break;
    case MpState::kStopped:
      mp.mp_state = KVM_MP_STATE_STOPPED;
      break;
    case MpState::kSuspended:
      mp.mp_state = KVM_MP_STATE_SUSPENDED;
      break;
  }
  if (ioctl(fd_.get(), KVM_SET_MP_STATE, &mp) < 0) {
    return ErrnoStatus(errno, absl::StrFormat("KVM_SET_MP_STATE vCPU %u", id_));
  }
  return absl::OkStatus();
}

absl::Status KvmVcpu::SetVcpuAttr(uint32_t group, uint64_t attr, const void* value,
                                  const char* what) {
  return SetDeviceAttr(fd_.get(), group, attr, value, absl::StrFormat("%s vCPU %u", what, id_));
}

absl::Status KvmVcpu::SetTimerPpis(uint32_t vtimer, uint32_t ptimer) {
  int v = static_cast<int>(vtimer);
  int p = static_cast<int>(ptimer);
  absl::Status s = SetVcpuAttr(KVM_ARM_VCPU_TIMER_CTRL, KVM_ARM_VCPU_TIMER_IRQ_VTIMER, &v,
                               "KVM_ARM_VCPU_TIMER_IRQ_VTIMER");
  if (!s.ok()) return s;
  return SetVcpuAttr(KVM_ARM_VCPU_TIMER_CTRL, KVM_ARM_VCPU_TIMER_IRQ_PTIMER, &p,
                     "KVM_ARM_VCPU_TIMER_IRQ_PTIMER");
}

absl::Status KvmVcpu::InitPmu(uint32_t ppi) {
  int irq = static_cast<int>(ppi);
  absl::Status s =
      SetVcpuAttr(KVM_ARM_VCPU_PMU_V3_CTRL, KVM_ARM_VCPU_PMU_V3_IRQ, &irq, "KVM_ARM_VCPU_PMU_V3_IRQ");
  if (!s.ok()) return s;
  return SetVcpuAttr(KVM_ARM_VCPU_PMU_V3_CTRL, KVM_ARM_VCPU_PMU_V3_INIT, nullptr,
                     "KVM_ARM_VCPU_PMU_V3_INIT");
}

absl::Status KvmVcpu::PrepareRunThread() {
  // Every thread that runs a vCPU keeps the kick signal blocked outside KVM_RUN.
  thread_local bool blocked = false;
  sigset_t kick;
  sigemptyset(&kick);
  sigaddset(&kick, KickSignal());
  if (!blocked) {
    pthread_sigmask(SIG_BLOCK, &kick, nullptr);
    blocked = true;
  }
  if (signal_mask_set_) return absl::OkStatus();
  // During KVM_RUN: the thread's mask minus the kick signal. The kernel's sigset is 8 bytes.
  sigset_t during_run;
  pthread_sigmask(SIG_BLOCK, nullptr, &during_run);
  sigdelset(&during_run, KickSignal());
  alignas(kvm_signal_mask) uint8_t buf[sizeof(kvm_signal_mask) + 8] = {};
  auto* mask = reinterpret_cast<kvm_signal_mask*>(buf);
  mask->len = 8;
  std::memcpy(mask->sigset, &during_run, 8);
  if (ioctl(fd_.get(), KVM_SET_SIGNAL_MASK, mask) < 0) {
    return ErrnoStatus(errno, absl::StrFormat("KVM_SET_SIGNAL_MASK vCPU %u", id_));
  }
  signal_mask_set_ = true;
  return absl::OkStatus();
}

absl::StatusOr<VcpuExit> KvmVcpu::Run() {
  if (absl::Status s = PrepareRunThread(); !s.ok()) return s;
  {
    absl::MutexLock lock(&kick_mu_);
    in_run_ = true;
    run_thread_ = pthread_self();
  }
  int ret = ioctl(fd_.get(), KVM_RUN, 0);
  int err = errno;
  {
    absl::MutexLock lock(&kick_mu_);
    in_run_ = false;
  }
  if (ret < 0) {
    if (err == EINTR || err == EAGAIN) {
      std::atomic_ref<uint8_t>(run_->immediate_exit).store(0);
      return VcpuExit{InterruptedExit{}};
    }
    return ErrnoStatus(err, absl::StrFormat("KVM_RUN vCPU %u", id_));
  }
  return DecodeExit();
}

VcpuExit KvmVcpu::DecodeExit() {
  switch (run_->exit_reason) {
    case KVM_EXIT_MMIO: {
      MmioExit m;
      m.addr = run_->mmio.phys_addr;
      m.len = run_->mmio.len <= 8 ? run_->mmio.len : 8;
      m.is_write = run_->mmio.is_write != 0;
      if (m.is_write) std::memcpy(m.data.data(), run_->mmio.data, m.len);
      return m;
    }
    case KVM_EXIT_HYPERCALL:
      return HypercallExit{static_cast<uint32_t>(run_->hypercall.nr),
                           (run_->hypercall.flags & KVM_HYPERCALL_EXIT_SMC) != 0};
    case KVM_EXIT_SYSTEM_EVENT: {
      SystemEventExit e;
      e.raw_type = run_->system_event.type;
      switch (run_->system_event.type) {
        case KVM_SYSTEM_EVENT_SHUTDOWN:
          e.type = SystemEventExit::Type::kShutdown;
          break;
        case KVM_SYSTEM_EVENT_RESET:
          e.type = SystemEventExit::Type::kReset;
          break;
        case KVM_SYSTEM_EVENT_CRASH:
          e.type = SystemEventExit::Type::kCrash;
          break;
        default:
          e.type = SystemEventExit::Type::kOther;
      }
      return e;
    }
    case KVM_EXIT_INTR:
      return InterruptedExit{};
    case KVM_EXIT_ARM_NISV:
      return UnhandledExit{run_->exit_reason,
                           absl::StrFormat("MMIO access KVM cannot decode (no valid syndrome: "
                                           "load/store pair, SIMD or writeback) at 0x%x, ESR ISS 0x%x",
                                           run_->arm_nisv.fault_ipa, run_->arm_nisv.esr_iss)};
    case KVM_EXIT_FAIL_ENTRY:
      return UnhandledExit{run_->exit_reason,
                           absl::StrFormat("FAIL_ENTRY hardware reason 0x%x",
                                           run_->fail_entry.hardware_entry_failure_reason)};
    case KVM_EXIT_INTERNAL_ERROR:
      return UnhandledExit{run_->exit_reason,
                           absl::StrFormat("INTERNAL_ERROR suberror %u", run_->internal.suberror)};
    default:
      return UnhandledExit{run_->exit_reason, "unexpected exit reason"};
  }
}

void KvmVcpu::SetMmioReadData(absl::Span<const uint8_t> data) {
  const size_t n = data.size() <= sizeof(run_->mmio.data) ? data.size() : sizeof(run_->mmio.data);
  std::memcpy(run_->mmio.data, data.data(), n);
}

void KvmVcpu::Kick() {
  std::atomic_ref<uint8_t>(run_->immediate_exit).store(1);
  absl::MutexLock lock(&kick_mu_);
  if (in_run_) pthread_kill(run_thread_, KickSignal());
}

}  // namespace vmmd::core::kvm
