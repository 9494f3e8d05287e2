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

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace vmmd::hw {
namespace {

using ::testing::HasSubstr;
using ::vmmd::testing::IsOk;
using ::vmmd::testing::StatusIs;

const std::string kMarker(ConsoleLog::kLimitMarker);

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
  }
  void TearDown() override {
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }

  std::string Contents() const {
    std::ifstream in(path_, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  std::unique_ptr<ConsoleLog> Open(uint64_t limit = ConsoleLog::kDefaultLimit) {
    auto log = ConsoleLog::Open(path_, limit);
    EXPECT_THAT(log, IsOk());
    return log.ok() ? std::move(*log) : nullptr;
  }

  std::string dir_;
  std::string path_;
};

void Put(ByteSink& sink, const std::string& s) {
  sink.Write(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
}

TEST_F(ConsoleLogTest, CreatesWithMode0640AndCloexec) {
  const mode_t old_umask = ::umask(022);
  auto log = Open();
  ::umask(old_umask);
  ASSERT_NE(log, nullptr);
  struct stat st;
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
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

TEST_F(ConsoleLogTest, LimitCutsMidLineAndWritesOneMarkerLine) {
  auto log = Open(10);
  Put(*log, "0123456789AB\n");
  EXPECT_EQ(Contents(), "0123456789\n" + kMarker);
  Put(*log, "more output\n");
  Put(*log, "x");
  log.reset();
  EXPECT_EQ(Contents(), "0123456789\n" + kMarker);
  EXPECT_EQ(kMarker, "[vmmd: console log limit reached, further output dropped]\n");
}

TEST_F(ConsoleLogTest, LimitAtALineBoundaryNeedsNoExtraNewline) {
  auto log = Open(4);
  Put(*log, "abc\n");
  EXPECT_EQ(Contents(), "abc\n");  // exactly at the limit: nothing dropped, no marker
  EXPECT_EQ(log->GetStats().bytes_dropped, 0u);
  Put(*log, "d");
  EXPECT_EQ(Contents(), "abc\n" + kMarker);
  const ConsoleLog::Stats stats = log->GetStats();
  EXPECT_EQ(stats.bytes_written, 4u);
  EXPECT_EQ(stats.bytes_dropped, 1u);
  EXPECT_EQ(stats.write_errors, 0u);
}

TEST_F(ConsoleLogTest, ByteAtATimeLikeTheUart) {
  auto log = Open(5);
  for (char c : std::string("hello world\n")) Put(*log, std::string(1, c));
  log.reset();
  EXPECT_EQ(Contents(), "hello\n" + kMarker);
}

TEST_F(ConsoleLogTest, ZeroLimitDropsEverything) {
  auto log = Open(0);
  Put(*log, "a");
  Put(*log, "b\n");
  EXPECT_EQ(Contents(), kMarker);
  EXPECT_EQ(log->GetStats().bytes_dropped, 3u);
}

TEST_F(ConsoleLogTest, DefaultLimitIs16MiB) {
  EXPECT_EQ(ConsoleLog::kDefaultLimit, 16u * 1024 * 1024);
  auto log = Open();
  std::string chunk(64 * 1024 - 1, 'a');
  chunk.push_back('\n');
  for (int i = 0; i < 256; ++i) Put(*log, chunk);
  EXPECT_EQ(log->GetStats().bytes_written, 16u << 20);
  Put(*log, "over\n");
  log.reset();
  struct stat st;
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), (16u << 20) + kMarker.size());
  const std::string all = Contents();
  EXPECT_EQ(all.substr(all.size() - kMarker.size() - 2), "a\n" + kMarker);
}

TEST_F(ConsoleLogTest, OpenErrorsAreStatuses) {
  auto missing = ConsoleLog::Open(dir_ + "/no/such/dir/console.log");
  EXPECT_THAT(missing, StatusIs(absl::StatusCode::kNotFound, HasSubstr("/no/such/dir")));
  auto is_dir = ConsoleLog::Open(dir_);
  EXPECT_FALSE(is_dir.ok());
}

TEST_F(ConsoleLogTest, WriteErrorsAreCountedNotFatal) {
  if (::access("/dev/full", W_OK) != 0) GTEST_SKIP() << "no /dev/full";
  auto log = ConsoleLog::Open("/dev/full");
  ASSERT_THAT(log, IsOk());
  Put(**log, "lost\n");
  Put(**log, "also lost\n");
  Put(**log, "pending");
  const ConsoleLog::Stats stats = (*log)->GetStats();
  EXPECT_EQ(stats.write_errors, 2u);
  EXPECT_EQ(stats.bytes_written, 0u);
  EXPECT_EQ(stats.bytes_dropped, 15u);
  (*log)->Flush();
  EXPECT_EQ((*log)->GetStats().write_errors, 3u);
  EXPECT_EQ((*log)->GetStats().bytes_dropped, 22u);
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
