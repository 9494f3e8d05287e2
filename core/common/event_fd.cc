#include "core/common/event_fd.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>

#include "core/common/errno_status.h"

namespace vmmd {

absl::StatusOr<EventFd> EventFd::Create() {
  const int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "eventfd");
  return EventFd(ScopedFd(fd));
}

void EventFd::Signal() const {
  const uint64_t one = 1;
  // EAGAIN: the counter is saturated, so it is signalled anyway; nothing else can fail for an
  // eventfd this object owns.
  while (::write(fd_.get(), &one, sizeof(one)) < 0 && errno == EINTR) {
  }
}

uint64_t EventFd::Drain() const {
  uint64_t count = 0;
  while (::read(fd_.get(), &count, sizeof(count)) < 0) {
    if (errno != EINTR) return 0;  // EAGAIN: nothing pending
  }
  return count;
}

}  // namespace vmmd
