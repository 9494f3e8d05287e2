#include "vmmd/vmm/record/vm_record_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/common/errno_status.h"
#include "core/common/status_macros.h"
#include "vmmd/vmm/record/vm_record.pb.h"

namespace vmmd::vmm {
namespace {

constexpr uint32_t kFormat = 1;
constexpr char kTempFile[] = "vm.pb.tmp";
constexpr mode_t kDirMode = 0700;
constexpr mode_t kFileMode = 0600;

// A per-VM directory name as vmmd makes them: a VM name (1-63 bytes, no '/', not "." or ".."
// and not hidden). CreateVm's validation is stricter; this only keeps the store to its own.
bool IsRecordName(absl::string_view name) {
  return !name.empty() && name.size() <= 63 && name.front() != '.' &&
         name.find('/') == absl::string_view::npos && name.find('\0') == absl::string_view::npos;
}

int64_t ToNanos(absl::Duration d) { return absl::ToInt64Nanoseconds(d); }

void PolicyToRecord(const AutoscalePolicy& in, record::AutoscalePolicyRecord* out) {
  out->set_mode(static_cast<uint32_t>(in.mode));
  out->set_min_vcpus(in.min_vcpus);
  out->set_max_vcpus(in.max_vcpus);
  out->set_target_utilization(in.target_utilization);
  if (in.tolerance) out->set_tolerance(*in.tolerance);
  if (in.scale_up_stabilization)
    out->set_scale_up_stabilization_ns(ToNanos(*in.scale_up_stabilization));
  if (in.scale_down_stabilization) {
    out->set_scale_down_stabilization_ns(ToNanos(*in.scale_down_stabilization));
  }
  out->set_scale_up_max_step(in.scale_up_max_step);
  out->set_scale_down_max_step(in.scale_down_max_step);
  if (in.step_period) out->set_step_period_ns(ToNanos(*in.step_period));
}

absl::StatusOr<AutoscalePolicy> PolicyFromRecord(const record::AutoscalePolicyRecord& in) {
  AutoscalePolicy out;
  switch (in.mode()) {
    case 0:
      out.mode = AutoscaleMode::kOff;
      break;
    case 1:
      out.mode = AutoscaleMode::kRecommend;
      break;
    case 2:
      out.mode = AutoscaleMode::kAuto;
      break;
    default:
      return absl::DataLossError(absl::StrCat("autoscale mode ", in.mode(), " is unknown"));
  }
  out.min_vcpus = in.min_vcpus();
  out.max_vcpus = in.max_vcpus();
  out.target_utilization = in.target_utilization();
  if (in.has_tolerance()) out.tolerance = in.tolerance();
  if (in.has_scale_up_stabilization_ns()) {
    out.scale_up_stabilization = absl::Nanoseconds(in.scale_up_stabilization_ns());
  }
  if (in.has_scale_down_stabilization_ns()) {
    out.scale_down_stabilization = absl::Nanoseconds(in.scale_down_stabilization_ns());
  }
  out.scale_up_max_step = in.scale_up_max_step();
  out.scale_down_max_step = in.scale_down_max_step();
  if (in.has_step_period_ns()) out.step_period = absl::Nanoseconds(in.step_period_ns());
  return out;
}

absl::Status WriteAll(int fd, absl::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "write");
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::Status FsyncFd(int fd, absl::string_view what) {
  if (::fsync(fd) != 0) return ErrnoStatus(errno, absl::StrCat("fsync ", what));
  return absl::OkStatus();
}

absl::Status CreateDirs(const std::string& path) {
  std::string partial;
  for (size_t pos = 0; pos != std::string::npos;) {
    const size_t next = path.find('/', pos + 1);
    partial = path.substr(0, next);
    pos = next;
    if (partial.empty() || partial == "/") continue;
    if (::mkdir(partial.c_str(), kDirMode) != 0 && errno != EEXIST) {
      return ErrnoStatus(errno, absl::StrCat("mkdir ", partial));
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string SerializeVmRecord(const VmRecord& in) {
  record::VmRecord out;
  out.set_format(kFormat);
  record::VmSpecRecord* spec = out.mutable_spec();
  spec->set_name(in.spec.name);
  spec->set_kernel_path(in.spec.kernel_path);
  spec->set_initrd_path(in.spec.initrd_path);
  spec->set_cmdline(in.spec.cmdline);
  spec->set_firmware_path(in.spec.firmware_path);
  spec->set_memory_mib(in.spec.memory_mib);
  spec->set_boot_vcpus(in.spec.boot_vcpus);
  spec->set_max_vcpus(in.spec.max_vcpus);
  for (const DiskSpec& d : in.spec.disks) {
    record::DiskRecord* disk = spec->add_disks();
    disk->set_path(d.path);
    disk->set_read_only(d.read_only);
    disk->set_serial(d.serial);
  }
  for (const NicSpec& n : in.spec.nics) {
    record::NicRecord* nic = spec->add_nics();
    nic->set_tap(n.tap);
    nic->set_mac(n.mac);
  }
  spec->set_entropy(in.spec.entropy);
  spec->set_boot_mode(static_cast<uint32_t>(in.spec.boot_mode));
  spec->set_start_vcpus(in.spec.start_vcpus);
  out.set_desired_vcpus(in.desired_vcpus);
  out.set_running(in.running);
  PolicyToRecord(in.autoscale, out.mutable_autoscale());
  if (in.created_at != absl::InfinitePast())
    out.set_created_at_unix_ns(absl::ToUnixNanos(in.created_at));
  return out.SerializeAsString();
}

absl::StatusOr<VmRecord> ParseVmRecord(absl::string_view bytes) {
  if (bytes.size() > kMaxVmRecordBytes) {
    return absl::DataLossError(
        absl::StrCat("record is ", bytes.size(), " bytes (at most ", kMaxVmRecordBytes, ")"));
  }
  record::VmRecord in;
  if (!in.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::DataLossError("record does not parse");
  }
  if (in.format() != kFormat) {
    return absl::DataLossError(absl::StrCat("record format ", in.format(), " is not ", kFormat,
                                            " (written by another vmmd version?)"));
  }
  if (!IsRecordName(in.spec().name())) return absl::DataLossError("record has no valid VM name");
  VmRecord out;
  out.spec.name = in.spec().name();
  out.spec.kernel_path = in.spec().kernel_path();
  out.spec.initrd_path = in.spec().initrd_path();
  out.spec.cmdline = in.spec().cmdline();
  out.spec.firmware_path = in.spec().firmware_path();
  out.spec.memory_mib = in.spec().memory_mib();
  out.spec.boot_vcpus = in.spec().boot_vcpus();
  out.spec.max_vcpus = in.spec().max_vcpus();
  out.spec.start_vcpus = in.spec().start_vcpus();
  for (const record::DiskRecord& d : in.spec().disks()) {
    out.spec.disks.push_back(
        DiskSpec{.path = d.path(), .read_only = d.read_only(), .serial = d.serial()});
  }
  for (const record::NicRecord& n : in.spec().nics()) {
    out.spec.nics.push_back(NicSpec{.tap = n.tap(), .mac = n.mac()});
  }
  out.spec.entropy = in.spec().entropy();
  // Checked, as every field, by ValidateVmSpecFields when the VM is restored.
  out.spec.boot_mode = static_cast<BootMode>(std::min<uint32_t>(in.spec().boot_mode(), 255));
  out.desired_vcpus = in.desired_vcpus();
  out.running = in.running();
  VMMD_ASSIGN_OR_RETURN(out.autoscale, PolicyFromRecord(in.autoscale()));
  if (in.created_at_unix_ns() != 0) out.created_at = absl::FromUnixNanos(in.created_at_unix_ns());
  return out;
}

absl::StatusOr<std::unique_ptr<VmRecordStore>> VmRecordStore::Open(const std::string& state_dir) {
  if (state_dir.empty() || state_dir.front() != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("state directory \"", state_dir, "\" must be an absolute path"));
  }
  VMMD_RETURN_IF_ERROR(CreateDirs(state_dir));
  ScopedFd dir(::open(state_dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir.valid()) {
    const int err = errno;
    if (err == ELOOP || err == ENOTDIR) {
      return absl::FailedPreconditionError(
          absl::StrCat("state directory ", state_dir, " is not a directory (or is a symlink)"));
    }
    return ErrnoStatus(err, absl::StrCat("open ", state_dir));
  }
  return std::unique_ptr<VmRecordStore>(new VmRecordStore(state_dir, std::move(dir)));
}

absl::StatusOr<ScopedFd> VmRecordStore::OpenVmDir(absl::string_view name, bool create) const {
  if (!IsRecordName(name)) return absl::InvalidArgumentError("not a VM name");
  const std::string n(name);
  if (create && ::mkdirat(dir_.get(), n.c_str(), kDirMode) != 0 && errno != EEXIST) {
    return ErrnoStatus(errno, absl::StrCat("mkdir ", path_, "/", n));
  }
  ScopedFd vm_dir(::openat(dir_.get(), n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!vm_dir.valid()) {
    const int err = errno;
    if (err == ELOOP || err == ENOTDIR) {
      return absl::FailedPreconditionError(
          absl::StrCat(path_, "/", n, " is not a directory (or is a symlink)"));
    }
    return ErrnoStatus(err, absl::StrCat("open ", path_, "/", n));
  }
  return vm_dir;
}

absl::Status VmRecordStore::Save(const VmRecord& record) {
  VMMD_ASSIGN_OR_RETURN(ScopedFd vm_dir, OpenVmDir(record.spec.name, /*create=*/true));
  const std::string where = absl::StrCat(path_, "/", record.spec.name, "/");
  // A leftover of an interrupted Save (or anything planted under that name) goes first: the
  // file is then created new (O_EXCL), never opened through whatever was there.
  if (::unlinkat(vm_dir.get(), kTempFile, 0) != 0 && errno != ENOENT) {
    return ErrnoStatus(errno, absl::StrCat("remove ", where, kTempFile));
  }
  ScopedFd tmp(::openat(vm_dir.get(), kTempFile,
                        O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, kFileMode));
  if (!tmp.valid()) return ErrnoStatus(errno, absl::StrCat("create ", where, kTempFile));
  VMMD_RETURN_IF_ERROR(WriteAll(tmp.get(), SerializeVmRecord(record)));
  VMMD_RETURN_IF_ERROR(FsyncFd(tmp.get(), absl::StrCat(where, kTempFile)));
  if (::renameat(vm_dir.get(), kTempFile, vm_dir.get(), kVmRecordFile) != 0) {
    return ErrnoStatus(errno, absl::StrCat("rename ", where, kTempFile));
  }
  VMMD_RETURN_IF_ERROR(FsyncFd(vm_dir.get(), where));
  // The per-VM directory entry itself must be durable too (it may have just been created).
  return FsyncFd(dir_.get(), path_);
}

absl::Status VmRecordStore::Remove(absl::string_view name) {
  VMMD_ASSIGN_OR_RETURN(ScopedFd vm_dir, OpenVmDir(name, /*create=*/false));
  if (::unlinkat(vm_dir.get(), kVmRecordFile, 0) != 0) {
    return ErrnoStatus(errno, absl::StrCat("remove ", path_, "/", name, "/", kVmRecordFile));
  }
  ::unlinkat(vm_dir.get(), kTempFile, 0);  // a leftover of an interrupted Save, if any
  return FsyncFd(vm_dir.get(), absl::StrCat(path_, "/", name));
}

absl::StatusOr<VmRecord> VmRecordStore::Load(absl::string_view name) const {
  VMMD_ASSIGN_OR_RETURN(ScopedFd vm_dir, OpenVmDir(name, /*create=*/false));
  const std::string where = absl::StrCat(path_, "/", name, "/", kVmRecordFile);
  ScopedFd file(::openat(vm_dir.get(), kVmRecordFile,
                         O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  if (!file.valid()) {
    const int err = errno;
    if (err == ELOOP) return absl::DataLossError(absl::StrCat(where, " is a symlink"));
    return ErrnoStatus(err, absl::StrCat("open ", where));
  }
  struct stat st {};
  if (::fstat(file.get(), &st) != 0) return ErrnoStatus(errno, absl::StrCat("stat ", where));
  if (!S_ISREG(st.st_mode))
    return absl::DataLossError(absl::StrCat(where, " is not a regular file"));
  if (static_cast<uint64_t>(st.st_size) > kMaxVmRecordBytes) {
    return absl::DataLossError(
        absl::StrFormat("%s is %d bytes (at most %d)", where, st.st_size, kMaxVmRecordBytes));
  }
  std::string bytes(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::read(file.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(errno, absl::StrCat("read ", where));
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  bytes.resize(done);
  absl::StatusOr<VmRecord> record = ParseVmRecord(bytes);
  if (!record.ok()) {
    return absl::DataLossError(absl::StrCat(where, ": ", record.status().message()));
  }
  if (record->spec.name != name) {
    return absl::DataLossError(absl::StrCat(where, " names VM \"", record->spec.name.substr(0, 63),
                                            "\", not its directory"));
  }
  return record;
}

std::vector<VmRecordStore::Loaded> VmRecordStore::LoadAll() const {
  std::vector<Loaded> out;
  const int fd = ::openat(dir_.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return out;
  DIR* dir = ::fdopendir(fd);
  if (dir == nullptr) {
    ::close(fd);
    return out;
  }
  while (const struct dirent* entry = ::readdir(dir)) {
    const absl::string_view name(entry->d_name);
    if (!IsRecordName(name)) continue;
    struct stat st {};
    if (::fstatat(dir_.get(), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
        !S_ISDIR(st.st_mode)) {
      continue;
    }
    struct stat file {};
    const std::string record_path = absl::StrCat(name, "/", kVmRecordFile);
    if (::fstatat(dir_.get(), record_path.c_str(), &file, AT_SYMLINK_NOFOLLOW) != 0 &&
        errno == ENOENT) {
      continue;  // a directory with other state only (e.g. written by an older vmmd)
    }
    out.push_back(Loaded{std::string(name), Load(name)});
  }
  ::closedir(dir);
  std::sort(out.begin(), out.end(),
            [](const Loaded& a, const Loaded& b) { return a.name < b.name; });
  return out;
}

}  // namespace vmmd::vmm
