// The service's own logic, without a network: request shape checks, status mapping and the
// conversion of the manager's answers. (The same service over a socket: tests/integration.)
#include "vmmd/api/grpc_service.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_hypervisor.h"
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
  vmm::VmManager vms_{&hv_};
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
  ASSERT_TRUE(service_.StopVm(&context_, &stop, &vm).ok());
  EXPECT_EQ(vm.state(), v1::VM_STATE_STOPPED);

  v1::DeleteVmRequest del;
  del.set_name("vm1");
  v1::DeleteVmResponse deleted;
  ASSERT_TRUE(service_.DeleteVm(&context_, &del, &deleted).ok());
  EXPECT_EQ(service_.DeleteVm(&context_, &del, &deleted).error_code(), grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace vmmd::api
