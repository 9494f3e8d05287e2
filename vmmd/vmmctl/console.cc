#include "vmmd/vmmctl/console.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/common/errno_status.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "vmmd/v1/vmm.grpc.pb.h"
#include "vmmd/vmmctl/call.h"
#include "vmmd/vmmctl/format.h"

namespace vmmd::vmmctl {
namespace {

absl::Status OpenError(int err, const std::string& path) {
  if (err == EACCES || err == EPERM) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot read ", path,
                     ": vmmd keeps console logs readable by root only (mode 0600): run "
                     "vmmctl as root"));
  }
  return ErrnoStatus(err, absl::StrCat("open ", path));
}

// Appends everything from `offset` to the end of `fd` to *out.
absl::Status ReadFrom(int fd, uint64_t* offset, const std::string& path, std::string* out) {
  char buf[65536];
  for (;;) {
    const ssize_t n = ::pread(fd, buf, sizeof(buf), static_cast<off_t>(*offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(errno, absl::StrCat("read ", path));
    if (n == 0) return absl::OkStatus();
    out->append(buf, static_cast<size_t>(n));
    *offset += static_cast<uint64_t>(n);
  }
}

absl::Status ReadWhole(const std::string& path, bool* found, std::string* out) {
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (!fd.valid()) {
    if (errno == ENOENT) return absl::OkStatus();
    return OpenError(errno, path);
  }
  *found = true;
  uint64_t offset = 0;
  return ReadFrom(fd.get(), &offset, path, out);
}

Outcome Failed(const absl::Status& status) {
  Outcome o;
  o.exit_code = 1;
  o.err = FormatError(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
  return o;
}

}  // namespace

absl::StatusOr<std::string> ReadConsoleLog(const std::string& path) {
  std::string out;
  bool found = false;
  if (absl::Status s = ReadWhole(path + ".1", &found, &out); !s.ok()) return s;
  if (absl::Status s = ReadWhole(path, &found, &out); !s.ok()) return s;
  if (!found) {
    return absl::NotFoundError(
        absl::StrCat(path, " does not exist: the VM has not started since it was created"));
  }
  return out;
}

absl::Status LogFollower::Drain(std::string* out) {
  return ReadFrom(fd_.get(), &offset_, path_, out);
}

absl::StatusOr<std::string> LogFollower::Poll() {
  std::string out;
  if (!fd_.valid()) {
    fd_.Reset(::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    if (!fd_.valid()) {
      if (errno == ENOENT) return out;
      return OpenError(errno, path_);
    }
    offset_ = 0;
  }
  struct stat open_st {};
  if (::fstat(fd_.get(), &open_st) != 0) return ErrnoStatus(errno, absl::StrCat("fstat ", path_));
  if (static_cast<uint64_t>(open_st.st_size) < offset_) offset_ = 0;  // cut shorter
  if (absl::Status s = Drain(&out); !s.ok()) return s;
  // Rotated: the name now points at another file (or none yet). The old one is read to its
  // end above, and also here, after the check, for bytes written just before the rename.
  struct stat path_st {};
  const bool exists = ::stat(path_.c_str(), &path_st) == 0;
  if (!exists || path_st.st_ino != open_st.st_ino || path_st.st_dev != open_st.st_dev) {
    if (absl::Status s = Drain(&out); !s.ok()) return s;
    fd_.Reset();
    offset_ = 0;
    if (exists) {
      absl::StatusOr<std::string> next = Poll();
      if (!next.ok()) return next.status();
      out += *next;
    }
  }
  return out;
}

Outcome ExecuteConsole(const Invocation& inv, const ProgressFn& progress) {
  std::shared_ptr<grpc::Channel> channel = Connect(inv);
  std::unique_ptr<v1::Vmm::Stub> stub = v1::Vmm::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(inv.timeout));
  v1::GetVmRequest request;
  request.set_name(inv.name);
  v1::Vm vm;
  const grpc::Status status = stub->GetVm(&context, request, &vm);
  if (!status.ok()) {
    Outcome o;
    o.exit_code = 1;
    o.err = FormatError(status.error_code(), ErrorMessage(inv, *channel, status));
    return o;
  }
  const std::string& path = vm.console_log_path();
  if (path.empty()) {
    return Failed(absl::FailedPreconditionError(
        absl::StrCat("VM ", inv.name,
                     " has no console log: vmmd runs without --state_dir, so its console "
                     "output is dropped")));
  }
  if (!inv.follow) {
    absl::StatusOr<std::string> text = ReadConsoleLog(path);
    if (!text.ok()) return Failed(text.status());
    Outcome o;
    o.out = *std::move(text);
    return o;
  }
  // --follow: the rotated part first, then the live file as it grows, until interrupted (or
  // until --timeout when it was given).
  const absl::Time deadline =
      inv.follow_deadline ? absl::Now() + inv.timeout : absl::InfiniteFuture();
  std::string older;
  bool found = false;
  if (absl::Status s = ReadWhole(path + ".1", &found, &older); !s.ok()) return Failed(s);
  if (!older.empty() && progress) progress(older);
  LogFollower follower(path);
  while (true) {
    absl::StatusOr<std::string> more = follower.Poll();
    if (!more.ok()) return Failed(more.status());
    if (!more->empty() && progress) progress(*more);
    if (absl::Now() >= deadline) return Outcome{};
    absl::SleepFor(absl::Milliseconds(200));
  }
}

}  // namespace vmmd::vmmctl
