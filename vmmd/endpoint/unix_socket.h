// Filesystem side of vmmd's Unix-socket API endpoint: parent directory, single-instance lock,
// stale socket detection, permissions. Used by the daemon (and ProbeUnixSocket by vmmctl).
#pragma once

#include <sys/types.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/common/scoped_fd.h"

namespace vmmd::endpoint {

// Longest socket path a sockaddr_un holds (without its NUL).
size_t MaxUnixSocketPathLength();

// Connects to the stream socket at `path` without blocking: 0 when something accepted (or
// the backlog is full: alive but busy), otherwise the errno (ENOENT: no file, ECONNREFUSED:
// a file nobody listens on, ENAMETOOLONG, ...).
int ProbeUnixSocket(const std::string& path);

// Creates the missing directories of `dir` (like mkdir -p): `dir` itself with exactly `mode`,
// missing parents with 0755.
absl::Status CreateDirectories(const std::string& dir, mode_t mode);

// Takes an exclusive, non-blocking flock on `lock_path` (created 0600 if missing) and returns
// the fd that holds it. ALREADY_EXISTS if another process holds it.
absl::StatusOr<ScopedFd> LockFile(const std::string& lock_path);

// Makes `path` free for a new listening socket: nothing there is fine; a socket nobody
// answers on (stale, from a dead vmmd) is removed. ALREADY_EXISTS if something serves there,
// FAILED_PRECONDITION if the path is not a socket, INVALID_ARGUMENT if it is too long.
absl::Status ClaimSocketPath(const std::string& path);

// chmod(path, mode) and checks the result with stat: INTERNAL if the mode did not stick.
absl::Status SetAndVerifyMode(const std::string& path, mode_t mode);

}  // namespace vmmd::endpoint
