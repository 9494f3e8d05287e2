// One thread that waits on file descriptors (epoll) and runs a handler when one is readable:
// a VM's I/O thread, woken by its virtqueues' notification eventfds. The set of descriptors is
// fixed before Start (each device registers its queues when the machine is built), so the loop
// needs no locking of its own; handlers run one at a time, on the loop's thread, in the order
// the kernel reports them.
//
//   auto loop = EventLoop::Create();
//   loop->Watch(queue_notify.fd(), [&] { queue_notify.Drain(); device.Process(0); });
//   loop->Start("vm-a io", ThreadRole::kIo);
//   ...
//   loop->Stop();  // returns once no handler runs any more
#pragma once

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/common/event_fd.h"
#include "core/common/scoped_fd.h"
#include "core/common/thread_sandbox.h"

namespace vmmd {

class EventLoop {
 public:
  static absl::StatusOr<std::unique_ptr<EventLoop>> Create();
  ~EventLoop();  // Stop()s
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  enum class Trigger {
    // Whenever `fd` is readable: the handler consumes what made it so (drains an eventfd).
    kLevel,
    // When `fd` becomes readable (new data arrived): the handler may leave data unread, e.g.
    // packets a device has no room for yet, and is not called again until more arrives. Whoever
    // left data must come back for it on another event (the room being made).
    kEdge,
  };
  // Runs `on_readable` when `fd` is readable, as `trigger` says. Before Start only
  // (FAILED_PRECONDITION after); `fd` must stay open while the loop runs.
  absl::Status Watch(int fd, absl::AnyInvocable<void()> on_readable,
                     Trigger trigger = Trigger::kLevel);
  // Starts the thread, named `name` (at most 15 characters are kept), confined to `role`
  // (EnterThreadSandbox) before it runs any handler. Once only.
  absl::Status Start(const std::string& name, ThreadRole role);
  // Ends the thread after the handler that runs, if any, returns. Idempotent.
  void Stop();
  size_t watched() const { return handlers_.size(); }

 private:
  EventLoop(ScopedFd epoll, EventFd stop) : epoll_(std::move(epoll)), stop_(std::move(stop)) {}
  void Run(std::string name, ThreadRole role);

  ScopedFd epoll_;
  EventFd stop_;
  std::vector<absl::AnyInvocable<void()>> handlers_;
  std::thread thread_;
  bool started_ = false;
};

}  // namespace vmmd
