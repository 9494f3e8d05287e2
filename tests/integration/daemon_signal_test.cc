// RunDaemon and a real process-directed SIGTERM: server down, every VM stopped, clean return.
// Its own binary: every thread of the process must block SIGTERM, which RunDaemon's contract
// requires ("call it before the process starts other threads").
#include <signal.h>
#include <unistd.h>

#include <future>
#include <string>
#include <thread>

#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/integration/daemon_fixture.h"
#include "tests/support/status_matchers.h"
#include "vmmd/endpoint/unix_socket.h"

namespace vmmd::testing {
namespace {

TEST(RunDaemonTest, SigtermShutsDownAndStopsEveryVm) {
  // As main() would be: nothing else runs yet. Block in this thread too, so that the signal
  // can only be taken by RunDaemon's sigwait.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &signals, nullptr), 0);

  TempDir tmp;
  const std::string kernel = WriteFakeKernel(tmp.path());
  FakeHypervisor hv;
  DaemonOptions options;
  options.socket_path = tmp.path() + "/vmmd.sock";
  options.shutdown_grace = absl::Seconds(2);
  options.image_dirs = {tmp.path()};
  std::promise<absl::Status> result;
  std::thread daemon([&] { result.set_value(RunDaemon(&hv, options)); });

  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (endpoint::ProbeUnixSocket(options.socket_path) != 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  auto stub = v1::Vmm::NewStub(
      grpc::CreateChannel("unix:" + options.socket_path, grpc::InsecureChannelCredentials()));
  {
    grpc::ClientContext context;
    v1::CreateVmRequest request;
    v1::VmSpec* spec = request.mutable_spec();
    spec->set_name("vm1");
    spec->set_kernel_path(kernel);
    spec->set_memory_mib(128);
    spec->set_boot_vcpus(1);
    v1::Vm vm;
    ASSERT_TRUE(stub->CreateVm(&context, request, &vm).ok());
  }
  {
    grpc::ClientContext context;
    v1::StartVmRequest request;
    request.set_name("vm1");
    v1::Vm vm;
    ASSERT_TRUE(stub->StartVm(&context, request, &vm).ok());
  }
  ASSERT_EQ(hv.vms().size(), 1u);

  ASSERT_EQ(::kill(::getpid(), SIGTERM), 0);
  std::future<absl::Status> done = result.get_future();
  ASSERT_EQ(done.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  daemon.join();
  EXPECT_THAT(done.get(), IsOk());
  EXPECT_TRUE(hv.vms()[0]->destroyed());
  EXPECT_NE(::access(options.socket_path.c_str(), F_OK), 0);
}

}  // namespace
}  // namespace vmmd::testing
