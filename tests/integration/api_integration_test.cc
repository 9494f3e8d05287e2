// The vmmd.v1 API over a real Unix socket: lifecycle, exact error codes, hostile input, the
// socket's permissions and the health service.
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/integration/daemon_fixture.h"

namespace vmmd::testing {
namespace {

using ::testing::HasSubstr;

// An RPC's status and response.
template <typename Response>
struct Result {
  grpc::Status status;
  Response response;
};

class ApiTest : public DaemonTest {
 protected:
  template <typename Response, typename Request, typename Method>
  Result<Response> Call(Method method, const Request& request) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    Result<Response> result;
    result.status = ((*stub_).*method)(&context, request, &result.response);
    return result;
  }
  template <typename Request>
  static Request Named(const std::string& name) {
    Request request;
    request.set_name(name);
    return request;
  }
  Result<v1::Vm> CreateVm(const v1::VmSpec& spec) {
    v1::CreateVmRequest request;
    *request.mutable_spec() = spec;
    return Call<v1::Vm>(&v1::Vmm::Stub::CreateVm, request);
  }
  Result<v1::Vm> GetVm(const std::string& name) {
    return Call<v1::Vm>(&v1::Vmm::Stub::GetVm, Named<v1::GetVmRequest>(name));
  }
  Result<v1::Vm> StartVm(const std::string& name) {
    return Call<v1::Vm>(&v1::Vmm::Stub::StartVm, Named<v1::StartVmRequest>(name));
  }
  Result<v1::Vm> StopVm(const std::string& name) {
    return Call<v1::Vm>(&v1::Vmm::Stub::StopVm, Named<v1::StopVmRequest>(name));
  }
  Result<v1::DeleteVmResponse> DeleteVm(const std::string& name) {
    return Call<v1::DeleteVmResponse>(&v1::Vmm::Stub::DeleteVm, Named<v1::DeleteVmRequest>(name));
  }
  Result<v1::GetCPUStateResponse> GetCpus(const std::string& name) {
    return Call<v1::GetCPUStateResponse>(&v1::Vmm::Stub::GetCPUState,
                                         Named<v1::GetCPUStateRequest>(name));
  }
  Result<v1::ListVmsResponse> ListVms() {
    return Call<v1::ListVmsResponse>(&v1::Vmm::Stub::ListVms, v1::ListVmsRequest());
  }
};

TEST_F(ApiTest, Lifecycle) {
  Result<v1::Vm> created = CreateVm(Spec("vm1", 2, 4));
  ASSERT_TRUE(created.status.ok()) << created.status.error_message();
  EXPECT_EQ(created.response.spec().name(), "vm1");
  EXPECT_EQ(created.response.spec().kernel_path(), kernel_);
  EXPECT_EQ(created.response.spec().initrd_path(), initrd_);
  EXPECT_EQ(created.response.spec().memory_mib(), 128u);
  EXPECT_EQ(created.response.spec().boot_vcpus(), 2u);
  EXPECT_EQ(created.response.spec().max_vcpus(), 4u);
  EXPECT_EQ(created.response.state(), v1::VM_STATE_CREATED);
  EXPECT_TRUE(created.response.has_created_at());
  EXPECT_FALSE(created.response.has_started_at());
  EXPECT_FALSE(created.response.has_stopped_at());

  Result<v1::GetCPUStateResponse> paper = GetCpus("vm1");
  ASSERT_TRUE(paper.status.ok());
  ASSERT_EQ(paper.response.vcpus_size(), 4);
  EXPECT_EQ(paper.response.vcpus(0).state(), v1::VCPU_STATE_OFFLINE);  // not started yet
  EXPECT_EQ(paper.response.vcpus(3).state(), v1::VCPU_STATE_PARKED);

  Result<v1::Vm> started = StartVm("vm1");
  ASSERT_TRUE(started.status.ok()) << started.status.error_message();
  EXPECT_EQ(started.response.state(), v1::VM_STATE_RUNNING);
  EXPECT_TRUE(started.response.has_started_at());

  ASSERT_TRUE(WaitForVcpuThread("vm1", 0));
  Result<v1::GetCPUStateResponse> cpus = GetCpus("vm1");
  ASSERT_TRUE(cpus.status.ok());
  EXPECT_EQ(cpus.response.name(), "vm1");
  ASSERT_EQ(cpus.response.vcpus_size(), 4);
  for (int i = 0; i < 4; ++i) {
    const v1::VcpuStatus& vcpu = cpus.response.vcpus(i);
    EXPECT_EQ(vcpu.id(), static_cast<uint32_t>(i));
    EXPECT_EQ(vcpu.mpidr(), FakeMpidr(i));
    EXPECT_EQ(vcpu.boot(), i < 2);
    EXPECT_EQ(vcpu.acpi_enabled(), i < 2);
  }
  EXPECT_EQ(cpus.response.vcpus(0).state(), v1::VCPU_STATE_ONLINE);
  EXPECT_EQ(cpus.response.vcpus(0).power(), v1::PSCI_POWER_ON);
  EXPECT_GT(cpus.response.vcpus(0).thread_id(), 0);
  EXPECT_EQ(cpus.response.vcpus(1).state(), v1::VCPU_STATE_OFFLINE);  // until its CPU_ON
  EXPECT_EQ(cpus.response.vcpus(2).state(), v1::VCPU_STATE_PARKED);
  EXPECT_EQ(cpus.response.vcpus(3).state(), v1::VCPU_STATE_PARKED);
  EXPECT_EQ(cpus.response.vcpus(3).power(), v1::PSCI_POWER_OFF);
  EXPECT_EQ(cpus.response.vcpus(3).thread_id(), 0);

  ASSERT_TRUE(Create("vm0", 1, 1).ok());
  Result<v1::ListVmsResponse> list = ListVms();
  ASSERT_TRUE(list.status.ok());
  ASSERT_EQ(list.response.vms_size(), 2);
  EXPECT_EQ(list.response.vms(0).spec().name(), "vm0");  // sorted by name
  EXPECT_EQ(list.response.vms(1).spec().name(), "vm1");
  EXPECT_EQ(list.response.vms(1).state(), v1::VM_STATE_RUNNING);
  EXPECT_EQ(list.response.vms(1).online_vcpus(), 1u);

  Result<v1::Vm> stopped = StopVm("vm1");
  ASSERT_TRUE(stopped.status.ok());
  EXPECT_EQ(stopped.response.state(), v1::VM_STATE_STOPPED);
  EXPECT_TRUE(stopped.response.has_stopped_at());
  ASSERT_EQ(hv_.vms().size(), 1u);
  EXPECT_TRUE(hv_.vms()[0]->destroyed());

  EXPECT_TRUE(DeleteVm("vm1").status.ok());
  EXPECT_TRUE(DeleteVm("vm0").status.ok());
  EXPECT_EQ(ListVms().response.vms_size(), 0);
}

TEST_F(ApiTest, ExactCodesForBadRequests) {
  // Request shape, checked by the service.
  Result<v1::Vm> no_spec = Call<v1::Vm>(&v1::Vmm::Stub::CreateVm, v1::CreateVmRequest());
  EXPECT_EQ(no_spec.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(no_spec.status.error_message(), "spec is required");
  for (Result<v1::Vm> r : {GetVm(""), StartVm(""), StopVm("")}) {
    EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(r.status.error_message(), "name is required");
  }
  EXPECT_EQ(DeleteVm("").status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(GetCpus("").status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  // Spec content, checked by core.
  v1::VmSpec spec = Spec("");
  Result<v1::Vm> empty_name = CreateVm(spec);
  EXPECT_EQ(empty_name.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(empty_name.status.error_message(), "name is required");
  spec = Spec("Bad_Name");
  EXPECT_EQ(CreateVm(spec).status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  spec = Spec("rel");
  spec.set_kernel_path("Image");
  EXPECT_EQ(CreateVm(spec).status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  spec = Spec("missing");
  spec.set_kernel_path(tmp_.path() + "/no-such-Image");
  EXPECT_EQ(CreateVm(spec).status.error_code(), grpc::StatusCode::NOT_FOUND);
  spec = Spec("counts", 3, 2);
  EXPECT_EQ(CreateVm(spec).status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  spec = Spec("fw");
  spec.set_firmware_path(tmp_.path() + "/no-such-QEMU_EFI.fd");
  EXPECT_EQ(CreateVm(spec).status.error_code(), grpc::StatusCode::NOT_FOUND);
  // Files: only under the image directories (--image_dir), never through a symlink.
  spec = Spec("outside");
  spec.set_kernel_path("/etc/hostname");
  Result<v1::Vm> outside = CreateVm(spec);
  EXPECT_EQ(outside.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(outside.status.error_message(),
              HasSubstr("vmmd opens only files under " + tmp_.path() + " (its --image_dir flag)"));
  spec = Spec("dotdot");
  spec.set_kernel_path(tmp_.path() + "/../etc/hostname");
  EXPECT_EQ(CreateVm(spec).status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  ASSERT_EQ(::symlink("/etc/hostname", (tmp_.path() + "/escape").c_str()), 0);
  spec = Spec("symlink");
  spec.set_initrd_path(tmp_.path() + "/escape");
  Result<v1::Vm> link = CreateVm(spec);
  EXPECT_EQ(link.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(link.status.error_message(), HasSubstr("symbolic link"));

  // Names.
  ASSERT_TRUE(Create("vm1").ok());
  Result<v1::Vm> duplicate = CreateVm(Spec("vm1"));
  EXPECT_EQ(duplicate.status.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_THAT(duplicate.status.error_message(), HasSubstr("\"vm1\""));
  for (grpc::StatusCode code :
       {GetVm("nope").status.error_code(), StartVm("nope").status.error_code(),
        StopVm("nope").status.error_code(), DeleteVm("nope").status.error_code(),
        GetCpus("nope").status.error_code()}) {
    EXPECT_EQ(code, grpc::StatusCode::NOT_FOUND);
  }
  EXPECT_EQ(GetVm("nope").status.error_message(), "no VM named \"nope\"");

  // State.
  EXPECT_EQ(StopVm("vm1").status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  ASSERT_TRUE(StartVm("vm1").status.ok());
  EXPECT_EQ(StartVm("vm1").status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);

  // Nothing bad got in.
  Result<v1::ListVmsResponse> list = ListVms();
  ASSERT_EQ(list.response.vms_size(), 1);
  EXPECT_EQ(list.response.vms(0).spec().name(), "vm1");
}

TEST_F(ApiTest, HostileInputDoesNotHurtTheDaemon) {
  // Just under vmmd's 1 MiB request cap; beyond it gRPC refuses the message.
  const std::string huge((1 << 20) - 4096, 'a');
  EXPECT_EQ(GetVm(std::string(1 << 20, 'a')).status.error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  const std::string nul("a\0b", 3);
  EXPECT_EQ(GetVm(huge).status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(GetVm(nul).status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(CreateVm(Spec(huge)).status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(CreateVm(Spec(nul)).status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::VmSpec spec = Spec("x");
  spec.set_kernel_path(kernel_ + nul);
  EXPECT_EQ(CreateVm(spec).status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // A huge path is refused, and echoed bounded.
  spec = Spec("x");
  spec.set_kernel_path("/" + std::string(512 << 10, 'a'));
  Result<v1::Vm> long_path = CreateVm(spec);
  EXPECT_EQ(long_path.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(long_path.status.error_message(),
              HasSubstr("...(524289 bytes)\" is 524289 bytes; a path has at most 4095"));
  EXPECT_LT(long_path.status.error_message().size(), 600u);
  spec = Spec("x");
  spec.set_cmdline(huge);
  EXPECT_EQ(CreateVm(spec).status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  spec = Spec("x", 0xffffffffu, 0xffffffffu);
  spec.set_memory_mib(~uint64_t{0});
  EXPECT_EQ(CreateVm(spec).status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  // Bytes that are not a CreateVmRequest at all.
  auto channel = grpc::CreateChannel("unix:" + socket_, grpc::InsecureChannelCredentials());
  grpc::GenericStub generic(channel);
  const char garbage[] = "\xff\xff\xff\xff\x0f garbage";
  grpc::Slice slice(garbage, sizeof(garbage));
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  grpc::ClientContext context;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  grpc::Status status;
  generic.UnaryCall(&context, "/vmmd.v1.Vmm/CreateVm", grpc::StubOptions(), &request, &response,
                    [&](grpc::Status s) {
                      std::lock_guard<std::mutex> lock(mu);
                      status = std::move(s);
                      done = true;
                      cv.notify_all();
                    });
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(20), [&] { return done; }));
  }
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.error_code(), grpc::StatusCode::UNAVAILABLE);  // answered, not crashed

  // Still serving, with nothing left behind.
  Result<v1::ListVmsResponse> list = ListVms();
  ASSERT_TRUE(list.status.ok());
  EXPECT_EQ(list.response.vms_size(), 0);
}

TEST_F(ApiTest, ConcurrentClientsOnDistinctVms) {
  constexpr int kClients = 16;
  std::vector<std::thread> clients;
  std::atomic<int> failures{0};
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([this, i, &failures] {
      auto stub = NewStub();
      const std::string name = "vm" + std::to_string(i);
      auto check = [&](const grpc::Status& status) {
        if (!status.ok()) ++failures;
      };
      {
        grpc::ClientContext context;
        v1::CreateVmRequest request;
        *request.mutable_spec() = Spec(name, 1, 2);
        v1::Vm vm;
        check(stub->CreateVm(&context, request, &vm));
      }
      {
        grpc::ClientContext context;
        v1::Vm vm;
        check(stub->StartVm(&context, Named<v1::StartVmRequest>(name), &vm));
      }
      {
        grpc::ClientContext context;
        v1::GetCPUStateResponse cpus;
        check(stub->GetCPUState(&context, Named<v1::GetCPUStateRequest>(name), &cpus));
      }
      {
        grpc::ClientContext context;
        v1::ListVmsResponse list;
        check(stub->ListVms(&context, v1::ListVmsRequest(), &list));
      }
      {
        grpc::ClientContext context;
        v1::DeleteVmResponse deleted;
        check(stub->DeleteVm(&context, Named<v1::DeleteVmRequest>(name), &deleted));
      }
    });
  }
  for (std::thread& client : clients) client.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(ListVms().response.vms_size(), 0);
  EXPECT_EQ(hv_.vms().size(), static_cast<size_t>(kClients));
}

TEST_F(ApiTest, SocketIs0600InA0755DirectoryTheDaemonCreated) {
  struct stat st {};
  ASSERT_EQ(::stat(socket_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  ASSERT_EQ(::stat((tmp_.path() + "/run").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
}

TEST_F(ApiTest, HealthServiceAnswersServing) {
  auto health = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel("unix:" + socket_, grpc::InsecureChannelCredentials()));
  for (const char* service : {"", "vmmd.v1.Vmm"}) {
    grpc::ClientContext context;
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    const grpc::Status status = health->Check(&context, request, &response);
    ASSERT_TRUE(status.ok()) << service << ": " << status.error_message();
    EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING) << service;
  }
  grpc::ClientContext context;
  grpc::health::v1::HealthCheckRequest request;
  request.set_service("no.such.Service");
  grpc::health::v1::HealthCheckResponse response;
  EXPECT_EQ(health->Check(&context, request, &response).error_code(), grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace vmmd::testing
