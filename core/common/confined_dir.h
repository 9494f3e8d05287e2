// Opening files a client names, only beneath directories the operator configured (vmmd's
// --image_dir), never through a symbolic link, and only if they are regular files.
//
// The rule, in two steps:
//  1. Lexical (CheckCanonicalPath): the path is absolute and canonical: it starts with '/',
//     has no empty component ("//", a trailing '/'), no "." and no ".." component, no NUL.
//     Such a path is under directory D exactly when it starts with D + "/" (D itself canonical);
//     nothing is resolved to decide that, so the check cannot be raced.
//  2. Kernel: the rest of the path is opened relative to an O_PATH fd of D, taken when the
//     directory was configured, with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
//     RESOLVE_NO_MAGICLINKS): a symbolic link anywhere on the way (the last component included)
//     and any escape from D are refused by the kernel at open time, so a file swapped for a
//     symlink after it was checked is refused too. The file is first opened O_PATH and fstat'ed
//     (a FIFO, device, socket or directory is refused without ever being opened for reading),
//     then opened O_RDONLY|O_CLOEXEC|O_NONBLOCK|O_NOCTTY and fstat'ed again (regular file only).
//     Every read then goes through the returned fd.
// openat2 needs Linux 5.6; without it ConfinedDir::Open is FAILED_PRECONDITION (vmmd does not
// start) rather than falling back to a weaker check.
//
// Codes (`field` names the request field in every message, a client path is echoed bounded):
//   INVALID_ARGUMENT   relative or non-canonical path; not a regular file; a name too long
//   PERMISSION_DENIED  not under any configured directory (the message lists them); a symbolic
//                      link on the way; an escape; the file is not readable (or, for
//                      FileAccess::kReadWrite, not writable)
//   NOT_FOUND          no such file (or a component on the way is not a directory)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/common/scoped_fd.h"

namespace vmmd {

// INVALID_ARGUMENT (naming `field`) unless `path` is absolute and canonical (see above).
absl::Status CheckCanonicalPath(absl::string_view path, absl::string_view field);

// How a confined file is opened: O_RDONLY, or O_RDWR (a disk image the guest writes).
enum class FileAccess { kRead, kReadWrite };
// What it may be: a regular file, or also a block device (a disk on an LVM volume or a whole
// drive, whose node the host's administrator put under an image directory).
enum class FileKind { kRegular, kRegularOrBlockDevice };

// A regular file (or block device) opened O_CLOEXEC|O_NONBLOCK|O_NOCTTY, read-only unless asked
// otherwise.
struct ConfinedFile {
  ScopedFd fd;
  uint64_t size = 0;  // a block device's: its capacity in bytes
  bool block_device = false;
};

class ConfinedDir {
 public:
  // Opens the directory `path` (absolute and canonical; one trailing '/' is dropped) with
  // O_PATH|O_DIRECTORY|O_CLOEXEC; its fd anchors every later open, so renaming the directory
  // afterwards changes nothing. INVALID_ARGUMENT for a bad path or one that is not a directory,
  // NOT_FOUND if missing, FAILED_PRECONDITION if the kernel has no openat2 (Linux < 5.6).
  static absl::StatusOr<ConfinedDir> Open(absl::string_view path);

  const std::string& path() const { return path_; }

  // Opens `relative` (no leading '/'; "." is the directory itself) beneath the directory, as
  // described above. `field` and `shown` (the client's spelling of the path) go into messages.
  absl::StatusOr<ConfinedFile> OpenRegularFile(absl::string_view relative, absl::string_view field,
                                               absl::string_view shown,
                                               FileAccess access = FileAccess::kRead,
                                               FileKind kind = FileKind::kRegular) const;

 private:
  ConfinedDir(std::string path, ScopedFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}

  std::string path_;
  ScopedFd fd_;
};

// The set of directories a client's path may point into.
class ConfinedDirs {
 public:
  // Opens every directory of `paths` (ConfinedDir::Open; empty strings are skipped). `flag`
  // names the setting that configures them, for messages ("--image_dir").
  static absl::StatusOr<ConfinedDirs> Open(const std::vector<std::string>& paths,
                                           absl::string_view flag);
  ConfinedDirs() = default;

  // Opens the client's absolute `path` if it lies under one of the directories (the first that
  // holds it), with the codes above.
  absl::StatusOr<ConfinedFile> OpenFile(absl::string_view path, absl::string_view field,
                                        FileAccess access = FileAccess::kRead,
                                        FileKind kind = FileKind::kRegular) const;

  // "/a, /b", or "none" (then every path is PERMISSION_DENIED).
  std::string Describe() const;
  const std::vector<ConfinedDir>& dirs() const { return dirs_; }

 private:
  std::vector<ConfinedDir> dirs_;
  std::string flag_;
};

}  // namespace vmmd
