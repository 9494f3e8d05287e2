#include "hw/cpu_hotplug/cpu_hotplug.h"

#include <algorithm>
#include <array>

#include "acpi/acpi_platform.h"

namespace vmmd::hw {

using namespace cpu_hotplug;  // NOLINT(build/namespaces): the register ABI

namespace {
constexpr size_t kMaxAccess = 4;
}  // namespace

CpuHotplug::CpuHotplug(core::CpuHotplugBackend* backend, const core::DevicePlacement& at)
    : backend_(backend),
      base_(at.base),
      possible_(std::min(backend->PossibleCpus(), acpi::kMaxAcpiCpus)) {
  absl::MutexLock lock(&mu_);
  ost_event_.assign(possible_, 0);
}

void CpuHotplug::Read(uint64_t offset, absl::Span<uint8_t> data) {
  std::array<uint8_t, kBlockSize> image{};
  {
    absl::MutexLock lock(&mu_);
    if (data.size() > kMaxAccess) {
      ++stats_.ignored_reads;
    } else if (SelectorValid()) {
      // Only a read that returns the status byte shows the guest the event flags.
      const bool shows_status = offset <= kStatusOffset && kStatusOffset - offset < data.size();
      const core::CpuHotplugStatus s =
          shows_status ? backend_->ReadStatus(selector_) : backend_->Status(selector_);
      image[kStatusOffset] = static_cast<uint8_t>(
          kStatusPresent | (s.enabled ? kStatusEnabled : 0) |
          (s.insert_pending ? kStatusInsert : 0) | (s.remove_pending ? kStatusRemove : 0));
      uint64_t data_value = 0;  // command data (low dword at 0x8, high dword at 0x0)
      if (command_ == kCmdGetNextCpuWithEvent) {
        data_value = selector_;
      } else if (command_ == kCmdGetCpuId) {
        data_value = backend_->ArchId(selector_);
      }
      core::StoreLe(absl::MakeSpan(image).subspan(kDataOffset, 4), data_value);
      core::StoreLe(absl::MakeSpan(image).subspan(kSelectorOffset, 4), data_value >> 32);
    }
  }
  for (size_t i = 0; i < data.size(); ++i) {
    data[i] = offset < kBlockSize && i < kBlockSize - offset ? image[offset + i] : 0;
  }
}

void CpuHotplug::Write(uint64_t offset, absl::Span<const uint8_t> data) {
  {
    absl::MutexLock lock(&mu_);
    WriteLocked(offset, data);
  }
  backend_->FlushLog();  // what the write made the backend log, written with no lock held
}

void CpuHotplug::WriteLocked(uint64_t offset, absl::Span<const uint8_t> data) {
  if (data.empty() || data.size() > kMaxAccess) {
    ++stats_.ignored_writes;
    return;
  }
  const auto value = static_cast<uint32_t>(core::LoadLe(data));
  if (offset == kSelectorOffset) {
    selector_ = value;
    return;
  }
  if (!SelectorValid()) {
    ++stats_.ignored_writes;
    return;
  }
  switch (offset) {
    case kStatusOffset:
      WriteControl(static_cast<uint8_t>(value));
      break;
    case kCommandOffset:
      WriteCommand(static_cast<uint8_t>(value));
      break;
    case kDataOffset:
      WriteData(value);
      break;
    default:
      ++stats_.ignored_writes;
      break;
  }
}

void CpuHotplug::WriteControl(uint8_t control) {
  // One action per write, in this order (as QEMU).
  if ((control & kControlClearInsert) != 0) {
    backend_->AckInsert(selector_);
  } else if ((control & kControlClearRemove) != 0) {
    backend_->AckRemove(selector_);
  } else if ((control & kControlEject) != 0) {
    ++stats_.ejects;
    backend_->Eject(selector_);
  } else {
    ++stats_.ignored_writes;
  }
}

void CpuHotplug::WriteCommand(uint8_t command) {
  command_ = command;
  if (command != kCmdGetNextCpuWithEvent) return;
  // Select the first vCPU at or after the selector (wrapping) with an event; keep the
  // selector if none has one.
  for (uint32_t i = 0; i < possible_; ++i) {
    const uint32_t cpu = (selector_ + i) % possible_;
    const core::CpuHotplugStatus s = backend_->Status(cpu);
    if (s.insert_pending || s.remove_pending) {
      selector_ = cpu;
      return;
    }
  }
}

void CpuHotplug::WriteData(uint32_t value) {
  if (command_ == kCmdOstEvent) {
    ost_event_[selector_] = value;
  } else if (command_ == kCmdOstStatus) {
    ++stats_.ost_reports;
    backend_->Ost(selector_, ost_event_[selector_], value);
  } else {
    ++stats_.ignored_writes;
  }
}

CpuHotplug::Stats CpuHotplug::GetStats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

}  // namespace vmmd::hw
