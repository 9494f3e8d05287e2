#include "hw/flash/cfi_flash.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_format.h"
#include "core/common/log.h"
#include "core/common/status_macros.h"

namespace vmmd::hw {
namespace {

// Only the first few unusual events per bank are logged; the rest are counted.
constexpr uint64_t kMaxLogged = 16;

}  // namespace

CfiFlash::CfiFlash(std::shared_ptr<FlashStorage> storage, const core::DevicePlacement& at,
                   bool read_only)
    : storage_(std::move(storage)),
      base_(at.base),
      read_only_(read_only),
      commands_(absl::MakeSpan(storage_->data(), storage_->size())) {}

void CfiFlash::Read(uint64_t offset, absl::Span<uint8_t> data) {
  absl::MutexLock lock(&mu_);
  ++stats_.trapped_reads;
  if (offset > size() || data.size() > size() - offset) {
    std::fill(data.begin(), data.end(), 0);
    return;
  }
  if (read_only_ || commands_.read_mode() == cfi::ReadMode::kArray) {
    std::memcpy(data.data(), storage_->data() + offset, data.size());
  } else {
    for (size_t i = 0; i < data.size(); ++i) data[i] = commands_.ReadByte(offset + i);
  }
  SyncMapping();  // a retried map or unmap after a hook failure
}

void CfiFlash::Write(uint64_t offset, absl::Span<const uint8_t> data) {
  absl::MutexLock lock(&mu_);
  ++stats_.writes;
  if (read_only_) {
    ++stats_.ignored_writes;
    if (logged_ < kMaxLogged) {
      ++logged_;
      // Debian bookworm's edk2 stores once per boot into flash0 (its DxeIpl PEIM runs in place).
      LogDebug("flash@%x: ignoring a %u-byte write at offset 0x%x to the read-only bank", base_,
               data.size(), offset);
    }
    return;
  }
  // One command cycle per bank word touched (QEMU splits a 64-bit store the same way). The slot
  // follows the mode after every cycle, not only after the store: a store whose first cycle
  // leaves read-array mode (40) and whose next one is the data would otherwise program the array
  // while the guest still reads it through the slot.
  size_t done = 0;
  while (done < data.size()) {
    const uint64_t at = offset + done;
    const size_t in_word = static_cast<size_t>(cfi::kBankWidth - at % cfi::kBankWidth);
    const size_t n = std::min(in_word, data.size() - done);
    ApplyEffect(commands_.Write(at, data.subspan(done, n)));
    done += n;
    SyncMapping();  // unmap on leaving read-array mode, map on returning to it
  }
}

void CfiFlash::ApplyEffect(const CfiWriteEffect& effect) {
  using Kind = CfiWriteEffect::Kind;
  switch (effect.kind) {
    case Kind::kNone:
    case Kind::kOutOfRange:
      return;
    case Kind::kSequenceError:
      ++stats_.sequence_errors;
      if (logged_ < kMaxLogged) {
        ++logged_;
        LogWarning("flash@%x: improper CFI command sequence (status now 0x%02x)", base_,
                   commands_.status());
      }
      return;
    case Kind::kErased:
    case Kind::kProgrammed: {
      const bool erase = effect.kind == Kind::kErased;
      ++(erase ? stats_.erases : stats_.programs);
      absl::Status s = storage_->Persist(effect.offset, effect.length);
      if (!s.ok()) {
        ++stats_.persist_errors;
        commands_.SetStatusBits(erase ? cfi::kSrEraseError : cfi::kSrProgramError);
        LogError("flash@%x: %s", base_, s.ToString());
      }
      return;
    }
  }
}

void CfiFlash::SyncMapping() {
  if (!hook_) return;
  const bool want = read_only_ || commands_.read_mode() == cfi::ReadMode::kArray;
  if (want != mapped_) CallHook(want);
}

void CfiFlash::CallHook(bool map) {
  ++stats_.map_calls;
  absl::Status s = hook_(map);
  if (s.ok()) {
    mapped_ = map;
    return;
  }
  ++stats_.map_errors;
  LogError("flash@%x: could not %s the read-only memslot: %s", base_, map ? "map" : "unmap",
           s.ToString());
}

absl::Status CfiFlash::EnableDirectReads(DirectMapHook hook) {
  absl::MutexLock lock(&mu_);
  hook_ = std::move(hook);
  mapped_ = false;
  if (!hook_ || (!read_only_ && commands_.read_mode() != cfi::ReadMode::kArray)) {
    return absl::OkStatus();
  }
  ++stats_.map_calls;
  absl::Status s = hook_(true);
  if (s.ok()) {
    mapped_ = true;
  } else {
    ++stats_.map_errors;
  }
  return s;
}

bool CfiFlash::direct_mapped() const {
  absl::MutexLock lock(&mu_);
  return mapped_;
}

cfi::ReadMode CfiFlash::read_mode() const {
  absl::MutexLock lock(&mu_);
  return commands_.read_mode();
}

uint8_t CfiFlash::status() const {
  absl::MutexLock lock(&mu_);
  return commands_.status();
}

void CfiFlash::Reset() {
  absl::MutexLock lock(&mu_);
  commands_.Reset();
}

absl::Status CfiFlash::Flush() {
  absl::MutexLock lock(&mu_);
  return storage_->Flush();
}

CfiFlash::Stats CfiFlash::GetStats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

absl::Status CfiFlash::DescribeBanksFdt(core::aarch64::FdtWriter& fdt,
                                        absl::Span<const std::pair<uint64_t, uint64_t>> banks) {
  if (banks.empty()) return absl::InvalidArgumentError("a flash node needs at least one bank");
  VMMD_RETURN_IF_ERROR(fdt.BeginNode(absl::StrFormat("flash@%x", banks.front().first)));
  VMMD_RETURN_IF_ERROR(fdt.PropString("compatible", "cfi-flash"));
  VMMD_RETURN_IF_ERROR(fdt.PropReg("reg", banks));
  VMMD_RETURN_IF_ERROR(fdt.PropU32("bank-width", static_cast<uint32_t>(cfi::kBankWidth)));
  return fdt.EndNode();
}

}  // namespace vmmd::hw
