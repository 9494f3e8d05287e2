// One 64 MiB CFI NOR flash bank as QEMU's virt board has them (pflash_cfi01: Intel command set,
// bank width 4 = two x16 chips, 256 KiB sectors), for stock edk2 ArmVirtQemu:
//   flash0 at 0x0000_0000: the firmware, read-only, executed in place;
//   flash1 at 0x0400_0000: the UEFI variable store, read as memory, written with CFI commands.
// The command set is in cfi_commands.h; the bytes and their persistence in flash_storage.h.
//
// Fast reads: the memslot protocol
// --------------------------------
// The firmware reads flash as plain memory (~1.2 M loads from flash0, ~345 k from flash1 on a
// first boot), so both banks are meant to be read-only KVM memslots over data(): reads never
// exit, writes always exit (KVM turns a write to a read-only slot into an MMIO exit) and reach
// Write() through the bus. That is only correct while the bank is in read-array mode: in any
// other mode (status, identifier, query, a command in progress) a read must return what the chip
// would drive, not the array, so it has to trap.
//
// So the device owns the decision and the VMM owns the mechanism. The VMM passes a
// DirectMapHook to EnableDirectReads(); the device calls hook(true) when the slot must exist and
// hook(false) when it must go, always with the device lock held, on the vCPU thread whose access
// caused the change:
//  - both directions are eager: the write that takes the bank out of read-array mode removes
//    the slot, and the write that returns it to read-array mode (FF, 50) restores it, before
//    that write returns to the guest. Mapping lazily (on the next trapped read) is not an
//    option: the firmware reads flash with load-pair and SIMD copies, which KVM cannot decode
//    and refuses to hand to userspace (KVM_RUN fails with ENOSYS) — found booting QEMU_EFI.fd
//    in the nested bed. edk2's "program, 70, read status, 50" chains cost one unmap and one
//    map per program;
//  - the array bytes change only while the slot is removed (erase and program happen in command
//    mode), so KVM never maps a page the device is writing. A store wider than the bank word or
//    straddling two is one write cycle per bank word touched (as QEMU splits it), and the slot
//    follows the mode after each cycle: a 64-bit store of "40" then data removes the slot
//    before its data cycle programs the array.
// A hook failure is logged and counted; the device then retries at the next opportunity (a
// failed unmap leaves reads seeing array data in command mode, which the firmware reports as a
// flash error rather than corrupting anything). A read racing on another vCPU with the write that
// leaves read-array mode may still see array data: the firmware serialises flash access, and real
// hardware gives no ordering guarantee there either.
// Without a hook every read traps (correct, just slow).
//
// Read-only banks (flash0) never leave read-array mode: every write is ignored and counted (the
// bookworm firmware stores 0x17384 to offset 0x1CB20 once per boot, from its DxeIpl PEIM running
// in place). Their slot never needs to change.
//
// Thread safety: every method may be called from several threads at once.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "core/arch/aarch64/fdt_writer.h"
#include "core/bus/bus_device.h"
#include "core/bus/device_placement.h"
#include "hw/flash/cfi_commands.h"
#include "hw/flash/flash_storage.h"

namespace vmmd::hw {

class CfiFlash final : public core::BusDevice {
 public:
  // true: map data() read-only at the bank's base (reads stop trapping); false: remove it.
  // Called with the device lock held; must not call back into the device.
  using DirectMapHook = std::function<absl::Status(bool map)>;

  struct Stats {
    uint64_t trapped_reads = 0;   // reads that reached the device
    uint64_t writes = 0;          // write accesses that reached the device
    uint64_t ignored_writes = 0;  // writes to a read-only bank
    uint64_t erases = 0;
    uint64_t programs = 0;         // word and buffered programs completed
    uint64_t sequence_errors = 0;  // improper command sequences (status bits 4+5)
    uint64_t persist_errors = 0;   // erase/program that could not be written to the file
    uint64_t map_calls = 0;        // hook calls
    uint64_t map_errors = 0;       // hook calls that failed
  };

  // `at` is the bank's window (its base names it in logs). `read_only`: a code bank (see
  // above), whose storage may be shared with other VMs' banks (FlashImageCache): it is never
  // written. The bank size is storage->size(), a multiple of cfi::kSectorSize.
  CfiFlash(std::shared_ptr<FlashStorage> storage, const core::DevicePlacement& at, bool read_only);
  CfiFlash(const CfiFlash&) = delete;
  CfiFlash& operator=(const CfiFlash&) = delete;

  void Read(uint64_t offset, absl::Span<uint8_t> data) override;
  void Write(uint64_t offset, absl::Span<const uint8_t> data) override;

  // The host buffer behind the bank, for the read-only memslot (page-aligned, size() bytes).
  uint8_t* data() const { return storage_->data(); }
  uint64_t size() const { return storage_->size(); }
  uint64_t base() const { return base_; }
  bool read_only() const { return read_only_; }

  // Installs the hook and, if the bank is in read-array mode now, maps it (returning the hook's
  // error, so VM construction can fail cleanly).
  absl::Status EnableDirectReads(DirectMapHook hook);
  bool direct_mapped() const;
  cfi::ReadMode read_mode() const;
  uint8_t status() const;

  // System reset: read-array mode, status ready. The slot comes back at the next trapped read.
  void Reset();
  // Makes every completed erase/program durable (fdatasync); call at VM stop.
  absl::Status Flush();
  Stats GetStats() const;

  // The banks in the device tree, QEMU's form: one `flash@<first base>` node (compatible
  // "cfi-flash", bank-width <4>) with one reg entry per bank (flash0 then flash1).
  static absl::Status DescribeBanksFdt(core::aarch64::FdtWriter& fdt,
                                       absl::Span<const std::pair<uint64_t, uint64_t>> banks);

 private:
  void ApplyEffect(const CfiWriteEffect& effect) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Calls the hook if the slot's presence differs from what the mode needs; maps only when
  // `allow_map` (reads), unmaps always.
  void SyncMapping() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CallHook(bool map) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::shared_ptr<FlashStorage> storage_;
  const uint64_t base_;
  const bool read_only_;

  mutable absl::Mutex mu_;
  CfiCommandSet commands_ ABSL_GUARDED_BY(mu_);
  DirectMapHook hook_ ABSL_GUARDED_BY(mu_);
  bool mapped_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t logged_ ABSL_GUARDED_BY(mu_) = 0;
  Stats stats_ ABSL_GUARDED_BY(mu_);
};

// The combined QEMU-style node as an FdtDescribed, for BoardFdtConfig::devices.
class CfiFlashBanksNode final : public core::aarch64::FdtDescribed {
 public:
  explicit CfiFlashBanksNode(std::vector<std::pair<uint64_t, uint64_t>> banks)
      : banks_(std::move(banks)) {}
  absl::Status DescribeFdt(core::aarch64::FdtWriter& fdt) const override {
    return CfiFlash::DescribeBanksFdt(fdt, banks_);
  }

 private:
  std::vector<std::pair<uint64_t, uint64_t>> banks_;
};

}  // namespace vmmd::hw
