#include "vmmd/vmmctl/format.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmmd::vmmctl {
namespace {

v1::Vm SampleVm() {
  v1::Vm vm;
  v1::VmSpec* spec = vm.mutable_spec();
  spec->set_name("vm1");
  spec->set_kernel_path("/k/Image");
  spec->set_cmdline("console=ttyAMA0 quiet");
  spec->set_memory_mib(256);
  spec->set_boot_vcpus(2);
  spec->set_max_vcpus(4);
  spec->set_start_vcpus(3);
  spec->set_boot_mode(v1::BOOT_MODE_ACPI_DIRECT);
  vm.set_state(v1::VM_STATE_RUNNING);
  vm.mutable_created_at()->set_seconds(1700000000);
  vm.mutable_started_at()->set_seconds(1700000001);
  vm.mutable_started_at()->set_nanos(999999999);
  vm.set_online_vcpus(2);
  vm.set_target_vcpus(3);
  vm.set_unmapped_mmio(5);
  vm.set_console_log_path("/var/lib/vmmd/vm1/console.log");
  v1::AutoscalePolicy* p = vm.mutable_autoscale();
  p->set_mode(v1::AUTOSCALE_MODE_OFF);
  p->set_min_vcpus(2);
  p->set_max_vcpus(4);
  p->set_target_utilization(0.7);
  p->set_tolerance(0.1);
  p->mutable_scale_down_stabilization()->set_seconds(300);
  p->set_scale_up_max_step(4);
  p->set_scale_down_max_step(1);
  p->mutable_step_period()->set_seconds(15);
  return vm;
}

TEST(FormatTest, Labels) {
  EXPECT_EQ(VmStateLabel(v1::VM_STATE_CREATED), "CREATED");
  EXPECT_EQ(VmStateLabel(v1::VM_STATE_STARTING), "STARTING");
  EXPECT_EQ(VmStateLabel(v1::VM_STATE_RUNNING), "RUNNING");
  EXPECT_EQ(VmStateLabel(v1::VM_STATE_STOPPING), "STOPPING");
  EXPECT_EQ(VmStateLabel(v1::VM_STATE_STOPPED), "STOPPED");
  EXPECT_EQ(VmStateLabel(v1::VM_STATE_FAILED), "FAILED");
  EXPECT_EQ(VmStateLabel(v1::VM_STATE_UNSPECIFIED), "UNSPECIFIED");
  EXPECT_EQ(VmStateLabel(static_cast<v1::VmState>(99)), "UNKNOWN");
  EXPECT_EQ(VcpuStateLabel(v1::VCPU_STATE_PARKED), "PARKED");
  EXPECT_EQ(VcpuStateLabel(v1::VCPU_STATE_ENABLING), "ENABLING");
  EXPECT_EQ(VcpuStateLabel(v1::VCPU_STATE_ENABLED), "ENABLED");
  EXPECT_EQ(VcpuStateLabel(v1::VCPU_STATE_ONLINE), "ONLINE");
  EXPECT_EQ(VcpuStateLabel(v1::VCPU_STATE_OFFLINE), "OFFLINE");
  EXPECT_EQ(VcpuStateLabel(v1::VCPU_STATE_REMOVING), "REMOVING");
  EXPECT_EQ(PsciPowerLabel(v1::PSCI_POWER_ON), "on");
  EXPECT_EQ(PsciPowerLabel(v1::PSCI_POWER_OFF), "off");
  EXPECT_EQ(PsciPowerLabel(v1::PSCI_POWER_UNSPECIFIED), "-");
}

TEST(FormatTest, BootModeLabelsAreTheFlagSpellings) {
  EXPECT_EQ(BootModeLabel(v1::BOOT_MODE_DEVICE_TREE), "dt");
  EXPECT_EQ(BootModeLabel(v1::BOOT_MODE_UEFI), "uefi");
  EXPECT_EQ(BootModeLabel(v1::BOOT_MODE_ACPI_DIRECT), "acpi-direct");
  EXPECT_EQ(BootModeLabel(v1::BOOT_MODE_UNSPECIFIED), "-");
  EXPECT_EQ(BootModeLabel(static_cast<v1::BootMode>(42)), "-");
}

TEST(FormatTest, Timestamp) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(1700000000);
  ts.set_nanos(5);
  EXPECT_EQ(TimestampLabel(true, ts), "2023-11-14T22:13:20Z");
  EXPECT_EQ(TimestampLabel(false, ts), "-");
}

TEST(FormatTest, TableAlignsColumnsWithoutTrailingSpaces) {
  EXPECT_EQ(FormatTable({{"A", "BB", "C"}, {"xxx", "y", "zzzz"}}),
            "A    BB  C\n"
            "xxx  y   zzzz\n");
  EXPECT_EQ(FormatTable({}), "");
}

TEST(FormatTest, VmList) {
  v1::ListVmsResponse response;
  *response.add_vms() = SampleVm();
  v1::Vm* other = response.add_vms();
  other->mutable_spec()->set_name("database-7");
  other->mutable_spec()->set_max_vcpus(16);
  other->mutable_spec()->set_memory_mib(4096);
  other->set_state(v1::VM_STATE_CREATED);
  EXPECT_EQ(FormatVmList(response),
            "NAME        STATE    ONLINE/MAX  MEMORY_MIB\n"
            "vm1         RUNNING  2/4         256\n"
            "database-7  CREATED  0/16        4096\n");
  EXPECT_EQ(FormatVmList(v1::ListVmsResponse()), "NAME  STATE  ONLINE/MAX  MEMORY_MIB\n");
}

TEST(FormatTest, VmDetails) {
  EXPECT_EQ(FormatVmDetails(SampleVm()),
            "name: vm1\n"
            "state: RUNNING\n"
            "reason: -\n"
            "vcpus: 2\n"
            "max_vcpus: 4\n"
            "start_vcpus: 3\n"
            "online_vcpus: 2\n"
            "target_vcpus: 3\n"
            "memory_mib: 256\n"
            "kernel: /k/Image\n"
            "initrd: -\n"
            "cmdline: console=ttyAMA0 quiet\n"
            "firmware: -\n"
            "boot: acpi-direct\n"
            "console_log: /var/lib/vmmd/vm1/console.log\n"
            "created: 2023-11-14T22:13:20Z\n"
            "started: 2023-11-14T22:13:21Z\n"
            "stopped: -\n"
            "restarts: 0\n"
            "unmapped_mmio: 5\n"
            "autoscale: off 2..4 vCPUs, target 0.70, tolerance 0.10, up: window 0s +4/15s, "
            "down: window 300s -1/15s\n");
}

TEST(FormatTest, VmDetailsWithAnAutoscalerReport) {
  v1::Vm vm = SampleVm();
  vm.mutable_autoscale()->set_mode(v1::AUTOSCALE_MODE_AUTO);
  vm.mutable_autoscale()->mutable_scale_up_stabilization()->set_nanos(500'000'000);
  v1::AutoscaleStatus* st = vm.mutable_autoscale_status();
  st->set_recommended_vcpus(3);
  st->set_utilization(0.915);
  st->set_steal(0.04);
  st->set_reason("busy 1.83 / target 0.70 -> 3");
  st->mutable_report_time()->set_seconds(1700000100);
  st->set_reporter("vmm-autoscaler");
  st->mutable_last_scale_time()->set_seconds(1700000090);
  st->set_last_scale_from(2);
  st->set_last_scale_to(3);
  st->set_last_scale_result("ok");
  const std::string out = FormatVmDetails(vm);
  EXPECT_NE(out.find("autoscale: auto 2..4 vCPUs, target 0.70, tolerance 0.10, up: window 0.5s "
                     "+4/15s, down: window 300s -1/15s\n"
                     "recommended_vcpus: 3\n"
                     "utilization: 0.92\n"
                     "steal: 0.04\n"
                     "recommendation: busy 1.83 / target 0.70 -> 3\n"
                     "reported: 2023-11-14T22:15:00Z by vmm-autoscaler\n"
                     "last_scale: 2023-11-14T22:14:50Z 2 -> 3: ok\n"),
            std::string::npos)
      << out;
  EXPECT_EQ(FormatAutoscalePolicyLine(vm),
            "vm1: autoscale auto 2..4 vCPUs, target 0.70, tolerance 0.10, up: window 0.5s "
            "+4/15s, down: window 300s -1/15s\n");
  v1::Event e;
  e.mutable_time()->set_seconds(1700000000);
  e.set_vm("vm1");
  *e.mutable_autoscale_policy() = vm.autoscale();
  EXPECT_EQ(FormatEvent(e),
            "2023-11-14T22:13:20.000Z vm1 autoscale auto 2..4 vCPUs, target 0.70, tolerance "
            "0.10, up: window 0.5s +4/15s, down: window 300s -1/15s\n");
}

TEST(FormatTest, VmDetailsCountEachDisksAndNicsIo) {
  v1::Vm vm;
  vm.mutable_spec()->set_name("io");
  v1::Disk* d = vm.mutable_spec()->add_disks();
  d->set_path("/img/root.raw");
  d->set_serial("root");
  vm.mutable_spec()->add_nics()->set_tap("tap0");
  v1::DiskStatus* ds = vm.add_disks();
  ds->set_read_requests(4);
  ds->set_read_bytes(4096);
  ds->set_write_requests(5);
  ds->set_write_bytes(512);
  ds->set_flush_requests(1);
  ds->set_failed_requests(6);
  ds->set_queue_errors(2);
  v1::NicStatus* ns = vm.add_nics();
  ns->set_mac("02:00:5e:00:00:01");
  ns->set_rx_frames(7);
  ns->set_rx_bytes(700);
  ns->set_rx_dropped(1);
  ns->set_tx_frames(8);
  ns->set_tx_bytes(800);
  ns->set_queue_errors(3);
  const std::string out = FormatVmDetails(vm);
  EXPECT_THAT(out, ::testing::HasSubstr(
                       "disk0: /img/root.raw serial=root; reads 4 (4096 B), writes 5 (512 B), "
                       "flushes 1, failed 6, queue errors 2\n"));
  EXPECT_THAT(out, ::testing::HasSubstr(
                       "nic0: tap tap0 mac 02:00:5e:00:00:01; rx 7 frames (700 B, 1 dropped), tx "
                       "8 frames (800 B, 0 dropped); queue errors 3\n"));
}

TEST(FormatTest, CpuTable) {
  v1::GetCPUStateResponse response;
  response.set_name("vm1");
  v1::VcpuStatus* boot = response.add_vcpus();
  boot->set_id(0);
  boot->set_mpidr(0x80000000);
  boot->set_state(v1::VCPU_STATE_ONLINE);
  boot->set_boot(true);
  boot->set_acpi_enabled(true);
  boot->set_power(v1::PSCI_POWER_ON);
  boot->set_thread_id(12345);
  boot->set_exits(1234567);
  boot->set_busy_ns(12'345'678'901);
  boot->set_delay_ns(5'000'000);
  v1::VcpuStatus* parked = response.add_vcpus();
  parked->set_id(2);
  parked->set_mpidr(0x80000002);
  parked->set_state(v1::VCPU_STATE_PARKED);
  parked->set_power(v1::PSCI_POWER_OFF);
  EXPECT_EQ(FormatCpuTable(response),
            "VCPU  MPIDR       STATE   BOOT  ACPI  PSCI  TID    EXITS    BUSY_S  DELAY_S\n"
            "0     0x80000000  ONLINE  yes   yes   on    12345  1234567  12.35   0.01\n"
            "2     0x80000002  PARKED  no    no    off   0      0        0.00    0.00\n");
}

TEST(FormatTest, ConfirmationAndErrors) {
  EXPECT_EQ(FormatConfirmation("vm1", "RUNNING"), "vm1: RUNNING\n");
  EXPECT_EQ(FormatError(grpc::StatusCode::NOT_FOUND, "no VM named x"),
            "vmmctl: NOT_FOUND: no VM named x\n");
}

TEST(FormatTest, EveryGrpcCodeName) {
  const std::pair<grpc::StatusCode, const char*> kNames[] = {
      {grpc::StatusCode::OK, "OK"},
      {grpc::StatusCode::CANCELLED, "CANCELLED"},
      {grpc::StatusCode::UNKNOWN, "UNKNOWN"},
      {grpc::StatusCode::INVALID_ARGUMENT, "INVALID_ARGUMENT"},
      {grpc::StatusCode::DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED"},
      {grpc::StatusCode::NOT_FOUND, "NOT_FOUND"},
      {grpc::StatusCode::ALREADY_EXISTS, "ALREADY_EXISTS"},
      {grpc::StatusCode::PERMISSION_DENIED, "PERMISSION_DENIED"},
      {grpc::StatusCode::RESOURCE_EXHAUSTED, "RESOURCE_EXHAUSTED"},
      {grpc::StatusCode::FAILED_PRECONDITION, "FAILED_PRECONDITION"},
      {grpc::StatusCode::ABORTED, "ABORTED"},
      {grpc::StatusCode::OUT_OF_RANGE, "OUT_OF_RANGE"},
      {grpc::StatusCode::UNIMPLEMENTED, "UNIMPLEMENTED"},
      {grpc::StatusCode::INTERNAL, "INTERNAL"},
      {grpc::StatusCode::UNAVAILABLE, "UNAVAILABLE"},
      {grpc::StatusCode::DATA_LOSS, "DATA_LOSS"},
      {grpc::StatusCode::UNAUTHENTICATED, "UNAUTHENTICATED"},
  };
  for (const auto& [code, name] : kNames) {
    EXPECT_EQ(GrpcCodeName(code), name);
    // Same spelling as Abseil's canonical names.
    EXPECT_EQ(GrpcCodeName(code), absl::StatusCodeToString(static_cast<absl::StatusCode>(code)));
  }
  EXPECT_EQ(GrpcCodeName(static_cast<grpc::StatusCode>(42)), "CODE_42");
}

TEST(FormatTest, JsonKeepsProtoFieldNamesAndPrintsDefaults) {
  v1::GetCPUStateResponse response;
  response.set_name("vm1");
  v1::VcpuStatus* vcpu = response.add_vcpus();
  vcpu->set_id(1);
  vcpu->set_state(v1::VCPU_STATE_PARKED);
  absl::StatusOr<std::string> json = FormatJson(response);
  ASSERT_TRUE(json.ok());
  EXPECT_THAT(*json, ::testing::HasSubstr("\"acpi_enabled\": false"));
  EXPECT_THAT(*json, ::testing::HasSubstr("\"state\": \"VCPU_STATE_PARKED\""));
  EXPECT_THAT(*json, ::testing::HasSubstr("\"hypercall_exits\": \"0\""));  // 64-bit: string
  EXPECT_EQ(json->back(), '\n');
}

}  // namespace
}  // namespace vmmd::vmmctl
