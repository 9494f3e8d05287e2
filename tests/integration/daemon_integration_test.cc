// The daemon's socket lifecycle: single instance, stale sockets, shutdown.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/integration/daemon_fixture.h"
#include "tests/support/status_matchers.h"
#include "vmmd/endpoint/unix_socket.h"

namespace vmmd::testing {
namespace {

using ::testing::HasSubstr;

DaemonOptions At(const std::string& socket) {
  DaemonOptions options;
  options.socket_path = socket;
  options.shutdown_grace = absl::Seconds(2);
  return options;
}

// A socket file at `path`: listening if `listen`, else stale once the fd closes.
ScopedFd BindAt(const std::string& path, bool listen) {
  ScopedFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0) << path;
  if (listen) {
    EXPECT_EQ(::listen(fd.get(), 4), 0);
  }
  return fd;
}

grpc::Status List(v1::Vmm::Stub& stub) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::ListVmsResponse response;
  return stub.ListVms(&context, v1::ListVmsRequest(), &response);
}

using DaemonLifecycleTest = DaemonTest;

TEST_F(DaemonLifecycleTest, SecondDaemonOnTheSameSocketIsRefused) {
  FakeHypervisor other;
  EXPECT_THAT(Daemon::Start(&other, At(socket_)),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("another vmmd")));
  EXPECT_TRUE(List(*stub_).ok());  // the first one is untouched
}

TEST_F(DaemonLifecycleTest, AWriteToAPipeWithoutAReaderIsEpipeNotDeath) {
  // In a fresh process (the death test re-runs this test there, fixture and daemon included).
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        int fds[2];
        if (::pipe(fds) != 0) _exit(2);
        ::close(fds[0]);
        const char byte = 'x';
        const bool epipe = ::write(fds[1], &byte, 1) == -1 && errno == EPIPE;
        _exit(epipe ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST_F(DaemonLifecycleTest, ShutdownStopsEveryVmAndRemovesTheSocket) {
  ASSERT_TRUE(Create("vm1").ok());
  {
    grpc::ClientContext context;
    v1::StartVmRequest request;
    request.set_name("vm1");
    v1::Vm vm;
    ASSERT_TRUE(stub_->StartVm(&context, request, &vm).ok());
  }
  ASSERT_EQ(hv_.vms().size(), 1u);
  daemon_->Shutdown();
  EXPECT_TRUE(hv_.vms()[0]->destroyed());
  EXPECT_NE(::access(socket_.c_str(), F_OK), 0);
  EXPECT_EQ(List(*NewStub()).error_code(), grpc::StatusCode::UNAVAILABLE);
  daemon_->Shutdown();  // idempotent

  // The path is free again.
  FakeHypervisor next;
  absl::StatusOr<std::unique_ptr<Daemon>> again = Daemon::Start(&next, At(socket_));
  ASSERT_THAT(again, IsOk());
  EXPECT_TRUE(List(*NewStub()).ok());
}

class DaemonStartTest : public ::testing::Test {
 protected:
  TempDir tmp_;
  FakeHypervisor hv_;
};

TEST_F(DaemonStartTest, StaleSocketIsReplaced) {
  const std::string path = tmp_.path() + "/vmmd.sock";
  { ScopedFd stale = BindAt(path, /*listen=*/false); }
  absl::StatusOr<std::unique_ptr<Daemon>> daemon = Daemon::Start(&hv_, At(path));
  ASSERT_THAT(daemon, IsOk());
  auto stub =
      v1::Vmm::NewStub(grpc::CreateChannel("unix:" + path, grpc::InsecureChannelCredentials()));
  EXPECT_TRUE(List(*stub).ok());
}

TEST_F(DaemonStartTest, SocketSomeoneElseServesIsRefused) {
  const std::string path = tmp_.path() + "/vmmd.sock";
  ScopedFd live = BindAt(path, /*listen=*/true);
  EXPECT_THAT(
      Daemon::Start(&hv_, At(path)),
      StatusIs(absl::StatusCode::kAlreadyExists, "another vmmd is already serving on " + path));
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0);  // left alone
}

TEST_F(DaemonStartTest, NonSocketIsNotReplaced) {
  const std::string path = tmp_.path() + "/vmmd.sock";
  std::ofstream(path) << "precious";
  EXPECT_THAT(Daemon::Start(&hv_, At(path)),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("is not a socket")));
}

TEST_F(DaemonStartTest, StateDirIsCreatedPrivate) {
  DaemonOptions options = At(tmp_.path() + "/vmmd.sock");
  options.state_dir = tmp_.path() + "/var/lib/vmmd";
  absl::StatusOr<std::unique_ptr<Daemon>> daemon = Daemon::Start(&hv_, options);
  ASSERT_THAT(daemon, IsOk());
  struct stat st {};
  ASSERT_EQ(::stat(options.state_dir.c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  // Missing parents are ordinary directories (a fresh host may lack /var/lib).
  ASSERT_EQ(::stat((tmp_.path() + "/var").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
}

TEST_F(DaemonStartTest, BadSocketPaths) {
  EXPECT_THAT(Daemon::Start(&hv_, At("")), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Daemon::Start(&hv_, At(tmp_.path() + "/" + std::string(120, 's'))),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("too long")));
  std::ofstream(tmp_.path() + "/file") << "x";
  EXPECT_THAT(Daemon::Start(&hv_, At(tmp_.path() + "/file/vmmd.sock")),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not a directory")));
  EXPECT_THAT(Daemon::Start(nullptr, At(tmp_.path() + "/x.sock")),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace vmmd::testing
