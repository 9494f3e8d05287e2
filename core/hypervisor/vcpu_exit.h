// A vCPU exit decoded once, by the hypervisor backend, into a plain value.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <variant>

namespace vmmd::core {

// A guest load/store to an address not backed by a memory slot. For reads, the handler supplies
// the data with VcpuHandle::SetMmioReadData before the next Run().
struct MmioExit {
  uint64_t addr = 0;
  uint32_t len = 0;  // 1, 2, 4 or 8
  bool is_write = false;
  std::array<uint8_t, 8> data{};  // write data (little-endian as the guest stored it)
};

// An SMCCC call (HVC or SMC) that the SMCCC filter forwarded to userspace. Arguments are read
// with GetReg(X1..), the result is written to X0 before the next Run(). PC already points past
// the call instruction.
struct HypercallExit {
  uint32_t function_id = 0;
  bool smc = false;  // false: HVC conduit
};

// PSCI SYSTEM_OFF / SYSTEM_RESET and friends, handled by KVM and reported to userspace.
struct SystemEventExit {
  enum class Type { kShutdown, kReset, kCrash, kOther };
  Type type = Type::kOther;
  uint32_t raw_type = 0;
};

// Run() returned because of Kick() (or a signal): nothing happened in the guest.
struct InterruptedExit {};

// Anything the VMM cannot continue from (FAIL_ENTRY, INTERNAL_ERROR, unknown reasons).
struct UnhandledExit {
  uint32_t reason = 0;
  std::string detail;
};

using VcpuExit = std::variant<MmioExit, HypercallExit, SystemEventExit, InterruptedExit, UnhandledExit>;

}  // namespace vmmd::core
