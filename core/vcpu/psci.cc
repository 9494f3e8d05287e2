#include "core/vcpu/psci.h"

namespace vmmd::core::psci {

std::string_view ReturnName(Return r) {
  switch (r) {
    case Return::kSuccess:
      return "SUCCESS";
    case Return::kNotSupported:
      return "NOT_SUPPORTED";
    case Return::kInvalidParams:
      return "INVALID_PARAMS";
    case Return::kDenied:
      return "DENIED";
    case Return::kAlreadyOn:
      return "ALREADY_ON";
    case Return::kOnPending:
      return "ON_PENDING";
    case Return::kInternalFailure:
      return "INTERNAL_FAILURE";
  }
  return "UNKNOWN";
}

Call Classify(uint32_t function_id) {
  switch (function_id) {
    case kFnCpuOn32:
    case kFnCpuOn64:
      return Call::kCpuOn;
    case kFnCpuOff:
      return Call::kCpuOff;
    default:
      return Call::kOther;
  }
}

CpuOnArgs DecodeCpuOn(uint32_t function_id, uint64_t x1, uint64_t x2, uint64_t x3) {
  if (function_id == kFnCpuOn32) {
    constexpr uint64_t kLow = 0xffff'ffffULL;
    return CpuOnArgs{x1 & kLow, x2 & kLow, x3 & kLow};
  }
  return CpuOnArgs{x1, x2, x3};
}

Return CpuOnVerdict(uint64_t target_mpidr, const VcpuLife* target) {
  if ((target_mpidr & ~kMpidrAffinityMask) != 0 || target == nullptr) {
    return Return::kInvalidParams;
  }
  if (NextVcpuLife(*target, VcpuInput{.event = VcpuEvent::kCpuOn}).ok()) return Return::kSuccess;
  if (target->powered) return Return::kAlreadyOn;
  return Return::kDenied;
}

}  // namespace vmmd::core::psci
