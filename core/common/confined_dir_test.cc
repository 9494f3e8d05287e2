#include "core/common/confined_dir.h"

#include <fcntl.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace vmmd {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::vmmd::testing::IsOk;
using ::vmmd::testing::StatusIs;
using Code = absl::StatusCode;

class ConfinedDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/confined_dir_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    char* real = ::realpath(tmpl.c_str(), nullptr);
    ASSERT_NE(real, nullptr);
    root_ = real;
    std::free(real);
    images_ = root_ + "/images";
    outside_ = root_ + "/outside";
    ASSERT_EQ(::mkdir(images_.c_str(), 0755), 0);
    ASSERT_EQ(::mkdir(outside_.c_str(), 0755), 0);
    Write(images_ + "/Image", "kernel bytes");
    Write(outside_ + "/secret", "host secret");
    absl::StatusOr<ConfinedDirs> dirs = ConfinedDirs::Open({images_}, "--image_dir");
    ASSERT_THAT(dirs, IsOk());
    dirs_ = std::move(*dirs);
  }
  void TearDown() override { std::system(("rm -rf '" + root_ + "'").c_str()); }

  static void Write(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
  }
  static std::string ReadAll(int fd) {
    std::string out(64, '\0');
    const ssize_t n = ::pread(fd, out.data(), out.size(), 0);
    out.resize(n < 0 ? 0 : static_cast<size_t>(n));
    return out;
  }

  std::string root_, images_, outside_;
  ConfinedDirs dirs_;
};

TEST_F(ConfinedDirTest, OpensARegularFileUnderTheDirectory) {
  absl::StatusOr<ConfinedFile> f = dirs_.OpenFile(images_ + "/Image", "kernel_path");
  ASSERT_THAT(f, IsOk());
  EXPECT_EQ(f->size, 12u);
  EXPECT_EQ(ReadAll(f->fd.get()), "kernel bytes");
  const int flags = ::fcntl(f->fd.get(), F_GETFL);
  EXPECT_EQ(flags & O_ACCMODE, O_RDONLY);
  EXPECT_NE(flags & O_NONBLOCK, 0);
  EXPECT_NE(::fcntl(f->fd.get(), F_GETFD) & FD_CLOEXEC, 0);
  // In a subdirectory too.
  ASSERT_EQ(::mkdir((images_ + "/v1").c_str(), 0755), 0);
  Write(images_ + "/v1/initrd", "x");
  EXPECT_THAT(dirs_.OpenFile(images_ + "/v1/initrd", "initrd_path"), IsOk());
}

TEST_F(ConfinedDirTest, RelativeAndNonCanonicalPathsAreInvalidArguments) {
  EXPECT_THAT(dirs_.OpenFile("Image", "kernel_path"),
              StatusIs(Code::kInvalidArgument,
                       AllOf(HasSubstr("kernel_path \"Image\""), HasSubstr("absolute"))));
  for (const std::string& p :
       {images_ + "/../outside/secret", images_ + "/./Image", images_ + "//Image",
        images_ + "/Image/", images_ + "/v1/..", std::string("/..")}) {
    EXPECT_THAT(dirs_.OpenFile(p, "kernel_path"),
                StatusIs(Code::kInvalidArgument, HasSubstr("canonical")))
        << p;
  }
  EXPECT_THAT(dirs_.OpenFile(std::string("/a\0b", 4), "kernel_path"),
              StatusIs(Code::kInvalidArgument, HasSubstr("NUL")));
}

TEST_F(ConfinedDirTest, AFileOutsideTheDirectoriesIsPermissionDenied) {
  EXPECT_THAT(dirs_.OpenFile(outside_ + "/secret", "firmware_path"),
              StatusIs(Code::kPermissionDenied,
                       AllOf(HasSubstr("firmware_path \"" + outside_ + "/secret\""),
                             HasSubstr("vmmd opens only files under " + images_),
                             HasSubstr("--image_dir"))));
  EXPECT_THAT(dirs_.OpenFile("/etc/passwd", "kernel_path"), StatusIs(Code::kPermissionDenied));
  // A sibling whose name merely starts with the directory's name is not under it.
  ASSERT_EQ(::mkdir((images_ + "2").c_str(), 0755), 0);
  Write(images_ + "2/Image", "x");
  EXPECT_THAT(dirs_.OpenFile(images_ + "2/Image", "kernel_path"),
              StatusIs(Code::kPermissionDenied));
  // No directory configured: nothing can be opened.
  EXPECT_THAT(ConfinedDirs().OpenFile(images_ + "/Image", "kernel_path"),
              StatusIs(Code::kPermissionDenied, HasSubstr("only files under none")));
}

TEST_F(ConfinedDirTest, SymlinksAreNeverFollowed) {
  // Escaping to a host file, absolute and relative.
  ASSERT_EQ(::symlink((outside_ + "/secret").c_str(), (images_ + "/abs").c_str()), 0);
  ASSERT_EQ(::symlink("../outside/secret", (images_ + "/rel").c_str()), 0);
  // Staying inside the directory is refused as well.
  ASSERT_EQ(::symlink("Image", (images_ + "/inside").c_str()), 0);
  // A symlinked directory on the way.
  ASSERT_EQ(::mkdir((images_ + "/real").c_str(), 0755), 0);
  Write(images_ + "/real/Image", "x");
  ASSERT_EQ(::symlink("real", (images_ + "/linkdir").c_str()), 0);
  for (const char* name : {"/abs", "/rel", "/inside", "/linkdir/Image"}) {
    EXPECT_THAT(dirs_.OpenFile(images_ + name, "kernel_path"),
                StatusIs(Code::kPermissionDenied, HasSubstr("symbolic link")))
        << name;
  }
}

TEST_F(ConfinedDirTest, OnlyRegularFilesAndNothingBlocks) {
  // A FIFO without a writer: an O_RDONLY open would block; it is refused at once.
  ASSERT_EQ(::mkfifo((images_ + "/fifo").c_str(), 0644), 0);
  EXPECT_THAT(dirs_.OpenFile(images_ + "/fifo", "kernel_path"),
              StatusIs(Code::kInvalidArgument, HasSubstr("is not a regular file (it is a FIFO)")));
  // A directory, and the image directory itself.
  ASSERT_EQ(::mkdir((images_ + "/sub").c_str(), 0755), 0);
  EXPECT_THAT(dirs_.OpenFile(images_ + "/sub", "initrd_path"),
              StatusIs(Code::kInvalidArgument, HasSubstr("(it is a directory)")));
  EXPECT_THAT(dirs_.OpenFile(images_, "initrd_path"),
              StatusIs(Code::kInvalidArgument, HasSubstr("(it is a directory)")));
  // A unix socket.
  const std::string sock_path = images_ + "/sock";
  const int sock = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(sock, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  ASSERT_LT(sock_path.size(), sizeof(addr.sun_path));
  sock_path.copy(addr.sun_path, sock_path.size());
  ASSERT_EQ(::bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  EXPECT_THAT(dirs_.OpenFile(sock_path, "firmware_path"),
              StatusIs(Code::kInvalidArgument, HasSubstr("(it is a socket)")));
  ::close(sock);
  // A character device (/dev/null), with /dev as the configured directory.
  absl::StatusOr<ConfinedDirs> dev = ConfinedDirs::Open({"/dev"}, "--image_dir");
  ASSERT_THAT(dev, IsOk());
  EXPECT_THAT(dev->OpenFile("/dev/null", "kernel_path"),
              StatusIs(Code::kInvalidArgument, HasSubstr("(it is a character device)")));
}

// A loop device over a 1 MiB file, its node made under the image directory (as an
// administrator would put an LVM volume's there). Needs root and /dev/loop-control.
TEST_F(ConfinedDirTest, ABlockDeviceOnlyWhereAllowedWithItsCapacity) {
  ScopedFd control(::open("/dev/loop-control", O_RDWR | O_CLOEXEC));
  if (geteuid() != 0 || !control.valid()) GTEST_SKIP() << "needs root and /dev/loop-control";
  const int n = ::ioctl(control.get(), LOOP_CTL_GET_FREE);
  ASSERT_GE(n, 0);
  const std::string backing = outside_ + "/backing";
  Write(backing, std::string(1 << 20, 'b'));
  ScopedFd loop(::open(("/dev/loop" + std::to_string(n)).c_str(), O_RDWR | O_CLOEXEC));
  ScopedFd file(::open(backing.c_str(), O_RDWR | O_CLOEXEC));
  ASSERT_TRUE(loop.valid() && file.valid());
  ASSERT_EQ(::ioctl(loop.get(), LOOP_SET_FD, file.get()), 0);
  const std::string node = images_ + "/volume";
  ASSERT_EQ(::mknod(node.c_str(), S_IFBLK | 0600, makedev(7, static_cast<unsigned>(n))), 0);

  EXPECT_THAT(
      dirs_.OpenFile(node, "kernel_path"),
      StatusIs(Code::kInvalidArgument, HasSubstr("is not a regular file (it is a block device)")));
  absl::StatusOr<ConfinedFile> disk = dirs_.OpenFile(node, "disks[0].path", FileAccess::kReadWrite,
                                                     FileKind::kRegularOrBlockDevice);
  ASSERT_THAT(disk, IsOk());
  EXPECT_TRUE(disk->block_device);
  EXPECT_EQ(disk->size, 1u << 20);
  char c = 0;
  EXPECT_EQ(::pread(disk->fd.get(), &c, 1, 4096), 1);
  EXPECT_EQ(c, 'b');
  // Regular files still open as before; other kinds are still refused.
  absl::StatusOr<ConfinedFile> regular = dirs_.OpenFile(
      images_ + "/Image", "disks[0].path", FileAccess::kRead, FileKind::kRegularOrBlockDevice);
  ASSERT_THAT(regular, IsOk());
  EXPECT_FALSE(regular->block_device);
  ASSERT_EQ(::mkfifo((images_ + "/fifo").c_str(), 0644), 0);
  EXPECT_THAT(dirs_.OpenFile(images_ + "/fifo", "disks[0].path", FileAccess::kRead,
                             FileKind::kRegularOrBlockDevice),
              StatusIs(Code::kInvalidArgument,
                       HasSubstr("is not a regular file or a block device (it is a FIFO)")));
  disk->fd.Reset();
  EXPECT_EQ(::ioctl(loop.get(), LOOP_CLR_FD, 0), 0);
}

TEST_F(ConfinedDirTest, MissingIsNotFound) {
  EXPECT_THAT(
      dirs_.OpenFile(images_ + "/no-such-Image", "kernel_path"),
      StatusIs(Code::kNotFound, HasSubstr("kernel_path \"" + images_ + "/no-such-Image\"")));
  EXPECT_THAT(dirs_.OpenFile(images_ + "/Image/x", "kernel_path"), StatusIs(Code::kNotFound));
}

TEST_F(ConfinedDirTest, AFileSwappedForASymlinkIsRefused) {
  ASSERT_THAT(dirs_.OpenFile(images_ + "/Image", "kernel_path"), IsOk());
  ASSERT_EQ(::unlink((images_ + "/Image").c_str()), 0);
  ASSERT_EQ(::symlink((outside_ + "/secret").c_str(), (images_ + "/Image").c_str()), 0);
  EXPECT_THAT(dirs_.OpenFile(images_ + "/Image", "kernel_path"),
              StatusIs(Code::kPermissionDenied, HasSubstr("symbolic link")));
}

TEST_F(ConfinedDirTest, TheDirectoryIsHeldByItsFd) {
  // Renaming the directory and putting a symlink in its place changes nothing: the fd taken at
  // configuration time anchors every open.
  ASSERT_EQ(::rename(images_.c_str(), (root_ + "/moved").c_str()), 0);
  ASSERT_EQ(::symlink(outside_.c_str(), images_.c_str()), 0);
  Write(outside_ + "/Image", "host file");
  absl::StatusOr<ConfinedFile> f = dirs_.OpenFile(images_ + "/Image", "kernel_path");
  ASSERT_THAT(f, IsOk());
  EXPECT_EQ(ReadAll(f->fd.get()), "kernel bytes");
}

TEST_F(ConfinedDirTest, UnreadableIsPermissionDenied) {
  Write(images_ + "/locked", "x");
  ASSERT_EQ(::chmod((images_ + "/locked").c_str(), 0000), 0);
  ASSERT_EQ(::chmod(root_.c_str(), 0755), 0);
  // Root reads anything: check as an unprivileged user, in a child process.
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::geteuid() == 0 && ::setresuid(65534, 65534, 65534) != 0) ::_exit(2);
    absl::StatusOr<ConfinedFile> f = dirs_.OpenFile(images_ + "/locked", "kernel_path");
    const bool ok = f.status().code() == Code::kPermissionDenied &&
                    f.status().message().find("is not readable by vmmd") != std::string::npos;
    ::_exit(ok ? 0 : 1);
  }
  int wstatus = 0;
  ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
  ASSERT_TRUE(WIFEXITED(wstatus));
  EXPECT_EQ(WEXITSTATUS(wstatus), 0);
}

TEST_F(ConfinedDirTest, AHugePathIsEchoedBounded) {
  const std::string huge = "/" + std::string(3 << 20, 'a');
  absl::StatusOr<ConfinedFile> f = dirs_.OpenFile(huge, "kernel_path");
  EXPECT_THAT(f, StatusIs(Code::kPermissionDenied, HasSubstr("...(3145729 bytes)")));
  EXPECT_LT(f.status().message().size(), 600u);
}

TEST_F(ConfinedDirTest, OpeningTheDirectories) {
  EXPECT_THAT(ConfinedDirs::Open({root_ + "/missing"}, "--image_dir"),
              StatusIs(Code::kNotFound, HasSubstr("--image_dir: open directory")));
  EXPECT_THAT(ConfinedDirs::Open({images_ + "/Image"}, "--image_dir"),
              StatusIs(Code::kInvalidArgument, HasSubstr("is not a directory")));
  EXPECT_THAT(ConfinedDirs::Open({"images"}, "--image_dir"),
              StatusIs(Code::kInvalidArgument, HasSubstr("absolute")));
  EXPECT_THAT(ConfinedDirs::Open({root_ + "/images/../outside"}, "--image_dir"),
              StatusIs(Code::kInvalidArgument, HasSubstr("canonical")));
  absl::StatusOr<ConfinedDirs> two = ConfinedDirs::Open({images_ + "/", "", outside_}, "--x");
  ASSERT_THAT(two, IsOk());
  EXPECT_EQ(two->Describe(), images_ + ", " + outside_);
  EXPECT_THAT(two->OpenFile(outside_ + "/secret", "kernel_path"), IsOk());
  EXPECT_EQ(ConfinedDirs().Describe(), "none");
}

TEST(CheckCanonicalPathTest, Rules) {
  EXPECT_THAT(CheckCanonicalPath("/", "f"), IsOk());
  EXPECT_THAT(CheckCanonicalPath("/a/b.c/..d/...", "f"), IsOk());
  EXPECT_THAT(CheckCanonicalPath("", "f"),
              StatusIs(Code::kInvalidArgument, HasSubstr("f is empty")));
  EXPECT_THAT(CheckCanonicalPath("a/b", "f"), StatusIs(Code::kInvalidArgument));
  EXPECT_THAT(CheckCanonicalPath("/a//b", "f"), StatusIs(Code::kInvalidArgument));
  EXPECT_THAT(CheckCanonicalPath("/a/", "f"), StatusIs(Code::kInvalidArgument));
  EXPECT_THAT(CheckCanonicalPath("/a/./b", "f"), StatusIs(Code::kInvalidArgument));
  EXPECT_THAT(CheckCanonicalPath("/a/../b", "f"), StatusIs(Code::kInvalidArgument));
}

}  // namespace
}  // namespace vmmd
