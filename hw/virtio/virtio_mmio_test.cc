// The virtio-mmio transport driven through its registers by a test driver, with a device that
// fills every writable buffer: negotiation, queue setup, notification through the I/O thread,
// the interrupt, and what a hostile driver gets (NEEDS_RESET, never a served bad queue).
#include "hw/virtio/virtio_mmio.h"

#include <atomic>
#include <memory>
#include <vector>

#include "acpi/tables/dsdt.h"
#include "acpi/testing/acpica_tools.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/mmio.h"
#include "tests/support/status_matchers.h"
#include "tests/support/virtio_driver.h"

namespace vmmd::hw::virtio {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::vmmd::testing::IsOk;
using ::vmmd::testing::MmioRead;
using ::vmmd::testing::MmioRead32;
using ::vmmd::testing::MmioWrite32;
using ::vmmd::testing::StatusIs;
using ::vmmd::testing::TestVirtioDriver;
using Seg = TestVirtioDriver::Seg;

constexpr uint64_t kRamBase = 0x4000'0000;
constexpr uint64_t kRamSize = 4 << 20;
constexpr uint64_t kRings = kRamBase + 0x10'0000;
constexpr uint64_t kData = kRamBase + 0x20'0000;
constexpr uint64_t kFeatureFill = 1ULL << 3;  // the test device's own feature

// Fills every writable byte with 0x5A and returns the chain with all of it written.
class FillDevice : public VirtioDevice {
 public:
  explicit FillDevice(const core::GuestMemory* mem) : mem_(mem) {}
  uint32_t device_type() const override { return 42; }
  uint64_t features() const override { return kFeatureFill; }
  uint16_t queue_count() const override { return 2; }
  uint16_t queue_max_size() const override { return 64; }
  void ReadConfig(uint64_t offset, absl::Span<uint8_t> data) const override {
    for (size_t i = 0; i < data.size(); ++i) data[i] = offset + i < 4 ? 0xC0 + offset + i : 0;
  }
  void WriteConfig(uint64_t, absl::Span<const uint8_t>) override {}
  absl::Status Activate(uint64_t features) override {
    accepted = features;
    if (refuse_activate) return absl::InvalidArgumentError("refused");
    return absl::OkStatus();
  }
  absl::Status Process(uint16_t index, Virtqueue& queue) override {
    for (;;) {
      absl::StatusOr<std::optional<Chain>> c = queue.Pop();
      if (!c.ok()) return c.status();
      if (!c->has_value()) return absl::OkStatus();
      for (const Segment& s : (*c)->writable) {
        std::vector<uint8_t> fill(s.len, 0x5A);
        if (absl::Status st = mem_->Write(s.gpa, fill); !st.ok()) return st;
      }
      served[index].fetch_add(1);
      if (absl::Status st = queue.PushUsed((*c)->head, static_cast<uint32_t>((*c)->writable_bytes));
          !st.ok()) {
        return st;
      }
    }
  }
  void Reset() override { resets.fetch_add(1); }

  const core::GuestMemory* mem_;
  uint64_t accepted = 0;
  bool refuse_activate = false;
  std::atomic<int> served[2] = {0, 0};
  std::atomic<int> resets{0};
};

class VirtioMmioTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto m = core::GuestMemory::Create(kRamBase, kRamSize);
    ASSERT_THAT(m, IsOk());
    mem_ = *std::move(m);
    auto dev = std::make_unique<FillDevice>(mem_.get());
    device_ = dev.get();
    auto rig = vmmd::testing::StartVirtioRig(
        std::move(dev), *mem_, &irq_, {.base = 0x0a00'0600, .size = mmio::kWindowSize, .spi = 19},
        3, kRings, "virtio-test");
    ASSERT_THAT(rig, IsOk());
    transport_ = std::move(rig->transport);
    loop_ = std::move(rig->loop);
    driver_ = std::move(rig->driver);
  }
  void TearDown() override { loop_->Stop(); }
  uint32_t Status() { return driver_->Reg(mmio::kStatus); }
  size_t Pulses() {
    size_t n = 0;
    for (bool high : irq_.levels()) n += high ? 1 : 0;
    return n;
  }

  std::unique_ptr<core::GuestMemory> mem_;
  vmmd::testing::RecordingIrq irq_;
  FillDevice* device_ = nullptr;
  std::shared_ptr<VirtioMmio> transport_;
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<TestVirtioDriver> driver_;
};

TEST_F(VirtioMmioTest, IdentifiesItselfAsAVersion2Device) {
  EXPECT_EQ(driver_->Reg(mmio::kMagic), 0x74726976u);
  EXPECT_EQ(driver_->Reg(mmio::kVersion), 2u);
  EXPECT_EQ(driver_->Reg(mmio::kDeviceId), 42u);
  EXPECT_EQ(driver_->Reg(mmio::kVendorId), mmio::kVendor);
  EXPECT_EQ(driver_->DeviceFeatures(),
            kFeatureFill | kFeatureVersion1 | kFeatureIndirectDesc | kFeatureEventIdx);
  EXPECT_EQ(driver_->Reg(mmio::kShmLenLow), 0xffffffffu);
  EXPECT_EQ(driver_->Reg(mmio::kShmLenHigh), 0xffffffffu);
  driver_->SetReg(mmio::kQueueSel, 1);
  EXPECT_EQ(driver_->Reg(mmio::kQueueNumMax), 64u);
  driver_->SetReg(mmio::kQueueSel, 2);  // no such queue
  EXPECT_EQ(driver_->Reg(mmio::kQueueNumMax), 0u);
  // The configuration space, any width.
  EXPECT_EQ(MmioRead(*transport_, mmio::kConfig + 1, 2), 0xC2C1u);
  EXPECT_EQ(MmioRead32(*transport_, mmio::kConfig), 0xC3C2C1C0u);
  // Registers are words: anything else reads 0 and is counted.
  EXPECT_EQ(MmioRead(*transport_, mmio::kMagic, 2), 0u);
  EXPECT_EQ(MmioRead(*transport_, mmio::kMagic + 1, 4), 0u);
  EXPECT_EQ(MmioRead(*transport_, mmio::kMagic, 8), 0u);
  EXPECT_EQ(transport_->GetStats().bad_accesses, 3u);
}

TEST_F(VirtioMmioTest, ARequestIsServedOnTheIoThreadAndInterruptsTheDriver) {
  for (bool event_idx : {false, true}) {
    SCOPED_TRACE(event_idx);
    const uint64_t f = kFeatureVersion1 | (event_idx ? kFeatureEventIdx : 0);
    ASSERT_THAT(driver_->Init(f, 2, 16), IsOk());
    EXPECT_EQ(Status(), 15u);  // ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK
    EXPECT_EQ(device_->accepted, f);
    const size_t pulses = Pulses();
    const uint16_t head = driver_->Submit(
        1, {{kData, 16, false}, {kData + 0x1000, 100, true}, {kData + 0x2000, 28, true}});
    driver_->Notify(1);
    ASSERT_TRUE(driver_->WaitUsed(1, 1));
    EXPECT_EQ(driver_->UsedElem(1, 0).id, head);
    EXPECT_EQ(driver_->UsedElem(1, 0).len, 128u);
    EXPECT_EQ(*mem_->ReadObj<uint8_t>(kData + 0x1000 + 99), 0x5A);
    EXPECT_EQ(*mem_->ReadObj<uint8_t>(kData), 0);  // readable: untouched
    // The interrupt follows the used index (same thread, right after).
    for (int i = 0; i < 1000 && Pulses() == pulses; ++i) absl::SleepFor(absl::Milliseconds(1));
    EXPECT_EQ(Pulses(), pulses + 1);
    EXPECT_EQ(driver_->Reg(mmio::kInterruptStatus), mmio::kInterruptUsedBuffer);
    driver_->SetReg(mmio::kInterruptAck, mmio::kInterruptUsedBuffer);
    EXPECT_EQ(driver_->Reg(mmio::kInterruptStatus), 0u);
    EXPECT_EQ(device_->served[1].load(), 1);
    EXPECT_EQ(device_->served[0].load(), 0);
    device_->served[1] = 0;
  }
  EXPECT_EQ(transport_->GetStats().mmio_notifications, 2u);
}

TEST_F(VirtioMmioTest, NotificationsKvmWouldTakeAreOnePerQueue) {
  const std::vector<NotifyEvent> events = transport_->NotifyEvents();
  ASSERT_EQ(events.size(), 2u);
  for (uint64_t i = 0; i < 2; ++i) {
    EXPECT_EQ(events[i].gpa, 0x0a00'0650u);
    EXPECT_EQ(events[i].len, 4u);
    EXPECT_EQ(events[i].value, i);
    EXPECT_GE(events[i].fd, 0);
  }
  // A signal of the eventfd (what KVM does for the store) serves the queue.
  ASSERT_THAT(driver_->Init(kFeatureVersion1, 2, 8), IsOk());
  driver_->Submit(0, {{kData, 8, true}});
  const uint64_t one = 1;
  ASSERT_EQ(write(events[0].fd, &one, sizeof(one)), 8);
  ASSERT_TRUE(driver_->WaitUsed(0, 1));
  EXPECT_EQ(transport_->GetStats().mmio_notifications, 0u);
  // A notification of a queue that does not exist is counted, not served.
  driver_->Notify(7);
  EXPECT_EQ(transport_->GetStats().bad_accesses, 1u);
}

TEST_F(VirtioMmioTest, FeaturesOutsideTheOfferOrWithoutVersion1DoNotStick) {
  EXPECT_THAT(driver_->Init(kFeatureVersion1 | (1ULL << 40), 1, 8),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(Status(), mmio::kStatusAcknowledge | mmio::kStatusDriver);
  EXPECT_THAT(driver_->Init(kFeatureFill, 1, 8), StatusIs(absl::StatusCode::kFailedPrecondition));
  ASSERT_THAT(driver_->Init(kFeatureVersion1 | kFeatureFill, 2, 8), IsOk());
  EXPECT_EQ(device_->accepted, kFeatureVersion1 | kFeatureFill);
}

TEST_F(VirtioMmioTest, ABadQueueSetupNeedsAReset) {
  namespace m = mmio;
  driver_->SetReg(m::kStatus, m::kStatusAcknowledge | m::kStatusDriver);
  driver_->SetReg(m::kDriverFeaturesSel, 1);
  driver_->SetReg(m::kDriverFeatures, 1);  // VERSION_1
  driver_->SetReg(m::kStatus, m::kStatusAcknowledge | m::kStatusDriver | m::kStatusFeaturesOk);
  driver_->SetReg(m::kQueueSel, 0);
  driver_->SetReg(m::kQueueNum, 8);
  driver_->SetReg(m::kQueueDescLow, 0x1000);  // not RAM
  driver_->SetReg(m::kQueueReady, 1);
  EXPECT_EQ(driver_->Reg(m::kQueueReady), 0u);
  EXPECT_NE(Status() & m::kStatusNeedsReset, 0u);
  EXPECT_EQ(driver_->Reg(m::kInterruptStatus), m::kInterruptConfigChange);
  EXPECT_EQ(Pulses(), 1u);
  EXPECT_EQ(driver_->Reg(m::kConfigGeneration), 1u);
  // A size above the maximum, or not a power of 2, likewise.
  ASSERT_THAT(driver_->Init(kFeatureVersion1, 2, 8), IsOk());  // a reset clears it all
  EXPECT_EQ(Status() & m::kStatusNeedsReset, 0u);
  EXPECT_EQ(driver_->Reg(m::kInterruptStatus), 0u);
  driver_->SetReg(m::kStatus, 0);
  EXPECT_THAT(driver_->Init(kFeatureVersion1, 2, 128), StatusIs(absl::StatusCode::kOutOfRange));
  driver_->SetReg(m::kQueueNum, 128);
  driver_->SetReg(m::kQueueReady, 1);
  EXPECT_EQ(driver_->Reg(m::kQueueReady), 0u);
  EXPECT_NE(Status() & m::kStatusNeedsReset, 0u);
  EXPECT_EQ(transport_->GetStats().broken, 2u);
}

TEST_F(VirtioMmioTest, DriverOkNeedsEveryQueueAndTheDevicesConsent) {
  namespace m = mmio;
  driver_->SetReg(m::kStatus, m::kStatusAcknowledge | m::kStatusDriver);
  driver_->SetReg(m::kDriverFeaturesSel, 1);
  driver_->SetReg(m::kDriverFeatures, 1);
  driver_->SetReg(m::kStatus, m::kStatusAcknowledge | m::kStatusDriver | m::kStatusFeaturesOk);
  driver_->SetReg(m::kStatus, 15);  // DRIVER_OK, no queue ready
  EXPECT_NE(Status() & m::kStatusNeedsReset, 0u);
  device_->refuse_activate = true;
  ASSERT_THAT(driver_->Init(kFeatureVersion1, 2, 8), IsOk());
  EXPECT_NE(Status() & m::kStatusNeedsReset, 0u);
  // Not active: a notified request is not served.
  driver_->Submit(0, {{kData, 8, true}});
  driver_->Notify(0);
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(driver_->UsedIndex(0), 0u);
  // Clearing bits other than by a reset is refused.
  driver_->SetReg(m::kStatus, m::kStatusAcknowledge);
  EXPECT_NE(Status() & m::kStatusDriverOk, 0u);
}

TEST_F(VirtioMmioTest, AHostileChainStopsTheDeviceUntilItIsReset) {
  ASSERT_THAT(driver_->Init(kFeatureVersion1 | kFeatureEventIdx, 2, 8), IsOk());
  // Descriptor 0 -> 1 -> 0: a loop.
  driver_->WriteDesc(0, 0, kData, 8, kDescNext | kDescWrite, 1);
  driver_->WriteDesc(0, 1, kData, 8, kDescNext | kDescWrite, 0);
  driver_->Publish(0, 0);
  driver_->Notify(0);
  for (int i = 0; i < 1000 && (Status() & mmio::kStatusNeedsReset) == 0; ++i) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  EXPECT_NE(Status() & mmio::kStatusNeedsReset, 0u);
  EXPECT_EQ(driver_->Reg(mmio::kInterruptStatus) & mmio::kInterruptConfigChange,
            mmio::kInterruptConfigChange);
  EXPECT_EQ(driver_->UsedIndex(0), 0u);
  // The other queue is not served either, until the reset.
  driver_->Submit(1, {{kData, 8, true}});
  driver_->Notify(1);
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(driver_->UsedIndex(1), 0u);
  const int resets = device_->resets.load();
  ASSERT_THAT(driver_->Init(kFeatureVersion1, 2, 8), IsOk());
  EXPECT_EQ(device_->resets.load(), resets + 1);
  driver_->Submit(1, {{kData, 8, true}});
  driver_->Notify(1);
  EXPECT_TRUE(driver_->WaitUsed(1, 1));
  EXPECT_EQ(transport_->GetStats().broken, 1u);
}

TEST_F(VirtioMmioTest, QueueRegistersAreFixedWhileTheQueueIsReady) {
  ASSERT_THAT(driver_->Init(kFeatureVersion1, 2, 8), IsOk());
  driver_->SetReg(mmio::kQueueSel, 0);
  const uint32_t desc = driver_->Reg(mmio::kQueueDescLow);
  driver_->SetReg(mmio::kQueueDescLow, 0x1000);
  driver_->SetReg(mmio::kQueueNum, 2);
  EXPECT_EQ(driver_->Reg(mmio::kQueueDescLow), desc);
  EXPECT_EQ(driver_->Reg(mmio::kQueueNum), 8u);
  driver_->Submit(0, {{kData, 4, true}});
  driver_->Notify(0);
  EXPECT_TRUE(driver_->WaitUsed(0, 1));
}

TEST_F(VirtioMmioTest, DescribesItselfInTheDeviceTreeAndTheDsdt) {
  core::aarch64::FdtWriter w;
  ASSERT_THAT(transport_->DescribeFdt(w), IsOk());
  EXPECT_EQ(transport_->FdtNodeName(), "virtio_mmio@a000600");

  const acpi::AmlDescribed* devices[] = {transport_.get()};
  absl::StatusOr<std::vector<uint8_t>> dsdt = acpi::BuildDsdt(devices);
  ASSERT_THAT(dsdt, IsOk());
  absl::StatusOr<acpi::testing::TempDir> dir = acpi::testing::TempDir::Create();
  ASSERT_THAT(dir, IsOk());
  absl::StatusOr<acpi::testing::Disassembly> d = acpi::testing::Disassemble(*dir, "dsdt", *dsdt);
  ASSERT_THAT(d, IsOk());
  EXPECT_THAT(acpi::testing::DisassemblyProblems(*d), IsEmpty()) << d->run.output;
  EXPECT_THAT(d->dsl, HasSubstr("Device (VR03)"));
  EXPECT_THAT(d->dsl, HasSubstr("Name (_HID, \"LNRO0005\")"));
  EXPECT_THAT(d->dsl, HasSubstr("Name (_UID, 0x03)"));
  EXPECT_THAT(d->dsl, HasSubstr("Name (_CCA, One)"));
  EXPECT_THAT(d->dsl, HasSubstr("0x0A000600,         // Address Base"));
  EXPECT_THAT(d->dsl, HasSubstr("0x00000200,         // Address Length"));
  EXPECT_THAT(d->dsl, HasSubstr("Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive, ,, )"));
  EXPECT_THAT(d->dsl, HasSubstr("0x00000033,"));  // 32 + 19
}

TEST(VirtioMmioCreateTest, RefusesWhatCannotWork) {
  auto mem = core::GuestMemory::Create(kRamBase, kRamSize);
  ASSERT_THAT(mem, IsOk());
  vmmd::testing::RecordingIrq irq;
  EXPECT_THAT(VirtioMmio::Create(std::make_unique<FillDevice>(mem->get()), mem->get(), &irq,
                                 {.base = 0x0a00'0000, .size = 0x100, .spi = 16}, 0),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("window")));
  EXPECT_THAT(VirtioMmio::Create(nullptr, mem->get(), &irq,
                                 {.base = 0x0a00'0000, .size = 0x200, .spi = 16}, 0),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace vmmd::hw::virtio
