// PSCI as vmmd handles it in userspace. KVM keeps everything except CPU_ON (32- and 64-bit ids)
// and CPU_OFF, which the SMCCC filter forwards here so that vmmd's policy decides which
// possible vCPUs the guest may power on. Pure functions: decoding and verdicts.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/vcpu/vcpu_state.h"

namespace vmmd::core::psci {

inline constexpr uint32_t kFnCpuOff = 0x8400'0002;
inline constexpr uint32_t kFnCpuOn32 = 0x8400'0003;
inline constexpr uint32_t kFnCpuOn64 = 0xC400'0003;

// The SMCCC function-id ranges vmmd asks KVM to forward: [base, base + count).
struct ForwardedRange {
  uint32_t base;
  uint32_t count;
};
inline constexpr ForwardedRange kForwardedRanges[] = {
    {kFnCpuOff, 2},   // CPU_OFF, CPU_ON (SMC32)
    {kFnCpuOn64, 1},  // CPU_ON (SMC64)
};

enum class Return : int32_t {
  kSuccess = 0,
  kNotSupported = -1,
  kInvalidParams = -2,
  kDenied = -3,
  kAlreadyOn = -4,
  kOnPending = -5,
  kInternalFailure = -6,
};
std::string_view ReturnName(Return r);
// The x0 value the guest sees (sign-extended to 64 bits).
inline uint64_t EncodeReturn(Return r) {
  return static_cast<uint64_t>(static_cast<int64_t>(static_cast<int32_t>(r)));
}

// MPIDR_EL1 bits that identify a CPU (Aff3..Aff0).
inline constexpr uint64_t kMpidrAffinityMask = 0xff'00ff'ffffULL;

struct CpuOnArgs {
  uint64_t target_mpidr = 0;
  uint64_t entry = 0;
  uint64_t context_id = 0;
};

enum class Call { kCpuOn, kCpuOff, kOther };
Call Classify(uint32_t function_id);

// CPU_ON arguments as the guest passed them in x1..x3; SMC32 calls use only the low 32 bits.
CpuOnArgs DecodeCpuOn(uint32_t function_id, uint64_t x1, uint64_t x2, uint64_t x3);

// The PSCI answer to CPU_ON for `target`, the life of the vCPU whose MPIDR matched (null if
// none did): INVALID_PARAMS for an MPIDR with non-affinity bits or no such vCPU; SUCCESS when
// the state machine allows CpuOn; ALREADY_ON if it runs; DENIED otherwise (parked, being
// removed).
Return CpuOnVerdict(uint64_t target_mpidr, const VcpuLife* target);

}  // namespace vmmd::core::psci
