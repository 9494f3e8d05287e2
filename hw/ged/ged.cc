#include "hw/ged/ged.h"

#include <utility>

#include "absl/strings/str_format.h"
#include "acpi/aml.h"
#include "core/arch/aarch64/layout.h"
#include "core/common/status_macros.h"

namespace vmmd::hw {

Ged::Ged(core::IrqLine* irq, const core::DevicePlacement& at, std::vector<GedEventHandler> handlers,
         bool power_button)
    : irq_(irq), at_(at), handlers_(std::move(handlers)), power_button_(power_button) {}

void Ged::Read(uint64_t offset, absl::Span<uint8_t> data) {
  uint32_t value = 0;
  {
    absl::MutexLock lock(&mu_);
    if (offset == ged::kEselOffset && data.size() == 4) {
      ++stats_.esel_reads;
      value = std::exchange(pending_, 0);
    } else {
      ++stats_.ignored_accesses;
    }
  }
  core::StoreLe(data, value);
}

void Ged::Write(uint64_t /*offset*/, absl::Span<const uint8_t> /*data*/) {
  absl::MutexLock lock(&mu_);
  ++stats_.ignored_accesses;
}

void Ged::RaiseEvent(uint32_t bits) {
  if (bits == 0) return;
  {
    absl::MutexLock lock(&mu_);
    pending_ |= bits;
    ++stats_.events_raised;
  }
  if (irq_ != nullptr) irq_->Pulse();
}

uint32_t Ged::PendingEvents() const {
  absl::MutexLock lock(&mu_);
  return pending_;
}

Ged::Stats Ged::GetStats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

absl::Status Ged::DescribeAml(acpi::AmlScope& sb) const {
  VMMD_ASSIGN_OR_RETURN(const uint32_t spi, at_.RequireSpi("the GED"));
  const uint32_t gsiv = core::aarch64::kSpiIntidBase + spi;
  using namespace acpi::aml;  // NOLINT(build/namespaces)
  uint32_t seen = 0;
  std::vector<acpi::AmlTerm> evt{Store(Path("ESEL"), Local(0))};
  if (power_button_) {
    seen |= ged::kEventPowerButton;
    evt.push_back(
        If(LEqual(And(Local(0), Int(ged::kEventPowerButton)), Int(ged::kEventPowerButton)),
           {Notify(Path(ged::kPowerButtonPath), Int(ged::kPowerButtonNotifyCode))}));
  }
  for (const GedEventHandler& h : handlers_) {
    if (h.event == 0 || (h.event & (h.event - 1)) != 0 || (seen & h.event) != 0) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "GED handler %s: event 0x%x must be a single bit not handled before", h.method, h.event));
    }
    seen |= h.event;
    evt.push_back(If(LEqual(And(Local(0), Int(h.event)), Int(h.event)), {Call(h.method)}));
  }
  // clang-format off
  if (power_button_) {
    sb.Add(Device("PWRB", {
        Name("_HID", String("PNP0C0C")),
        Name("_UID", Zero()),
    }));
  }
  sb.Add(Device("GED", {
      Name("_HID", String("ACPI0013")),
      Name("_UID", Zero()),
      Name("_CRS", ResourceTemplate({Interrupt({.edge = true}, {gsiv})})),
      OperationRegion("EREG", RegionSpace::kSystemMemory, Int(at_.base), Int(ged::kRegionSize)),
      Field("EREG", FieldAccess::kDWord, FieldLock::kNoLock, FieldUpdate::kWriteAsZeros,
            {FieldUnit("ESEL", 32)}),
      Method("_EVT", 1, kSerialized, std::move(evt)),
  }));
  // clang-format on
  return absl::OkStatus();
}

}  // namespace vmmd::hw
