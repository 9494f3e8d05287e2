#include "vmmd/endpoint/unix_socket.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace vmmd::endpoint {
namespace {

using ::testing::HasSubstr;
using ::vmmd::testing::IsOk;
using ::vmmd::testing::StatusIs;

class UnixSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vmmd-sock-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  // A bound socket file; listening if `listen`, else stale once closed.
  ScopedFd Bind(const std::string& path, bool listen) {
    ScopedFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    if (listen) {
      EXPECT_EQ(::listen(fd.get(), 4), 0);
    }
    return fd;
  }

  static mode_t ModeOf(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
    return st.st_mode & 07777;
  }

  std::string dir_;
};

TEST_F(UnixSocketTest, ClaimFreePathIsOk) {
  EXPECT_THAT(ClaimSocketPath(dir_ + "/free.sock"), IsOk());
}

TEST_F(UnixSocketTest, StaleSocketIsRemoved) {
  const std::string path = dir_ + "/stale.sock";
  { ScopedFd fd = Bind(path, /*listen=*/false); }
  EXPECT_EQ(ProbeUnixSocket(path), ECONNREFUSED);
  EXPECT_THAT(ClaimSocketPath(path), IsOk());
  EXPECT_NE(::access(path.c_str(), F_OK), 0);
}

TEST_F(UnixSocketTest, LiveSocketIsRefused) {
  const std::string path = dir_ + "/live.sock";
  ScopedFd fd = Bind(path, /*listen=*/true);
  EXPECT_EQ(ProbeUnixSocket(path), 0);
  EXPECT_THAT(ClaimSocketPath(path), StatusIs(absl::StatusCode::kAlreadyExists,
                                              HasSubstr("another vmmd is already serving")));
  EXPECT_EQ(::access(path.c_str(), F_OK), 0);  // untouched
}

TEST_F(UnixSocketTest, RegularFileIsNotReplaced) {
  const std::string path = dir_ + "/file";
  ScopedFd fd(::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
  EXPECT_THAT(ClaimSocketPath(path),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("is not a socket")));
}

TEST_F(UnixSocketTest, TooLongPathIsInvalid) {
  const std::string path = dir_ + "/" + std::string(200, 'a');
  EXPECT_THAT(ClaimSocketPath(path), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(ProbeUnixSocket(path), ENAMETOOLONG);
}

TEST_F(UnixSocketTest, ProbeMissingIsEnoent) {
  EXPECT_EQ(ProbeUnixSocket(dir_ + "/missing.sock"), ENOENT);
}

TEST_F(UnixSocketTest, CreateDirectoriesMakesEachLevel0755) {
  const mode_t old = ::umask(0077);  // mode must not depend on the umask
  EXPECT_THAT(CreateDirectories(dir_ + "/a/b/c", 0755), IsOk());
  ::umask(old);
  EXPECT_EQ(ModeOf(dir_ + "/a"), 0755u);
  EXPECT_EQ(ModeOf(dir_ + "/a/b/c"), 0755u);
  EXPECT_THAT(CreateDirectories(dir_ + "/a/b/c", 0755), IsOk());  // idempotent
}

TEST_F(UnixSocketTest, CreateDirectoriesThroughAFileFails) {
  ScopedFd fd(::open((dir_ + "/f").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
  EXPECT_THAT(CreateDirectories(dir_ + "/f/sub", 0755),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not a directory")));
}

TEST_F(UnixSocketTest, LockFileIsExclusive) {
  const std::string path = dir_ + "/x.lock";
  absl::StatusOr<ScopedFd> first = LockFile(path);
  ASSERT_THAT(first, IsOk());
  EXPECT_THAT(LockFile(path), StatusIs(absl::StatusCode::kAlreadyExists));
  first->Reset();
  EXPECT_THAT(LockFile(path), IsOk());
}

TEST_F(UnixSocketTest, SetAndVerifyMode) {
  const std::string path = dir_ + "/m";
  ScopedFd fd(::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
  EXPECT_THAT(SetAndVerifyMode(path, 0600), IsOk());
  EXPECT_EQ(ModeOf(path), 0600u);
  EXPECT_THAT(SetAndVerifyMode(dir_ + "/none", 0600), StatusIs(absl::StatusCode::kNotFound));
}

}  // namespace
}  // namespace vmmd::endpoint
