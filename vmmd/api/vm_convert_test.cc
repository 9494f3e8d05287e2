#include "vmmd/api/vm_convert.h"

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"
#include "vmmd/vmm/nic_spec.h"

namespace vmmd::api {
namespace {

TEST(VmConvertTest, VmStateMappingIsExact) {
  const std::pair<vmm::VmState, v1::VmState> kPairs[] = {
      {vmm::VmState::kCreated, v1::VM_STATE_CREATED},
      {vmm::VmState::kStarting, v1::VM_STATE_STARTING},
      {vmm::VmState::kRunning, v1::VM_STATE_RUNNING},
      {vmm::VmState::kStopping, v1::VM_STATE_STOPPING},
      {vmm::VmState::kStopped, v1::VM_STATE_STOPPED},
      {vmm::VmState::kFailed, v1::VM_STATE_FAILED},
  };
  // Every proto enumerator but UNSPECIFIED is covered.
  EXPECT_EQ(std::size(kPairs), static_cast<size_t>(v1::VmState_MAX));
  for (const auto& [state, proto_state] : kPairs) EXPECT_EQ(VmStateToProto(state), proto_state);
  EXPECT_EQ(VmStateToProto(static_cast<vmm::VmState>(77)), v1::VM_STATE_UNSPECIFIED);
}

TEST(VmConvertTest, VcpuStateMappingIsExact) {
  const std::pair<core::VcpuState, v1::VcpuState> kPairs[] = {
      {core::VcpuState::kParked, v1::VCPU_STATE_PARKED},
      {core::VcpuState::kEnabling, v1::VCPU_STATE_ENABLING},
      {core::VcpuState::kEnabled, v1::VCPU_STATE_ENABLED},
      {core::VcpuState::kOnline, v1::VCPU_STATE_ONLINE},
      {core::VcpuState::kOffline, v1::VCPU_STATE_OFFLINE},
      {core::VcpuState::kRemoving, v1::VCPU_STATE_REMOVING},
  };
  EXPECT_EQ(std::size(kPairs), static_cast<size_t>(v1::VcpuState_MAX));
  for (const auto& [state, proto_state] : kPairs) EXPECT_EQ(VcpuStateToProto(state), proto_state);
  EXPECT_EQ(VcpuStateToProto(static_cast<core::VcpuState>(-3)), v1::VCPU_STATE_UNSPECIFIED);
}

TEST(VmConvertTest, PsciPowerMappingIsExact) {
  EXPECT_EQ(PsciPowerToProto(core::PsciPower::kOff), v1::PSCI_POWER_OFF);
  EXPECT_EQ(PsciPowerToProto(core::PsciPower::kOn), v1::PSCI_POWER_ON);
  EXPECT_EQ(v1::PsciPower_MAX, v1::PSCI_POWER_ON);
}

vmm::VmSpec FullSpec() {
  vmm::VmSpec spec;
  spec.name = "vm1";
  spec.kernel_path = "/k/Image";
  spec.initrd_path = "/k/initrd";
  spec.cmdline = "console=ttyAMA0 quiet";
  spec.firmware_path = "/fw/QEMU_EFI.fd";
  spec.memory_mib = 256;
  spec.boot_vcpus = 2;
  spec.max_vcpus = 4;
  spec.start_vcpus = 3;
  spec.disks = {{.path = "/d/root.img", .read_only = false, .serial = "root"},
                {.path = "/d/data.img", .read_only = true, .serial = ""}};
  spec.nics = {{.tap = "tap-vm1", .mac = "02:00:5e:10:00:01"}, {.tap = "tap-vm1b", .mac = ""}};
  spec.entropy = true;
  return spec;
}

TEST(VmConvertTest, SpecCopiesEveryField) {
  const vmm::VmSpec spec = FullSpec();
  const v1::VmSpec proto = VmSpecToProto(spec);
  EXPECT_EQ(proto.name(), "vm1");
  EXPECT_EQ(proto.kernel_path(), "/k/Image");
  EXPECT_EQ(proto.initrd_path(), "/k/initrd");
  EXPECT_EQ(proto.cmdline(), "console=ttyAMA0 quiet");
  EXPECT_EQ(proto.firmware_path(), "/fw/QEMU_EFI.fd");
  EXPECT_EQ(proto.memory_mib(), 256u);
  EXPECT_EQ(proto.boot_vcpus(), 2u);
  EXPECT_EQ(proto.max_vcpus(), 4u);
  EXPECT_EQ(proto.start_vcpus(), 3u);
  const vmm::VmSpec back = VmSpecFromProto(proto);
  EXPECT_EQ(back.name, spec.name);
  EXPECT_EQ(back.kernel_path, spec.kernel_path);
  EXPECT_EQ(back.initrd_path, spec.initrd_path);
  EXPECT_EQ(back.cmdline, spec.cmdline);
  EXPECT_EQ(back.firmware_path, spec.firmware_path);
  EXPECT_EQ(back.memory_mib, spec.memory_mib);
  EXPECT_EQ(back.boot_vcpus, spec.boot_vcpus);
  EXPECT_EQ(back.max_vcpus, spec.max_vcpus);
  EXPECT_EQ(back.start_vcpus, spec.start_vcpus);
  ASSERT_EQ(proto.disks_size(), 2);
  EXPECT_EQ(proto.disks(0).path(), "/d/root.img");
  EXPECT_EQ(proto.disks(0).serial(), "root");
  EXPECT_TRUE(proto.disks(1).read_only());
  EXPECT_EQ(back.disks, spec.disks);
  ASSERT_EQ(proto.nics_size(), 2);
  EXPECT_EQ(proto.nics(0).tap(), "tap-vm1");
  EXPECT_EQ(proto.nics(0).mac(), "02:00:5e:10:00:01");
  EXPECT_EQ(proto.nics(1).mac(), "");
  EXPECT_TRUE(proto.entropy());
  EXPECT_EQ(back, spec);
}

TEST(VmConvertTest, DiskCountersCarryTheirIndexAndSerial) {
  vmm::VmInfo info;
  info.spec = FullSpec();
  info.disks = {{.reads = 1,
                 .writes = 2,
                 .read_bytes = 512,
                 .write_bytes = 1024,
                 .flushes = 3,
                 .discards = 4,
                 .errors = 5,
                 .queue_errors = 7},
                {}};
  const v1::Vm vm = VmToProto(info);
  ASSERT_EQ(vm.disks_size(), 2);
  EXPECT_EQ(vm.disks(0).index(), 0u);
  EXPECT_EQ(vm.disks(0).serial(), "root");
  EXPECT_EQ(vm.disks(0).read_requests(), 1u);
  EXPECT_EQ(vm.disks(0).write_requests(), 2u);
  EXPECT_EQ(vm.disks(0).read_bytes(), 512u);
  EXPECT_EQ(vm.disks(0).write_bytes(), 1024u);
  EXPECT_EQ(vm.disks(0).flush_requests(), 3u);
  EXPECT_EQ(vm.disks(0).discard_requests(), 4u);
  EXPECT_EQ(vm.disks(0).failed_requests(), 5u);
  EXPECT_EQ(vm.disks(0).queue_errors(), 7u);
  EXPECT_EQ(vm.disks(1).queue_errors(), 0u);
  EXPECT_EQ(vm.disks(1).index(), 1u);
  EXPECT_EQ(vm.disks(1).serial(), "disk1");
}

TEST(VmConvertTest, NicCountersCarryTheirTapAndTheGuestsMac) {
  vmm::VmInfo info;
  info.spec = FullSpec();
  info.nics = {{.rx_frames = 1,
                .rx_bytes = 2,
                .tx_frames = 3,
                .tx_bytes = 4,
                .rx_dropped = 5,
                .tx_dropped = 6,
                .queue_errors = 8},
               {}};
  const v1::Vm vm = VmToProto(info);
  ASSERT_EQ(vm.nics_size(), 2);
  EXPECT_EQ(vm.nics(0).index(), 0u);
  EXPECT_EQ(vm.nics(0).tap(), "tap-vm1");
  EXPECT_EQ(vm.nics(0).mac(), "02:00:5e:10:00:01");
  EXPECT_EQ(vm.nics(0).rx_frames(), 1u);
  EXPECT_EQ(vm.nics(0).rx_bytes(), 2u);
  EXPECT_EQ(vm.nics(0).tx_frames(), 3u);
  EXPECT_EQ(vm.nics(0).tx_bytes(), 4u);
  EXPECT_EQ(vm.nics(0).rx_dropped(), 5u);
  EXPECT_EQ(vm.nics(0).tx_dropped(), 6u);
  EXPECT_EQ(vm.nics(0).queue_errors(), 8u);
  EXPECT_EQ(vm.nics(1).index(), 1u);
  EXPECT_EQ(vm.nics(1).tap(), "tap-vm1b");
  EXPECT_EQ(vm.nics(1).mac(), vmm::FormatMac(vmm::NicMac(info.spec, 1)));
  EXPECT_EQ(vm.nics(1).mac().substr(0, 3), "02:");
}

TEST(VmConvertTest, VmInfoToProto) {
  vmm::VmInfo info;
  info.spec = FullSpec();
  info.state = vmm::VmState::kRunning;
  info.state_reason = "booted";
  info.created_at = absl::FromUnixSeconds(1700000000) + absl::Milliseconds(250);
  info.started_at = absl::FromUnixSeconds(1700000001);
  info.online_vcpus = 2;
  info.restarts = 3;
  info.unmapped_mmio = 12345678901234ull;
  info.console_log_path = "/var/lib/vmmd/vm1/console.log";
  const v1::Vm vm = VmToProto(info);
  EXPECT_EQ(vm.console_log_path(), "/var/lib/vmmd/vm1/console.log");
  EXPECT_EQ(vm.spec().name(), "vm1");
  EXPECT_EQ(vm.state(), v1::VM_STATE_RUNNING);
  EXPECT_EQ(vm.state_reason(), "booted");
  ASSERT_TRUE(vm.has_created_at());
  EXPECT_EQ(vm.created_at().seconds(), 1700000000);
  EXPECT_EQ(vm.created_at().nanos(), 250000000);
  ASSERT_TRUE(vm.has_started_at());
  EXPECT_EQ(vm.started_at().seconds(), 1700000001);
  EXPECT_FALSE(vm.has_stopped_at());  // never stopped
  EXPECT_EQ(vm.online_vcpus(), 2u);
  EXPECT_EQ(vm.restarts(), 3u);
  EXPECT_EQ(vm.unmapped_mmio(), 12345678901234ull);
}

TEST(VmConvertTest, VcpuInfoToProto) {
  core::VcpuInfo info;
  info.id = 3;
  info.mpidr = 0x80000003;
  info.state = core::VcpuState::kOnline;
  info.boot = false;
  info.acpi_enabled = true;
  info.power = core::PsciPower::kOn;
  info.thread_id = 4242;
  info.exits = 10;
  info.mmio_exits = 7;
  info.hypercall_exits = 2;
  info.last_transition = absl::FromUnixSeconds(1700000002);
  const v1::VcpuStatus vcpu = VcpuToProto(info);
  EXPECT_EQ(vcpu.id(), 3u);
  EXPECT_EQ(vcpu.mpidr(), 0x80000003u);
  EXPECT_EQ(vcpu.state(), v1::VCPU_STATE_ONLINE);
  EXPECT_FALSE(vcpu.boot());
  EXPECT_TRUE(vcpu.acpi_enabled());
  EXPECT_EQ(vcpu.power(), v1::PSCI_POWER_ON);
  EXPECT_EQ(vcpu.thread_id(), 4242);
  EXPECT_EQ(vcpu.exits(), 10u);
  EXPECT_EQ(vcpu.mmio_exits(), 7u);
  EXPECT_EQ(vcpu.hypercall_exits(), 2u);
  ASSERT_TRUE(vcpu.has_last_transition());
  EXPECT_EQ(vcpu.last_transition().seconds(), 1700000002);

  info.last_transition = absl::InfinitePast();
  EXPECT_FALSE(VcpuToProto(info).has_last_transition());
}

TEST(VmConvertTest, EventsCarryTheirKindSnapshotAndLosses) {
  vmm::WatchEvent vcpu;
  vcpu.sequence = 9;
  vcpu.time = absl::FromUnixSeconds(1700000003);
  vcpu.vm = "vm1";
  vcpu.kind = vmm::WatchEvent::Kind::kVcpuState;
  vcpu.vcpu = 2;
  vcpu.from = core::VcpuState::kParked;
  vcpu.to = core::VcpuState::kEnabling;
  vcpu.detail = "api: scale up";
  vcpu.dropped_before = 4;
  const v1::Event e = EventToProto(vcpu);
  EXPECT_EQ(e.sequence(), 9u);
  EXPECT_EQ(e.time().seconds(), 1700000003);
  EXPECT_EQ(e.vm(), "vm1");
  ASSERT_TRUE(e.has_vcpu_state());
  EXPECT_EQ(e.vcpu_state().vcpu(), 2u);
  EXPECT_EQ(e.vcpu_state().from(), v1::VCPU_STATE_PARKED);
  EXPECT_EQ(e.vcpu_state().to(), v1::VCPU_STATE_ENABLING);
  EXPECT_EQ(e.vcpu_state().cause(), "api: scale up");
  EXPECT_FALSE(e.snapshot());
  EXPECT_EQ(e.dropped_before(), 4u);

  vmm::WatchEvent vm;
  vm.vm = "vm1";
  vm.kind = vmm::WatchEvent::Kind::kVmState;
  vm.vm_state = vmm::VmState::kStopped;
  vm.detail = "guest powered off";
  vm.snapshot = true;
  const v1::Event s = EventToProto(vm);
  ASSERT_TRUE(s.has_vm_state());
  EXPECT_EQ(s.vm_state().state(), v1::VM_STATE_STOPPED);
  EXPECT_EQ(s.vm_state().reason(), "guest powered off");
  EXPECT_TRUE(s.snapshot());

  vmm::WatchEvent empty;
  empty.kind = vmm::WatchEvent::Kind::kEmpty;
  empty.snapshot = true;
  const v1::Event n = EventToProto(empty);
  EXPECT_TRUE(n.snapshot());
  EXPECT_EQ(n.change_case(), v1::Event::CHANGE_NOT_SET);
  EXPECT_EQ(n.vm(), "");
}

TEST(VmConvertTest, TimeBeforeEpochFloorsSecondsWithPositiveNanos) {
  google::protobuf::Timestamp ts;
  const absl::Time t = absl::FromUnixSeconds(-2) + absl::Milliseconds(500);  // -1.5 s
  TimeToProto(t, &ts);
  EXPECT_EQ(ts.seconds(), -2);
  EXPECT_EQ(ts.nanos(), 500000000);
  TimeToProto(absl::InfiniteFuture(), &ts);
  EXPECT_EQ(ts.seconds(), 0);
  EXPECT_EQ(ts.nanos(), 0);
}

}  // namespace
}  // namespace vmmd::api
