// fw_cfg DMA (QEMU docs/specs/fw_cfg.rst, "Guest-side DMA Interface") as a pure function over
// guest memory, the item set and the selection cursor, so it can be unit-tested and fuzzed
// without a device or a VM.
//
// The descriptor at `descriptor_gpa` is {be32 control; be32 length; be64 address}. Control bits:
// 0 error, 1 read, 2 skip, 3 select (key in bits 31:16), 4 write. The select happens first; then
// one operation, chosen as QEMU does: read if bit 1, else write if bit 4, else skip if bit 2,
// else none. On completion the control word is written back big-endian: 0 on success, the error
// bit on failure.
//
// The guest is hostile. Every guest-supplied address and length is checked before anything is
// touched, and a failed request changes no guest memory except the control word:
//  - descriptor not entirely in RAM: error; the control word is written only if its own four
//    bytes are in RAM;
//  - length over fw_cfg::kMaxItemSize (bounds the work of one request), or address + length
//    wrapping, or the range not entirely in RAM (read and write): error;
//  - the selected key has no item: error (QEMU zero-fills here; vmmd always defines every key
//    the firmware reads, so only a confused or hostile guest gets this);
//  - write: every vmmd item is read-only, so a write sets the error bit as the spec requires
//    ("Writes to read-only items are also rejected"); like QEMU, the offset still advances over
//    the bytes the write would have covered;
//  - a file-backed item that cannot be read (file shrank, I/O error): error (the destination
//    range may hold part of the data).
// Reads past the end of an item zero-fill the rest of the destination and leave the offset at the
// item's end (QEMU's behaviour); a skip past the end stops at the end. Length 0 or no operation:
// success with nothing transferred.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "core/memory/guest_memory.h"
#include "hw/fw_cfg/fw_cfg_items.h"

namespace vmmd::hw {
namespace fw_cfg {

inline constexpr uint32_t kDmaCtlError = 1u << 0;
inline constexpr uint32_t kDmaCtlRead = 1u << 1;
inline constexpr uint32_t kDmaCtlSkip = 1u << 2;
inline constexpr uint32_t kDmaCtlSelect = 1u << 3;
inline constexpr uint32_t kDmaCtlWrite = 1u << 4;
inline constexpr uint64_t kDmaDescriptorSize = 16;

}  // namespace fw_cfg

// The selected item and the offset of the next byte: shared by the data register and DMA.
struct FwCfgCursor {
  uint16_t key = fw_cfg::kSignature;
  uint64_t offset = 0;
};

struct FwCfgDmaResult {
  uint32_t control = 0;          // the value written back (0 = success)
  bool control_written = false;  // false when even the control word is not in RAM
  uint64_t bytes = 0;            // item bytes read, written over or skipped
  absl::Status status;           // OK, or why the error bit was set (for logs and stats)
};

FwCfgDmaResult ProcessFwCfgDma(const core::GuestMemory& memory, uint64_t descriptor_gpa,
                               const FwCfgItems& items, FwCfgCursor& cursor);

}  // namespace vmmd::hw
