// Register semantics of the CPU-hotplug block, byte by byte, against a fake backend.
#include "hw/cpu_hotplug/cpu_hotplug.h"

#include <array>
#include <atomic>
#include <random>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hw/cpu_hotplug/testing/fake_cpu_hotplug_backend.h"
#include "tests/support/mmio.h"

namespace vmmd::hw {
namespace {

constexpr core::DevicePlacement kAt{.base = 0x090C'0000, .size = cpu_hotplug::kBlockSize};

using ::testing::ElementsAre;
using testing::FakeCpuHotplugBackend;
using ::testing::IsEmpty;
using testing::KvmMpidrs;
using namespace cpu_hotplug;  // NOLINT(build/namespaces)

class CpuHotplugTest : public ::testing::Test {
 protected:
  CpuHotplugTest() : backend_(KvmMpidrs(4), /*boot=*/1), dev_(&backend_, kAt) {}

  uint64_t Read(uint64_t offset, size_t size) {
    return ::vmmd::testing::MmioRead(dev_, offset, size);
  }
  void Write(uint64_t offset, size_t size, uint64_t value) {
    ::vmmd::testing::MmioWrite(dev_, offset, value, size);
  }
  void Select(uint32_t cpu) { Write(kSelectorOffset, 4, cpu); }
  uint8_t StatusOf(uint32_t cpu) {
    Select(cpu);
    return static_cast<uint8_t>(Read(kStatusOffset, 1));
  }

  FakeCpuHotplugBackend backend_;
  CpuHotplug dev_;
};

TEST_F(CpuHotplugTest, StatusBitsComeFromTheBackend) {
  EXPECT_EQ(StatusOf(0), kStatusPresent | kStatusEnabled);  // boot vCPU: 0x21
  EXPECT_EQ(StatusOf(1), kStatusPresent);                   // parked: 0x20
  backend_.Set(2, {.enabled = true, .insert_pending = true});
  EXPECT_EQ(StatusOf(2), 0x23);
  backend_.Set(3, {.enabled = true, .remove_pending = true});
  EXPECT_EQ(StatusOf(3), 0x25);
  backend_.Set(3, {.enabled = false, .insert_pending = true, .remove_pending = true});
  EXPECT_EQ(StatusOf(3), 0x26);
  // The status changes the moment the backend's does: nothing is cached.
  backend_.Set(3, {});
  EXPECT_EQ(Read(kStatusOffset, 1), 0x20u);
}

// Only a read that returns the status byte shows the guest an event, so only such a read tells
// the backend the guest has seen it (after which vmmd may no longer withdraw the change).
TEST_F(CpuHotplugTest, AReadOfTheStatusByteMarksItsEventSeen) {
  backend_.Set(2, {.enabled = true, .insert_pending = true});
  Select(2);
  Read(kDataOffset, 4);
  Read(kSelectorOffset, 4);
  Read(kStatusOffset + 1, 1);
  EXPECT_EQ(backend_.seen(2), 0);
  Read(kSelectorOffset + 2, 4);  // bytes 2..5: covers the status byte
  EXPECT_EQ(backend_.seen(2), 1);
  EXPECT_EQ(Read(kStatusOffset, 1), 0x23u);
  EXPECT_EQ(backend_.seen(2), 2);
  Select(1);  // nothing pending: nothing seen
  EXPECT_EQ(Read(kStatusOffset, 1), 0x20u);
  EXPECT_EQ(backend_.seen(1), 0);
}

TEST_F(CpuHotplugTest, EveryWriteFlushesTheBackendLogWithTheDeviceUnlocked) {
  uint8_t status_seen_in_flush = 0;
  // Reading the block from the flush takes the device lock: it must not be held any more.
  backend_.OnFlush([&] { status_seen_in_flush = static_cast<uint8_t>(Read(kStatusOffset, 1)); });
  Select(1);
  EXPECT_EQ(backend_.flushes(), 1);
  Write(kStatusOffset, 1, kControlEject);
  EXPECT_EQ(backend_.flushes(), 2);
  EXPECT_EQ(status_seen_in_flush, kStatusPresent);
  Write(0x40, 8, 0);  // ignored, still flushed
  EXPECT_EQ(backend_.flushes(), 3);
  EXPECT_THAT(backend_.TakeCalls(), ElementsAre("Eject(1)"));
}

TEST_F(CpuHotplugTest, InvalidSelectorReadsZeroAndIgnoresWrites) {
  backend_.Set(1, {.insert_pending = true});
  for (uint32_t bad : {4u, 5u, 0xFFFFFFFFu}) {
    Select(bad);
    for (uint64_t off = 0; off < kBlockSize; ++off) EXPECT_EQ(Read(off, 1), 0u) << off;
    EXPECT_EQ(Read(kDataOffset, 4), 0u);
    EXPECT_EQ(Read(kSelectorOffset, 4), 0u);
    Write(kStatusOffset, 1, kControlEject);
    Write(kStatusOffset, 1, kControlClearInsert);
    Write(kCommandOffset, 1, kCmdGetNextCpuWithEvent);
    Write(kCommandOffset, 1, kCmdOstStatus);
    Write(kDataOffset, 4, 0x80);
  }
  EXPECT_THAT(backend_.TakeCalls(), IsEmpty());
  EXPECT_EQ(dev_.GetStats().ignored_writes, 15u);
  // The selector itself is always writable; GET_NEXT was ignored, so it is still invalid.
  Select(1);
  EXPECT_EQ(Read(kStatusOffset, 1), 0x22u);
}

TEST_F(CpuHotplugTest, GetNextCpuWithEventSearchesFromTheSelectorAndWraps) {
  backend_.Set(1, {.insert_pending = true});
  backend_.Set(3, {.enabled = true, .remove_pending = true});
  auto next_from = [&](uint32_t start) {
    Select(start);
    Write(kCommandOffset, 1, kCmdGetNextCpuWithEvent);
    return Read(kDataOffset, 4);
  };
  EXPECT_EQ(next_from(0), 1u);
  EXPECT_EQ(next_from(1), 1u);  // the selected vCPU itself counts
  EXPECT_EQ(next_from(2), 3u);
  EXPECT_EQ(Read(kStatusOffset, 1), 0x25u);  // status follows the new selection
  EXPECT_EQ(Read(kSelectorOffset, 4), 0u);   // command data 2 is 0 for this command
  backend_.Set(3, {.enabled = true});
  EXPECT_EQ(next_from(2), 1u);  // wrapped past the end
  backend_.Set(1, {});
  // No event anywhere: the selector stays, and its status shows no event (how CSCN stops).
  EXPECT_EQ(next_from(2), 2u);
  EXPECT_EQ(Read(kStatusOffset, 1) & (kStatusInsert | kStatusRemove), 0u);
  EXPECT_THAT(backend_.TakeCalls(), IsEmpty());
}

TEST_F(CpuHotplugTest, GetCpuIdReturnsTheMpidrInTwoHalves) {
  FakeCpuHotplugBackend backend({0x0000'00AB'0001'0203ULL, 0x8000'0001ULL}, 1);
  CpuHotplug dev(&backend, kAt);
  auto read = [&](uint64_t off) {
    std::vector<uint8_t> buf(4);
    dev.Read(off, absl::MakeSpan(buf));
    return core::LoadLe(buf);
  };
  auto write = [&](uint64_t off, size_t size, uint64_t v) {
    std::vector<uint8_t> buf(size);
    core::StoreLe(absl::MakeSpan(buf), v);
    dev.Write(off, buf);
  };
  write(kSelectorOffset, 4, 0);
  write(kCommandOffset, 1, kCmdGetCpuId);
  EXPECT_EQ(read(kDataOffset), 0x0001'0203u);
  EXPECT_EQ(read(kSelectorOffset), 0xABu);
  write(kSelectorOffset, 4, 1);
  EXPECT_EQ(read(kDataOffset), 0x8000'0001u);
  EXPECT_EQ(read(kSelectorOffset), 0u);
  // Other commands: both data registers read 0.
  write(kCommandOffset, 1, kCmdOstEvent);
  EXPECT_EQ(read(kDataOffset), 0u);
  write(kCommandOffset, 1, 0x7F);
  EXPECT_EQ(read(kDataOffset), 0u);
  EXPECT_EQ(read(kSelectorOffset), 0u);
}

TEST_F(CpuHotplugTest, ControlWriteActsOnOnlyOneBit) {
  Select(2);
  Write(kStatusOffset, 1, kControlClearInsert | kControlClearRemove | kControlEject);
  Write(kStatusOffset, 1, kControlClearRemove | kControlEject);
  Write(kStatusOffset, 1, kControlEject);
  Write(kStatusOffset, 1, 0x01);  // reserved / firmware-eject bits: nothing
  Write(kStatusOffset, 1, 0x10);
  Write(kStatusOffset, 1, 0xF1);
  EXPECT_THAT(backend_.TakeCalls(), ElementsAre("AckInsert(2)", "AckRemove(2)", "Eject(2)"));
  EXPECT_EQ(dev_.GetStats().ejects, 1u);
}

TEST_F(CpuHotplugTest, AckClearsTheBackendEvent) {
  backend_.Set(1, {.enabled = true, .insert_pending = true});
  Select(1);
  Write(kStatusOffset, 1, kControlClearInsert);
  EXPECT_EQ(Read(kStatusOffset, 1), 0x21u);
  backend_.Set(1, {.enabled = true, .remove_pending = true});
  Write(kStatusOffset, 1, kControlClearRemove);
  EXPECT_EQ(Read(kStatusOffset, 1), 0x21u);
}

TEST_F(CpuHotplugTest, EjectCallsTheBackendAndEnabledReadsClearAfterwards) {
  backend_.Set(3, {.enabled = true});
  Select(3);
  Write(kStatusOffset, 1, kControlEject);
  EXPECT_THAT(backend_.TakeCalls(), ElementsAre("Eject(3)"));
  EXPECT_EQ(Read(kStatusOffset, 1), kStatusPresent);
  // A boot vCPU: the backend refuses; the device still forwarded it.
  Select(0);
  Write(kStatusOffset, 1, kControlEject);
  EXPECT_THAT(backend_.TakeCalls(), ElementsAre("Eject(0)"));
  EXPECT_EQ(Read(kStatusOffset, 1), 0x21u);
}

TEST_F(CpuHotplugTest, OstDataPath) {
  Select(2);
  Write(kCommandOffset, 1, kCmdOstEvent);
  Write(kDataOffset, 4, 0x103);
  Write(kCommandOffset, 1, kCmdOstStatus);
  Write(kDataOffset, 4, 0x80);
  // The event is remembered per vCPU.
  Select(1);
  Write(kCommandOffset, 1, kCmdOstEvent);
  Write(kDataOffset, 4, 0x3);
  Select(2);
  Write(kCommandOffset, 1, kCmdOstStatus);
  Write(kDataOffset, 4, 0x0);
  Select(1);
  Write(kDataOffset, 4, 0x1);
  // Data writes under other commands do nothing.
  Write(kCommandOffset, 1, kCmdGetCpuId);
  Write(kDataOffset, 4, 0x55);
  EXPECT_THAT(backend_.TakeCalls(),
              ElementsAre("Ost(2,0x103,0x80)", "Ost(2,0x103,0x0)", "Ost(1,0x3,0x1)"));
  EXPECT_EQ(dev_.GetStats().ost_reports, 3u);
}

TEST_F(CpuHotplugTest, AccessWidthsAndOffsets) {
  backend_.Set(1, {.enabled = true, .insert_pending = true});
  Select(1);
  Write(kCommandOffset, 1, kCmdGetNextCpuWithEvent);
  // Reads return the bytes of the register image: 00000000 23 00 0000 01000000.
  EXPECT_EQ(Read(kStatusOffset, 2), 0x0023u);
  EXPECT_EQ(Read(kStatusOffset, 4), 0x23u);
  EXPECT_EQ(Read(kCommandOffset, 1), 0u);  // the command register is write-only
  EXPECT_EQ(Read(kDataOffset, 2), 1u);
  EXPECT_EQ(Read(kDataOffset + 1, 1), 0u);
  EXPECT_EQ(Read(2, 4), 0x23'0000u);  // an unaligned read straddling two registers
  EXPECT_EQ(Read(10, 4), 0u);         // past the end: zeros, no overrun
  EXPECT_EQ(Read(0xFFFF'FFFF'FFFF'FFFFull, 4), 0u);
  // Wider than 4 bytes: reads 0, writes ignored.
  EXPECT_EQ(Read(kSelectorOffset, 8), 0u);
  Write(kSelectorOffset, 8, 2);
  EXPECT_EQ(Read(kDataOffset, 4), 1u);  // still vCPU 1
  // A byte or word write at 0 sets the whole selector (zero-extended).
  Write(kSelectorOffset, 1, 3);
  EXPECT_EQ(Read(kDataOffset, 4), 3u);
  Write(kSelectorOffset, 2, 0x0102);
  EXPECT_EQ(Read(kDataOffset, 4), 0u);  // 0x102 is not a possible vCPU
  Select(1);
  // Writes at offsets holding no register are ignored.
  const uint64_t before = dev_.GetStats().ignored_writes;
  for (uint64_t off : {1, 2, 3, 6, 7, 9, 10, 11, 12, 100}) Write(off, 1, 0xFF);
  EXPECT_EQ(dev_.GetStats().ignored_writes, before + 10);
  EXPECT_EQ(Read(kDataOffset, 4), 1u);
  EXPECT_THAT(backend_.TakeCalls(), IsEmpty());
  // A wider control write acts on its low byte only.
  Write(kStatusOffset, 4, 0x0000'0302);
  EXPECT_THAT(backend_.TakeCalls(), ElementsAre("AckInsert(1)"));
  dev_.Write(0, {});  // empty: ignored
}

// A hostile guest: random offsets, sizes and values. The backend (whose accessors use .at())
// must only ever see valid vCPU indices, and nothing may read or write out of bounds.
TEST(CpuHotplugStandaloneTest, RandomAccessesStayInBounds) {
  FakeCpuHotplugBackend backend(KvmMpidrs(5), 2);
  CpuHotplug dev(&backend, kAt);
  std::mt19937_64 rng(1234);
  uint8_t buf[16];
  for (int i = 0; i < 200000; ++i) {
    const uint64_t offset = rng() % 4 == 0 ? rng() : rng() % 16;
    const size_t size = std::array<size_t, 6>{0, 1, 2, 4, 8, 16}[rng() % 6];
    const uint64_t value = rng() % 3 == 0 ? rng() % 8 : rng();
    core::StoreLe(absl::MakeSpan(buf, size), value);
    if (rng() % 2 == 0) {
      dev.Write(offset, absl::MakeConstSpan(buf, size));
    } else {
      dev.Read(offset, absl::MakeSpan(buf, size));
    }
    if (i % 1000 == 0) backend.Set(static_cast<uint32_t>(rng() % 5), {.insert_pending = true});
  }
  const CpuHotplug::Stats stats = dev.GetStats();
  EXPECT_GT(stats.ignored_writes, 0u);
  EXPECT_GT(stats.ignored_reads, 0u);
}

TEST(CpuHotplugStandaloneTest, ConcurrentAccessesAreSafe) {
  FakeCpuHotplugBackend backend(KvmMpidrs(8), 1);
  CpuHotplug dev(&backend, kAt);
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      uint8_t buf[4];
      for (int i = 0; i < 2000; ++i) {
        core::StoreLe(absl::MakeSpan(buf), static_cast<uint64_t>((i + t) % 10));
        dev.Write(kSelectorOffset, buf);
        buf[0] = static_cast<uint8_t>(i % 4);
        dev.Write(kCommandOffset, absl::MakeSpan(buf, 1));
        dev.Read(kDataOffset, absl::MakeSpan(buf));
        dev.Read(kStatusOffset, absl::MakeSpan(buf, 1));
        buf[0] = kControlClearInsert;
        dev.Write(kStatusOffset, absl::MakeSpan(buf, 1));
      }
    });
  }
  threads.emplace_back([&] {
    for (uint32_t i = 0; !stop.load(); ++i) backend.Set(i % 8, {.insert_pending = true});
  });
  for (int t = 0; t < 4; ++t) threads[t].join();
  stop = true;
  threads.back().join();
  EXPECT_EQ(dev.possible_cpus(), 8u);
}

}  // namespace
}  // namespace vmmd::hw
