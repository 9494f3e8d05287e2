// Starting a thread as a Status: std::thread reports a host that cannot create one more thread
// (EAGAIN from pthread_create: RLIMIT_NPROC, threads-max, memory for the stack) by throwing
// std::system_error, which would end the whole daemon. StartThread catches it and answers
// RESOURCE_EXHAUSTED "cannot create a thread: <what>: <reason>" instead, so one VM's request
// fails and every other VM goes on. Every thread of vmmd and its tools starts here.
#pragma once

#include <cerrno>
#include <string_view>
#include <thread>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"

namespace vmmd {

// Runs `body` on a new thread. RESOURCE_EXHAUSTED when the host refuses the thread (or the
// memory for it), INTERNAL for any other refusal; `what` names the thread in the message.
// `thread_name`, if given, is the thread's name in ps/top/proc (SetCurrentThreadName).
absl::StatusOr<std::thread> StartThread(std::string_view what, absl::AnyInvocable<void()> body,
                                        std::string_view thread_name = {});

// Names the calling thread for ps, top and /proc/PID/task/TID/comm: the first 15 bytes of
// `name` (the kernel's limit).
void SetCurrentThreadName(std::string_view name);

// Test seam: while it lives, after `skip` more StartThread calls in the process succeed, the
// next `count` fail as the host does when it is out of threads (errno `error`, EAGAIN by
// default). Not nestable.
class ScopedThreadStartFailures {
 public:
  explicit ScopedThreadStartFailures(int count, int error = EAGAIN, int skip = 0);
  ~ScopedThreadStartFailures();
  ScopedThreadStartFailures(const ScopedThreadStartFailures&) = delete;
  ScopedThreadStartFailures& operator=(const ScopedThreadStartFailures&) = delete;
  // How many of the injected failures are still to come.
  int remaining() const;
};

}  // namespace vmmd
