#include "hw/pl031/pl031.h"

#include <chrono>
#include <utility>

#include "absl/strings/str_format.h"
#include "core/common/status_macros.h"

namespace vmmd::hw {
namespace {

using core::aarch64::FdtWriter;

int64_t RealTimeSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}


}  // namespace

Pl031::Pl031(core::IrqLine* irq, const core::DevicePlacement& at, Clock clock)
    : irq_(irq), at_(at), clock_(clock ? std::move(clock) : Clock(RealTimeSeconds)) {
  absl::MutexLock lock(&mu_);
  last_count_ = Counter();
}

uint64_t Pl031::Counter() const { return static_cast<uint64_t>(clock_()) + offset_; }

void Pl031::CheckMatch() {
  const uint64_t now = Counter();
  // Modular difference: a clock that stepped back gives a negative delta and no match.
  const auto delta = static_cast<int64_t>(now - last_count_);
  if (delta > 0) {
    // Did the low 32 bits pass through MR in (last_count_, now]?
    const uint32_t first = static_cast<uint32_t>(last_count_ + 1);
    const uint32_t distance = mr_ - first;
    if (static_cast<uint64_t>(distance) < static_cast<uint64_t>(delta)) ris_ |= pl031::kIntMatch;
  }
  last_count_ = now;
}

void Pl031::Read(uint64_t offset, absl::Span<uint8_t> data) {
  if (data.empty()) return;
  const uint64_t reg = offset & ~uint64_t{3};
  const unsigned shift = static_cast<unsigned>(offset & 3) * 8;
  uint32_t value = 0;
  {
    absl::MutexLock lock(&mu_);
    CheckMatch();
    value = ReadRegister(reg) >> shift;
    UpdateIrq();
  }
  core::StoreLe(data, value);
}

void Pl031::Write(uint64_t offset, absl::Span<const uint8_t> data) {
  if (data.empty()) return;
  const uint64_t reg = offset & ~uint64_t{3};
  const auto value = static_cast<uint32_t>(core::LoadLe(data));
  absl::MutexLock lock(&mu_);
  CheckMatch();
  if ((offset & 3) != 0) {
    ++stats_.ignored_writes;
  } else {
    WriteRegister(reg, value);
  }
  UpdateIrq();
}

uint32_t Pl031::ReadRegister(uint64_t reg) {
  switch (reg) {
    case pl031::kDr:
      return static_cast<uint32_t>(Counter());
    case pl031::kMr:
      return mr_;
    case pl031::kLr:
      return lr_;
    case pl031::kCr:
      return pl031::kCrStart;
    case pl031::kImsc:
      return imsc_;
    case pl031::kRis:
      return ris_;
    case pl031::kMis:
      return ris_ & imsc_;
    case pl031::kIcr:  // write-only
      return 0;
    default:
      if (primecell::IsIdRegister(reg)) return primecell::IdRegister(reg, pl031::kPeriphId);
      ++stats_.unknown_accesses;
      return 0;
  }
}

void Pl031::WriteRegister(uint64_t reg, uint32_t value) {
  switch (reg) {
    case pl031::kMr:
      mr_ = value;
      if (static_cast<uint32_t>(last_count_) == mr_) ris_ |= pl031::kIntMatch;
      return;
    case pl031::kLr:
      lr_ = value;
      offset_ = static_cast<uint64_t>(value) - static_cast<uint64_t>(clock_());
      last_count_ = value;  // the counter now; a load is not a step through the skipped range
      if (value == mr_) ris_ |= pl031::kIntMatch;
      return;
    case pl031::kCr:  // started at reset; the TRM ignores CR writes until the next reset
      return;
    case pl031::kImsc:
      imsc_ = value & pl031::kIntMatch;
      return;
    case pl031::kIcr:
      ris_ &= ~(value & pl031::kIntMatch);
      return;
    case pl031::kDr:
    case pl031::kRis:
    case pl031::kMis:
      ++stats_.ignored_writes;
      return;
    default:
      if (primecell::IsIdRegister(reg)) {
        ++stats_.ignored_writes;
      } else {
        ++stats_.unknown_accesses;
      }
      return;
  }
}

void Pl031::UpdateIrq() {
  const bool level = (ris_ & imsc_) != 0;
  if (level == irq_level_) return;
  irq_level_ = level;
  if (irq_ != nullptr) irq_->SetLevel(level);
}

void Pl031::Poll() {
  absl::MutexLock lock(&mu_);
  CheckMatch();
  UpdateIrq();
}

void Pl031::Reset() {
  absl::MutexLock lock(&mu_);
  last_count_ = Counter();
  mr_ = imsc_ = ris_ = 0;
  UpdateIrq();
}

Pl031::Stats Pl031::GetStats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

std::string Pl031::FdtNodeName() const { return absl::StrFormat("pl031@%x", at_.base); }

absl::Status Pl031::DescribeFdt(FdtWriter& fdt) const {
  using core::aarch64::kFdtIrqLevelHigh;
  using core::aarch64::kFdtIrqTypeSpi;
  VMMD_ASSIGN_OR_RETURN(const uint32_t spi, at_.RequireSpi("the PL031"));
  VMMD_RETURN_IF_ERROR(fdt.BeginNode(FdtNodeName()));
  VMMD_RETURN_IF_ERROR(fdt.PropStrings("compatible", {"arm,pl031", "arm,primecell"}));
  const std::pair<uint64_t, uint64_t> reg[] = {{at_.base, at_.size}};
  VMMD_RETURN_IF_ERROR(fdt.PropReg("reg", reg));
  VMMD_RETURN_IF_ERROR(fdt.PropCells("interrupts", {kFdtIrqTypeSpi, spi, kFdtIrqLevelHigh}));
  VMMD_RETURN_IF_ERROR(fdt.PropCells("clocks", {core::aarch64::kPhandleApbClock}));
  VMMD_RETURN_IF_ERROR(fdt.PropStrings("clock-names", {"apb_pclk"}));
  return fdt.EndNode();
}

}  // namespace vmmd::hw
