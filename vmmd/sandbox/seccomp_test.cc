// The filters, each in a child process (gtest death tests fork): what they must allow goes
// through, a deliberate forbidden system call kills the process with SIGSYS (enforce) or is
// let through (log).
#include "vmmd/sandbox/seccomp.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <thread>

#include "core/common/event_loop.h"
#include "core/common/thread.h"
#include "core/common/thread_sandbox.h"
#include "core/kvm/vcpu_thread_ioctls.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace vmmd::sandbox {
namespace {

using ::vmmd::testing::IsOk;
using ::vmmd::testing::StatusIs;

// Death tests fork from a multi-threaded gtest runner; "threadsafe" re-executes the test binary
// so the child starts clean.
class SeccompTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

[[noreturn]] void Exit(int code) { _exit(code); }

// ASan's own thread and allocator bookkeeping makes calls vmmd does not (pipe2 to probe memory):
// under the sanitizers the allow-list test runs only the KVM and file calls.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

TEST_F(SeccompTest, ModesParse) {
  EXPECT_EQ(*ParseSeccompMode("enforce"), SeccompMode::kEnforce);
  EXPECT_EQ(*ParseSeccompMode("log"), SeccompMode::kLog);
  EXPECT_EQ(*ParseSeccompMode("off"), SeccompMode::kOff);
  EXPECT_THAT(ParseSeccompMode("strict"), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(SeccompTest, TheProcessFilterKillsOnExecve) {
  EXPECT_EXIT(([] {
                if (!InstallProcessFilter(SeccompMode::kEnforce, false).ok()) Exit(3);
                char* const argv[] = {const_cast<char*>("/bin/true"), nullptr};
                execve("/bin/true", argv, environ);
                Exit(4);
              })(),
              ::testing::KilledBySignal(SIGSYS), "");
}

TEST_F(SeccompTest, TheProcessFilterAllowsThreadsButNotForks) {
  EXPECT_EXIT(([] {
                if (!InstallProcessFilter(SeccompMode::kEnforce, false).ok()) Exit(3);
                std::thread t([] {});
                t.join();
                const int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
                if (fd < 0) Exit(5);
                close(fd);
                Exit(0);
              })(),
              ::testing::ExitedWithCode(0), "");
  EXPECT_EXIT(([] {
                if (!InstallProcessFilter(SeccompMode::kEnforce, false).ok()) Exit(3);
                if (fork() == 0) Exit(0);  // glibc's fork is clone without CLONE_THREAD
                Exit(4);
              })(),
              ::testing::KilledBySignal(SIGSYS), "");
}

// What a vCPU thread does (KVM ioctls, locks, memory, a thread for CPU_ON, the console log)
// passes; a socket — a deliberate forbidden call — kills the process.
TEST_F(SeccompTest, TheVcpuFilterAllowsARunLoopAndKillsOnASocket) {
  EXPECT_EXIT(([] {
                if (!InstallThreadFilter(ThreadRole::kVcpu, SeccompMode::kEnforce).ok()) Exit(3);
                if (ioctl(-1, core::VcpuThreadIoctls().front(), 0) != -1 || errno != EBADF)
                  Exit(4);  // allowed: reaches the fd check
                if (!kSanitized) {
                  void* p = malloc(1 << 20);
                  free(p);
                  std::thread t([] {});
                  t.join();
                }
                const int fd =
                    openat(AT_FDCWD, "/proc/self/stat", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0) Exit(5);
                close(fd);
                Exit(0);
              })(),
              ::testing::ExitedWithCode(0), "");
  EXPECT_EXIT(([] {
                if (!InstallThreadFilter(ThreadRole::kVcpu, SeccompMode::kEnforce).ok()) Exit(3);
                socket(AF_INET, SOCK_STREAM, 0);
                Exit(4);
              })(),
              ::testing::KilledBySignal(SIGSYS), "");
  EXPECT_EXIT(([] {
                if (!InstallThreadFilter(ThreadRole::kVcpu, SeccompMode::kEnforce).ok()) Exit(3);
                ioctl(0, TCGETS, nullptr);  // an ioctl that is not one of the vCPU's KVM calls
                Exit(4);
              })(),
              ::testing::KilledBySignal(SIGSYS), "");
}

// A VM's controller may do anything vmmd does but the network.
TEST_F(SeccompTest, TheControllerFilterKillsOnASocketOnly) {
  EXPECT_EXIT(([] {
                if (!InstallThreadFilter(ThreadRole::kController, SeccompMode::kEnforce).ok()) {
                  Exit(3);
                }
                const int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
                if (fd < 0) Exit(5);
                close(fd);
                if (ioctl(-1, core::VcpuThreadIoctls().front(), 0) != -1) Exit(6);
                socket(AF_UNIX, SOCK_STREAM, 0);
                Exit(4);
              })(),
              ::testing::KilledBySignal(SIGSYS), "");
}

// A VM's I/O thread: an event loop over eventfds and disk I/O on fds it was given; it opens
// nothing.
TEST_F(SeccompTest, TheIoFilterServesQueuesAndOpensNothing) {
  EXPECT_EXIT(([] {
                const int disk = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
                absl::StatusOr<std::unique_ptr<EventLoop>> loop = EventLoop::Create();
                absl::StatusOr<EventFd> e = EventFd::Create();
                if (disk < 0 || !loop.ok() || !e.ok()) Exit(2);
                if (!InstallThreadFilter(ThreadRole::kIo, SeccompMode::kEnforce).ok()) Exit(3);
                e->Signal();
                epoll_event ev{};
                if (epoll_wait(-1, &ev, 1, 0) != -1 || errno != EBADF) Exit(4);
                if (e->Drain() != 1) Exit(5);
                char buf[16];
                iovec iov{buf, sizeof(buf)};
                if (preadv(disk, &iov, 1, 0) <= 0 || pread(disk, buf, 1, 0) != 1) Exit(6);
                if (fdatasync(disk) != 0 && errno != EINVAL) Exit(7);
                if (!kSanitized) {
                  void* p = malloc(1 << 20);
                  free(p);
                }
                Exit(0);
              })(),
              ::testing::ExitedWithCode(0), "");
  EXPECT_EXIT(([] {
                if (!InstallThreadFilter(ThreadRole::kIo, SeccompMode::kEnforce).ok()) Exit(3);
                openat(AT_FDCWD, "/proc/self/stat", O_RDONLY | O_CLOEXEC);
                Exit(4);
              })(),
              ::testing::KilledBySignal(SIGSYS), "");
  EXPECT_EXIT(([] {
                if (!InstallThreadFilter(ThreadRole::kIo, SeccompMode::kEnforce).ok()) Exit(3);
                socket(AF_UNIX, SOCK_STREAM, 0);
                Exit(4);
              })(),
              ::testing::KilledBySignal(SIGSYS), "");
  EXPECT_EXIT(([] {
                if (!InstallThreadFilter(ThreadRole::kIo, SeccompMode::kEnforce).ok()) Exit(3);
                ioctl(0, TCGETS, nullptr);
                Exit(4);
              })(),
              ::testing::KilledBySignal(SIGSYS), "");
}

TEST_F(SeccompTest, LogModeLetsTheCallThrough) {
  EXPECT_EXIT(([] {
                if (!InstallThreadFilter(ThreadRole::kVcpu, SeccompMode::kLog).ok()) Exit(3);
                const int s = socket(AF_UNIX, SOCK_STREAM, 0);
                Exit(s >= 0 ? 0 : 5);
              })(),
              ::testing::ExitedWithCode(0), "");
}

// ConfineProcess: every thread gets the process filter, and a thread entering a role gets that
// role's filter — but the others do not.
TEST_F(SeccompTest, ConfineProcessConfinesVcpuThreadsOnly) {
  EXPECT_EXIT(([] {
                if (!ConfineProcess(SeccompMode::kEnforce).ok()) Exit(3);
                std::thread other([] {
                  const int s = socket(AF_UNIX, SOCK_STREAM, 0);  // not a vCPU: allowed
                  if (s < 0) Exit(5);
                  close(s);
                });
                other.join();
                absl::StatusOr<std::thread> vcpu = StartThread("vCPU", [] {
                  if (!EnterThreadSandbox(ThreadRole::kVcpu).ok()) Exit(6);
                  // A thread it starts is in the role already (the filter is inherited).
                  absl::StatusOr<std::thread> child = StartThread("child", [] {
                    if (CurrentThreadRole() != ThreadRole::kVcpu) Exit(7);
                  });
                  if (!child.ok()) Exit(8);
                  child->join();
                  socket(AF_UNIX, SOCK_STREAM, 0);
                  Exit(4);
                });
                if (vcpu.ok()) vcpu->join();
                Exit(9);
              })(),
              ::testing::KilledBySignal(SIGSYS), "");
}

}  // namespace
}  // namespace vmmd::sandbox
