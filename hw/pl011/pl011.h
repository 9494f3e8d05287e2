// ARM PrimeCell UART (PL011), the guest console: register map of the PL011 TRM (r1p5), with the
// PrimeCell identification QEMU's `virt` presents (ID bytes 0x11 0x10 0x14 0x00, i.e. revision 1
// of part 0x011; Linux matches 0x00041011), so edk2 and Linux treat it exactly as they do there.
//
// Model:
// - TX: a byte written to DR goes straight to the ByteSink; the transmit FIFO is therefore always
//   empty (FR: TXFE=1, TXFF=0, BUSY=0). Output does not depend on CR.UARTEN/TXE: Linux earlycon
//   writes DR before anything has enabled the UART. With CR.LBE set the byte is looped back into
//   the receive FIFO instead.
// - RX: EnqueueInput() fills the receive FIFO (kFifoDepth bytes with LCR_H.FEN set, a single
//   holding register without it). Bytes that do not fit are dropped and counted; a drop also sets
//   RSR.OE and RIS.OE as an overrun does on hardware. Reception ignores CR.UARTEN/RXE.
// - Interrupts (RIS bits latch; level = (RIS & IMSC) != 0, driven only on changes):
//   TX: the transmit FIFO is always at or below its trigger level, so TXRIS is set at reset,
//       after every transmitted byte and whenever IMSC.TXIM goes 0 -> 1; ICR clears it until
//       the next such event (a driver that acks and keeps TXIM set gets no interrupt storm).
//   RX: set when the FIFO level reaches the IFLS trigger (FEN=0: any byte); cleared by reading
//       DR until the level is below the trigger, or by ICR.
//   RT: there is no bit clock, so the line is idle as soon as input has been queued: set
//       whenever bytes are accepted; cleared when DR reads empty the FIFO, or by ICR.
// - Accesses: the register is the 32-bit word holding the first byte accessed; a read returns
//   that register shifted right by 8 * (offset & 3), zero-extended to the access size (so the
//   PrimeCell ID bytes can be read with any size at any offset). Only writes at offset & 3 == 0
//   take effect (value truncated to 32 bits; 1-byte DR stores are how edk2 transmits). Reads of
//   DR at offset & 3 != 0 do not pop the FIFO. Unknown offsets read 0 and ignore writes; writes
//   to read-only registers are ignored; both are counted.
//
// Thread safety: all methods may be called concurrently. The ByteSink and the IrqLine are called
// with the device lock held (which keeps output and level changes ordered) and must not call back
// into the device.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "acpi/aml_described.h"
#include "core/arch/aarch64/fdt_writer.h"
#include "core/bus/bus_device.h"
#include "core/bus/device_placement.h"
#include "core/bus/irq_line.h"
#include "hw/pl011/byte_sink.h"
#include "hw/primecell/primecell_id.h"

namespace vmmd::hw {
namespace pl011 {

// Register offsets.
inline constexpr uint64_t kDr = 0x000;
inline constexpr uint64_t kRsrEcr = 0x004;
inline constexpr uint64_t kFr = 0x018;
inline constexpr uint64_t kIlpr = 0x020;
inline constexpr uint64_t kIbrd = 0x024;
inline constexpr uint64_t kFbrd = 0x028;
inline constexpr uint64_t kLcrH = 0x02C;
inline constexpr uint64_t kCr = 0x030;
inline constexpr uint64_t kIfls = 0x034;
inline constexpr uint64_t kImsc = 0x038;
inline constexpr uint64_t kRis = 0x03C;
inline constexpr uint64_t kMis = 0x040;
inline constexpr uint64_t kIcr = 0x044;
inline constexpr uint64_t kDmacr = 0x048;
inline constexpr uint64_t kPeriphId0 = primecell::kPeriphId0;  // PeriphID0..3 at 0xFE0..0xFEC
inline constexpr uint64_t kCellId0 = primecell::kCellId0;      // PCellID0..3 at 0xFF0..0xFFC
inline constexpr uint64_t kCellId3 = primecell::kCellId3;

// Bytes 0x11 0x10 0x14 0x00: part 0x011, designer 0x41 (ARM), revision 1, as QEMU `virt` shows
// them. Linux's AMBA bus matches the revision-masked value 0x00041011; the revision also tells
// its pl011 driver the FIFOs are 16 deep.
inline constexpr uint32_t kPeriphId = 0x0014'1011;
inline constexpr uint32_t kCellId = primecell::kCellId;

// FR bits. CTS, DSR and DCD: the modem inputs, which this virtual line always asserts.
inline constexpr uint32_t kFrCts = 1u << 0;
inline constexpr uint32_t kFrDsr = 1u << 1;
inline constexpr uint32_t kFrDcd = 1u << 2;
inline constexpr uint32_t kFrBusy = 1u << 3;
inline constexpr uint32_t kFrRxfe = 1u << 4;
inline constexpr uint32_t kFrTxff = 1u << 5;
inline constexpr uint32_t kFrRxff = 1u << 6;
inline constexpr uint32_t kFrTxfe = 1u << 7;

// RSR bits.
inline constexpr uint32_t kRsrOe = 1u << 3;

// LCR_H bits.
inline constexpr uint32_t kLcrHFen = 1u << 4;

// CR bits and reset value (TXE | RXE).
inline constexpr uint32_t kCrUarten = 1u << 0;
inline constexpr uint32_t kCrLbe = 1u << 7;
inline constexpr uint32_t kCrTxe = 1u << 8;
inline constexpr uint32_t kCrRxe = 1u << 9;
inline constexpr uint32_t kCrReset = kCrTxe | kCrRxe;
inline constexpr uint32_t kCrMask = 0xFF87;  // bits 6:3 are reserved

inline constexpr uint32_t kIflsReset = 0x12;  // RX and TX trigger at 1/2
inline constexpr uint32_t kIflsMask = 0x3F;

// Interrupt bits (IMSC, RIS, MIS, ICR).
inline constexpr uint32_t kIntRx = 1u << 4;
inline constexpr uint32_t kIntTx = 1u << 5;
inline constexpr uint32_t kIntRt = 1u << 6;
inline constexpr uint32_t kIntOe = 1u << 10;
inline constexpr uint32_t kIntMask = 0x7FF;

// Receive FIFO depth with LCR_H.FEN set (the revision in kPeriphId has 16-entry FIFOs).
inline constexpr size_t kFifoDepth = 16;

}  // namespace pl011

class Pl011 final : public core::BusDevice,
                    public core::aarch64::FdtDescribed,
                    public acpi::AmlDescribed {
 public:
  struct Stats {
    uint64_t tx_bytes = 0;          // bytes the guest transmitted (incl. loopback)
    uint64_t rx_bytes = 0;          // input bytes accepted into the receive FIFO
    uint64_t rx_dropped = 0;        // input bytes dropped because the FIFO was full
    uint64_t unknown_accesses = 0;  // reads/writes of offsets with no register
    uint64_t ignored_writes = 0;    // writes to read-only registers or at offset & 3 != 0
  };

  // `sink` receives transmitted bytes and `irq` is the UART's interrupt line; either may be null
  // (output discarded / no interrupt). Neither is owned; both must outlive the device.
  // `at` (window and SPI) is only used to describe the device (DT node, AML).
  Pl011(ByteSink* sink, core::IrqLine* irq, const core::DevicePlacement& at);
  Pl011(const Pl011&) = delete;
  Pl011& operator=(const Pl011&) = delete;

  void Read(uint64_t offset, absl::Span<uint8_t> data) override;
  void Write(uint64_t offset, absl::Span<const uint8_t> data) override;

  // Appends `pl011@<base>` (compatible, reg, interrupts, clocks, clock-names).
  absl::Status DescribeFdt(core::aarch64::FdtWriter& fdt) const override;
  // Device (COM0) { _HID "ARMH0011", _UID 0, _CRS Memory32Fixed (base, size) +
  // Interrupt (Level, ActiveHigh) {32 + spi} } (pl011_aml.cc). INVALID_ARGUMENT if the window
  // is not addressable by Memory32Fixed.
  absl::Status DescribeAml(acpi::AmlScope& sb) const override;
  // "pl011@<base hex>", for /chosen/stdout-path.
  std::string FdtNodeName() const;

  // Host input for the guest. Returns how many bytes were accepted; the rest are dropped and
  // counted in Stats::rx_dropped.
  size_t EnqueueInput(absl::Span<const uint8_t> bytes);

  // Back to the power-on state (registers, empty FIFO; the interrupt line is lowered if it was
  // high). Stats are kept.
  void Reset();

  Stats GetStats() const;

 private:
  uint32_t ReadRegister(uint64_t reg) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WriteRegister(uint64_t reg, uint32_t value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Transmit(uint8_t byte) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Queues what fits, drops the rest; updates RIS. Returns the number queued.
  size_t Receive(absl::Span<const uint8_t> bytes) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint32_t PopRx() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  size_t RxCapacity() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  size_t RxTriggerLevel() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint32_t Flags() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ResetRegisters() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UpdateIrq() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  ByteSink* const sink_;
  core::IrqLine* const irq_;
  const core::DevicePlacement at_;

  mutable absl::Mutex mu_;
  uint32_t rsr_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t ilpr_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t ibrd_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t fbrd_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t lcr_h_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t cr_ ABSL_GUARDED_BY(mu_) = pl011::kCrReset;
  uint32_t ifls_ ABSL_GUARDED_BY(mu_) = pl011::kIflsReset;
  uint32_t imsc_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t ris_ ABSL_GUARDED_BY(mu_) = pl011::kIntTx;
  uint32_t dmacr_ ABSL_GUARDED_BY(mu_) = 0;
  // Ring buffer: rx_count_ bytes starting at rx_head_.
  std::array<uint8_t, pl011::kFifoDepth> rx_fifo_ ABSL_GUARDED_BY(mu_) = {};
  size_t rx_head_ ABSL_GUARDED_BY(mu_) = 0;
  size_t rx_count_ ABSL_GUARDED_BY(mu_) = 0;
  bool irq_level_ ABSL_GUARDED_BY(mu_) = false;  // what the line was last driven to
  Stats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace vmmd::hw
