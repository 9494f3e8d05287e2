#include "vmmd/endpoint/unix_socket.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/common/errno_status.h"
#include "core/common/log.h"

namespace vmmd::endpoint {
namespace {

// The errno of the call that just failed, read before building the message (which can
// change errno). Pass the message parts, not a built string.
template <typename... Parts>
absl::Status ErrnoFailure(const Parts&... parts) {
  const int err = errno;
  return ErrnoStatus(err, absl::StrCat(parts...));
}

}  // namespace

size_t MaxUnixSocketPathLength() { return sizeof(sockaddr_un::sun_path) - 1; }

int ProbeUnixSocket(const std::string& path) {
  if (path.size() > MaxUnixSocketPathLength()) return ENAMETOOLONG;
  ScopedFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return errno;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0) return 0;
  const int err = errno;
  return err == EAGAIN ? 0 : err;  // EAGAIN: a listener with a full backlog
}

absl::Status CreateDirectories(const std::string& dir, mode_t mode) {
  if (dir.empty()) return absl::OkStatus();
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    const std::string prefix = dir.substr(0, pos);
    if (prefix.empty()) continue;
    // Missing parents get the usual 0755; only `dir` itself gets `mode`.
    const mode_t want = pos == std::string::npos || prefix == dir ? mode : 0755;
    if (::mkdir(prefix.c_str(), want) == 0) {
      // mkdir applies the umask; the directory gets exactly `want`.
      if (::chmod(prefix.c_str(), want) != 0) {
        return ErrnoFailure("chmod ", prefix);
      }
      LogInfo("created directory %s (mode %04o)", prefix, want);
      continue;
    }
    if (errno != EEXIST) return ErrnoFailure("mkdir ", prefix);
    struct stat st {};
    if (::stat(prefix.c_str(), &st) != 0) return ErrnoFailure("stat ", prefix);
    if (!S_ISDIR(st.st_mode)) {
      return absl::FailedPreconditionError(absl::StrCat(prefix, " exists and is not a directory"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ScopedFd> LockFile(const std::string& lock_path) {
  ScopedFd fd(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd.valid()) return ErrnoFailure("open ", lock_path);
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return absl::AlreadyExistsError(
          absl::StrCat("another vmmd holds ", lock_path, " (it serves the same socket)"));
    }
    return ErrnoFailure("flock ", lock_path);
  }
  return fd;
}

absl::Status ClaimSocketPath(const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError("socket path is empty");
  if (path.size() > MaxUnixSocketPathLength()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("socket path %s is too long (%d bytes, at most %d)", path, path.size(),
                        MaxUnixSocketPathLength()));
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoFailure("lstat ", path);
  }
  if (!S_ISSOCK(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " exists and is not a socket; refusing to replace it"));
  }
  const int err = ProbeUnixSocket(path);
  if (err == 0) {
    return absl::AlreadyExistsError(absl::StrCat("another vmmd is already serving on ", path));
  }
  if (err != ECONNREFUSED) return ErrnoStatus(err, absl::StrCat("probing ", path));
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return ErrnoFailure("removing stale socket ", path);
  }
  LogInfo("removed stale socket %s (nothing answered on it)", path);
  return absl::OkStatus();
}

absl::Status SetAndVerifyMode(const std::string& path, mode_t mode) {
  if (::chmod(path.c_str(), mode) != 0) return ErrnoFailure("chmod ", path);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return ErrnoFailure("stat ", path);
  if ((st.st_mode & 07777) != mode) {
    return absl::InternalError(
        absl::StrFormat("%s has mode %04o, expected %04o", path, st.st_mode & 07777, mode));
  }
  return absl::OkStatus();
}

}  // namespace vmmd::endpoint
