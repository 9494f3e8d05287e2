// ACPI direct boot on the fake hypervisor: what vCPU 0 finds when it enters the kernel — the
// stub device tree at x0, the EFI system table and memory map it points at, and the ACPI tables
// behind the RSDP, checksummed and reserved — and that the VM can be scaled.
#include <libfdt.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_hypervisor.h"
#include "tests/support/fake_kernel.h"
#include "tests/support/image_dirs.h"
#include "tests/support/status_matchers.h"
#include "vmmd/vmm/vm_manager.h"

namespace vmmd::vmm {
namespace {

using ::testing::ElementsAre;
using ::vmmd::testing::FakeHypervisor;
using ::vmmd::testing::FakeVmRecord;
using ::vmmd::testing::IsOk;

constexpr absl::Duration kWait = absl::Seconds(10);
constexpr uint64_t kRamBase = 0x4000'0000;

class MachineAcpiBootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vmmd-acpi-boot-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    VmSpec s;
    s.name = "ad";
    s.kernel_path = ::vmmd::testing::WriteFakeArm64Image(dir_);
    s.initrd_path = dir_ + "/initrd";
    std::ofstream(s.initrd_path) << std::string(1000, '\x22');
    s.cmdline = "console=ttyAMA0";
    s.memory_mib = 128;
    s.boot_vcpus = 2;
    s.max_vcpus = 6;
    s.boot_mode = BootMode::kAcpiDirect;
    mgr_ =
        std::make_unique<VmManager>(&hv_, ::vmmd::testing::WithImageDirs<VmManagerOptions>({dir_}));
    ASSERT_THAT(mgr_->CreateVm(s), IsOk());
    ASSERT_THAT(mgr_->StartVm("ad"), IsOk());
    rec_ = hv_.vms().back();
    ASSERT_TRUE(rec_->vcpu(0)->WaitForRunCount(1, kWait));
    const auto regions = rec_->regions();
    ASSERT_EQ(regions.size(), 1u);
    ram_ = static_cast<const uint8_t*>(regions[0].host);
    ram_size_ = regions[0].size;
  }
  void TearDown() override {
    mgr_.reset();
    std::system(("rm -rf " + dir_).c_str());
  }

  const uint8_t* At(uint64_t gpa, uint64_t len) const {
    EXPECT_GE(gpa, kRamBase);
    EXPECT_LE(gpa - kRamBase + len, ram_size_);
    return ram_ + (gpa - kRamBase);
  }
  uint64_t U64(uint64_t gpa) const {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | At(gpa, 8)[i];
    return v;
  }
  uint32_t U32(uint64_t gpa) const { return static_cast<uint32_t>(U64(gpa)); }
  std::string Str(uint64_t gpa, size_t len) const {
    return std::string(reinterpret_cast<const char*>(At(gpa, len)), len);
  }
  uint8_t Sum(uint64_t gpa, uint64_t len) const {
    uint8_t s = 0;
    for (uint64_t i = 0; i < len; ++i) s = static_cast<uint8_t>(s + At(gpa, len)[i]);
    return s;
  }
  // A /chosen property as a big-endian number.
  uint64_t Chosen(const void* fdt, const char* name) const {
    int len = 0;
    const auto* p =
        static_cast<const uint8_t*>(fdt_getprop(fdt, fdt_path_offset(fdt, "/chosen"), name, &len));
    EXPECT_NE(p, nullptr) << name;
    uint64_t v = 0;
    for (int i = 0; p != nullptr && i < len; ++i) v = (v << 8) | p[i];
    return v;
  }

  std::string dir_;
  FakeHypervisor hv_;
  std::unique_ptr<VmManager> mgr_;
  std::shared_ptr<FakeVmRecord> rec_;
  const uint8_t* ram_ = nullptr;
  uint64_t ram_size_ = 0;
};

TEST_F(MachineAcpiBootTest, TheKernelFindsItsAcpiTablesThroughAnEfiHandoff) {
  auto v0 = rec_->vcpu(0);
  EXPECT_EQ(v0->reg(core::Reg::kPc), kRamBase);  // the Image, no firmware
  const uint64_t dtb = v0->reg(core::Reg::kX0);
  const void* fdt = At(dtb, 64);
  ASSERT_EQ(fdt_check_header(fdt), 0);
  // A stub tree: /chosen only, so the kernel describes the machine from ACPI.
  int child;
  std::vector<std::string> nodes;
  fdt_for_each_subnode(child, fdt, 0) { nodes.push_back(fdt_get_name(fdt, child, nullptr)); }
  EXPECT_THAT(nodes, ElementsAre("chosen"));
  EXPECT_STREQ(static_cast<const char*>(
                   fdt_getprop(fdt, fdt_path_offset(fdt, "/chosen"), "bootargs", nullptr)),
               "console=ttyAMA0 efi=noruntime");
  EXPECT_EQ(Chosen(fdt, "linux,initrd-end") - Chosen(fdt, "linux,initrd-start"), 1000u);
  EXPECT_EQ(Chosen(fdt, "linux,uefi-secure-boot"), 2u);

  // The system table's one configuration table is the RSDP.
  const uint64_t systab = Chosen(fdt, "linux,uefi-system-table");
  EXPECT_EQ(Str(systab, 8), "IBI SYST");
  ASSERT_EQ(U64(systab + 104), 1u);
  const uint64_t rsdp = U64(U64(systab + 112) + 16);
  EXPECT_EQ(Str(rsdp, 8), "RSD PTR ");
  EXPECT_EQ(Sum(rsdp, 20), 0);
  EXPECT_EQ(Sum(rsdp, 36), 0);

  // Every table behind the XSDT is whole and checksummed; the FADT leads to the DSDT.
  const uint64_t xsdt = U64(rsdp + 24);
  EXPECT_EQ(Str(xsdt, 4), "XSDT");
  EXPECT_EQ(Sum(xsdt, U32(xsdt + 4)), 0);
  std::map<std::string, uint64_t> tables;
  for (uint64_t e = xsdt + 36; e < xsdt + U32(xsdt + 4); e += 8) {
    const uint64_t t = U64(e);
    tables[Str(t, 4)] = t;
    EXPECT_EQ(Sum(t, U32(t + 4)), 0) << Str(t, 4);
  }
  EXPECT_TRUE(tables.contains("FACP") && tables.contains("APIC") && tables.contains("GTDT"));
  const uint64_t dsdt = U64(tables["FACP"] + 140);  // X_DSDT
  EXPECT_EQ(Str(dsdt, 4), "DSDT");
  EXPECT_EQ(Sum(dsdt, U32(dsdt + 4)), 0);

  // The MADT: every possible vCPU, the boot ones enabled, the rest online-capable.
  const uint64_t madt = tables["APIC"];
  std::vector<uint32_t> gicc_flags;
  for (uint64_t s = madt + 44; s < madt + U32(madt + 4); s += At(s + 1, 1)[0]) {
    ASSERT_GT(At(s + 1, 1)[0], 0);
    if (At(s, 1)[0] == 0x0b) gicc_flags.push_back(U32(s + 12) & 0x9);
  }
  EXPECT_THAT(gicc_flags, ElementsAre(0x1, 0x1, 0x8, 0x8, 0x8, 0x8));

  // The memory map: all of RAM, and the tables, system table and map in ACPI reclaim memory.
  const uint64_t map = Chosen(fdt, "linux,uefi-mmap-start");
  const uint64_t map_size = Chosen(fdt, "linux,uefi-mmap-size");
  ASSERT_EQ(Chosen(fdt, "linux,uefi-mmap-desc-size"), 40u);
  uint64_t next = kRamBase;
  uint64_t reclaim_base = 0, reclaim_end = 0;
  for (uint64_t d = map; d < map + map_size; d += 40) {
    EXPECT_EQ(U64(d + 8), next);
    const uint64_t end = U64(d + 8) + U64(d + 24) * 4096;
    if (U32(d) == 9) {
      reclaim_base = U64(d + 8);
      reclaim_end = end;
    } else {
      EXPECT_EQ(U32(d), 7u);
    }
    next = end;
  }
  EXPECT_EQ(next, kRamBase + ram_size_);
  for (uint64_t gpa : {systab, map, rsdp, xsdt, madt, dsdt + U32(dsdt + 4) - 1}) {
    EXPECT_TRUE(gpa >= reclaim_base && gpa < reclaim_end) << std::hex << gpa;
  }
  EXPECT_EQ(mgr_->GetVm("ad")->spec.boot_mode, BootMode::kAcpiDirect);
}

TEST_F(MachineAcpiBootTest, ItsVcpusCanBeHotPlugged) {
  auto result = mgr_->ScaleVcpus("ad", 4, core::ScaleWait::kNone, absl::Now() + kWait);
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->previous, 2u);
  EXPECT_EQ(result->current, 4u);
  // The GED's SPI was pulsed: the guest rescans its CPUs.
  auto spis = rec_->spi_changes();
  ASSERT_GE(spis.size(), 2u);
  EXPECT_EQ(spis[spis.size() - 2], std::make_pair(9u, true));
  EXPECT_EQ(spis.back(), std::make_pair(9u, false));
}

// start_vcpus: the VM's first size. The vCPUs above boot_vcpus start ENABLED (removable, the
// MADT unchanged: only the boot vCPUs are GICC Enabled), and no hot-add event is raised.
TEST_F(MachineAcpiBootTest, StartVcpusAreEnabledFromTheFirstStart) {
  absl::StatusOr<VmInfo> ad = mgr_->GetVm("ad");
  ASSERT_THAT(ad, IsOk());
  EXPECT_EQ(ad->spec.start_vcpus, 2u);  // the effective value: boot_vcpus
  EXPECT_EQ(ad->target_vcpus, 2u);
  VmSpec s = ad->spec;
  s.name = "grow";
  s.start_vcpus = 4;
  ASSERT_THAT(mgr_->CreateVm(s), IsOk());
  EXPECT_EQ(mgr_->GetVm("grow")->target_vcpus, 4u);
  ASSERT_THAT(mgr_->StartVm("grow"), IsOk());
  absl::StatusOr<std::vector<core::VcpuInfo>> cpus = mgr_->GetCpuState("grow");
  ASSERT_THAT(cpus, IsOk());
  ASSERT_EQ(cpus->size(), 6u);
  EXPECT_TRUE(cpus->at(1).boot);
  for (uint32_t cpu : {2u, 3u}) {
    EXPECT_EQ(cpus->at(cpu).state, core::VcpuState::kEnabled) << cpu;
    EXPECT_TRUE(cpus->at(cpu).acpi_enabled) << cpu;
    EXPECT_FALSE(cpus->at(cpu).boot) << cpu;
  }
  EXPECT_EQ(cpus->at(4).state, core::VcpuState::kParked);
  EXPECT_TRUE(hv_.vms().back()->spi_changes().empty());  // no GED event
  // Removable before the guest has seen them: parked at once.
  auto down = mgr_->ScaleVcpus("grow", 3, core::ScaleWait::kNone, absl::Now() + kWait);
  ASSERT_THAT(down, IsOk());
  EXPECT_EQ(down->previous, 4u);
  EXPECT_EQ(down->vcpus[3].state, core::VcpuState::kParked);
}

}  // namespace
}  // namespace vmmd::vmm
