#include "hw/pl011/pl011.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_format.h"
#include "core/common/status_macros.h"

namespace vmmd::hw {
namespace {

using core::aarch64::FdtWriter;


}  // namespace

Pl011::Pl011(ByteSink* sink, core::IrqLine* irq, const core::DevicePlacement& at)
    : sink_(sink), irq_(irq), at_(at) {}

void Pl011::Read(uint64_t offset, absl::Span<uint8_t> data) {
  if (data.empty()) return;
  const uint64_t reg = offset & ~uint64_t{3};
  const unsigned shift = static_cast<unsigned>(offset & 3) * 8;
  uint32_t value = 0;
  {
    absl::MutexLock lock(&mu_);
    // DR bits 31:8 hold the error flags, which this model never sets; reading them alone must
    // not consume a character.
    if (reg != pl011::kDr || shift == 0) value = ReadRegister(reg) >> shift;
    UpdateIrq();
  }
  core::StoreLe(data, value);
}

void Pl011::Write(uint64_t offset, absl::Span<const uint8_t> data) {
  if (data.empty()) return;
  const uint64_t reg = offset & ~uint64_t{3};
  const auto value = static_cast<uint32_t>(core::LoadLe(data));
  absl::MutexLock lock(&mu_);
  if ((offset & 3) != 0) {
    ++stats_.ignored_writes;
  } else {
    WriteRegister(reg, value);
  }
  UpdateIrq();
}

uint32_t Pl011::ReadRegister(uint64_t reg) {
  switch (reg) {
    case pl011::kDr:
      return PopRx();
    case pl011::kRsrEcr:
      return rsr_;
    case pl011::kFr:
      return Flags();
    case pl011::kIlpr:
      return ilpr_;
    case pl011::kIbrd:
      return ibrd_;
    case pl011::kFbrd:
      return fbrd_;
    case pl011::kLcrH:
      return lcr_h_;
    case pl011::kCr:
      return cr_;
    case pl011::kIfls:
      return ifls_;
    case pl011::kImsc:
      return imsc_;
    case pl011::kRis:
      return ris_;
    case pl011::kMis:
      return ris_ & imsc_;
    case pl011::kIcr:  // write-only
      return 0;
    case pl011::kDmacr:
      return dmacr_;
    default:
      if (primecell::IsIdRegister(reg)) return primecell::IdRegister(reg, pl011::kPeriphId);
      ++stats_.unknown_accesses;
      return 0;
  }
}

void Pl011::WriteRegister(uint64_t reg, uint32_t value) {
  switch (reg) {
    case pl011::kDr:
      Transmit(static_cast<uint8_t>(value));
      return;
    case pl011::kRsrEcr:  // any write to ECR clears the error flags
      rsr_ = 0;
      return;
    case pl011::kIlpr:
      ilpr_ = value & 0xFF;
      return;
    case pl011::kIbrd:
      ibrd_ = value & 0xFFFF;
      return;
    case pl011::kFbrd:
      fbrd_ = value & 0x3F;
      return;
    case pl011::kLcrH:
      lcr_h_ = value & 0xFF;
      return;
    case pl011::kCr:
      cr_ = value & pl011::kCrMask;
      return;
    case pl011::kIfls:
      ifls_ = value & pl011::kIflsMask;
      return;
    case pl011::kImsc: {
      const uint32_t imsc = value & pl011::kIntMask;
      // The transmit FIFO is empty, so a driver unmasking TX is told so at once.
      if ((imsc & ~imsc_ & pl011::kIntTx) != 0) ris_ |= pl011::kIntTx;
      imsc_ = imsc;
      return;
    }
    case pl011::kIcr:
      ris_ &= ~(value & pl011::kIntMask);
      return;
    case pl011::kDmacr:
      dmacr_ = value & 0x7;
      return;
    case pl011::kFr:
    case pl011::kRis:
    case pl011::kMis:
      ++stats_.ignored_writes;
      return;
    default:
      if (primecell::IsIdRegister(reg)) {
        ++stats_.ignored_writes;
      } else {
        ++stats_.unknown_accesses;
      }
      return;
  }
}

void Pl011::Transmit(uint8_t byte) {
  ++stats_.tx_bytes;
  if ((cr_ & pl011::kCrLbe) != 0) {
    Receive(absl::MakeConstSpan(&byte, 1));
  } else if (sink_ != nullptr) {
    sink_->Write(absl::MakeConstSpan(&byte, 1));
  }
  // The byte left the FIFO at once: it is empty again, below any trigger level.
  ris_ |= pl011::kIntTx;
}

size_t Pl011::Receive(absl::Span<const uint8_t> bytes) {
  const size_t capacity = RxCapacity();
  const size_t room = rx_count_ < capacity ? capacity - rx_count_ : 0;
  const size_t accepted = std::min(bytes.size(), room);
  const size_t before = rx_count_;
  for (size_t i = 0; i < accepted; ++i) {
    rx_fifo_[(rx_head_ + rx_count_) % pl011::kFifoDepth] = bytes[i];
    ++rx_count_;
  }
  if (accepted > 0) {
    const size_t trigger = RxTriggerLevel();
    if (before < trigger && rx_count_ >= trigger) ris_ |= pl011::kIntRx;
    ris_ |= pl011::kIntRt;  // no bit clock: the line is idle right after the burst
  }
  const size_t dropped = bytes.size() - accepted;
  if (dropped > 0) {
    rsr_ |= pl011::kRsrOe;
    ris_ |= pl011::kIntOe;
  }
  stats_.rx_bytes += accepted;
  stats_.rx_dropped += dropped;
  return accepted;
}

uint32_t Pl011::PopRx() {
  if (rx_count_ == 0) return 0;
  const uint8_t byte = rx_fifo_[rx_head_];
  rx_head_ = (rx_head_ + 1) % pl011::kFifoDepth;
  --rx_count_;
  if (rx_count_ < RxTriggerLevel()) ris_ &= ~pl011::kIntRx;
  if (rx_count_ == 0) ris_ &= ~pl011::kIntRt;
  return byte;
}

size_t Pl011::RxCapacity() const { return (lcr_h_ & pl011::kLcrHFen) != 0 ? pl011::kFifoDepth : 1; }

size_t Pl011::RxTriggerLevel() const {
  if ((lcr_h_ & pl011::kLcrHFen) == 0) return 1;
  // IFLS.RXIFLSEL (bits 5:3): 1/8, 1/4, 1/2, 3/4, 7/8; the reserved encodings act as 7/8.
  static constexpr size_t kEighths[8] = {1, 2, 4, 6, 7, 7, 7, 7};
  return pl011::kFifoDepth * kEighths[(ifls_ >> 3) & 7] / 8;
}

uint32_t Pl011::Flags() const {
  // The line is always connected and ready: carrier (DCD), DSR and CTS are up. Linux reads
  // them as the port's modem status: without a carrier, opening the tty blocks whenever its
  // termios lack CLOCAL (a getty that just hung the line up leaves it so), and with CRTSCTS
  // set and no CTS, output stops.
  uint32_t fr = pl011::kFrTxfe | pl011::kFrDcd | pl011::kFrDsr | pl011::kFrCts;
  if (rx_count_ == 0) fr |= pl011::kFrRxfe;
  if (rx_count_ >= RxCapacity()) fr |= pl011::kFrRxff;
  return fr;
}

void Pl011::UpdateIrq() {
  const bool level = (ris_ & imsc_) != 0;
  if (level == irq_level_) return;
  irq_level_ = level;
  if (irq_ != nullptr) irq_->SetLevel(level);
}

void Pl011::ResetRegisters() {
  rsr_ = ilpr_ = ibrd_ = fbrd_ = lcr_h_ = imsc_ = dmacr_ = 0;
  cr_ = pl011::kCrReset;
  ifls_ = pl011::kIflsReset;
  ris_ = pl011::kIntTx;
  rx_head_ = rx_count_ = 0;
}

void Pl011::Reset() {
  absl::MutexLock lock(&mu_);
  ResetRegisters();
  UpdateIrq();
}

size_t Pl011::EnqueueInput(absl::Span<const uint8_t> bytes) {
  if (bytes.empty()) return 0;
  absl::MutexLock lock(&mu_);
  const size_t accepted = Receive(bytes);
  UpdateIrq();
  return accepted;
}

Pl011::Stats Pl011::GetStats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

std::string Pl011::FdtNodeName() const { return absl::StrFormat("pl011@%x", at_.base); }

absl::Status Pl011::DescribeFdt(FdtWriter& fdt) const {
  using core::aarch64::kFdtIrqLevelHigh;
  using core::aarch64::kFdtIrqTypeSpi;
  using core::aarch64::kPhandleApbClock;
  VMMD_ASSIGN_OR_RETURN(const uint32_t spi, at_.RequireSpi("the PL011"));
  VMMD_RETURN_IF_ERROR(fdt.BeginNode(FdtNodeName()));
  VMMD_RETURN_IF_ERROR(fdt.PropStrings("compatible", {"arm,pl011", "arm,primecell"}));
  const std::pair<uint64_t, uint64_t> reg[] = {{at_.base, at_.size}};
  VMMD_RETURN_IF_ERROR(fdt.PropReg("reg", reg));
  VMMD_RETURN_IF_ERROR(fdt.PropCells("interrupts", {kFdtIrqTypeSpi, spi, kFdtIrqLevelHigh}));
  VMMD_RETURN_IF_ERROR(fdt.PropCells("clocks", {kPhandleApbClock, kPhandleApbClock}));
  VMMD_RETURN_IF_ERROR(fdt.PropStrings("clock-names", {"uartclk", "apb_pclk"}));
  return fdt.EndNode();
}

}  // namespace vmmd::hw
