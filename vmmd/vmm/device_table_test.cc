// The device table: records by interface, views derived in board order, interrupt lines from the
// rows, refusals; and the board itself (no two windows overlap each other, RAM or the GIC).
#include "vmmd/vmm/device_table.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/arch/aarch64/layout.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_hypervisor.h"
#include "tests/support/status_matchers.h"
#include "vmmd/vmm/board.h"

namespace vmmd::vmm {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::vmmd::testing::IsOk;
using ::vmmd::testing::StatusIs;

constexpr BoardDevice kLow{.name = "low", .base = 0x1000, .size = 0x100, .spi = 5};
constexpr BoardDevice kMid{.name = "mid", .base = 0x2000, .size = 0x10};
constexpr BoardDevice kHigh{.name = "high", .base = 0x3000, .size = 0x10, .spi = 7};
constexpr BoardDevice kOverlap{.name = "overlap", .base = 0x1080, .size = 0x100};
constexpr const BoardDevice* kRows[] = {&kLow, &kMid, &kHigh, &kOverlap};

// A device on the bus that describes itself in the DT; reads return its tag.
class MmioDtDevice final : public core::BusDevice, public core::aarch64::FdtDescribed {
 public:
  MmioDtDevice(uint8_t tag, DeviceSite site) : tag_(tag), site_(site) {}
  void Read(uint64_t, absl::Span<uint8_t> data) override {
    for (uint8_t& b : data) b = tag_;
  }
  void Write(uint64_t, absl::Span<const uint8_t>) override {}
  absl::Status DescribeFdt(core::aarch64::FdtWriter&) const override { return absl::OkStatus(); }
  const DeviceSite& site() const { return site_; }

 private:
  const uint8_t tag_;
  const DeviceSite site_;
};

// A device only in the DSDT.
class AmlOnlyDevice final : public acpi::AmlDescribed {
 public:
  absl::Status DescribeAml(acpi::AmlScope&) const override { return absl::OkStatus(); }
};

TEST(DeviceTableTest, RecordsDevicesByTheirInterfacesAndDerivesViewsInBoardOrder) {
  DeviceTable table(kRows, nullptr);
  // Added out of board order.
  auto high = table.Add(
      kHigh, [](const DeviceSite& at) { return std::make_shared<MmioDtDevice>(0xCC, at); });
  ASSERT_THAT(high, IsOk());
  auto mid = table.Add(kMid, [](const DeviceSite&) { return std::make_shared<AmlOnlyDevice>(); });
  ASSERT_THAT(mid, IsOk());
  auto low = table.Add(
      kLow, [](const DeviceSite& at) { return std::make_shared<MmioDtDevice>(0xAA, at); });
  ASSERT_THAT(low, IsOk());

  // The device got its placement from the row.
  EXPECT_EQ((*low)->site().placement.base, 0x1000u);
  EXPECT_EQ((*low)->site().placement.size, 0x100u);
  EXPECT_EQ((*low)->site().placement.spi, 5u);
  EXPECT_EQ((*low)->site().irq, nullptr);  // no VM: no interrupt lines

  EXPECT_THAT(table.FdtNodes(), ElementsAre(low->get(), high->get()));
  EXPECT_THAT(table.DsdtDevices(), ElementsAre(mid->get()));
  std::vector<std::string> names;
  for (const DeviceTable::Record* r : table.Records()) names.emplace_back(r->row->name);
  EXPECT_THAT(names, ElementsAre("low", "mid", "high"));

  // The bus map: each bus device at its row's window, nothing else.
  core::Bus bus;
  ASSERT_THAT(table.MapOnto(bus), IsOk());
  std::vector<uint8_t> byte(1);
  EXPECT_TRUE(bus.Read(0x1000, absl::MakeSpan(byte)));
  EXPECT_EQ(byte[0], 0xAA);
  EXPECT_TRUE(bus.Read(0x10FF, absl::MakeSpan(byte)));
  EXPECT_FALSE(bus.Read(0x1100, absl::MakeSpan(byte)));
  EXPECT_FALSE(bus.Read(0x2000, absl::MakeSpan(byte)));  // the DSDT-only device is not mapped
  EXPECT_TRUE(bus.Read(0x3000, absl::MakeSpan(byte)));
  EXPECT_EQ(byte[0], 0xCC);

  EXPECT_EQ(table.Find(kLow)->mmio.get(), low->get());
  EXPECT_EQ(table.Find(kOverlap), nullptr);
}

TEST(DeviceTableTest, InterruptLinesComeFromTheRowsSpi) {
  ::vmmd::testing::FakeHypervisor hv;
  absl::StatusOr<std::unique_ptr<core::VmHandle>> vm = hv.CreateVm({});
  ASSERT_THAT(vm, IsOk());
  DeviceTable table(kRows, vm->get());
  auto high =
      table.Add(kHigh, [](const DeviceSite& at) { return std::make_shared<MmioDtDevice>(0, at); });
  ASSERT_THAT(high, IsOk());
  auto mid =
      table.Add(kMid, [](const DeviceSite& at) { return std::make_shared<MmioDtDevice>(0, at); });
  ASSERT_THAT(mid, IsOk());
  EXPECT_EQ((*mid)->site().irq, nullptr);  // the row has no SPI
  ASSERT_NE((*high)->site().irq, nullptr);
  (*high)->site().irq->Pulse();
  EXPECT_THAT(hv.vms().back()->spi_changes(),
              ElementsAre(std::make_pair(7u, true), std::make_pair(7u, false)));
}

TEST(DeviceTableTest, Refusals) {
  DeviceTable table(kRows, nullptr);
  auto make = [](const DeviceSite& at) { return std::make_shared<MmioDtDevice>(0, at); };
  ASSERT_THAT(table.Add(kLow, make), IsOk());
  EXPECT_THAT(table.Add(kLow, make),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("low already has a device")));
  constexpr BoardDevice kStranger{.name = "stranger", .base = 0x9000, .size = 1};
  EXPECT_THAT(table.Add(kStranger, make),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("stranger")));
  EXPECT_THAT(table.Add(kMid, [](const DeviceSite&) { return std::shared_ptr<AmlOnlyDevice>(); }),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("mid")));
  EXPECT_EQ(table.Find(kMid), nullptr);  // a failed make leaves the row free
  EXPECT_THAT(table.Add(kMid, make), IsOk());
  EXPECT_THAT(table.DescribeInFdt(kHigh, std::make_shared<MmioDtDevice>(0, DeviceSite{})),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("high")));
  // Overlapping windows cannot both be on the bus.
  ASSERT_THAT(table.Add(kOverlap, make), IsOk());
  core::Bus bus;
  EXPECT_THAT(table.MapOnto(bus), StatusIs(absl::StatusCode::kAlreadyExists));
}

TEST(DeviceTableTest, AnExtraDescriptionReplacesTheDevicesOwn) {
  DeviceTable table(kRows, nullptr);
  auto low =
      table.Add(kLow, [](const DeviceSite& at) { return std::make_shared<MmioDtDevice>(0, at); });
  ASSERT_THAT(low, IsOk());
  auto node = std::make_shared<MmioDtDevice>(1, DeviceSite{});
  ASSERT_THAT(table.DescribeInFdt(kLow, node), IsOk());
  EXPECT_THAT(table.FdtNodes(), ElementsAre(node.get()));
  EXPECT_EQ(table.Find(kLow)->mmio.get(), low->get());
}

// The board's own rows: every window is non-empty, inside the 32-bit space the DSDT's
// Memory32Fixed can name, and overlaps no other row, the GIC or RAM.
TEST(BoardTest, WindowsAreDisjointAndClearOfRamAndTheGic) {
  namespace a64 = core::aarch64;
  struct Window {
    std::string name;
    uint64_t base, size;
  };
  std::vector<Window> windows{
      {"GIC distributor", a64::kGicDistBase, a64::kGicDistSize},
      {"GIC redistributors", a64::kGicRedistBase, a64::kGicRedistRegionSize},
      {"RAM", a64::kRamBase, a64::kMaxRamSize},
  };
  for (const BoardDevice* row : kBoardDevices) {
    EXPECT_GT(row->size, 0u) << row->name;
    EXPECT_LE(row->base + row->size, 0x1'0000'0000ull) << row->name;
    windows.push_back({std::string(row->name), row->base, row->size});
  }
  for (size_t i = 0; i < windows.size(); ++i) {
    for (size_t j = i + 1; j < windows.size(); ++j) {
      const Window& a = windows[i];
      const Window& b = windows[j];
      EXPECT_TRUE(a.base + a.size <= b.base || b.base + b.size <= a.base)
          << a.name << " overlaps " << b.name;
    }
  }
  // SPIs are distinct and within the vGIC's interrupts.
  std::vector<uint32_t> spis;
  for (const BoardDevice* row : kBoardDevices) {
    if (!row->spi.has_value()) continue;
    EXPECT_LT(a64::kSpiIntidBase + *row->spi, a64::kNrIrqs) << row->name;
    for (uint32_t other : spis) EXPECT_NE(other, *row->spi) << row->name;
    spis.push_back(*row->spi);
  }
}

}  // namespace
}  // namespace vmmd::vmm
