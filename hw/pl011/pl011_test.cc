#include "hw/pl011/pl011.h"

#include <libfdt.h>

#include <algorithm>
#include <cstring>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "acpi/tables/dsdt.h"
#include "acpi/testing/acpica_tools.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/mmio.h"
#include "tests/support/status_matchers.h"

namespace vmmd::hw {
namespace {

// Where the tests put the UART (QEMU virt's window and SPI).
constexpr core::DevicePlacement kAt{.base = 0x0900'0000, .size = 0x1000, .spi = 1};

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::vmmd::testing::IsOk;
using ::vmmd::testing::MmioRead;
using ::vmmd::testing::MmioRead32;
using ::vmmd::testing::MmioWrite;
using ::vmmd::testing::MmioWrite32;
using ::vmmd::testing::RecordingIrq;
using ::vmmd::testing::StatusIs;
namespace r = pl011;

class RecordingSink : public ByteSink {
 public:
  void Write(absl::Span<const uint8_t> bytes) override {
    absl::MutexLock lock(&mu_);
    bytes_.append(bytes.begin(), bytes.end());
  }
  std::string bytes() const {
    absl::MutexLock lock(&mu_);
    return bytes_;
  }

 private:
  mutable absl::Mutex mu_;
  std::string bytes_;
};

size_t Enqueue(Pl011& uart, const std::string& s) {
  return uart.EnqueueInput(
      absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
}

class Pl011Test : public ::testing::Test {
 protected:
  RecordingSink sink_;
  RecordingIrq irq_;
  Pl011 uart_{&sink_, &irq_, kAt};
};

TEST_F(Pl011Test, ResetValues) {
  EXPECT_EQ(MmioRead32(uart_, r::kDr), 0u);
  EXPECT_EQ(MmioRead32(uart_, r::kRsrEcr), 0u);
  EXPECT_EQ(MmioRead32(uart_, r::kFr), 0x97u);  // TXFE | RXFE | DCD | DSR | CTS
  EXPECT_EQ(MmioRead32(uart_, r::kIlpr), 0u);
  EXPECT_EQ(MmioRead32(uart_, r::kIbrd), 0u);
  EXPECT_EQ(MmioRead32(uart_, r::kFbrd), 0u);
  EXPECT_EQ(MmioRead32(uart_, r::kLcrH), 0u);
  EXPECT_EQ(MmioRead32(uart_, r::kCr), 0x300u);
  EXPECT_EQ(MmioRead32(uart_, r::kIfls), 0x12u);
  EXPECT_EQ(MmioRead32(uart_, r::kImsc), 0u);
  EXPECT_EQ(MmioRead32(uart_, r::kRis), 0x20u);  // TX: the transmit FIFO is empty
  EXPECT_EQ(MmioRead32(uart_, r::kMis), 0u);
  EXPECT_EQ(MmioRead32(uart_, r::kIcr), 0u);
  EXPECT_EQ(MmioRead32(uart_, r::kDmacr), 0u);
  EXPECT_THAT(irq_.levels(), IsEmpty());
  EXPECT_EQ(uart_.GetStats().unknown_accesses, 0u);
}

TEST_F(Pl011Test, Edk2InitSequenceAndByteStores) {
  // PL011UartLib's initialisation as traced under QEMU.
  MmioWrite32(uart_, r::kCr, 0);
  MmioWrite32(uart_, r::kIbrd, 0x27);
  MmioWrite32(uart_, r::kFbrd, 0x4);
  MmioWrite32(uart_, r::kLcrH, 0x70);
  MmioWrite32(uart_, r::kRsrEcr, 0);
  MmioWrite32(uart_, r::kCr, 0x301);
  EXPECT_EQ(MmioRead32(uart_, r::kCr), 0x301u);
  EXPECT_EQ(MmioRead32(uart_, r::kIbrd), 0x27u);
  EXPECT_EQ(MmioRead32(uart_, r::kFbrd), 0x4u);
  EXPECT_EQ(MmioRead32(uart_, r::kLcrH), 0x70u);
  EXPECT_EQ(MmioRead32(uart_, r::kRsrEcr), 0u);
  for (char c : std::string("UEFI\r\n")) {
    EXPECT_EQ(MmioRead32(uart_, r::kFr), 0x97u);
    MmioWrite(uart_, r::kDr, static_cast<uint8_t>(c), 1);
  }
  EXPECT_EQ(MmioRead32(uart_, r::kFr), 0x97u);
  EXPECT_EQ(sink_.bytes(), "UEFI\r\n");
  EXPECT_EQ(uart_.GetStats().tx_bytes, 6u);
  EXPECT_THAT(irq_.levels(), IsEmpty());  // the firmware never unmasks anything
}

TEST_F(Pl011Test, LinuxDriverSequence) {
  // amba_device probe: the low byte of each 32-bit ID register.
  uint32_t pid = 0, cid = 0;
  for (int i = 0; i < 4; ++i) {
    pid |= (MmioRead32(uart_, r::kPeriphId0 + 4 * i) & 0xFF) << (8 * i);
    cid |= (MmioRead32(uart_, r::kCellId0 + 4 * i) & 0xFF) << (8 * i);
  }
  EXPECT_EQ(pid, 0x00141011u);
  EXPECT_EQ(pid & 0x000FFFFF, 0x00041011u);  // the amba_id the driver matches
  EXPECT_EQ(cid, 0xB105F00Du);
  // Port registration, then startup (hwinit, IFLS, CR, enable_interrupts).
  MmioWrite32(uart_, r::kImsc, 0);
  MmioWrite32(uart_, r::kIcr, 0xFFFF);
  MmioWrite32(uart_, r::kIcr, 0x7D0);  // OE | BE | PE | FE | RT | RX
  EXPECT_EQ(MmioRead32(uart_, r::kImsc), 0u);
  MmioWrite32(uart_, r::kIfls, 0x12);
  MmioWrite32(uart_, r::kCr, 0x301);
  MmioWrite32(uart_, r::kIcr, 0x50);
  EXPECT_EQ(MmioRead32(uart_, r::kFr) & r::kFrRxfe, r::kFrRxfe);  // nothing to drain
  MmioWrite32(uart_, r::kImsc, 0x50);                             // RTIM | RXIM
  // set_termios, 115200 8N1 from a 24 MHz clock.
  const uint32_t old_cr = MmioRead32(uart_, r::kCr);
  MmioWrite32(uart_, r::kCr, 0);
  MmioWrite32(uart_, r::kIbrd, 13);
  MmioWrite32(uart_, r::kFbrd, 1);
  MmioWrite32(uart_, r::kLcrH, 0x70);
  MmioWrite32(uart_, r::kCr, old_cr);
  EXPECT_EQ(MmioRead32(uart_, r::kCr), 0x301u);
  EXPECT_EQ(MmioRead32(uart_, r::kIbrd), 13u);
  EXPECT_EQ(MmioRead32(uart_, r::kFbrd), 1u);
  EXPECT_EQ(MmioRead32(uart_, r::kLcrH), 0x70u);
  EXPECT_EQ(MmioRead32(uart_, r::kIfls), 0x12u);
  EXPECT_EQ(MmioRead32(uart_, r::kImsc), 0x50u);
  EXPECT_EQ(MmioRead32(uart_, r::kRis), 0u);
  EXPECT_EQ(MmioRead32(uart_, r::kMis), 0u);
  EXPECT_THAT(irq_.levels(), IsEmpty());

  // TX by polling FR.TXFF (never set): raises TXRIS, masked.
  for (char c : std::string("ok\n")) {
    ASSERT_EQ(MmioRead32(uart_, r::kFr) & r::kFrTxff, 0u);
    MmioWrite32(uart_, r::kDr, static_cast<uint8_t>(c));
  }
  EXPECT_EQ(sink_.bytes(), "ok\n");
  EXPECT_EQ(MmioRead32(uart_, r::kRis), 0x20u);
  EXPECT_EQ(MmioRead32(uart_, r::kMis), 0u);
  EXPECT_THAT(irq_.levels(), IsEmpty());

  // Two typed characters: below the 1/2 trigger, so the receive timeout fires.
  EXPECT_EQ(Enqueue(uart_, "ab"), 2u);
  EXPECT_THAT(irq_.levels(), ElementsAre(true));
  // pl011_int: MIS, ICR of everything but TX/RT/RX, drain while !RXFE.
  EXPECT_EQ(MmioRead32(uart_, r::kMis), 0x40u);
  MmioWrite32(uart_, r::kIcr, 0x40 & ~0x70u);
  std::string got;
  while ((MmioRead32(uart_, r::kFr) & r::kFrRxfe) == 0)
    got.push_back(static_cast<char>(MmioRead32(uart_, r::kDr)));
  EXPECT_EQ(got, "ab");
  EXPECT_EQ(MmioRead32(uart_, r::kMis), 0u);
  EXPECT_THAT(irq_.levels(), ElementsAre(true, false));

  // Interrupt-driven TX: unmask TXIM, the interrupt is immediate; stop_tx masks it again.
  MmioWrite32(uart_, r::kImsc, 0x70);
  EXPECT_EQ(MmioRead32(uart_, r::kMis), 0x20u);
  MmioWrite32(uart_, r::kDr, '!');
  MmioWrite32(uart_, r::kImsc, 0x50);
  EXPECT_EQ(sink_.bytes(), "ok\n!");
  EXPECT_THAT(irq_.levels(), ElementsAre(true, false, true, false));
  EXPECT_EQ(uart_.GetStats().unknown_accesses, 0u);
  EXPECT_EQ(uart_.GetStats().ignored_writes, 0u);
}

TEST_F(Pl011Test, IdRegistersByteWideAndWordWide) {
  const uint8_t expected[8] = {0x11, 0x10, 0x14, 0x00, 0x0D, 0xF0, 0x05, 0xB1};
  for (int i = 0; i < 8; ++i) {
    const uint64_t reg = r::kPeriphId0 + 4 * i;
    SCOPED_TRACE(reg);
    EXPECT_EQ(MmioRead(uart_, reg, 1), expected[i]);
    EXPECT_EQ(MmioRead(uart_, reg, 2), expected[i]);
    EXPECT_EQ(MmioRead(uart_, reg, 4), expected[i]);
    EXPECT_EQ(MmioRead(uart_, reg, 8), expected[i]);  // only this register; no neighbour bytes
    for (int b = 1; b < 4; ++b) EXPECT_EQ(MmioRead(uart_, reg + b, 1), 0u);
  }
  // Writes are ignored and counted.
  MmioWrite32(uart_, r::kPeriphId0, 0xFF);
  MmioWrite(uart_, r::kCellId3, 0xFF, 1);
  EXPECT_EQ(MmioRead(uart_, r::kPeriphId0, 1), 0x11u);
  EXPECT_EQ(MmioRead(uart_, r::kCellId3, 1), 0xB1u);
  EXPECT_EQ(uart_.GetStats().ignored_writes, 2u);
  EXPECT_EQ(uart_.GetStats().unknown_accesses, 0u);
}

TEST_F(Pl011Test, SubWordReadsShiftTheRegister) {
  MmioWrite32(uart_, r::kIbrd, 0xBEEF);
  EXPECT_EQ(MmioRead(uart_, r::kIbrd, 1), 0xEFu);
  EXPECT_EQ(MmioRead(uart_, r::kIbrd + 1, 1), 0xBEu);
  EXPECT_EQ(MmioRead(uart_, r::kIbrd + 1, 2), 0xBEu);
  EXPECT_EQ(MmioRead(uart_, r::kIbrd + 2, 2), 0u);
  EXPECT_EQ(MmioRead(uart_, r::kIbrd + 3, 8), 0u);
  EXPECT_EQ(MmioRead(uart_, r::kIbrd, 8), 0xBEEFu);
}

TEST_F(Pl011Test, FlagsFollowTheReceiveFifo) {
  MmioWrite32(uart_, r::kLcrH, r::kLcrHFen);
  EXPECT_EQ(MmioRead32(uart_, r::kFr), 0x97u);
  Enqueue(uart_, "x");
  EXPECT_EQ(MmioRead32(uart_, r::kFr), 0x87u);  // TXFE (and the modem lines) only
  Enqueue(uart_, std::string(15, 'y'));
  EXPECT_EQ(MmioRead32(uart_, r::kFr), 0xC7u);  // TXFE | RXFF
  MmioRead32(uart_, r::kDr);
  EXPECT_EQ(MmioRead32(uart_, r::kFr), 0x87u);
  // Without FEN the FIFO is one holding register.
  Pl011 plain(&sink_, nullptr, kAt);
  EXPECT_EQ(Enqueue(plain, "ab"), 1u);
  EXPECT_EQ(MmioRead32(plain, r::kFr), 0xC7u);
  EXPECT_EQ(MmioRead32(plain, r::kDr), static_cast<uint32_t>('a'));
  EXPECT_EQ(MmioRead32(plain, r::kFr), 0x97u);
}

TEST_F(Pl011Test, TransmittedBytesReachTheSinkInOrder) {
  MmioWrite(uart_, r::kDr, 'a', 1);
  MmioWrite(uart_, r::kDr, 0x1234'5600 | 'b', 4);  // only the data byte is sent
  MmioWrite(uart_, r::kDr, 0xFFFF'FFFF'FFFF'FF00ULL | 'c', 8);
  MmioWrite(uart_, r::kDr, 0x0100 | 'd', 2);
  MmioWrite(uart_, r::kDr + 1, 'X', 1);  // not at the register's start: ignored
  MmioWrite(uart_, r::kDr + 2, 'Y', 2);
  std::string all;
  for (int i = 0; i < 256; ++i) {
    MmioWrite(uart_, r::kDr, static_cast<uint8_t>(i), 1);
    all.push_back(static_cast<char>(i));
  }
  EXPECT_EQ(sink_.bytes(), "abcd" + all);
  EXPECT_EQ(uart_.GetStats().tx_bytes, 260u);
  EXPECT_EQ(uart_.GetStats().ignored_writes, 2u);
}

TEST_F(Pl011Test, NullSinkAndIrqAreHarmless) {
  Pl011 bare(nullptr, nullptr, kAt);
  MmioWrite32(bare, r::kImsc, r::kIntMask);
  MmioWrite32(bare, r::kDr, 'z');
  Enqueue(bare, "q");
  EXPECT_EQ(MmioRead32(bare, r::kMis), r::kIntTx | r::kIntRx | r::kIntRt);
  EXPECT_EQ(bare.GetStats().tx_bytes, 1u);
}

TEST_F(Pl011Test, TxInterruptTransitions) {
  MmioWrite32(uart_, r::kImsc, r::kIntTx);  // TXRIS latched since reset
  MmioWrite32(uart_, r::kImsc, r::kIntTx);  // same level: no second call
  MmioWrite32(uart_, r::kIcr, r::kIntTx);
  EXPECT_EQ(MmioRead32(uart_, r::kRis), 0u);
  MmioWrite32(uart_, r::kIcr, r::kIntTx);  // no change
  MmioWrite32(uart_, r::kDr, 'a');         // drained at once: TX again
  EXPECT_EQ(MmioRead32(uart_, r::kMis), r::kIntTx);
  MmioWrite32(uart_, r::kIcr, r::kIntTx);
  MmioWrite32(uart_, r::kImsc, 0);
  MmioWrite32(uart_, r::kImsc, r::kIntTx);  // unmasking re-raises: the FIFO is empty
  MmioWrite32(uart_, r::kImsc, 0);
  EXPECT_EQ(MmioRead32(uart_, r::kRis), r::kIntTx);
  EXPECT_THAT(irq_.levels(), ElementsAre(true, false, true, false, true, false));
}

TEST_F(Pl011Test, RxInterruptUsesTheTriggerLevel) {
  MmioWrite32(uart_, r::kLcrH, r::kLcrHFen);
  MmioWrite32(uart_, r::kIfls, 0);  // RX at 1/8 = 2 bytes
  MmioWrite32(uart_, r::kImsc, r::kIntRx);
  Enqueue(uart_, "1");
  EXPECT_EQ(MmioRead32(uart_, r::kRis), r::kIntTx | r::kIntRt);
  EXPECT_THAT(irq_.levels(), IsEmpty());
  Enqueue(uart_, "2");
  EXPECT_EQ(MmioRead32(uart_, r::kRis), r::kIntTx | r::kIntRt | r::kIntRx);
  EXPECT_THAT(irq_.levels(), ElementsAre(true));
  EXPECT_EQ(MmioRead32(uart_, r::kDr), static_cast<uint32_t>('1'));  // 1 left < 2
  EXPECT_THAT(irq_.levels(), ElementsAre(true, false));
  Enqueue(uart_, "34");                // 1 -> 3: crosses the trigger
  MmioWrite32(uart_, r::kIcr, r::kIntRx);  // acked with data still waiting
  Enqueue(uart_, "5");                 // 3 -> 4: no crossing, RX stays clear
  EXPECT_EQ(MmioRead32(uart_, r::kRis), r::kIntTx | r::kIntRt);
  EXPECT_THAT(irq_.levels(), ElementsAre(true, false, true, false));
  // The timeout fires for any waiting data and clears when the FIFO empties.
  MmioWrite32(uart_, r::kImsc, r::kIntRt);
  std::string got;
  for (int i = 0; i < 4; ++i) got.push_back(static_cast<char>(MmioRead32(uart_, r::kDr)));
  EXPECT_EQ(got, "2345");
  EXPECT_EQ(MmioRead32(uart_, r::kRis), r::kIntTx);
  EXPECT_THAT(irq_.levels(), ElementsAre(true, false, true, false, true, false));
}

TEST_F(Pl011Test, TriggerLevelsForEveryIflsEncoding) {
  const size_t expected[8] = {2, 4, 8, 12, 14, 14, 14, 14};
  for (uint32_t sel = 0; sel < 8; ++sel) {
    SCOPED_TRACE(sel);
    Pl011 uart(nullptr, nullptr, kAt);
    MmioWrite32(uart, r::kLcrH, r::kLcrHFen);
    MmioWrite32(uart, r::kIfls, sel << 3);
    size_t n = 0;
    while ((MmioRead32(uart, r::kRis) & r::kIntRx) == 0 && n < r::kFifoDepth)
      n += Enqueue(uart, "z");
    EXPECT_EQ(n, expected[sel]);
  }
}

TEST_F(Pl011Test, FullFifoDropsAndCountsOverrun) {
  MmioWrite32(uart_, r::kLcrH, r::kLcrHFen);
  std::string in;
  for (int i = 0; i < 20; ++i) in.push_back(static_cast<char>('A' + i));
  EXPECT_EQ(Enqueue(uart_, in), 16u);
  EXPECT_EQ(Enqueue(uart_, "more"), 0u);
  EXPECT_EQ(MmioRead32(uart_, r::kRsrEcr), r::kRsrOe);
  EXPECT_EQ(MmioRead32(uart_, r::kRis) & r::kIntOe, r::kIntOe);
  Pl011::Stats stats = uart_.GetStats();
  EXPECT_EQ(stats.rx_bytes, 16u);
  EXPECT_EQ(stats.rx_dropped, 8u);
  std::string got;
  while ((MmioRead32(uart_, r::kFr) & r::kFrRxfe) == 0)
    got.push_back(static_cast<char>(MmioRead32(uart_, r::kDr)));
  EXPECT_EQ(got, in.substr(0, 16));
  EXPECT_EQ(MmioRead32(uart_, r::kDr), 0u);  // empty
  MmioWrite32(uart_, r::kRsrEcr, 0x1234);    // any value clears
  EXPECT_EQ(MmioRead32(uart_, r::kRsrEcr), 0u);
  // The ring wraps correctly.
  EXPECT_EQ(Enqueue(uart_, "wxyz"), 4u);
  got.clear();
  while ((MmioRead32(uart_, r::kFr) & r::kFrRxfe) == 0)
    got.push_back(static_cast<char>(MmioRead32(uart_, r::kDr)));
  EXPECT_EQ(got, "wxyz");
}

TEST_F(Pl011Test, DrReadAtNonZeroOffsetDoesNotConsume) {
  Enqueue(uart_, "k");
  EXPECT_EQ(MmioRead(uart_, r::kDr + 1, 1), 0u);
  EXPECT_EQ(MmioRead(uart_, r::kDr + 2, 2), 0u);
  EXPECT_EQ(MmioRead(uart_, r::kDr, 1), static_cast<uint64_t>('k'));
}

TEST_F(Pl011Test, LoopbackFeedsTheReceiver) {
  MmioWrite32(uart_, r::kCr, 0x301 | r::kCrLbe);
  MmioWrite32(uart_, r::kDr, 'L');
  EXPECT_EQ(sink_.bytes(), "");
  EXPECT_EQ(MmioRead32(uart_, r::kDr), static_cast<uint32_t>('L'));
  MmioWrite32(uart_, r::kCr, 0x301);
  MmioWrite32(uart_, r::kDr, 'M');
  EXPECT_EQ(sink_.bytes(), "M");
}

TEST_F(Pl011Test, RegistersKeepOnlyTheirDefinedBits) {
  const struct {
    uint64_t reg;
    uint32_t mask;
  } cases[] = {{r::kIlpr, 0xFF}, {r::kIbrd, 0xFFFF}, {r::kFbrd, 0x3F},  {r::kLcrH, 0xFF},
               {r::kCr, 0xFF87}, {r::kIfls, 0x3F},   {r::kImsc, 0x7FF}, {r::kDmacr, 0x7}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.reg);
    MmioWrite32(uart_, c.reg, 0xFFFF'FFFF);
    EXPECT_EQ(MmioRead32(uart_, c.reg), c.mask);
  }
  // Read-only registers ignore writes.
  MmioWrite32(uart_, r::kFr, 0);
  MmioWrite32(uart_, r::kRis, 0);
  MmioWrite32(uart_, r::kMis, 0);
  EXPECT_EQ(MmioRead32(uart_, r::kFr), 0x97u);
  EXPECT_EQ(uart_.GetStats().ignored_writes, 3u);
}

TEST_F(Pl011Test, UnknownAndMisalignedAccessesAreHarmless) {
  const uint64_t offsets[] = {0x008, 0x00C, 0x010, 0x014,  0x01C,
                              0x04C, 0x080, 0xFDC, 0x1000, 0xFFFF'FFFF'FFFF'FFF8ULL};
  for (uint64_t off : offsets) {
    SCOPED_TRACE(off);
    MmioWrite32(uart_, off, 0xFFFF'FFFF);
    EXPECT_EQ(MmioRead(uart_, off, 8), 0u);
  }
  EXPECT_EQ(uart_.GetStats().unknown_accesses, 2 * std::size(offsets));
  MmioWrite(uart_, r::kCr + 1, 0xFF, 1);  // misaligned: ignored
  MmioWrite(uart_, 0xFFFF'FFFF'FFFF'FFFFULL, 0xFF, 1);
  EXPECT_EQ(uart_.GetStats().ignored_writes, 2u);
  // Odd span sizes from a misbehaving caller.
  uint8_t big[16];
  std::memset(big, 0xAA, sizeof(big));
  uart_.Read(r::kCr, absl::MakeSpan(big));
  EXPECT_EQ(big[0], 0x00);
  EXPECT_EQ(big[1], 0x03);
  for (int i = 2; i < 16; ++i) EXPECT_EQ(big[i], 0) << i;
  uart_.Read(r::kCr, absl::Span<uint8_t>());
  uart_.Write(r::kCr, absl::Span<const uint8_t>());
  EXPECT_EQ(MmioRead32(uart_, r::kCr), 0x300u);
  EXPECT_EQ(MmioRead32(uart_, r::kFr), 0x97u);
  EXPECT_EQ(sink_.bytes(), "");
  EXPECT_THAT(irq_.levels(), IsEmpty());
}

TEST_F(Pl011Test, ResetRestoresPowerOnStateAndLowersTheLine) {
  MmioWrite32(uart_, r::kLcrH, 0x70);
  MmioWrite32(uart_, r::kIbrd, 5);
  MmioWrite32(uart_, r::kImsc, r::kIntRt);
  Enqueue(uart_, "abc");
  EXPECT_THAT(irq_.levels(), ElementsAre(true));
  uart_.Reset();
  EXPECT_THAT(irq_.levels(), ElementsAre(true, false));
  EXPECT_EQ(MmioRead32(uart_, r::kLcrH), 0u);
  EXPECT_EQ(MmioRead32(uart_, r::kIbrd), 0u);
  EXPECT_EQ(MmioRead32(uart_, r::kImsc), 0u);
  EXPECT_EQ(MmioRead32(uart_, r::kRis), r::kIntTx);
  EXPECT_EQ(MmioRead32(uart_, r::kFr), 0x97u);
  EXPECT_EQ(MmioRead32(uart_, r::kCr), 0x300u);
  EXPECT_EQ(uart_.GetStats().rx_bytes, 3u);  // stats survive
}

TEST_F(Pl011Test, DescribeFdtWritesTheQemuCompatibleNode) {
  core::aarch64::FdtWriter w;
  ASSERT_THAT(uart_.DescribeFdt(w), IsOk());
  auto blob = w.Finish();
  ASSERT_THAT(blob, IsOk());
  const void* fdt = blob->data();
  EXPECT_EQ(uart_.FdtNodeName(), "pl011@9000000");
  const int node = fdt_path_offset(fdt, "/pl011@9000000");
  ASSERT_GE(node, 0);
  auto prop = [&](const char* name) {
    int len = 0;
    const auto* p = static_cast<const uint8_t*>(fdt_getprop(fdt, node, name, &len));
    return p == nullptr ? std::vector<uint8_t>() : std::vector<uint8_t>(p, p + len);
  };
  auto str = [](const char* s, size_t n) { return std::vector<uint8_t>(s, s + n); };
  EXPECT_EQ(prop("compatible"), str("arm,pl011\0arm,primecell", 24));
  EXPECT_EQ(prop("reg"),
            std::vector<uint8_t>({0, 0, 0, 0, 0x09, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0}));
  EXPECT_EQ(prop("interrupts"), std::vector<uint8_t>({0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 4}));
  EXPECT_EQ(prop("clocks"), std::vector<uint8_t>({0, 0, 0, 2, 0, 0, 0, 2}));
  EXPECT_EQ(prop("clock-names"), str("uartclk\0apb_pclk", 17));
  int count = 0;
  int p;
  fdt_for_each_property_offset(p, fdt, node)++ count;
  EXPECT_EQ(count, 5);
}

TEST_F(Pl011Test, DescribeFdtUsesTheConstructorPlacement) {
  Pl011 other(nullptr, nullptr, {.base = 0x1'2000'0000, .size = 0x2000, .spi = 7});
  core::aarch64::FdtWriter w;
  ASSERT_THAT(other.DescribeFdt(w), IsOk());
  auto blob = w.Finish();
  ASSERT_THAT(blob, IsOk());
  const int node = fdt_path_offset(blob->data(), "/pl011@120000000");
  ASSERT_GE(node, 0);
  int len = 0;
  const auto* reg = static_cast<const fdt32_t*>(fdt_getprop(blob->data(), node, "reg", &len));
  ASSERT_EQ(len, 16);
  EXPECT_EQ(fdt32_to_cpu(reg[0]), 1u);
  EXPECT_EQ(fdt32_to_cpu(reg[1]), 0x2000'0000u);
  EXPECT_EQ(fdt32_to_cpu(reg[3]), 0x2000u);
  const auto* irq =
      static_cast<const fdt32_t*>(fdt_getprop(blob->data(), node, "interrupts", &len));
  ASSERT_EQ(len, 12);
  EXPECT_EQ(fdt32_to_cpu(irq[1]), 7u);
}

TEST_F(Pl011Test, ConcurrentWritersAndInputLoseNothing) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t] {
      for (int i = 0; i < kPerThread; ++i) MmioWrite(uart_, r::kDr, 'a' + t, 1);
    });
  }
  threads.emplace_back([this] {
    for (int i = 0; i < kPerThread; ++i) {
      Enqueue(uart_, "i");
      MmioRead32(uart_, r::kDr);
      MmioRead32(uart_, r::kFr);
    }
  });
  for (auto& th : threads) th.join();
  const std::string out = sink_.bytes();
  ASSERT_EQ(out.size(), static_cast<size_t>(kThreads * kPerThread));
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(std::count(out.begin(), out.end(), 'a' + t), kPerThread);
  }
  const Pl011::Stats stats = uart_.GetStats();
  EXPECT_EQ(stats.tx_bytes, static_cast<uint64_t>(kThreads * kPerThread));
  EXPECT_EQ(stats.rx_bytes + stats.rx_dropped, static_cast<uint64_t>(kPerThread));
}

// The console Linux finds under ACPI: COM0 with the window and GSIV 32 + SPI of its placement.
TEST_F(Pl011Test, DescribeAmlWritesTheArmConsoleDevice) {
  const acpi::AmlDescribed* devices[] = {&uart_};
  absl::StatusOr<std::vector<uint8_t>> dsdt = acpi::BuildDsdt(devices);
  ASSERT_THAT(dsdt, IsOk());
  absl::StatusOr<acpi::testing::TempDir> dir = acpi::testing::TempDir::Create();
  ASSERT_THAT(dir, IsOk());
  absl::StatusOr<acpi::testing::Disassembly> d = acpi::testing::Disassemble(*dir, "dsdt", *dsdt);
  ASSERT_THAT(d, IsOk());
  EXPECT_THAT(acpi::testing::DisassemblyProblems(*d), IsEmpty()) << d->run.output;
  EXPECT_THAT(d->dsl, HasSubstr("Device (COM0)"));
  EXPECT_THAT(d->dsl, HasSubstr("Name (_HID, \"ARMH0011\")"));
  EXPECT_THAT(d->dsl, HasSubstr("0x09000000,         // Address Base"));
  EXPECT_THAT(d->dsl, HasSubstr("0x00001000,         // Address Length"));
  EXPECT_THAT(d->dsl, HasSubstr("Interrupt (ResourceConsumer, Level, ActiveHigh, Exclusive, ,, )"));
  EXPECT_THAT(d->dsl, HasSubstr("0x00000021,"));
}

TEST_F(Pl011Test, DescribeAmlRefusesWhatItCannotDescribe) {
  acpi::AmlScope sb("\\_SB");
  Pl011 high(nullptr, nullptr, {.base = 0x1'0000'0000, .size = 0x1000, .spi = 1});
  EXPECT_THAT(high.DescribeAml(sb),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("Memory32Fixed")));
  Pl011 no_irq(nullptr, nullptr, {.base = 0x0900'0000, .size = 0x1000});
  EXPECT_THAT(no_irq.DescribeAml(sb), StatusIs(absl::StatusCode::kFailedPrecondition));
  core::aarch64::FdtWriter w;
  EXPECT_THAT(no_irq.DescribeFdt(w),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("no interrupt")));
}

}  // namespace
}  // namespace vmmd::hw
