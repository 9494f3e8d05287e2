#include "core/common/confined_dir.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/common/bounded_echo.h"
#include "core/common/errno_status.h"

namespace vmmd {
namespace {

constexpr uint64_t kResolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;

int OpenAt2(int dirfd, const std::string& path, uint64_t flags) {
  struct open_how how {};
  how.flags = flags;
  how.resolve = kResolve;
  for (;;) {
    const long fd = ::syscall(SYS_openat2, dirfd, path.c_str(), &how, sizeof(how));
    if (fd >= 0 || errno != EINTR) return static_cast<int>(fd);
  }
}

const char* KindOf(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "not a regular file";
}

}  // namespace

absl::Status CheckCanonicalPath(absl::string_view path, absl::string_view field) {
  const auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s \"%s\" %s", field, BoundedEcho(path), why));
  };
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat(field, " is empty"));
  if (path.find('\0') != absl::string_view::npos) return bad("contains a NUL byte");
  if (path.front() != '/') return bad("must be an absolute path on the vmmd host");
  if (path == "/") return absl::OkStatus();
  for (absl::string_view part : absl::StrSplit(path.substr(1), '/')) {
    if (part.empty() || part == "." || part == "..") {
      return bad(
          "must be a canonical absolute path: no empty (\"//\", trailing '/'), \".\" or \"..\" "
          "component");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ConfinedDir> ConfinedDir::Open(absl::string_view path) {
  std::string p(path);
  if (p.size() > 1 && p.back() == '/') p.pop_back();
  if (absl::Status s = CheckCanonicalPath(p, "directory"); !s.ok()) return s;
  ScopedFd fd(::open(p.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOTDIR) {
      return absl::InvalidArgumentError(absl::StrFormat("%s is not a directory", p));
    }
    return ErrnoStatus(errno, absl::StrCat("open directory ", p));
  }
  // Probe openat2 once: without it no later open could be confined.
  ScopedFd self(OpenAt2(fd.get(), ".", O_PATH | O_CLOEXEC));
  if (!self.valid()) {
    if (errno == ENOSYS) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "this kernel has no openat2 (Linux >= 5.6 is needed, or a seccomp filter refuses it): "
          "vmmd cannot open files under %s without following symbolic links",
          p));
    }
    return ErrnoStatus(errno, absl::StrCat("openat2 ", p));
  }
  return ConfinedDir(std::move(p), std::move(fd));
}

absl::StatusOr<ConfinedFile> ConfinedDir::OpenRegularFile(absl::string_view relative,
                                                          absl::string_view field,
                                                          absl::string_view shown,
                                                          FileAccess access, FileKind kind) const {
  const std::string rel(relative);
  const std::string what = absl::StrFormat("%s \"%s\"", field, BoundedEcho(shown));
  const auto open_error = [&](int err) -> absl::Status {
    switch (err) {
      case ENOENT:
        return absl::NotFoundError(absl::StrCat(what, ": no such file"));
      case ENOTDIR:
        return absl::NotFoundError(
            absl::StrCat(what, ": no such file (a component on the way is not a directory)"));
      case ELOOP:
        return absl::PermissionDeniedError(absl::StrFormat(
            "%s: a symbolic link is on the way; vmmd follows no symbolic link under %s: name "
            "the file itself",
            what, path_));
      case EXDEV:
        return absl::PermissionDeniedError(absl::StrFormat("%s escapes %s", what, path_));
      case EACCES:
      case EPERM:
        return absl::PermissionDeniedError(absl::StrCat(
            what, access == FileAccess::kRead ? " is not readable by vmmd"
                                              : " is not readable and writable by vmmd"));
      case EROFS:
        return absl::PermissionDeniedError(
            absl::StrCat(what, " is on a read-only filesystem: it cannot be opened for writing"));
      case ENAMETOOLONG:
        return absl::InvalidArgumentError(absl::StrCat(what, ": a name in it is too long"));
      default:
        return ErrnoStatus(err, absl::StrCat("open ", what));
    }
  };
  const auto check_regular = [&](int fd, struct stat* st) -> absl::Status {
    if (::fstat(fd, st) != 0) return ErrnoStatus(errno, absl::StrCat("fstat ", what));
    const bool block_ok = kind == FileKind::kRegularOrBlockDevice && S_ISBLK(st->st_mode);
    if (!S_ISREG(st->st_mode) && !block_ok) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s is not a regular file%s (it is %s)", what,
                          kind == FileKind::kRegularOrBlockDevice ? " or a block device" : "",
                          KindOf(st->st_mode)));
    }
    return absl::OkStatus();
  };
  struct stat st {};
  {
    // O_PATH opens nothing for I/O: a FIFO, device or socket is refused before any open(2)
    // could block or have a side effect.
    ScopedFd probe(OpenAt2(fd_.get(), rel, O_PATH | O_CLOEXEC));
    if (!probe.valid()) return open_error(errno);
    if (absl::Status s = check_regular(probe.get(), &st); !s.ok()) return s;
  }
  ConfinedFile file;
  const int mode = access == FileAccess::kRead ? O_RDONLY : O_RDWR;
  file.fd.Reset(OpenAt2(fd_.get(), rel, mode | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!file.fd.valid()) return open_error(errno);
  // Swapped between the two opens: still beneath, still no symlink, but check the type again.
  if (absl::Status s = check_regular(file.fd.get(), &st); !s.ok()) return s;
  file.size = static_cast<uint64_t>(st.st_size);
  if (S_ISBLK(st.st_mode)) {
    const off_t end = ::lseek(file.fd.get(), 0, SEEK_END);
    if (end < 0) return ErrnoStatus(errno, absl::StrCat("size of ", what));
    file.size = static_cast<uint64_t>(end);
    file.block_device = true;
  }
  return file;
}

absl::StatusOr<ConfinedDirs> ConfinedDirs::Open(const std::vector<std::string>& paths,
                                                absl::string_view flag) {
  ConfinedDirs out;
  out.flag_ = std::string(flag);
  for (const std::string& p : paths) {
    if (p.empty()) continue;
    absl::StatusOr<ConfinedDir> dir = ConfinedDir::Open(p);
    if (!dir.ok()) {
      return absl::Status(dir.status().code(), absl::StrCat(flag, ": ", dir.status().message()));
    }
    out.dirs_.push_back(std::move(*dir));
  }
  return out;
}

std::string ConfinedDirs::Describe() const {
  if (dirs_.empty()) return "none";
  return absl::StrJoin(dirs_, ", ",
                       [](std::string* out, const ConfinedDir& d) { out->append(d.path()); });
}

absl::StatusOr<ConfinedFile> ConfinedDirs::OpenFile(absl::string_view path, absl::string_view field,
                                                    FileAccess access, FileKind kind) const {
  if (absl::Status s = CheckCanonicalPath(path, field); !s.ok()) return s;
  for (const ConfinedDir& dir : dirs_) {
    const std::string& d = dir.path();
    if (d == "/") return dir.OpenRegularFile(path.substr(1), field, path, access, kind);
    if (path == d) return dir.OpenRegularFile(".", field, path, access, kind);
    if (path.size() > d.size() && path[d.size()] == '/' && path.substr(0, d.size()) == d) {
      return dir.OpenRegularFile(path.substr(d.size() + 1), field, path, access, kind);
    }
  }
  return absl::PermissionDeniedError(absl::StrFormat(
      "%s \"%s\" is not under an image directory: vmmd opens only files under %s (its %s "
      "flag)",
      field, BoundedEcho(path), Describe(), flag_));
}

}  // namespace vmmd
