#include "hw/pl031/pl031.h"

#include <libfdt.h>

#include <ctime>
#include <iterator>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/mmio.h"
#include "tests/support/status_matchers.h"

namespace vmmd::hw {
namespace {

// Where the tests put the RTC (QEMU virt's window and SPI).
constexpr core::DevicePlacement kAt{.base = 0x0901'0000, .size = 0x1000, .spi = 2};

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::vmmd::testing::IsOk;
using ::vmmd::testing::MmioRead;
using ::vmmd::testing::MmioRead32;
using ::vmmd::testing::MmioWrite;
using ::vmmd::testing::MmioWrite32;
using ::vmmd::testing::RecordingIrq;
namespace r = pl031;

class Pl031Test : public ::testing::Test {
 protected:
  int64_t now_ = 1'700'000'000;  // 2023-11-14
  RecordingIrq irq_;
  Pl031 rtc_{&irq_, kAt, [this] { return now_; }};
};

TEST_F(Pl031Test, Edk2ProbeSequence) {
  // As traced: PCellID then PeriphID byte-wide, then IMSC, RIS, CR, DR.
  const uint8_t cell[4] = {0x0D, 0xF0, 0x05, 0xB1};
  const uint8_t periph[4] = {0x31, 0x10, 0x14, 0x00};
  for (int i = 0; i < 4; ++i) EXPECT_EQ(MmioRead(rtc_, r::kCellId0 + 4 * i, 1), cell[i]) << i;
  for (int i = 0; i < 4; ++i) EXPECT_EQ(MmioRead(rtc_, r::kPeriphId0 + 4 * i, 1), periph[i]) << i;
  EXPECT_EQ(MmioRead32(rtc_, r::kImsc), 0u);
  EXPECT_EQ(MmioRead32(rtc_, r::kRis), 0u);
  EXPECT_EQ(MmioRead32(rtc_, r::kCr), 1u);
  EXPECT_EQ(MmioRead32(rtc_, r::kDr), 1'700'000'000u);
  EXPECT_THAT(irq_.levels(), IsEmpty());
  EXPECT_EQ(rtc_.GetStats().unknown_accesses, 0u);
}

TEST_F(Pl031Test, IdRegistersWithEverySize) {
  const uint8_t expected[8] = {0x31, 0x10, 0x14, 0x00, 0x0D, 0xF0, 0x05, 0xB1};
  uint32_t pid = 0, cid = 0;
  for (int i = 0; i < 8; ++i) {
    const uint64_t reg = r::kPeriphId0 + 4 * i;
    SCOPED_TRACE(reg);
    EXPECT_EQ(MmioRead(rtc_, reg, 2), expected[i]);
    EXPECT_EQ(MmioRead(rtc_, reg, 4), expected[i]);
    EXPECT_EQ(MmioRead(rtc_, reg, 8), expected[i]);
    EXPECT_EQ(MmioRead(rtc_, reg + 1, 1), 0u);
    EXPECT_EQ(MmioRead(rtc_, reg + 3, 1), 0u);
    (i < 4 ? pid : cid) |= (MmioRead32(rtc_, reg) & 0xFF) << (8 * (i % 4));
  }
  EXPECT_EQ(pid, 0x00141031u);
  EXPECT_EQ(pid & 0x000FFFFF, 0x00041031u);  // the amba_id rtc-pl031 matches
  EXPECT_EQ(cid, 0xB105F00Du);
}

TEST_F(Pl031Test, DataRegisterFollowsTheClock) {
  EXPECT_EQ(MmioRead32(rtc_, r::kDr), 1'700'000'000u);
  now_ += 5;
  EXPECT_EQ(MmioRead32(rtc_, r::kDr), 1'700'000'005u);
  // Sub-word reads see the shifted counter.
  now_ = 0x1234'5678;
  EXPECT_EQ(MmioRead(rtc_, r::kDr, 1), 0x78u);
  EXPECT_EQ(MmioRead(rtc_, r::kDr + 1, 1), 0x56u);
  EXPECT_EQ(MmioRead(rtc_, r::kDr + 2, 2), 0x1234u);
  EXPECT_EQ(MmioRead(rtc_, r::kDr, 8), 0x1234'5678u);
}

TEST_F(Pl031Test, LoadRegisterSetsTheCounter) {
  MmioWrite32(rtc_, r::kLr, 500);
  EXPECT_EQ(MmioRead32(rtc_, r::kDr), 500u);
  EXPECT_EQ(MmioRead32(rtc_, r::kLr), 500u);
  now_ += 10;
  EXPECT_EQ(MmioRead32(rtc_, r::kDr), 510u);
  EXPECT_EQ(MmioRead32(rtc_, r::kLr), 500u);  // the last value written, not the counter
  MmioWrite32(rtc_, r::kLr, 0xFFFF'FFFF);
  now_ += 2;
  EXPECT_EQ(MmioRead32(rtc_, r::kDr), 1u);  // 32-bit wrap
}

TEST_F(Pl031Test, DefaultClockIsRealTime) {
  Pl031 real(nullptr, kAt);
  const auto before = static_cast<uint32_t>(std::time(nullptr));
  const uint32_t dr = MmioRead32(real, r::kDr);
  const auto after = static_cast<uint32_t>(std::time(nullptr));
  EXPECT_GE(dr, before);
  EXPECT_LE(dr, after);
}

TEST_F(Pl031Test, ControlRegisterReadsStartedAndIgnoresWrites) {
  MmioWrite32(rtc_, r::kCr, 0);
  EXPECT_EQ(MmioRead32(rtc_, r::kCr), 1u);
  now_ += 1;
  EXPECT_EQ(MmioRead32(rtc_, r::kDr), 1'700'000'001u);  // still counting
  MmioWrite32(rtc_, r::kCr, 0xFFFF'FFFF);
  EXPECT_EQ(MmioRead32(rtc_, r::kCr), 1u);
}

TEST_F(Pl031Test, MatchInterruptWhenTheCounterReachesMr) {
  MmioWrite32(rtc_, r::kMr, 1'700'000'003);
  MmioWrite32(rtc_, r::kImsc, 1);
  EXPECT_EQ(MmioRead32(rtc_, r::kMr), 1'700'000'003u);
  now_ += 1;
  EXPECT_EQ(MmioRead32(rtc_, r::kRis), 0u);
  now_ += 1;
  EXPECT_EQ(MmioRead32(rtc_, r::kRis), 0u);
  EXPECT_THAT(irq_.levels(), IsEmpty());
  now_ += 1;
  EXPECT_EQ(MmioRead32(rtc_, r::kRis), 1u);
  EXPECT_EQ(MmioRead32(rtc_, r::kMis), 1u);
  EXPECT_THAT(irq_.levels(), ElementsAre(true));
  MmioWrite32(rtc_, r::kIcr, 1);
  EXPECT_EQ(MmioRead32(rtc_, r::kRis), 0u);
  EXPECT_THAT(irq_.levels(), ElementsAre(true, false));
  now_ += 1;  // past the match: nothing new
  rtc_.Poll();
  EXPECT_EQ(MmioRead32(rtc_, r::kRis), 0u);
  EXPECT_THAT(irq_.levels(), ElementsAre(true, false));
}

TEST_F(Pl031Test, PollCatchesAMatchThatWasSkippedOver) {
  MmioWrite32(rtc_, r::kMr, 1'700'000'005);
  MmioWrite32(rtc_, r::kImsc, 1);
  now_ += 10;  // nobody looked at 1'700'000'005
  rtc_.Poll();
  EXPECT_THAT(irq_.levels(), ElementsAre(true));
  EXPECT_EQ(MmioRead32(rtc_, r::kRis), 1u);
}

TEST_F(Pl031Test, MatchAcrossTheWrap) {
  MmioWrite32(rtc_, r::kLr, 0xFFFF'FFFE);
  MmioWrite32(rtc_, r::kMr, 1);
  now_ += 2;  // counter 0
  EXPECT_EQ(MmioRead32(rtc_, r::kRis), 0u);
  now_ += 1;  // counter 1
  EXPECT_EQ(MmioRead32(rtc_, r::kRis), 1u);
}

TEST_F(Pl031Test, ImmediateMatchOnMrOrLrWrite) {
  MmioWrite32(rtc_, r::kMr, 1'700'000'000);  // equals the counter now
  EXPECT_EQ(MmioRead32(rtc_, r::kRis), 1u);
  MmioWrite32(rtc_, r::kIcr, 1);
  MmioWrite32(rtc_, r::kMr, 42);
  EXPECT_EQ(MmioRead32(rtc_, r::kRis), 0u);
  MmioWrite32(rtc_, r::kLr, 42);  // loading MR's value
  EXPECT_EQ(MmioRead32(rtc_, r::kRis), 1u);
  MmioWrite32(rtc_, r::kIcr, 1);
  MmioWrite32(rtc_, r::kLr, 100);  // jumping past MR by a load is not a match
  EXPECT_EQ(MmioRead32(rtc_, r::kRis), 0u);
}

TEST_F(Pl031Test, ClockSteppingBackDoesNotMatch) {
  MmioWrite32(rtc_, r::kMr, 1'699'999'990);
  now_ -= 20;
  EXPECT_EQ(MmioRead32(rtc_, r::kRis), 0u);
  now_ += 10;  // counts forward onto MR again
  EXPECT_EQ(MmioRead32(rtc_, r::kRis), 1u);
}

TEST_F(Pl031Test, MaskControlsTheLineNotRis) {
  MmioWrite32(rtc_, r::kMr, 1'700'000'001);
  now_ += 1;
  EXPECT_EQ(MmioRead32(rtc_, r::kRis), 1u);
  EXPECT_EQ(MmioRead32(rtc_, r::kMis), 0u);
  EXPECT_THAT(irq_.levels(), IsEmpty());
  MmioWrite32(rtc_, r::kImsc, 0xFFFF'FFFF);
  EXPECT_EQ(MmioRead32(rtc_, r::kImsc), 1u);
  MmioWrite32(rtc_, r::kImsc, 0);
  MmioWrite32(rtc_, r::kImsc, 1);
  MmioWrite32(rtc_, r::kIcr, 0xFFFF'FFFE);  // bit 0 clear: no effect
  EXPECT_EQ(MmioRead32(rtc_, r::kRis), 1u);
  MmioWrite32(rtc_, r::kIcr, 1);
  EXPECT_THAT(irq_.levels(), ElementsAre(true, false, true, false));
}

TEST_F(Pl031Test, UnknownReadOnlyAndMisalignedAccessesAreHarmless) {
  const uint64_t offsets[] = {0x020, 0x024, 0x080, 0xFDC, 0x1000, 0xFFFF'FFFF'FFFF'FFFCULL};
  for (uint64_t off : offsets) {
    SCOPED_TRACE(off);
    MmioWrite32(rtc_, off, 0xFFFF'FFFF);
    EXPECT_EQ(MmioRead(rtc_, off, 8), 0u);
  }
  EXPECT_EQ(rtc_.GetStats().unknown_accesses, 2 * std::size(offsets));
  MmioWrite32(rtc_, r::kDr, 7);
  MmioWrite32(rtc_, r::kRis, 1);
  MmioWrite32(rtc_, r::kMis, 1);
  MmioWrite32(rtc_, r::kPeriphId0, 0);
  MmioWrite(rtc_, r::kMr + 2, 0xFFFF, 2);  // misaligned
  EXPECT_EQ(rtc_.GetStats().ignored_writes, 5u);
  EXPECT_EQ(MmioRead32(rtc_, r::kDr), 1'700'000'000u);
  EXPECT_EQ(MmioRead32(rtc_, r::kRis), 0u);
  EXPECT_EQ(MmioRead32(rtc_, r::kMr), 0u);
  EXPECT_EQ(MmioRead32(rtc_, r::kIcr), 0u);
  EXPECT_EQ(MmioRead(rtc_, r::kPeriphId0, 1), 0x31u);
  rtc_.Read(r::kDr, absl::Span<uint8_t>());
  rtc_.Write(r::kLr, absl::Span<const uint8_t>());
  EXPECT_EQ(MmioRead32(rtc_, r::kLr), 0u);
  EXPECT_THAT(irq_.levels(), IsEmpty());
}

TEST_F(Pl031Test, ResetClearsAlarmStateButKeepsTime) {
  MmioWrite32(rtc_, r::kLr, 1000);
  MmioWrite32(rtc_, r::kMr, 1000);
  MmioWrite32(rtc_, r::kImsc, 1);
  EXPECT_THAT(irq_.levels(), ElementsAre(true));
  rtc_.Reset();
  EXPECT_THAT(irq_.levels(), ElementsAre(true, false));
  EXPECT_EQ(MmioRead32(rtc_, r::kMr), 0u);
  EXPECT_EQ(MmioRead32(rtc_, r::kImsc), 0u);
  EXPECT_EQ(MmioRead32(rtc_, r::kRis), 0u);
  EXPECT_EQ(MmioRead32(rtc_, r::kDr), 1000u);
}

TEST_F(Pl031Test, DescribeFdtWritesTheQemuCompatibleNode) {
  core::aarch64::FdtWriter w;
  ASSERT_THAT(rtc_.DescribeFdt(w), IsOk());
  auto blob = w.Finish();
  ASSERT_THAT(blob, IsOk());
  const void* fdt = blob->data();
  EXPECT_EQ(rtc_.FdtNodeName(), "pl031@9010000");
  const int node = fdt_path_offset(fdt, "/pl031@9010000");
  ASSERT_GE(node, 0);
  auto prop = [&](const char* name) {
    int len = 0;
    const auto* p = static_cast<const uint8_t*>(fdt_getprop(fdt, node, name, &len));
    return p == nullptr ? std::vector<uint8_t>() : std::vector<uint8_t>(p, p + len);
  };
  auto str = [](const char* s, size_t n) { return std::vector<uint8_t>(s, s + n); };
  EXPECT_EQ(prop("compatible"), str("arm,pl031\0arm,primecell", 24));
  EXPECT_EQ(prop("reg"),
            std::vector<uint8_t>({0, 0, 0, 0, 0x09, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0}));
  EXPECT_EQ(prop("interrupts"), std::vector<uint8_t>({0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 4}));
  EXPECT_EQ(prop("clocks"), std::vector<uint8_t>({0, 0, 0, 2}));
  EXPECT_EQ(prop("clock-names"), str("apb_pclk", 9));
  int count = 0;
  int p;
  fdt_for_each_property_offset(p, fdt, node)++ count;
  EXPECT_EQ(count, 5);
}

}  // namespace
}  // namespace vmmd::hw
