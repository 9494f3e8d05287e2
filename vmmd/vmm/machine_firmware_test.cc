// Firmware-boot wiring, end to end on the fake hypervisor: memslots, the DT at the RAM base,
// and guest MMIO through the real bus to fw_cfg, the CPU-hotplug block and the GED.
#include <libfdt.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "core/vcpu/psci.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_hypervisor.h"
#include "tests/support/firmware_vm_files.h"
#include "tests/support/image_dirs.h"
#include "tests/support/status_matchers.h"
#include "vmmd/vmm/board.h"
#include "vmmd/vmm/vm_manager.h"

namespace vmmd::vmm {
namespace {

using ::vmmd::testing::FakeHypervisor;
using ::vmmd::testing::FakeVcpuState;
using ::vmmd::testing::IsOk;
using ::vmmd::testing::ScriptedExit;

constexpr absl::Duration kWait = absl::Seconds(10);

class MachineFirmwareTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = files_.dir();
    mgr_ = std::make_unique<VmManager>(
        &hv_, ::vmmd::testing::WithImageDirs<VmManagerOptions>({dir_}, dir_ + "/state"));
    const VmSpec s = files_.Spec("fw", 2, 6);
    ASSERT_THAT(mgr_->CreateVm(s), IsOk());
    ASSERT_THAT(mgr_->StartVm("fw"), IsOk());
    v0_ = hv_.vms().back()->vcpu(0);
    ASSERT_TRUE(v0_->WaitForRunCount(1, kWait));
  }
  void TearDown() override { mgr_.reset(); }

  // The guest on vCPU 0 stores `len` bytes of `value` at `addr`.
  void Store(uint64_t addr, uint32_t len, uint64_t value) {
    core::MmioExit e{addr, len, true, {}};
    for (uint32_t i = 0; i < len; ++i) e.data[i] = static_cast<uint8_t>(value >> (8 * i));
    const uint64_t runs = v0_->run_count();
    v0_->PushExit({e, {}});
    ASSERT_TRUE(v0_->WaitForRunCount(runs + 1, kWait));
  }
  // The guest on vCPU 0 loads `len` bytes at `addr`.
  uint64_t Load(uint64_t addr, uint32_t len) {
    const uint64_t runs = v0_->run_count();
    v0_->PushExit({core::MmioExit{addr, len, false, {}}, {}});
    EXPECT_TRUE(v0_->WaitForRunCount(runs + 1, kWait));
    uint64_t v = 0;
    std::vector<uint8_t> d = v0_->last_mmio_read_data();
    for (size_t i = 0; i < d.size(); ++i) v |= uint64_t{d[i]} << (8 * i);
    return v;
  }

  ::vmmd::testing::FirmwareVmFiles files_;  // outlives the manager
  FakeHypervisor hv_;
  std::unique_ptr<VmManager> mgr_;
  std::string dir_;
  std::shared_ptr<FakeVcpuState> v0_;
};

TEST_F(MachineFirmwareTest, FlashMemslotsAndResetVector) {
  auto regions = hv_.vms().back()->regions();
  ASSERT_GE(regions.size(), 2u);
  EXPECT_EQ(regions[0].gpa, 0x4000'0000u);
  EXPECT_FALSE(regions[0].read_only);
  EXPECT_EQ(regions[1].slot, 1u);
  EXPECT_EQ(regions[1].gpa, 0u);
  EXPECT_EQ(regions[1].size, 64u << 20);
  EXPECT_TRUE(regions[1].read_only);
  const auto* code = static_cast<const uint8_t*>(regions[1].host);
  EXPECT_EQ(code[0], 0xAA);
  EXPECT_EQ(code[4095], 0xAA);
  EXPECT_EQ(code[4096], 0x00);  // padded to the bank size
  EXPECT_EQ(v0_->reg(core::Reg::kPc), 0u);
  EXPECT_EQ(v0_->reg(core::Reg::kX0), 0x4000'0000u);
  // The DT for the firmware sits at the RAM base and names fw_cfg and both flash banks.
  const void* fdt = regions[0].host;
  ASSERT_EQ(fdt_check_header(fdt), 0);
  EXPECT_GE(fdt_path_offset(fdt, "/fw-cfg@9020000"), 0);
  EXPECT_GE(fdt_path_offset(fdt, "/flash@0"), 0);
  EXPECT_GE(fdt_path_offset(fdt, "/pl031@9010000"), 0);
  // A stray store into flash0 (edk2's DxeIpl does one) is harmless.
  Store(0x1CB20, 8, 0x17384);
  EXPECT_EQ(code[0x1CB20], 0x00);  // unchanged (padding), not 0x84
  EXPECT_EQ(code[0x1CB21], 0x00);
  // The persistent variable store exists.
  struct stat st {};
  ASSERT_EQ(stat((dir_ + "/state/fw/efivars.fd").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 64 << 20);
}

TEST_F(MachineFirmwareTest, FwCfgAnswersWithSignatureAndTableLoader) {
  Store(0x0902'0008, 2, 0x0000);  // select key 0 (big-endian 16-bit)
  EXPECT_EQ(Load(0x0902'0000, 4), 0x554D4551u);  // "QEMU" as bytes
  Store(0x0902'0008, 2, 0x0100);  // key 1: id
  EXPECT_EQ(Load(0x0902'0000, 4) & 0x2, 0x2u);   // DMA supported (big-endian bit 1 in byte 3)
  // The file directory lists etc/acpi/rsdp, etc/acpi/tables and etc/table-loader.
  Store(0x0902'0008, 2, 0x1900);
  const uint64_t count_be = Load(0x0902'0000, 4);
  const uint32_t count = __builtin_bswap32(static_cast<uint32_t>(count_be));
  EXPECT_EQ(count, 3u);
}

TEST_F(MachineFirmwareTest, CpuHotplugBlockReportsBootAndParkedVcpus) {
  // Status byte: bit0 enabled, bit5 present.
  for (uint32_t cpu = 0; cpu < 6; ++cpu) {
    Store(0x090C'0000, 4, cpu);
    EXPECT_EQ(Load(0x090C'0004, 1), cpu < 2 ? 0x21u : 0x20u) << "vCPU " << cpu;
  }
  Store(0x090C'0000, 4, 6);  // beyond the possible vCPUs: reads 0
  EXPECT_EQ(Load(0x090C'0004, 1), 0u);
  // _EJ0 of a vCPU nobody asked to remove changes nothing.
  Store(0x090C'0000, 4, 3);
  Store(0x090C'0004, 1, 1u << 3);
  EXPECT_EQ(Load(0x090C'0004, 1), 0x20u);
  EXPECT_EQ(mgr_->GetCpuState("fw")->at(3).state, core::VcpuState::kParked);
  // No event pending: the GED register reads 0.
  EXPECT_EQ(Load(0x0908'0000, 4), 0u);
}

// What the guest's AML does on the GED interrupt, register by register: _EVT reads ESEL, CSCN
// walks GET_NEXT_CPU_WITH_EVENT and clears each event after its Notify.
TEST_F(MachineFirmwareTest, ScaleUpRaisesTheGedAndTheGuestScans) {
  auto sub = mgr_->events().Subscribe("fw");
  auto result = mgr_->ScaleVcpus("fw", 3, core::ScaleWait::kNone, absl::Now() + kWait);
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->previous, 2u);
  EXPECT_EQ(result->current, 3u);
  EXPECT_EQ(result->vcpus[2].state, core::VcpuState::kEnabling);
  // The GED's SPI 9 was pulsed.
  auto spis = hv_.vms().back()->spi_changes();
  ASSERT_GE(spis.size(), 2u);
  EXPECT_EQ(spis[spis.size() - 2], std::make_pair(9u, true));
  EXPECT_EQ(spis.back(), std::make_pair(9u, false));
  // _EVT: ESEL reads the CPU-hotplug bit once (read-to-clear).
  EXPECT_EQ(Load(0x0908'0000, 4), 0x8u);
  EXPECT_EQ(Load(0x0908'0000, 4), 0u);
  // CSCN: select 0, command GET_NEXT_CPU_WITH_EVENT, read the selected CPU from data.
  Store(0x090C'0000, 4, 0);
  Store(0x090C'0005, 1, 0);
  EXPECT_EQ(Load(0x090C'0008, 4), 2u);
  Store(0x090C'0000, 4, 2);
  EXPECT_EQ(Load(0x090C'0004, 1), 0x23u);  // present | insert | enabled: _STA reads 0xF
  Store(0x090C'0004, 1, 1u << 1);           // clear the insert event
  EXPECT_EQ(Load(0x090C'0004, 1), 0x21u);
  EXPECT_EQ(mgr_->GetCpuState("fw")->at(2).state, core::VcpuState::kEnabling);
  // The kernel registered the CPU: COST(2, 1, 0) = CSEL=2; CCMD=1; CDAT=1; CCMD=2; CDAT=0.
  Store(0x090C'0000, 4, 2);
  Store(0x090C'0005, 1, 1);
  Store(0x090C'0008, 4, 1);
  Store(0x090C'0005, 1, 2);
  Store(0x090C'0008, 4, 0);
  EXPECT_EQ(mgr_->GetCpuState("fw")->at(2).state, core::VcpuState::kEnabled);
  // The online rule's PSCI CPU_ON is accepted now.
  const uint64_t runs = v0_->run_count();
  v0_->PushExit(
      ScriptedExit{core::HypercallExit{0xC400'0003, false},
                   {{core::Reg::kX1, 2}, {core::Reg::kX2, 0x4100'0000}, {core::Reg::kX3, 0}}});
  ASSERT_TRUE(v0_->WaitForRunCount(runs + 1, kWait));
  EXPECT_EQ(v0_->reg(core::Reg::kX0), 0u);
  auto online = mgr_->ScaleVcpus("fw", 3, core::ScaleWait::kOnline, absl::Now() + kWait);
  ASSERT_THAT(online, IsOk());
  EXPECT_EQ(online->vcpus[2].state, core::VcpuState::kOnline);
  // Every transition was published.
  std::vector<std::string> seen;
  while (auto e = sub->Next(absl::Now())) {
    seen.push_back(absl::StrFormat("%u %s->%s", e->vcpu, core::VcpuStateName(e->from),
                                   core::VcpuStateName(e->to)));
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"2 PARKED->ENABLING", "2 ENABLING->ENABLED",
                                            "2 ENABLED->ONLINE"}));

  // What the metrics see: the target, each phase of the hot-add timed once, the requests by
  // direction and result, the CPU_ON granted, the lifecycle so far.
  std::vector<VmReport> report = mgr_->Report().vms;
  ASSERT_EQ(report.size(), 1u);
  EXPECT_EQ(report[0].info.target_vcpus, 3u);
  EXPECT_EQ(report[0].info.online_vcpus, 2u);  // vCPU 0 and 2 (1 was never started here)
  // A copy: `report` is replaced below.
  const VmStats st = report[0].stats;
  EXPECT_EQ(st.vcpus.phase(core::HotplugPhase::kTaken).count(), 1u);
  EXPECT_EQ(st.vcpus.phase(core::HotplugPhase::kEnabled).count(), 1u);
  EXPECT_EQ(st.vcpus.phase(core::HotplugPhase::kOnline).count(), 1u);
  EXPECT_EQ(st.vcpus.phase(core::HotplugPhase::kParked).count(), 0u);
  EXPECT_EQ(st.requests(ScaleDirection::kAdd, ScaleResultKind::kOk), 1u);   // wait=NONE
  EXPECT_EQ(st.requests(ScaleDirection::kNone, ScaleResultKind::kOk), 1u);  // wait=ONLINE
  EXPECT_EQ(st.vcpus.cpu_on.granted, 1u);
  EXPECT_EQ(st.transitions_to(VmState::kStarting), 1u);
  EXPECT_EQ(st.transitions_to(VmState::kRunning), 1u);
  EXPECT_EQ(st.transitions_to(VmState::kStopped), 0u);
  EXPECT_GT(st.exits, 0u);
  EXPECT_EQ(st.exits, st.mmio_exits + st.hypercall_exits);

  // A stop and a start keep every counter and every vCPU's CPU time, and the size: the target
  // stays 3 and vCPU 2 comes back ENABLED.
  const std::vector<core::VcpuInfo> before = report[0].vcpus;
  EXPECT_GT(before[0].busy_ns, 0u);
  EXPECT_GT(before[2].busy_ns, 0u);
  ASSERT_THAT(mgr_->StopVm("fw"), IsOk());
  ASSERT_THAT(mgr_->StartVm("fw"), IsOk());
  report = mgr_->Report().vms;
  ASSERT_EQ(report.size(), 1u);
  EXPECT_EQ(report[0].info.target_vcpus, 3u);
  EXPECT_EQ(report[0].vcpus[2].state, core::VcpuState::kEnabled);
  for (size_t i = 0; i < before.size(); ++i) {
    EXPECT_GE(report[0].vcpus[i].busy_ns, before[i].busy_ns) << "vCPU " << i;
    EXPECT_GE(report[0].vcpus[i].delay_ns, before[i].delay_ns) << "vCPU " << i;
  }
  EXPECT_EQ(report[0].stats.vcpus.phase(core::HotplugPhase::kOnline).count(), 1u);
  EXPECT_GE(report[0].stats.exits, st.exits);
  EXPECT_EQ(report[0].stats.transitions_to(VmState::kStarting), 2u);
  EXPECT_EQ(report[0].stats.transitions_to(VmState::kStopping), 1u);
  EXPECT_EQ(report[0].stats.transitions_to(VmState::kStopped), 1u);

  // The manager's totals include every VM, and keep a deleted VM's hotplug counts.
  EXPECT_EQ(mgr_->Report().all_vcpus.phase(core::HotplugPhase::kOnline).count(), 1u);
  ASSERT_THAT(mgr_->DeleteVm("fw"), IsOk());
  const ManagerReport after = mgr_->Report();
  EXPECT_TRUE(after.vms.empty());
  EXPECT_EQ(after.all_vcpus.phase(core::HotplugPhase::kOnline).count(), 1u);
  EXPECT_EQ(after.all_vcpus.phase(core::HotplugPhase::kTaken).count(), 1u);
  EXPECT_EQ(after.all_vcpus.cpu_on.granted, 1u);
}

// A guest reset rebuilds the machine at the size the VM was scaled to: the hot-added vCPUs are
// ENABLED from the start (_STA enabled, no event pending); the kernel's early CPU_ON on them is
// DENIED until its ACPI scan has read their status, then the online rule's CPU_ON succeeds; they
// stay removable.
TEST_F(MachineFirmwareTest, AGuestResetKeepsTheScaledVcpus) {
  ASSERT_THAT(mgr_->ScaleVcpus("fw", 4, core::ScaleWait::kNone, absl::Now() + kWait), IsOk());
  const size_t machines = hv_.vms().size();
  v0_->PushExit(ScriptedExit{core::SystemEventExit{core::SystemEventExit::Type::kReset, 2}, {}});
  const absl::Time deadline = absl::Now() + kWait;
  while (absl::Now() < deadline &&
         (hv_.vms().size() == machines || hv_.vms().back()->vcpu(0) == nullptr ||
          hv_.vms().back()->vcpu(0)->run_count() == 0)) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  ASSERT_EQ(hv_.vms().size(), machines + 1);
  v0_ = hv_.vms().back()->vcpu(0);
  ASSERT_TRUE(v0_->WaitForRunCount(1, kWait));
  // The restart marks the VM RUNNING once its vCPU threads are started, which may be just after
  // vCPU 0 first entered the guest.
  absl::StatusOr<VmInfo> info = mgr_->GetVm("fw");
  while (info.ok() && info->state == VmState::kStarting && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));
    info = mgr_->GetVm("fw");
  }
  ASSERT_THAT(info, IsOk());
  EXPECT_EQ(info->state, VmState::kRunning);
  EXPECT_EQ(info->restarts, 1u);
  EXPECT_EQ(info->target_vcpus, 4u);
  absl::StatusOr<std::vector<core::VcpuInfo>> cpus = mgr_->GetCpuState("fw");
  ASSERT_THAT(cpus, IsOk());
  EXPECT_EQ(cpus->at(1).state, core::VcpuState::kOffline);  // a boot vCPU, not yet started
  EXPECT_EQ(cpus->at(2).state, core::VcpuState::kEnabled);
  EXPECT_EQ(cpus->at(3).state, core::VcpuState::kEnabled);
  EXPECT_EQ(cpus->at(4).state, core::VcpuState::kParked);
  // The kernel's early bring-up (before its ACPI runs) tries vCPU 3: DENIED, it stays ENABLED.
  auto cpu_on_3 = [&] {
    const uint64_t runs = v0_->run_count();
    v0_->PushExit(
        ScriptedExit{core::HypercallExit{0xC400'0003, false},
                     {{core::Reg::kX1, 3}, {core::Reg::kX2, 0x4100'0000}, {core::Reg::kX3, 0}}});
    EXPECT_TRUE(v0_->WaitForRunCount(runs + 1, kWait));
    return v0_->reg(core::Reg::kX0);
  };
  EXPECT_EQ(cpu_on_3(), core::psci::EncodeReturn(core::psci::Return::kDenied));
  EXPECT_EQ(mgr_->GetCpuState("fw")->at(3).state, core::VcpuState::kEnabled);
  // What the guest's boot-time scan reads: present | enabled, no insert event, for 2 and 3.
  for (uint32_t cpu = 0; cpu < 6; ++cpu) {
    Store(0x090C'0000, 4, cpu);
    EXPECT_EQ(Load(0x090C'0004, 1), cpu < 4 ? 0x21u : 0x20u) << "vCPU " << cpu;
  }
  EXPECT_EQ(Load(0x0908'0000, 4), 0u);  // no GED event pending
  // Its scan has seen vCPU 3: the online rule powers it on, SUCCESS.
  EXPECT_EQ(cpu_on_3(), 0u);
  EXPECT_EQ(mgr_->GetCpuState("fw")->at(3).state, core::VcpuState::kOnline);
  // Still removable: a scale down takes the highest hot-added one away.
  absl::StatusOr<ScaleResult> down =
      mgr_->ScaleVcpus("fw", 3, core::ScaleWait::kNone, absl::Now() + kWait);
  ASSERT_THAT(down, IsOk());
  EXPECT_EQ(down->vcpus[3].state, core::VcpuState::kRemoving);
}

// Every VM that boots the same firmware file executes it from the same host pages: flash0 is a
// read-only bank, so one copy serves them all (hw::FlashImageCache). Each VM's variable store
// stays its own.
TEST_F(MachineFirmwareTest, VmsShareOneCopyOfTheirFirmware) {
  auto flash_slots = [](const std::shared_ptr<::vmmd::testing::FakeVmRecord>& vm) {
    std::pair<const void*, const void*> banks{nullptr, nullptr};
    for (const auto& r : vm->regions()) {
      if (r.gpa == 0 && r.size != 0) banks.first = r.host;
      if (r.gpa == 0x0400'0000 && r.size != 0) banks.second = r.host;
    }
    return banks;
  };
  const auto first = flash_slots(hv_.vms().back());
  ASSERT_NE(first.first, nullptr);
  ASSERT_THAT(mgr_->CreateVm(files_.Spec("fw2", 1, 2)), IsOk());
  ASSERT_THAT(mgr_->StartVm("fw2"), IsOk());
  const auto second = flash_slots(hv_.vms().back());
  EXPECT_EQ(second.first, first.first);  // flash0: the same image
  EXPECT_NE(second.second, nullptr);
  EXPECT_NE(second.second, first.second);  // flash1: each VM's own variables
}

TEST_F(MachineFirmwareTest, ScaleRefusals) {
  EXPECT_THAT(mgr_->ScaleVcpus("fw", 1, core::ScaleWait::kNone, absl::Now()),
              ::vmmd::testing::StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(mgr_->Report().vms[0].stats.requests(ScaleDirection::kNone, ScaleResultKind::kRejected),
            1u);
  EXPECT_THAT(mgr_->ScaleVcpus("nope", 3, core::ScaleWait::kNone, absl::Now()),
              ::vmmd::testing::StatusIs(absl::StatusCode::kNotFound));
  ASSERT_THAT(mgr_->StopVm("fw"), IsOk());
  EXPECT_THAT(mgr_->ScaleVcpus("fw", 3, core::ScaleWait::kNone, absl::Now()),
              ::vmmd::testing::StatusIs(absl::StatusCode::kFailedPrecondition,
                                        ::testing::HasSubstr("STOPPED")));
  // A direct-boot VM cannot hotplug (but asking for what it has is fine).
  VmSpec d;
  d.name = "direct";
  d.kernel_path = dir_ + "/Image";
  d.memory_mib = 64;
  d.boot_vcpus = 1;
  d.max_vcpus = 2;
  ASSERT_THAT(mgr_->CreateVm(d), IsOk());
  ASSERT_THAT(mgr_->StartVm("direct"), ::testing::Not(IsOk()));  // not an arm64 Image
}

// What the guest writes to its UART lands in <state_dir>/<vm>/console.log, across a restart,
// and DeleteVm removes it with the VM's directory.
TEST_F(MachineFirmwareTest, TheGuestsConsoleGoesToItsStateDirectory) {
  const std::string log = dir_ + "/state/fw/console.log";
  auto read = [&log] {
    std::ifstream in(log, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  EXPECT_EQ(mgr_->GetVm("fw")->console_log_path, log);
  for (char c : std::string("boot 1\n")) Store(board::kPl011.base, 1, static_cast<uint8_t>(c));
  EXPECT_EQ(read(), "boot 1\n");
  ASSERT_THAT(mgr_->StopVm("fw"), IsOk());
  ASSERT_THAT(mgr_->StartVm("fw"), IsOk());
  v0_ = hv_.vms().back()->vcpu(0);
  ASSERT_TRUE(v0_->WaitForRunCount(1, kWait));
  for (char c : std::string("boot 2\n")) Store(board::kPl011.base, 1, static_cast<uint8_t>(c));
  EXPECT_EQ(read(), "boot 1\nboot 2\n");
  ASSERT_THAT(mgr_->DeleteVm("fw"), IsOk());
  struct stat st {};
  EXPECT_NE(stat(log.c_str(), &st), 0);
}

TEST_F(MachineFirmwareTest, DeleteRemovesTheVariableStore) {
  ASSERT_THAT(mgr_->DeleteVm("fw"), IsOk());
  struct stat st {};
  EXPECT_NE(stat((dir_ + "/state/fw/efivars.fd").c_str(), &st), 0);
  EXPECT_NE(stat((dir_ + "/state/fw").c_str(), &st), 0);
}

}  // namespace
}  // namespace vmmd::vmm
