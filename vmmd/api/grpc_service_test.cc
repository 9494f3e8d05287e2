// The service's own logic, without a network: request shape checks, status mapping and the
// conversion of the manager's answers. (The same service over a socket: tests/integration.)
#include "vmmd/api/grpc_service.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_hypervisor.h"
#include "tests/support/image_dirs.h"
#include "tests/support/status_matchers.h"
#include "vmmd/vmm/vm_manager.h"

namespace vmmd::api {
namespace {

using ::vmmd::testing::IsOk;
using ::vmmd::testing::StatusIs;

TEST(ValidateTest, Names) {
  EXPECT_THAT(ValidateVmName("", "name"),
              StatusIs(absl::StatusCode::kInvalidArgument, "name is required"));
  EXPECT_THAT(ValidateVmName("vm1", "name"), IsOk());
  EXPECT_THAT(ValidateCreateVmRequest(v1::CreateVmRequest()),
              StatusIs(absl::StatusCode::kInvalidArgument, "spec is required"));
  v1::CreateVmRequest request;
  request.mutable_spec();
  EXPECT_THAT(ValidateCreateVmRequest(request), IsOk());  // content: the manager's job
}

// StopVm: force stops at once; otherwise the guest gets timeout (default 30 s, at most
// 10 min) after the ACPI power button.
TEST(ValidateTest, StopOptions) {
  auto request = [](bool force, std::optional<std::pair<int64_t, int32_t>> timeout) {
    v1::StopVmRequest r;
    r.set_name("vm1");
    r.set_force(force);
    if (timeout.has_value()) {
      r.mutable_timeout()->set_seconds(timeout->first);
      r.mutable_timeout()->set_nanos(timeout->second);
    }
    return r;
  };
  auto grace = [](const v1::StopVmRequest& r) {
    absl::StatusOr<vmm::StopOptions> o = StopOptionsFromRequest(r);
    return o.ok() ? o->grace : absl::InfiniteDuration();
  };
  EXPECT_EQ(grace(request(false, std::nullopt)), absl::Seconds(30));
  EXPECT_EQ(grace(request(true, std::nullopt)), absl::ZeroDuration());
  EXPECT_EQ(grace(request(false, {{5, 500'000'000}})), absl::Milliseconds(5500));
  EXPECT_EQ(grace(request(false, {{600, 0}})), absl::Minutes(10));
  EXPECT_EQ(grace(request(false, {{0, 1}})), absl::Nanoseconds(1));
  const std::vector<std::pair<int64_t, int32_t>> bad_timeouts = {
      {0, 0}, {-1, 0}, {0, -1}, {600, 1}, {601, 0}, {1, 1'000'000'000}};
  for (const std::pair<int64_t, int32_t>& bad : bad_timeouts) {
    EXPECT_THAT(StopOptionsFromRequest(request(false, bad)),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         ::testing::HasSubstr("must be more than 0 and at most 10 minutes")))
        << bad.first << "s " << bad.second << "ns";
  }
  EXPECT_THAT(StopOptionsFromRequest(request(true, {{5, 0}})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::HasSubstr("timeout is for a graceful stop")));
}

class VmmServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vmmd-svc-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    kernel_ = dir_ + "/Image";
    std::string image(8192, '\0');
    image[16] = 0;
    image[18] = 0x20;  // image_size 2 MiB
    image[24] = 0x2;   // LE, 4K pages
    image.replace(0x38, 4, "ARM\x64", 4);
    std::ofstream(kernel_, std::ios::binary) << image;
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  v1::CreateVmRequest CreateRequest(const std::string& name) const {
    v1::CreateVmRequest request;
    v1::VmSpec* spec = request.mutable_spec();
    spec->set_name(name);
    spec->set_kernel_path(kernel_);
    spec->set_memory_mib(128);
    spec->set_boot_vcpus(1);
    spec->set_max_vcpus(3);
    return request;
  }

  std::string dir_;
  std::string kernel_;
  testing::FakeHypervisor hv_;
  vmm::VmManager vms_{&hv_, testing::WithImageDirs<vmm::VmManagerOptions>({"/tmp"})};
  VmmService service_{&vms_};
  grpc::ServerContext context_;
};

TEST_F(VmmServiceTest, CreateReturnsTheRecordedVm) {
  v1::Vm vm;
  const v1::CreateVmRequest create = CreateRequest("vm1");
  ASSERT_TRUE(service_.CreateVm(&context_, &create, &vm).ok());
  EXPECT_EQ(vm.spec().name(), "vm1");
  EXPECT_EQ(vm.spec().max_vcpus(), 3u);
  EXPECT_EQ(vm.state(), v1::VM_STATE_CREATED);
  EXPECT_TRUE(vm.has_created_at());
}

TEST_F(VmmServiceTest, MaxVcpusDefaultsToBootVcpus) {
  v1::CreateVmRequest request = CreateRequest("vm1");
  request.mutable_spec()->set_boot_vcpus(2);
  request.mutable_spec()->clear_max_vcpus();
  v1::Vm vm;
  ASSERT_TRUE(service_.CreateVm(&context_, &request, &vm).ok());
  EXPECT_EQ(vm.spec().max_vcpus(), 2u);
  EXPECT_EQ(vm.spec().start_vcpus(), 2u);  // defaults to boot_vcpus too
}

TEST_F(VmmServiceTest, ErrorsKeepTheManagersCodeAndMessage) {
  v1::Vm vm;
  v1::CreateVmRequest request = CreateRequest("vm1");
  ASSERT_TRUE(service_.CreateVm(&context_, &request, &vm).ok());
  grpc::Status status = service_.CreateVm(&context_, &request, &vm);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(status.error_message(), "a VM named \"vm1\" already exists");

  v1::GetVmRequest get;
  get.set_name("nope");
  status = service_.GetVm(&context_, &get, &vm);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "no VM named \"nope\"");

  get.clear_name();
  status = service_.GetVm(&context_, &get, &vm);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "name is required");
}

TEST_F(VmmServiceTest, StartStopDeleteAndCpus) {
  v1::Vm vm;
  const v1::CreateVmRequest create = CreateRequest("vm1");
  ASSERT_TRUE(service_.CreateVm(&context_, &create, &vm).ok());
  v1::StartVmRequest start;
  start.set_name("vm1");
  ASSERT_TRUE(service_.StartVm(&context_, &start, &vm).ok());
  EXPECT_EQ(vm.state(), v1::VM_STATE_RUNNING);

  v1::GetCPUStateRequest cpus_request;
  cpus_request.set_name("vm1");
  v1::GetCPUStateResponse cpus;
  ASSERT_TRUE(service_.GetCPUState(&context_, &cpus_request, &cpus).ok());
  EXPECT_EQ(cpus.name(), "vm1");
  ASSERT_EQ(cpus.vcpus_size(), 3);
  EXPECT_EQ(cpus.vcpus(0).state(), v1::VCPU_STATE_ONLINE);
  EXPECT_EQ(cpus.vcpus(2).state(), v1::VCPU_STATE_PARKED);
  EXPECT_EQ(cpus.vcpus(2).mpidr(), testing::FakeMpidr(2));

  v1::ListVmsResponse list;
  ASSERT_TRUE(service_.ListVms(&context_, nullptr, &list).ok());
  ASSERT_EQ(list.vms_size(), 1);
  EXPECT_EQ(list.vms(0).state(), v1::VM_STATE_RUNNING);

  v1::StopVmRequest stop;
  stop.set_name("vm1");
  stop.mutable_timeout()->set_seconds(601);  // refused before anything stops
  grpc::Status refused = service_.StopVm(&context_, &stop, &vm);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(refused.error_message(), ::testing::HasSubstr("timeout (601s 0ns) must be"));
  stop.clear_timeout();
  ASSERT_TRUE(service_.StopVm(&context_, &stop, &vm).ok());
  EXPECT_EQ(vm.state(), v1::VM_STATE_STOPPED);

  v1::DeleteVmRequest del;
  del.set_name("vm1");
  v1::DeleteVmResponse deleted;
  ASSERT_TRUE(service_.DeleteVm(&context_, &del, &deleted).ok());
  EXPECT_EQ(service_.DeleteVm(&context_, &del, &deleted).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST(LoggedStatusTest, BoundsAndEscapesTheMessage) {
  EXPECT_EQ(LoggedStatus(absl::NotFoundError("no VM named \"a\"")),
            "NOT_FOUND: no VM named \\\"a\\\"");
  const std::string huge = "kernel_path " + std::string(3 << 20, 'a');
  const std::string line = LoggedStatus(absl::InvalidArgumentError(huge));
  EXPECT_EQ(line, "INVALID_ARGUMENT: " + huge.substr(0, kMaxLoggedMessage) + "...(3145740 bytes)");
  EXPECT_EQ(LoggedStatus(absl::InternalError(std::string("a\nb\0", 4))), "INTERNAL: a\\nb\\x00");
}

TEST(ValidateTest, ScaleWaitMustBeAScaleWait) {
  for (int wait : {0, 1, 2, 3}) EXPECT_THAT(ValidateScaleWait(wait), IsOk());
  EXPECT_THAT(ValidateScaleWait(99),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "wait 99 is not a ScaleWait: use SCALE_WAIT_NONE (1, or 0 = unspecified), "
                       "SCALE_WAIT_ENABLED (2) or SCALE_WAIT_ONLINE (3)"));
  EXPECT_THAT(ValidateScaleWait(-1), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(CreateCapsTest, VmCountAndMemoryBudget) {
  std::vector<vmm::VmInfo> vms(2);
  vms[0].spec.memory_mib = 1024;
  vms[1].spec.memory_mib = 2048;
  EXPECT_THAT(CheckCreateCaps({}, vms, ~uint64_t{0}), IsOk());  // no caps
  ServiceOptions options;
  options.max_vms = 2;
  EXPECT_THAT(CheckCreateCaps(options, vms, 1),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       "this vmmd holds 2 VMs, its cap (vmmd --max_vms=2); delete one first"));
  options.max_vms = 0;
  options.memory_budget_mib = 4096;
  EXPECT_THAT(CheckCreateCaps(options, vms, 1024), IsOk());
  EXPECT_THAT(CheckCreateCaps(options, vms, 1025),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       "guest memory budget: the VM asks 1025 MiB but only 1024 MiB of 4096 MiB "
                       "are free (3072 MiB used by 2 VMs; budget vmmd --memory_budget_mib=4096 x "
                       "--memory_overcommit=1)"));
  options.memory_overcommit = 2.0;
  EXPECT_THAT(CheckCreateCaps(options, vms, 5120), IsOk());
  EXPECT_THAT(CheckCreateCaps(options, vms, ~uint64_t{0}),
              StatusIs(absl::StatusCode::kResourceExhausted));
  vms[1].spec.memory_mib = ~uint64_t{0};  // sums saturate
  EXPECT_THAT(CheckCreateCaps(options, vms, 1),
              StatusIs(absl::StatusCode::kResourceExhausted, ::testing::HasSubstr("only 0 MiB")));
}

}  // namespace
}  // namespace vmmd::api
