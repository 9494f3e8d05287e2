#include "core/common/signals.h"

#include <signal.h>

#include <cerrno>

#include "core/common/errno_status.h"

namespace vmmd {

absl::Status IgnoreSigpipe() {
  struct sigaction action = {};
  action.sa_handler = SIG_IGN;
  sigemptyset(&action.sa_mask);
  if (::sigaction(SIGPIPE, &action, nullptr) != 0) {
    return ErrnoStatus(errno, "sigaction(SIGPIPE, SIG_IGN)");
  }
  return absl::OkStatus();
}

}  // namespace vmmd
