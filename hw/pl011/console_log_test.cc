#include "hw/pl011/console_log.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace vmmd::hw {
namespace {

using ::testing::HasSubstr;
using ::vmmd::testing::IsOk;
using ::vmmd::testing::StatusIs;

class ConsoleLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/console_log_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    char* real = ::realpath(tmpl.c_str(), nullptr);  // /proc/self/fd links are canonical
    ASSERT_NE(real, nullptr);
    dir_ = real;
    std::free(real);
    path_ = dir_ + "/console.log";
    rotated_ = dir_ + "/console.log.1";
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }

  static std::string Read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  std::string Contents() const { return Read(path_); }
  static uint64_t SizeOf(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  }

  std::unique_ptr<ConsoleLog> Open(uint64_t limit = ConsoleLog::kDefaultLimit) {
    auto log = ConsoleLog::Open(dir_, limit);
    EXPECT_THAT(log, IsOk());
    return log.ok() ? std::move(*log) : nullptr;
  }

  std::string dir_;
  std::string path_;
  std::string rotated_;
};

void Put(ByteSink& sink, const std::string& s) {
  sink.Write(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
}

TEST_F(ConsoleLogTest, CreatesWithMode0600AppendAndCloexec) {
  const mode_t old_umask = ::umask(0);
  auto log = Open();
  ::umask(old_umask);
  ASSERT_NE(log, nullptr);
  struct stat st;
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(std::string(ConsoleLog::kFileName), "console.log");
  EXPECT_EQ(std::string(ConsoleLog::kRotatedName), "console.log.1");
  // Find our descriptor in /proc/self/fd and check FD_CLOEXEC and O_APPEND.
  int found = 0;
  DIR* d = ::opendir("/proc/self/fd");
  ASSERT_NE(d, nullptr);
  while (dirent* e = ::readdir(d)) {
    char target[4096];
    const std::string link = std::string("/proc/self/fd/") + e->d_name;
    const ssize_t n = ::readlink(link.c_str(), target, sizeof(target) - 1);
    if (n <= 0) continue;
    target[n] = '\0';
    if (path_ != target) continue;
    const int fd = std::atoi(e->d_name);
    EXPECT_NE(::fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
    EXPECT_NE(::fcntl(fd, F_GETFL) & O_APPEND, 0);
    ++found;
  }
  ::closedir(d);
  EXPECT_EQ(found, 1);
  log.reset();
  // Closed on destruction.
  found = 0;
  d = ::opendir("/proc/self/fd");
  while (dirent* e = ::readdir(d)) {
    char target[4096];
    const ssize_t n =
        ::readlink((std::string("/proc/self/fd/") + e->d_name).c_str(), target, sizeof(target) - 1);
    if (n > 0 && path_ == std::string(target, n)) ++found;
  }
  ::closedir(d);
  EXPECT_EQ(found, 0);
}

TEST_F(ConsoleLogTest, AppendsToAnExistingFile) {
  { std::ofstream(path_) << "previous boot\n"; }
  auto log = Open();
  Put(*log, "next boot\n");
  EXPECT_EQ(Contents(), "previous boot\nnext boot\n");
}

TEST_F(ConsoleLogTest, BuffersUntilNewline) {
  auto log = Open();
  Put(*log, "abc");
  EXPECT_EQ(Contents(), "");
  EXPECT_EQ(log->GetStats().bytes_written, 0u);
  Put(*log, "\n");
  EXPECT_EQ(Contents(), "abc\n");
  Put(*log, "d\ne");  // a newline anywhere in the chunk flushes the whole buffer
  EXPECT_EQ(Contents(), "abc\nd\ne");
  EXPECT_EQ(log->GetStats().bytes_written, 7u);
}

TEST_F(ConsoleLogTest, FlushesWhenTheBufferHolds4KiB) {
  auto log = Open();
  for (size_t i = 0; i + 1 < ConsoleLog::kFlushThreshold; ++i) Put(*log, "x");
  EXPECT_EQ(Contents(), "");
  Put(*log, "y");
  EXPECT_EQ(Contents(), std::string(ConsoleLog::kFlushThreshold - 1, 'x') + "y");
}

TEST_F(ConsoleLogTest, FlushesOnDestructionAndOnRequest) {
  auto log = Open();
  Put(*log, "partial");
  log->Flush();
  EXPECT_EQ(Contents(), "partial");
  Put(*log, " line");
  log.reset();
  EXPECT_EQ(Contents(), "partial line");
}

TEST_F(ConsoleLogTest, RotatesAtTheLimitKeepingTheNewestOutput) {
  auto log = Open(10);
  Put(*log, "0123456789AB\n");
  EXPECT_EQ(Read(rotated_), "0123456789");
  EXPECT_EQ(Contents(), "AB\n");
  Put(*log, "cdefghi");  // exactly fills the second file: no rotation yet
  log->Flush();
  EXPECT_EQ(Contents(), "AB\ncdefghi");
  EXPECT_EQ(log->GetStats().rotations, 1u);
  Put(*log, "k\n");  // replaces the older file
  EXPECT_EQ(Read(rotated_), "AB\ncdefghi");
  EXPECT_EQ(Contents(), "k\n");
  const ConsoleLog::Stats stats = log->GetStats();
  EXPECT_EQ(stats.rotations, 2u);
  EXPECT_EQ(stats.bytes_written, 22u);
  EXPECT_EQ(stats.bytes_dropped, 0u);
  EXPECT_EQ(stats.write_errors, 0u);
}

TEST_F(ConsoleLogTest, ByteAtATimeLikeTheUart) {
  auto log = Open(5);
  for (char c : std::string("hello world\n")) Put(*log, std::string(1, c));
  log.reset();
  // "hello", then " worl" replaced it; the newest 7 bytes are on disk.
  EXPECT_EQ(Read(rotated_), " worl");
  EXPECT_EQ(Contents(), "d\n");
}

TEST_F(ConsoleLogTest, ZeroLimitIsRefused) {
  EXPECT_THAT(ConsoleLog::Open(dir_, 0), StatusIs(absl::StatusCode::kInvalidArgument));
}

// A reset-looping guest re-opens the log at every boot: the bound is per directory, not per
// open, so the files never hold more than 2 x the limit together, and the newest bytes stay.
TEST_F(ConsoleLogTest, TheBoundHoldsAcrossManyReopens) {
  constexpr uint64_t kLimit = 1000;
  std::string last;
  for (int boot = 0; boot < 200; ++boot) {
    auto log = Open(kLimit);
    ASSERT_NE(log, nullptr);
    for (int i = 0; i < 7; ++i) {
      last = absl::StrFormat("boot %03d line %d: some console output\n", boot, i);
      Put(*log, last);
    }
    log.reset();
    EXPECT_LE(SizeOf(path_), kLimit);
    EXPECT_LE(SizeOf(rotated_), kLimit);
  }
  const std::string all = Read(rotated_) + Contents();
  EXPECT_EQ(all.substr(all.size() - last.size()), last);
  EXPECT_GE(all.size(), kLimit);  // the older file is full: nothing recent was thrown away
}

TEST_F(ConsoleLogTest, AFileAlreadyOverTheLimitIsRotatedWhenOpened) {
  { std::ofstream(path_) << std::string(50, 'o'); }
  auto log = Open(20);
  EXPECT_EQ(SizeOf(rotated_), 50u);
  EXPECT_EQ(SizeOf(path_), 0u);
  Put(*log, "new\n");
  EXPECT_EQ(Contents(), "new\n");
  EXPECT_EQ(log->GetStats().rotations, 1u);
}

TEST_F(ConsoleLogTest, DefaultLimitIs16MiBPerFile) {
  EXPECT_EQ(ConsoleLog::kDefaultLimit, 16u * 1024 * 1024);
  auto log = Open();
  std::string chunk(64 * 1024 - 1, 'a');
  chunk.push_back('\n');
  for (int i = 0; i < 256; ++i) Put(*log, chunk);
  EXPECT_EQ(log->GetStats().bytes_written, 16u << 20);
  EXPECT_EQ(log->GetStats().rotations, 0u);
  Put(*log, "over\n");
  log.reset();
  EXPECT_EQ(SizeOf(rotated_), 16u << 20);
  EXPECT_EQ(Contents(), "over\n");
}

TEST_F(ConsoleLogTest, OpenRefusesLinksAndOddFiles) {
  EXPECT_THAT(ConsoleLog::Open(dir_ + "/no/such/dir"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("/no/such/dir")));
  // The directory itself a symlink.
  ASSERT_EQ(::mkdir((dir_ + "/real").c_str(), 0700), 0);
  ASSERT_EQ(::symlink("real", (dir_ + "/link").c_str()), 0);
  EXPECT_THAT(ConsoleLog::Open(dir_ + "/link"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("symbolic link")));
  // console.log a symlink to a host file: refused, the target untouched.
  const std::string victim = dir_ + "/victim";
  { std::ofstream(victim) << "host file\n"; }
  ASSERT_EQ(::symlink(victim.c_str(), path_.c_str()), 0);
  EXPECT_THAT(ConsoleLog::Open(dir_),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("symbolic link")));
  EXPECT_EQ(Read(victim), "host file\n");
  ASSERT_EQ(::unlink(path_.c_str()), 0);
  // A FIFO without a reader: refused at once, not blocked on.
  ASSERT_EQ(::mkfifo(path_.c_str(), 0600), 0);
  EXPECT_THAT(ConsoleLog::Open(dir_),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not a regular file")));
  ASSERT_EQ(::unlink(path_.c_str()), 0);
  // A directory.
  ASSERT_EQ(::mkdir(path_.c_str(), 0700), 0);
  EXPECT_FALSE(ConsoleLog::Open(dir_).ok());
}

TEST_F(ConsoleLogTest, AFailedRotationDropsOutputAndKeepsTheBound) {
  // console.log.1 a non-empty directory: the rename cannot replace it.
  ASSERT_EQ(::mkdir(rotated_.c_str(), 0700), 0);
  { std::ofstream(rotated_ + "/x") << "x"; }
  auto log = Open(4);
  Put(*log, "abcdef\n");
  Put(*log, "more\n");
  log.reset();
  EXPECT_EQ(Contents(), "abcd");
}

TEST_F(ConsoleLogTest, RotationErrorsAreCounted) {
  ASSERT_EQ(::mkdir(rotated_.c_str(), 0700), 0);
  { std::ofstream(rotated_ + "/x") << "x"; }
  auto log = Open(4);
  Put(*log, "abcdef\n");
  Put(*log, "more\n");
  const ConsoleLog::Stats stats = log->GetStats();
  EXPECT_EQ(stats.bytes_written, 4u);
  EXPECT_EQ(stats.bytes_dropped, 8u);
  EXPECT_EQ(stats.write_errors, 1u);
  EXPECT_EQ(stats.rotations, 0u);
}

TEST_F(ConsoleLogTest, ConcurrentWritersKeepChunksWhole) {
  auto log = Open();
  constexpr int kThreads = 4;
  constexpr int kLines = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&log, t] {
      for (int i = 0; i < kLines; ++i) Put(*log, "thread-" + std::to_string(t) + "-line\n");
    });
  }
  for (auto& th : threads) th.join();
  log.reset();
  std::istringstream in(Contents());
  std::string line;
  int counts[kThreads] = {};
  int total = 0;
  while (std::getline(in, line)) {
    ASSERT_EQ(line.size(), std::string("thread-0-line").size()) << line;
    ++counts[line[7] - '0'];
    ++total;
  }
  EXPECT_EQ(total, kThreads * kLines);
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(counts[t], kLines);
}

}  // namespace
}  // namespace vmmd::hw
