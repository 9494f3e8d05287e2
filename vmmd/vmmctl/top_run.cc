// vmmctl top against vmmd: RunTop (top.cc) over the callback API of the stub, so that SIGINT
// or SIGTERM ends it at once (exit 0), also in the middle of a call.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/common/errno_status.h"
#include "core/common/scoped_fd.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "vmmd/v1/vmm.grpc.pb.h"
#include "vmmd/vmmctl/call.h"
#include "vmmd/vmmctl/commands.h"
#include "vmmd/vmmctl/format.h"
#include "vmmd/vmmctl/top.h"

namespace vmmd::vmmctl {
namespace {

// What the handler may touch: a lock-free flag and the write end of the self-pipe.
std::atomic<bool> g_stop_requested{false};
std::atomic<int> g_stop_pipe{-1};
static_assert(std::atomic<bool>::is_always_lock_free && std::atomic<int>::is_always_lock_free);

extern "C" void OnStopSignal(int) {
  const int saved_errno = errno;
  g_stop_requested.store(true);
  const int fd = g_stop_pipe.load();
  if (fd >= 0) {
    const char byte = 1;
    [[maybe_unused]] const ssize_t n = ::write(fd, &byte, 1);  // full pipe: already woken
  }
  errno = saved_errno;
}

// While it lives, SIGINT and SIGTERM set the flag and wake poll() through a self-pipe; the
// previous dispositions come back when it ends. A signal the caller ignores (a background job of
// a script: SIGINT) stays ignored.
class StopSignals {
 public:
  static absl::StatusOr<std::unique_ptr<StopSignals>> Install() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) return ErrnoStatus(errno, "pipe2");
    std::unique_ptr<StopSignals> stop(new StopSignals(ScopedFd(fds[0]), ScopedFd(fds[1])));
    g_stop_requested.store(false);
    g_stop_pipe.store(stop->write_.get());
    struct sigaction action {};
    action.sa_handler = OnStopSignal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    if (absl::Status s = Catch(SIGINT, action, &stop->old_int_, &stop->int_installed_); !s.ok()) {
      return s;
    }
    if (absl::Status s = Catch(SIGTERM, action, &stop->old_term_, &stop->term_installed_);
        !s.ok()) {
      return s;
    }
    return stop;
  }

  ~StopSignals() {
    if (term_installed_) ::sigaction(SIGTERM, &old_term_, nullptr);
    if (int_installed_) ::sigaction(SIGINT, &old_int_, nullptr);
    g_stop_pipe.store(-1);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  bool requested() const { return g_stop_requested.load(); }

  // Waits until `deadline` (InfiniteFuture: no limit), a stop, or `other_fd` readable (-1:
  // none). True when `other_fd` became readable.
  bool WaitFor(int other_fd, absl::Time deadline) const {
    while (!requested()) {
      int timeout_ms = -1;
      if (deadline != absl::InfiniteFuture()) {
        const absl::Duration left = deadline - absl::Now();
        if (left <= absl::ZeroDuration()) return false;
        timeout_ms = static_cast<int>(std::min<int64_t>(
            INT_MAX, absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1)))));
      }
      pollfd fds[2] = {{read_.get(), POLLIN, 0}, {other_fd, POLLIN, 0}};
      const int ready = ::poll(fds, other_fd >= 0 ? 2 : 1, timeout_ms);
      if (ready < 0 && errno != EINTR) absl::SleepFor(absl::Milliseconds(10));
      if (ready > 0 && other_fd >= 0 && (fds[1].revents & POLLIN) != 0) return true;
    }
    return false;
  }

 private:
  StopSignals(ScopedFd read, ScopedFd write) : read_(std::move(read)), write_(std::move(write)) {}

  // Installs `action` for `signal` unless it is ignored; `installed`: `old` must come back.
  static absl::Status Catch(int signal, const struct sigaction& action, struct sigaction* old,
                            bool* installed) {
    if (::sigaction(signal, nullptr, old) != 0) return ErrnoStatus(errno, "sigaction");
    if (old->sa_handler == SIG_IGN) return absl::OkStatus();
    if (::sigaction(signal, &action, nullptr) != 0) return ErrnoStatus(errno, "sigaction");
    *installed = true;
    return absl::OkStatus();
  }

  ScopedFd read_;
  ScopedFd write_;
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
  bool int_installed_ = false;
  bool term_installed_ = false;
};

// One call's completion, shared with gRPC's callback (which may outlive the wait by a moment).
struct Pending {
  absl::Mutex mu;
  bool done ABSL_GUARDED_BY(mu) = false;
  grpc::Status status ABSL_GUARDED_BY(mu);
};

using StartFn =
    std::function<void(grpc::ClientContext* context, std::function<void(grpc::Status)> done)>;

// Runs one call (started by `start` on the stub's callback API) with the deadline `timeout`
// from now; a stop signal cancels it. `done_fd` is an eventfd the completion writes to.
grpc::Status CallUntilStopped(const StopSignals& stop, int done_fd, absl::Duration timeout,
                              const StartFn& start) {
  if (stop.requested()) return grpc::Status(grpc::StatusCode::CANCELLED, "stopped");
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
  auto pending = std::make_shared<Pending>();
  start(&context, [pending, done_fd](grpc::Status status) {
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(done_fd, &one, sizeof(one));
    absl::MutexLock lock(&pending->mu);
    pending->status = std::move(status);
    pending->done = true;
  });
  if (!stop.WaitFor(done_fd, absl::InfiniteFuture())) context.TryCancel();
  grpc::Status status;
  {
    absl::MutexLock lock(&pending->mu);
    pending->mu.Await(absl::Condition(&pending->done));
    status = pending->status;
  }
  uint64_t count = 0;  // reset the eventfd: this call's write happened before `done`
  [[maybe_unused]] const ssize_t n = ::read(done_fd, &count, sizeof(count));
  return status;
}

}  // namespace

Outcome ExecuteTop(const Invocation& inv, const ProgressFn& progress) {
  auto failed = [](const absl::Status& s) {
    Outcome o;
    o.exit_code = 1;
    o.err = FormatError(grpc::StatusCode::INTERNAL, std::string(s.message()));
    return o;
  };
  absl::StatusOr<std::unique_ptr<StopSignals>> installed = StopSignals::Install();
  if (!installed.ok()) return failed(installed.status());
  const StopSignals& stop = **installed;
  ScopedFd done(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!done.valid()) return failed(ErrnoStatus(errno, "eventfd"));

  std::shared_ptr<grpc::Channel> channel = Connect(inv);
  std::unique_ptr<v1::Vmm::Stub> stub = v1::Vmm::NewStub(channel);
  // Failures in vmmctl's usual words; one a stop caused is not reported.
  auto worded = [&](const grpc::Status& status) {
    if (status.ok() || stop.requested()) return status;
    return grpc::Status(status.error_code(), ErrorMessage(inv, *channel, status));
  };
  TopIo io;
  io.list_vms = [&](v1::ListVmsResponse* response) {
    const v1::ListVmsRequest request;
    return worded(CallUntilStopped(stop, done.get(), inv.timeout, [&](auto* context, auto cb) {
      stub->async()->ListVms(context, &request, response, std::move(cb));
    }));
  };
  io.get_cpu_state = [&](const std::string& name, v1::GetCPUStateResponse* response) {
    v1::GetCPUStateRequest request;
    request.set_name(name);
    return worded(CallUntilStopped(stop, done.get(), inv.timeout, [&](auto* context, auto cb) {
      stub->async()->GetCPUState(context, &request, response, std::move(cb));
    }));
  };
  io.now = [] { return absl::Now(); };
  io.sleep_until = [&](absl::Time deadline) {
    stop.WaitFor(-1, deadline);
    return !stop.requested();
  };
  io.stop_requested = [&] { return stop.requested(); };

  TopOptions options = inv.top;
  options.json = inv.json;
  options.clear_screen = inv.terminal && !inv.json && !options.once;
  const TopResult result = RunTop(options, io, [&](const std::string& text) {
    if (progress) progress(text);
  });
  Outcome outcome;
  outcome.exit_code = result.exit_code;
  outcome.err = result.err;
  return outcome;
}

}  // namespace vmmd::vmmctl
