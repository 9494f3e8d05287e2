// ARM PrimeCell real-time clock (PL031 TRM r1p0): a 32-bit seconds counter with a match
// interrupt. edk2 needs it to boot a kernel, and reaches it at runtime through EFI GetTime().
//
// Model:
// - The counter is (clock() + offset) mod 2^32, where clock() returns Unix seconds (injectable;
//   the default is the host's real time, so the guest sees UTC). Writing LR sets the offset so
//   that the counter reads the written value now; reading LR returns the last value written.
// - CR: the RTC comes out of reset already started, so CR reads 1 (edk2 then never writes it).
//   The TRM says that once started, writes to CR have no effect until a system reset, so every
//   CR write (0 included) is ignored and the counter cannot be stopped.
// - Match: RIS is set when the counter steps onto MR, when LR is loaded with MR's value, and when
//   MR is written with the counter's current value. There is no timer thread: this is evaluated
//   on every register access and on Poll(), which the VM's event loop may call (say once a
//   second) so an unmasked alarm interrupt arrives without the guest reading the RTC. A counter
//   that advanced by many seconds between evaluations still matches if it passed MR.
//   RIS stays set until ICR clears it; level = (RIS & IMSC) != 0, driven only on changes.
// - Accesses: the register is the 32-bit word holding the first byte accessed; reads return it
//   shifted right by 8 * (offset & 3), zero-extended to the access size (the firmware reads the
//   PrimeCell IDs byte-wide). Only writes at offset & 3 == 0 take effect (value truncated to 32
//   bits). Unknown offsets read 0 and ignore writes; writes to read-only registers are ignored;
//   both are counted.
//
// Thread safety: all methods may be called concurrently. The IrqLine and the clock are called
// with the device lock held and must not call back into the device.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "core/arch/aarch64/fdt_writer.h"
#include "core/bus/bus_device.h"
#include "core/bus/device_placement.h"
#include "core/bus/irq_line.h"
#include "hw/primecell/primecell_id.h"

namespace vmmd::hw {
namespace pl031 {

// Register offsets.
inline constexpr uint64_t kDr = 0x000;         // data (counter), read-only
inline constexpr uint64_t kMr = 0x004;         // match
inline constexpr uint64_t kLr = 0x008;         // load
inline constexpr uint64_t kCr = 0x00C;         // control
inline constexpr uint64_t kImsc = 0x010;       // interrupt mask set/clear
inline constexpr uint64_t kRis = 0x014;        // raw interrupt status, read-only
inline constexpr uint64_t kMis = 0x018;        // masked interrupt status, read-only
inline constexpr uint64_t kIcr = 0x01C;        // interrupt clear, write-only
inline constexpr uint64_t kPeriphId0 = primecell::kPeriphId0;  // PeriphID0..3 at 0xFE0..0xFEC
inline constexpr uint64_t kCellId0 = primecell::kCellId0;      // PCellID0..3 at 0xFF0..0xFFC
inline constexpr uint64_t kCellId3 = primecell::kCellId3;

// Bytes 0x31 0x10 0x14 0x00 (part 0x031, designer 0x41, revision 1), as the firmware trace shows
// under QEMU; Linux's AMBA bus matches the revision-masked value 0x00041031.
inline constexpr uint32_t kPeriphId = 0x0014'1031;
inline constexpr uint32_t kCellId = primecell::kCellId;

inline constexpr uint32_t kCrStart = 1u << 0;
inline constexpr uint32_t kIntMatch = 1u << 0;  // the only bit of IMSC, RIS, MIS, ICR

}  // namespace pl031

class Pl031 final : public core::BusDevice, public core::aarch64::FdtDescribed {
 public:
  // Unix seconds.
  using Clock = std::function<int64_t()>;

  struct Stats {
    uint64_t unknown_accesses = 0;  // reads/writes of offsets with no register
    uint64_t ignored_writes = 0;    // writes to read-only registers or at offset & 3 != 0
  };

  // `irq` (may be null: no interrupt) is not owned and must outlive the device. `at` (window and
  // SPI) is only used for the device-tree node. A null `clock` means the host's real time.
  Pl031(core::IrqLine* irq, const core::DevicePlacement& at, Clock clock = nullptr);
  Pl031(const Pl031&) = delete;
  Pl031& operator=(const Pl031&) = delete;

  void Read(uint64_t offset, absl::Span<uint8_t> data) override;
  void Write(uint64_t offset, absl::Span<const uint8_t> data) override;

  // Appends `pl031@<base>` (compatible, reg, interrupts, clocks, clock-names).
  absl::Status DescribeFdt(core::aarch64::FdtWriter& fdt) const override;
  std::string FdtNodeName() const;

  // Evaluates the match interrupt now (see the header comment).
  void Poll();

  // System reset: MR, IMSC and RIS return to 0 (the line is lowered if it was high). The time
  // is kept, as a battery-backed RTC keeps it across a guest reboot.
  void Reset();

  Stats GetStats() const;

 private:
  uint64_t Counter() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Latches RIS if the counter has stepped onto MR since the last evaluation.
  void CheckMatch() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint32_t ReadRegister(uint64_t reg) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WriteRegister(uint64_t reg, uint32_t value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UpdateIrq() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  core::IrqLine* const irq_;
  const core::DevicePlacement at_;
  const Clock clock_;

  mutable absl::Mutex mu_;
  // The 64-bit counter is clock() + offset_ (mod 2^64); DR is its low 32 bits.
  uint64_t offset_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t last_count_ ABSL_GUARDED_BY(mu_) = 0;  // counter at the last match evaluation
  uint32_t mr_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t lr_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t imsc_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t ris_ ABSL_GUARDED_BY(mu_) = 0;
  bool irq_level_ ABSL_GUARDED_BY(mu_) = false;
  Stats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace vmmd::hw
