// QEMU's firmware configuration device, MMIO flavour with DMA (QEMU docs/specs/fw_cfg.rst), as
// stock edk2 ArmVirtQemu uses it: 0x18 bytes (where the board puts it), described in the DT as
// "qemu,fw-cfg-mmio" with dma-coherent.
//
// Registers (device offsets):
//   +0x00 data       reads of 1/2/4/8 bytes return the next bytes of the selected item in item
//                    order ("string-preserving"), zeros past its end; writes are ignored (QEMU
//                    v2.4+). Reads at +0x01..+0x07 return 0.
//   +0x08 selector   16-bit big-endian write: select the item, offset 0. Other sizes ignored.
//   +0x10 DMA addr   64-bit big-endian. A 64-bit write at +0x10 starts a transfer; a 32-bit
//                    write at +0x10 sets the high half (no transfer), one at +0x14 ORs in the
//                    low half and starts it. The register is 0 again after every transfer.
//                    Reads return the DMA signature "QEMU CFG" (bytes in this order).
// Anything else reads 0 and is ignored on write (counted in Stats::ignored_accesses).
//
// DMA runs synchronously on the vCPU thread that wrote the address, under the device lock, by
// ProcessFwCfgDma (fw_cfg_dma.h: all bounds checks live there).
//
// Thread safety: Read/Write may be called from several vCPU threads at once.
#pragma once

#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "core/arch/aarch64/fdt_writer.h"
#include "core/bus/bus_device.h"
#include "core/bus/device_placement.h"
#include "core/memory/guest_memory.h"
#include "hw/fw_cfg/fw_cfg_dma.h"
#include "hw/fw_cfg/fw_cfg_items.h"

namespace vmmd::hw {
namespace fw_cfg {

inline constexpr uint64_t kDataOffset = 0x00;
inline constexpr uint64_t kSelectorOffset = 0x08;
inline constexpr uint64_t kDmaOffset = 0x10;
inline constexpr uint64_t kRegisterSize = 0x18;
// "QEMU CFG" read big-endian from the DMA address register.
inline constexpr uint64_t kDmaSignature = 0x51454d5520434647ULL;

}  // namespace fw_cfg

class FwCfg final : public core::BusDevice, public core::aarch64::FdtDescribed {
 public:
  struct Stats {
    uint64_t selects = 0;           // selector register writes
    uint64_t data_reads = 0;        // data register reads
    uint64_t dma_requests = 0;      // transfers started
    uint64_t dma_errors = 0;        // transfers that ended with the error bit
    uint64_t dma_bytes = 0;         // item bytes moved or skipped by DMA
    uint64_t ignored_accesses = 0;  // accesses to no register, or of a size it does not take
  };

  // `memory` is not owned and must outlive the device. `at` is only used for the DT node.
  FwCfg(FwCfgItems items, const core::GuestMemory& memory, const core::DevicePlacement& at);
  FwCfg(const FwCfg&) = delete;
  FwCfg& operator=(const FwCfg&) = delete;

  void Read(uint64_t offset, absl::Span<uint8_t> data) override;
  void Write(uint64_t offset, absl::Span<const uint8_t> data) override;

  // Appends `fw-cfg@<base>`: compatible "qemu,fw-cfg-mmio", reg <base size>, dma-coherent.
  absl::Status DescribeFdt(core::aarch64::FdtWriter& fdt) const override;
  std::string FdtNodeName() const;

  // System reset: selects the signature (as QEMU does) and clears a half-written DMA address.
  void Reset();

  const FwCfgItems& items() const { return items_; }
  Stats GetStats() const;

 private:
  void ReadData(absl::Span<uint8_t> out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StartDma(uint64_t descriptor_gpa) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const FwCfgItems items_;  // immutable: read without the lock
  const core::GuestMemory& memory_;
  const core::DevicePlacement at_;

  mutable absl::Mutex mu_;
  FwCfgCursor cursor_ ABSL_GUARDED_BY(mu_);
  uint64_t dma_address_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t logged_errors_ ABSL_GUARDED_BY(mu_) = 0;
  Stats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace vmmd::hw
