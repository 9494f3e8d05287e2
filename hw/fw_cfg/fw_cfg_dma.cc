#include "hw/fw_cfg/fw_cfg_dma.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_format.h"

namespace vmmd::hw {
namespace {

uint64_t LoadBe(const uint8_t* p, size_t size) {
  uint64_t v = 0;
  for (size_t i = 0; i < size; ++i) v = (v << 8) | p[i];
  return v;
}

enum class Op { kNone, kRead, kWrite, kSkip };

Op OpFor(uint32_t control) {
  if (control & fw_cfg::kDmaCtlRead) return Op::kRead;
  if (control & fw_cfg::kDmaCtlWrite) return Op::kWrite;
  if (control & fw_cfg::kDmaCtlSkip) return Op::kSkip;
  return Op::kNone;
}

// Writes the completion word, if it lies in RAM.
void Complete(const core::GuestMemory& memory, uint64_t descriptor_gpa, FwCfgDmaResult& result) {
  const uint8_t be[4] = {
      static_cast<uint8_t>(result.control >> 24), static_cast<uint8_t>(result.control >> 16),
      static_cast<uint8_t>(result.control >> 8), static_cast<uint8_t>(result.control)};
  result.control_written = memory.Write(descriptor_gpa, be).ok();
}

FwCfgDmaResult Fail(const core::GuestMemory& memory, uint64_t descriptor_gpa, absl::Status why,
                    uint64_t bytes = 0) {
  FwCfgDmaResult result;
  result.control = fw_cfg::kDmaCtlError;
  result.bytes = bytes;
  result.status = std::move(why);
  Complete(memory, descriptor_gpa, result);
  return result;
}

}  // namespace

FwCfgDmaResult ProcessFwCfgDma(const core::GuestMemory& memory, uint64_t descriptor_gpa,
                               const FwCfgItems& items, FwCfgCursor& cursor) {
  uint8_t desc[fw_cfg::kDmaDescriptorSize];
  if (absl::Status s = memory.Read(descriptor_gpa, desc); !s.ok()) {
    return Fail(memory, descriptor_gpa,
                absl::OutOfRangeError(
                    absl::StrFormat("DMA descriptor at 0x%x is not in RAM", descriptor_gpa)));
  }
  const auto control = static_cast<uint32_t>(LoadBe(desc, 4));
  const auto length = static_cast<uint32_t>(LoadBe(desc + 4, 4));
  const uint64_t address = LoadBe(desc + 8, 8);

  if (control & fw_cfg::kDmaCtlSelect)
    cursor = FwCfgCursor{static_cast<uint16_t>(control >> 16), 0};
  const Op op = OpFor(control);
  FwCfgDmaResult result;
  if (op == Op::kNone || length == 0) {
    Complete(memory, descriptor_gpa, result);
    return result;
  }

  const FwCfgBlob* item = items.Find(cursor.key);
  if (item == nullptr) {
    return Fail(
        memory, descriptor_gpa,
        absl::NotFoundError(absl::StrFormat("DMA on key 0x%x, which has no item", cursor.key)));
  }
  if (length > fw_cfg::kMaxItemSize) {
    return Fail(memory, descriptor_gpa,
                absl::InvalidArgumentError(absl::StrFormat("DMA length 0x%x exceeds the 0x%x limit",
                                                           length, fw_cfg::kMaxItemSize)));
  }
  // Bytes of the item the request covers; the rest (past the end) is zero-filled or ignored.
  const uint64_t remaining = cursor.offset < item->size() ? item->size() - cursor.offset : 0;
  const uint64_t in_item = std::min<uint64_t>(length, remaining);

  if (op == Op::kSkip) {
    cursor.offset += in_item;
    result.bytes = in_item;
    Complete(memory, descriptor_gpa, result);
    return result;
  }

  // Read and write both touch [address, address + length): all of it must be RAM. GetSpan is
  // overflow-safe (address + length wrapping is simply "not in RAM").
  absl::StatusOr<absl::Span<uint8_t>> span = memory.GetSpan(address, length);
  if (!span.ok()) return Fail(memory, descriptor_gpa, span.status());

  if (op == Op::kWrite) {
    cursor.offset += in_item;
    return Fail(memory, descriptor_gpa,
                absl::PermissionDeniedError(absl::StrFormat(
                    "DMA write to key 0x%x: fw_cfg items are read-only", cursor.key)),
                in_item);
  }

  if (in_item > 0) {
    absl::Status s = item->ReadAt(cursor.offset, span->first(in_item));
    if (!s.ok()) return Fail(memory, descriptor_gpa, std::move(s));
  }
  if (in_item < length) std::memset(span->data() + in_item, 0, length - in_item);
  cursor.offset += in_item;
  result.bytes = in_item;
  Complete(memory, descriptor_gpa, result);
  return result;
}

}  // namespace vmmd::hw
