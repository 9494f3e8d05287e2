#include "hw/fw_cfg/fw_cfg.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_format.h"
#include "core/common/log.h"
#include "core/common/status_macros.h"

namespace vmmd::hw {
namespace {

// Only the first few DMA failures are logged; the rest are counted.
constexpr uint64_t kMaxLoggedErrors = 16;

uint64_t LoadBe(absl::Span<const uint8_t> data) {
  uint64_t v = 0;
  for (uint8_t b : data) v = (v << 8) | b;
  return v;
}

}  // namespace

FwCfg::FwCfg(FwCfgItems items, const core::GuestMemory& memory, const core::DevicePlacement& at)
    : items_(std::move(items)), memory_(memory), at_(at) {}

void FwCfg::Read(uint64_t offset, absl::Span<uint8_t> data) {
  std::fill(data.begin(), data.end(), 0);
  absl::MutexLock lock(&mu_);
  if (offset == fw_cfg::kDataOffset && data.size() <= 8) {
    ++stats_.data_reads;
    ReadData(data);
  } else if (offset >= fw_cfg::kDmaOffset && offset + data.size() <= fw_cfg::kRegisterSize) {
    // Byte i of the register (in memory order) is byte i of the big-endian signature.
    for (size_t i = 0; i < data.size(); ++i) {
      const uint64_t index = offset - fw_cfg::kDmaOffset + i;
      data[i] = static_cast<uint8_t>(fw_cfg::kDmaSignature >> (8 * (7 - index)));
    }
  } else {
    ++stats_.ignored_accesses;
  }
}

void FwCfg::ReadData(absl::Span<uint8_t> out) {
  const FwCfgBlob* item = items_.Find(cursor_.key);
  if (item == nullptr || cursor_.offset >= item->size()) return;  // zeros
  const uint64_t n = std::min<uint64_t>(out.size(), item->size() - cursor_.offset);
  if (!item->ReadAt(cursor_.offset, out.first(n)).ok()) {
    std::fill(out.begin(), out.end(), 0);
  }
  cursor_.offset += n;
}

void FwCfg::Write(uint64_t offset, absl::Span<const uint8_t> data) {
  absl::MutexLock lock(&mu_);
  if (offset == fw_cfg::kSelectorOffset && data.size() == 2) {
    ++stats_.selects;
    cursor_ = FwCfgCursor{static_cast<uint16_t>(LoadBe(data)), 0};
  } else if (offset == fw_cfg::kDmaOffset && data.size() == 8) {
    StartDma(LoadBe(data));
  } else if (offset == fw_cfg::kDmaOffset && data.size() == 4) {
    dma_address_ = LoadBe(data) << 32;
  } else if (offset == fw_cfg::kDmaOffset + 4 && data.size() == 4) {
    StartDma(dma_address_ | LoadBe(data));
  } else {
    ++stats_.ignored_accesses;
  }
}

void FwCfg::StartDma(uint64_t descriptor_gpa) {
  dma_address_ = 0;
  ++stats_.dma_requests;
  const FwCfgDmaResult result = ProcessFwCfgDma(memory_, descriptor_gpa, items_, cursor_);
  stats_.dma_bytes += result.bytes;
  if (result.control & fw_cfg::kDmaCtlError) {
    ++stats_.dma_errors;
    if (logged_errors_ < kMaxLoggedErrors) {
      ++logged_errors_;
      LogWarning("fw_cfg: DMA descriptor at 0x%x failed%s: %s", descriptor_gpa,
                 result.control_written ? "" : " (control word not in RAM)",
                 result.status.ToString());
    }
  }
}

void FwCfg::Reset() {
  absl::MutexLock lock(&mu_);
  cursor_ = FwCfgCursor{};
  dma_address_ = 0;
}

FwCfg::Stats FwCfg::GetStats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

std::string FwCfg::FdtNodeName() const { return absl::StrFormat("fw-cfg@%x", at_.base); }

absl::Status FwCfg::DescribeFdt(core::aarch64::FdtWriter& fdt) const {
  VMMD_RETURN_IF_ERROR(fdt.BeginNode(FdtNodeName()));
  VMMD_RETURN_IF_ERROR(fdt.PropString("compatible", "qemu,fw-cfg-mmio"));
  const std::pair<uint64_t, uint64_t> reg[] = {{at_.base, at_.size}};
  VMMD_RETURN_IF_ERROR(fdt.PropReg("reg", reg));
  VMMD_RETURN_IF_ERROR(fdt.PropEmpty("dma-coherent"));
  return fdt.EndNode();
}

}  // namespace vmmd::hw
