#include "vmmd/sandbox/seccomp.h"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/common/errno_status.h"
#include "core/common/scoped_fd.h"
#include "core/kvm/vcpu_thread_ioctls.h"
#include "core/net/tap.h"

namespace vmmd::sandbox {
namespace {

struct CtxDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};
using Ctx = std::unique_ptr<void, CtxDeleter>;

uint32_t ViolationAction(SeccompMode mode) {
  return mode == SeccompMode::kLog ? SCMP_ACT_LOG : SCMP_ACT_KILL_PROCESS;
}

// libseccomp returns -errno.
absl::Status SeccompError(int rc, std::string_view what) {
  return ErrnoStatus(-rc, absl::StrCat("seccomp: ", std::string(what)));
}

// A rule for the system call `name`; a name this architecture does not have (open, fork on
// arm64; renameat on arm64) is skipped: the filters are written once for both.
absl::Status Rule(void* ctx, uint32_t action, const char* name,
                  std::vector<scmp_arg_cmp> args = {}) {
  const int nr = seccomp_syscall_resolve_name(name);
  if (nr == __NR_SCMP_ERROR) return absl::OkStatus();
  const int rc = seccomp_rule_add_array(ctx, action, nr, static_cast<unsigned>(args.size()),
                                        args.empty() ? nullptr : args.data());
  if (rc < 0) return SeccompError(rc, absl::StrCat("rule for ", name));
  return absl::OkStatus();
}

// What no thread of vmmd does.
constexpr const char* kDenied[] = {"execve",
                                   "execveat",
                                   "fork",
                                   "vfork",
                                   "ptrace",
                                   "process_vm_readv",
                                   "process_vm_writev",
                                   "process_madvise",
                                   "pidfd_getfd",
                                   "kcmp",
                                   "mount",
                                   "umount2",
                                   "move_mount",
                                   "open_tree",
                                   "fsopen",
                                   "fsconfig",
                                   "fsmount",
                                   "fspick",
                                   "pivot_root",
                                   "chroot",
                                   "setns",
                                   "unshare",
                                   "init_module",
                                   "finit_module",
                                   "delete_module",
                                   "kexec_load",
                                   "kexec_file_load",
                                   "bpf",
                                   "perf_event_open",
                                   "keyctl",
                                   "add_key",
                                   "request_key",
                                   "userfaultfd",
                                   "reboot",
                                   "swapon",
                                   "swapoff",
                                   "acct",
                                   "quotactl",
                                   "settimeofday",
                                   "clock_settime",
                                   "clock_adjtime",
                                   "adjtimex",
                                   "iopl",
                                   "ioperm",
                                   "open_by_handle_at",
                                   "name_to_handle_at",
                                   "lookup_dcookie",
                                   "fanotify_init",
                                   "personality",
                                   "syslog",
                                   "vhangup",
                                   "uselib",
                                   "nfsservctl",
                                   "mbind",
                                   "migrate_pages",
                                   "move_pages",
                                   "set_mempolicy"};

absl::StatusOr<Ctx> ProcessFilter(SeccompMode mode) {
  Ctx ctx(seccomp_init(SCMP_ACT_ALLOW));
  if (ctx == nullptr) return absl::ResourceExhaustedError("seccomp_init failed");
  const uint32_t deny = ViolationAction(mode);
  for (const char* name : kDenied) {
    if (absl::Status s = Rule(ctx.get(), deny, name); !s.ok()) return s;
  }
  // Threads only: a clone without CLONE_THREAD would be a new process. clone3 passes its flags
  // in memory a filter cannot read: ENOSYS makes glibc fall back to clone.
  if (absl::Status s =
          Rule(ctx.get(), deny, "clone", {SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0)});
      !s.ok()) {
    return s;
  }
  if (absl::Status s = Rule(ctx.get(), SCMP_ACT_ERRNO(ENOSYS), "clone3"); !s.ok()) return s;
  return ctx;
}

absl::StatusOr<Ctx> VcpuFilter(SeccompMode mode) {
  Ctx ctx(seccomp_init(ViolationAction(mode)));
  if (ctx == nullptr) return absl::ResourceExhaustedError("seccomp_init failed");
  void* c = ctx.get();
  constexpr const char* kAllowed[] = {
      // Locks, time, scheduling.
      "futex", "nanosleep", "clock_nanosleep", "clock_gettime", "clock_getres", "gettimeofday",
      "sched_yield", "getpid", "gettid", "restart_syscall",
      // Logging and the console log (rotation reopens it under its directory fd); the flash
      // variable store (write-back and its sync) and fw_cfg files (read at the guest's request)
      // through fds opened before; the thread's CPU time (schedstat).
      "read", "write", "writev", "close", "openat", "renameat", "renameat2", "fstat", "newfstatat",
      "statx", "lseek", "pread64", "pwrite64", "fdatasync", "fsync",
      // The allocator and thread stacks.
      "brk", "munmap", "mremap", "madvise",
      // Threads: CPU_ON starts one, CPU_OFF ends one.
      // (glibc's pthread_create reads the creator's scheduling policy once per creator.)
      "set_robust_list", "rseq", "exit", "exit_group", "sched_getaffinity", "sched_getparam",
      "sched_getscheduler",
      // The kick signal (handler, mask) and pthread_kill.
      "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "tgkill", "getrandom"};
  for (const char* name : kAllowed) {
    if (absl::Status s = Rule(c, SCMP_ACT_ALLOW, name); !s.ok()) return s;
  }
  // Memory never becomes executable on a vCPU thread.
  for (const char* name : {"mmap", "mprotect"}) {
    if (absl::Status s = Rule(c, SCMP_ACT_ALLOW, name, {SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)});
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = Rule(c, SCMP_ACT_ALLOW, "clone",
                            {SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD)});
      !s.ok()) {
    return s;
  }
  if (absl::Status s = Rule(c, SCMP_ACT_ERRNO(ENOSYS), "clone3"); !s.ok()) return s;
  if (absl::Status s = Rule(c, SCMP_ACT_ALLOW, "prctl", {SCMP_A0(SCMP_CMP_EQ, PR_SET_NAME)});
      !s.ok()) {
    return s;
  }
  // A guest's driver activating or resetting a virtio-net device sets its TAP's offloads.
  std::vector<unsigned long> ioctls = core::VcpuThreadIoctls();
  for (unsigned long request : core::net::TapActivationIoctls()) ioctls.push_back(request);
  for (unsigned long request : ioctls) {
    if (absl::Status s = Rule(c, SCMP_ACT_ALLOW, "ioctl",
                              {SCMP_A1(SCMP_CMP_MASKED_EQ, 0xFFFF'FFFFULL, request)});
        !s.ok()) {
      return s;
    }
  }
  return ctx;
}

// A VM's controller thread builds machines (files under the image and state directories, KVM,
// guest RAM, threads) but never touches the network: no socket of any kind.
absl::StatusOr<Ctx> ControllerFilter(SeccompMode mode) {
  Ctx ctx(seccomp_init(SCMP_ACT_ALLOW));
  if (ctx == nullptr) return absl::ResourceExhaustedError("seccomp_init failed");
  constexpr const char* kDeniedHere[] = {
      "socket",   "socketpair", "connect",    "bind",        "listen",     "accept",
      "accept4",  "sendto",     "sendmsg",    "sendmmsg",    "recvfrom",   "recvmsg",
      "recvmmsg", "getsockopt", "setsockopt", "getpeername", "getsockname"};
  for (const char* name : kDeniedHere) {
    if (absl::Status s = Rule(ctx.get(), ViolationAction(mode), name); !s.ok()) return s;
  }
  return ctx;
}

// A VM's I/O thread serves virtqueues: it waits on eventfds, reads and writes guest RAM (no
// system call) and the disk, network and entropy files opened for it before, and signals the
// interrupt eventfds. Nothing else: no opening of files, no sockets, no ioctls, no threads.
absl::StatusOr<Ctx> IoFilter(SeccompMode mode) {
  Ctx ctx(seccomp_init(ViolationAction(mode)));
  if (ctx == nullptr) return absl::ResourceExhaustedError("seccomp_init failed");
  void* c = ctx.get();
  constexpr const char* kAllowed[] = {
      // The loop and its eventfds.
      "epoll_wait", "epoll_pwait", "read", "write",
      // Disk, network and entropy I/O on fds opened before the thread started.
      "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2", "pwritev2",
      "fdatasync", "fsync", "fallocate", "lseek", "fstat", "newfstatat", "statx",
      // Locks, time, logging.
      "futex", "nanosleep", "clock_nanosleep", "clock_gettime", "gettimeofday", "sched_yield",
      "getpid", "gettid", "restart_syscall",
      // The allocator; the end of the thread (or of the process, which the kill is anyway).
      "brk", "munmap", "mremap", "madvise", "exit", "exit_group", "rt_sigprocmask", "rt_sigreturn",
      "sigaltstack", "getrandom"};
  for (const char* name : kAllowed) {
    if (absl::Status s = Rule(c, SCMP_ACT_ALLOW, name); !s.ok()) return s;
  }
  for (const char* name : {"mmap", "mprotect"}) {
    if (absl::Status s = Rule(c, SCMP_ACT_ALLOW, name, {SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)});
        !s.ok()) {
      return s;
    }
  }
  return ctx;
}

absl::StatusOr<Ctx> FilterFor(ThreadRole role, SeccompMode mode) {
  switch (role) {
    case ThreadRole::kVcpu:
      return VcpuFilter(mode);
    case ThreadRole::kController:
      return ControllerFilter(mode);
    case ThreadRole::kIo:
      return IoFilter(mode);
    case ThreadRole::kNone:
      break;
  }
  return absl::InvalidArgumentError("no filter for this thread role");
}

absl::Status Load(void* ctx, std::string_view what) {
  if (const int rc = seccomp_load(ctx); rc < 0) {
    return absl::FailedPreconditionError(
        absl::StrFormat("cannot install the %s seccomp filter: %s", what, std::strerror(-rc)));
  }
  return absl::OkStatus();
}

// The role filters, compiled to BPF once by ConfineProcess: a thread installs its filter with
// one system call and no allocation.
struct Programs {
  std::vector<sock_filter> vcpu;
  std::vector<sock_filter> controller;
  std::vector<sock_filter> io;

  std::vector<sock_filter>& For(ThreadRole role) {
    return role == ThreadRole::kVcpu ? vcpu : role == ThreadRole::kIo ? io : controller;
  }
  const std::vector<sock_filter>& For(ThreadRole role) const {
    return role == ThreadRole::kVcpu ? vcpu : role == ThreadRole::kIo ? io : controller;
  }
};
constexpr ThreadRole kConfinedRoles[] = {ThreadRole::kVcpu, ThreadRole::kController,
                                         ThreadRole::kIo};

std::string_view RoleName(ThreadRole role) {
  switch (role) {
    case ThreadRole::kVcpu:
      return "vCPU";
    case ThreadRole::kController:
      return "controller";
    case ThreadRole::kIo:
      return "I/O";
    case ThreadRole::kNone:
      break;
  }
  return "unconfined";
}
const Programs* g_programs = nullptr;  // set once, before any confined thread; never freed

absl::StatusOr<std::vector<sock_filter>> Compile(void* ctx) {
  ScopedFd fd(static_cast<int>(syscall(SYS_memfd_create, "vmmd-seccomp", MFD_CLOEXEC)));
  if (!fd.valid()) return ErrnoStatus(errno, "memfd_create");
  if (const int rc = seccomp_export_bpf(ctx, fd.get()); rc < 0) {
    return SeccompError(rc, "export the filter");
  }
  const off_t size = lseek(fd.get(), 0, SEEK_END);
  if (size <= 0 || size % sizeof(sock_filter) != 0) {
    return absl::InternalError(absl::StrFormat("seccomp: exported filter of %d bytes", size));
  }
  std::vector<sock_filter> code(static_cast<size_t>(size) / sizeof(sock_filter));
  if (pread(fd.get(), code.data(), static_cast<size_t>(size), 0) != size) {
    return ErrnoStatus(errno, "seccomp: read back the filter");
  }
  return code;
}

absl::Status EnterRoleSandbox(ThreadRole role) {
  if (g_programs == nullptr || role == ThreadRole::kNone) return absl::OkStatus();
  const std::vector<sock_filter>& code = g_programs->For(role);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return ErrnoStatus(errno, "PR_SET_NO_NEW_PRIVS");
  sock_fprog prog{};
  prog.len = static_cast<unsigned short>(code.size());
  prog.filter = const_cast<sock_filter*>(code.data());
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
    return ErrnoStatus(errno, "install the thread's seccomp filter");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SeccompMode> ParseSeccompMode(std::string_view text) {
  if (text == "enforce") return SeccompMode::kEnforce;
  if (text == "log") return SeccompMode::kLog;
  if (text == "off") return SeccompMode::kOff;
  return absl::InvalidArgumentError(absl::StrCat("--seccomp must be enforce, log or off (got \"",
                                                 std::string(text.substr(0, 40)), "\")"));
}

std::string_view SeccompModeName(SeccompMode mode) {
  switch (mode) {
    case SeccompMode::kOff:
      return "off";
    case SeccompMode::kLog:
      return "log";
    case SeccompMode::kEnforce:
      return "enforce";
  }
  return "?";
}

absl::Status InstallProcessFilter(SeccompMode mode, bool all_threads) {
  if (mode == SeccompMode::kOff) return absl::OkStatus();
  absl::StatusOr<Ctx> ctx = ProcessFilter(mode);
  if (!ctx.ok()) return ctx.status();
  if (all_threads) {
    if (const int rc = seccomp_attr_set(ctx->get(), SCMP_FLTATR_CTL_TSYNC, 1); rc < 0) {
      return SeccompError(rc, "TSYNC");
    }
  }
  return Load(ctx->get(), "process");
}

absl::Status InstallThreadFilter(ThreadRole role, SeccompMode mode) {
  if (mode == SeccompMode::kOff || role == ThreadRole::kNone) return absl::OkStatus();
  absl::StatusOr<Ctx> ctx = FilterFor(role, mode);
  if (!ctx.ok()) return ctx.status();
  return Load(ctx->get(), RoleName(role));
}

absl::Status ConfineProcess(SeccompMode mode) {
  if (mode == SeccompMode::kOff) return absl::OkStatus();
  if (g_programs != nullptr) return absl::FailedPreconditionError("already confined");
  auto programs = std::make_unique<Programs>();
  for (ThreadRole role : kConfinedRoles) {
    absl::StatusOr<Ctx> ctx = FilterFor(role, mode);
    if (!ctx.ok()) return ctx.status();
    absl::StatusOr<std::vector<sock_filter>> code = Compile(ctx->get());
    if (!code.ok()) return code.status();
    programs->For(role) = *std::move(code);
  }
  if (absl::Status s = InstallProcessFilter(mode, /*all_threads=*/true); !s.ok()) return s;
  g_programs = programs.release();
  SetThreadSandbox(&EnterRoleSandbox);
  return absl::OkStatus();
}

}  // namespace vmmd::sandbox
