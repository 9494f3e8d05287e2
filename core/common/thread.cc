#include "core/common/thread.h"

#include <pthread.h>

#include <atomic>
#include <cerrno>
#include <new>
#include <string>
#include <system_error>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "core/common/thread_sandbox.h"

namespace vmmd {
namespace {

std::atomic<int> g_skip_count{0};
std::atomic<int> g_fail_count{0};
std::atomic<int> g_fail_errno{EAGAIN};

absl::Status ThreadError(std::string_view what, int error, std::string_view reason) {
  const std::string message = absl::StrFormat("cannot create a thread: %s: %s", what, reason);
  if (error == EAGAIN || error == ENOMEM) return absl::ResourceExhaustedError(message);
  return absl::InternalError(message);
}

// Takes one injected failure, if any is left.
bool TakeInjectedFailure() {
  int skip = g_skip_count.load();
  while (skip > 0) {
    if (g_skip_count.compare_exchange_weak(skip, skip - 1)) return false;
  }
  int n = g_fail_count.load();
  while (n > 0) {
    if (g_fail_count.compare_exchange_weak(n, n - 1)) return true;
  }
  return false;
}

}  // namespace

void SetCurrentThreadName(std::string_view name) {
  const std::string truncated(name.substr(0, 15));
  pthread_setname_np(pthread_self(), truncated.c_str());
}

absl::StatusOr<std::thread> StartThread(std::string_view what, absl::AnyInvocable<void()> body,
                                        std::string_view thread_name) {
  if (TakeInjectedFailure()) {
    const int error = g_fail_errno.load();
    return ThreadError(what, error, std::generic_category().message(error));
  }
  try {
    // The new thread inherits its creator's confinement (thread_sandbox.h): it knows it.
    return std::thread([role = CurrentThreadRole(), name = std::string(thread_name),
                        body = std::move(body)]() mutable {
      if (!name.empty()) SetCurrentThreadName(name);
      internal::AdoptThreadRole(role);
      body();
    });
  } catch (const std::system_error& e) {
    return ThreadError(what, e.code().value(), e.code().message());
  } catch (const std::bad_alloc&) {
    return ThreadError(what, ENOMEM, "out of memory");
  }
}

ScopedThreadStartFailures::ScopedThreadStartFailures(int count, int error, int skip) {
  g_fail_errno.store(error);
  g_skip_count.store(skip);
  g_fail_count.store(count);
}

ScopedThreadStartFailures::~ScopedThreadStartFailures() {
  g_skip_count.store(0);
  g_fail_count.store(0);
  g_fail_errno.store(EAGAIN);
}

int ScopedThreadStartFailures::remaining() const { return g_fail_count.load(); }

}  // namespace vmmd
