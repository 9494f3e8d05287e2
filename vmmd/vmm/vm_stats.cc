#include "vmmd/vmm/vm_stats.h"

namespace vmmd::vmm {

std::string_view ScaleDirectionName(ScaleDirection d) {
  switch (d) {
    case ScaleDirection::kAdd:
      return "add";
    case ScaleDirection::kRemove:
      return "remove";
    case ScaleDirection::kNone:
      return "none";
  }
  return "unknown";
}

std::string_view ScaleResultKindName(ScaleResultKind r) {
  switch (r) {
    case ScaleResultKind::kOk:
      return "ok";
    case ScaleResultKind::kDeadlineExceeded:
      return "deadline_exceeded";
    case ScaleResultKind::kRefused:
      return "refused";
    case ScaleResultKind::kUnsupported:
      return "unsupported";
    case ScaleResultKind::kSuperseded:
      return "superseded";
    case ScaleResultKind::kStopped:
      return "stopped";
    case ScaleResultKind::kRejected:
      return "rejected";
  }
  return "unknown";
}

ScaleResultKind ScaleResultKindOf(core::ScaleOutcome outcome) {
  switch (outcome) {
    case core::ScaleOutcome::kOk:
      return ScaleResultKind::kOk;
    case core::ScaleOutcome::kDeadlineExceeded:
      return ScaleResultKind::kDeadlineExceeded;
    case core::ScaleOutcome::kRefused:
      return ScaleResultKind::kRefused;
    case core::ScaleOutcome::kUnsupported:
      return ScaleResultKind::kUnsupported;
    case core::ScaleOutcome::kSuperseded:
      return ScaleResultKind::kSuperseded;
    case core::ScaleOutcome::kStopped:
      return ScaleResultKind::kStopped;
  }
  return ScaleResultKind::kRejected;
}

}  // namespace vmmd::vmm
