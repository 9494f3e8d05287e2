#include "core/common/event_loop.h"

#include <sys/epoll.h>

#include <cerrno>
#include <cstdint>
#include <limits>

#include "core/common/errno_status.h"
#include "core/common/log.h"
#include "core/common/thread.h"

namespace vmmd {
namespace {

// The stop eventfd's tag; handlers are tagged with their index.
constexpr uint64_t kStopTag = std::numeric_limits<uint64_t>::max();

absl::Status AddToEpoll(int epoll, int fd, uint64_t tag, bool edge = false) {
  epoll_event ev{};
  ev.events = EPOLLIN | (edge ? EPOLLET : 0u);
  ev.data.u64 = tag;
  if (epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &ev) != 0) return ErrnoStatus(errno, "epoll_ctl ADD");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<EventLoop>> EventLoop::Create() {
  ScopedFd epoll(epoll_create1(EPOLL_CLOEXEC));
  if (!epoll.valid()) return ErrnoStatus(errno, "epoll_create1");
  absl::StatusOr<EventFd> stop = EventFd::Create();
  if (!stop.ok()) return stop.status();
  if (absl::Status s = AddToEpoll(epoll.get(), stop->fd(), kStopTag); !s.ok()) return s;
  return std::unique_ptr<EventLoop>(new EventLoop(std::move(epoll), *std::move(stop)));
}

EventLoop::~EventLoop() { Stop(); }

absl::Status EventLoop::Watch(int fd, absl::AnyInvocable<void()> on_readable, Trigger trigger) {
  if (started_) return absl::FailedPreconditionError("the event loop already runs");
  if (absl::Status s = AddToEpoll(epoll_.get(), fd, handlers_.size(), trigger == Trigger::kEdge);
      !s.ok()) {
    return s;
  }
  handlers_.push_back(std::move(on_readable));
  return absl::OkStatus();
}

absl::Status EventLoop::Start(const std::string& name, ThreadRole role) {
  if (started_) return absl::FailedPreconditionError("the event loop was started before");
  absl::StatusOr<std::thread> t = StartThread(
      name, [this, name, role] { Run(name, role); }, name);
  if (!t.ok()) return t.status();
  thread_ = *std::move(t);
  started_ = true;
  return absl::OkStatus();
}

void EventLoop::Run(std::string name, ThreadRole role) {
  if (absl::Status s = EnterThreadSandbox(role); !s.ok()) {
    // Unconfined, it must not serve the guest: its devices stay silent (their VM stalls on I/O,
    // nothing else does).
    LogError("%s: not confined, serving no I/O: %s", name, s.ToString());
    return;
  }
  constexpr int kBatch = 16;
  epoll_event events[kBatch];
  for (;;) {
    const int n = epoll_wait(epoll_.get(), events, kBatch, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      LogError("%s: epoll_wait: %s", name, ErrnoStatus(errno, "epoll_wait").ToString());
      return;
    }
    for (int i = 0; i < n; ++i) {
      const uint64_t tag = events[i].data.u64;
      if (tag == kStopTag) return;
      if (tag < handlers_.size()) handlers_[tag]();
    }
  }
}

void EventLoop::Stop() {
  if (!thread_.joinable()) return;
  stop_.Signal();
  thread_.join();
}

}  // namespace vmmd
