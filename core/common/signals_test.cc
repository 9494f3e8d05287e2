#include "core/common/signals.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "gtest/gtest.h"

namespace vmmd {
namespace {

// In a forked child (so the test's own disposition is untouched): optionally ignore SIGPIPE,
// then write to a pipe whose reader is gone. Exits 0 on EPIPE; the wait status is returned.
int WriteToAbandonedPipe(bool ignore) {
  const pid_t pid = fork();
  if (pid == 0) {
    if (ignore && !IgnoreSigpipe().ok()) _exit(2);
    int fds[2];
    if (pipe(fds) != 0) _exit(3);
    close(fds[0]);
    const char byte = 'x';
    const ssize_t n = write(fds[1], &byte, 1);
    _exit(n == -1 && errno == EPIPE ? 0 : 4);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

TEST(IgnoreSigpipeTest, AWriteWithoutAReaderFailsWithEpipeInsteadOfKilling) {
  const int status = WriteToAbandonedPipe(/*ignore=*/true);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(IgnoreSigpipeTest, WithoutItTheWriterDies) {
  const int status = WriteToAbandonedPipe(/*ignore=*/false);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGPIPE);
}

}  // namespace
}  // namespace vmmd
