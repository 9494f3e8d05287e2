// vmmd's memory of its VMs across its own restarts: one record per VM (spec, desired vCPU count,
// whether it should run, autoscaling policy) in <state_dir>/<vm name>/vm.pb.
//
// Durable and atomic: a record is written to vm.pb.tmp, fsynced, renamed over vm.pb and the
// directory fsynced, so after a crash at any point the record is either the old or the new one.
// Nothing is followed through a symlink: the state directory is opened once, every per-VM
// directory and file is reached relative to it with O_NOFOLLOW, and only regular files and
// directories are accepted. A record that cannot be read or parsed affects that VM alone.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/common/scoped_fd.h"
#include "vmmd/vmm/vm_types.h"

namespace vmmd::vmm {

struct VmRecord {
  VmSpec spec;
  uint32_t desired_vcpus = 0;  // the last accepted target (boot_vcpus if never scaled)
  bool running = false;        // started and not since stopped by a client or its guest
  AutoscalePolicy autoscale;
  absl::Time created_at = absl::InfinitePast();

  bool operator==(const VmRecord&) const = default;
};

// The file name of a VM's record inside its directory.
inline constexpr char kVmRecordFile[] = "vm.pb";
// A record larger than this is refused as corrupt (a real one is a few KiB: paths are at most
// 4 KiB each).
inline constexpr uint64_t kMaxVmRecordBytes = 64 * 1024;

// The record as bytes and back (exposed for tests and fuzzing). Parse refuses (DATA_LOSS) bytes
// that are not a record, a record of a newer format, or one without a valid name.
std::string SerializeVmRecord(const VmRecord& record);
absl::StatusOr<VmRecord> ParseVmRecord(absl::string_view bytes);

class VmRecordStore {
 public:
  // Opens (creating it 0700 if missing, parents too) the state directory. A symlink as the
  // last component is refused (FAILED_PRECONDITION).
  static absl::StatusOr<std::unique_ptr<VmRecordStore>> Open(const std::string& state_dir);

  // Writes the VM's record atomically and durably (creating <name>/ 0700 if needed).
  absl::Status Save(const VmRecord& record);
  // Removes the VM's record (not its directory, which holds other state); NOT_FOUND if none.
  absl::Status Remove(absl::string_view name);

  // Every per-VM directory that holds a record, sorted by name, each with its record or why it
  // could not be read (DATA_LOSS: corrupt; others: the errno's code). Directories without a
  // record and entries that are not VM names are skipped.
  struct Loaded {
    std::string name;
    absl::StatusOr<VmRecord> record;
  };
  std::vector<Loaded> LoadAll() const;

  const std::string& path() const { return path_; }

 private:
  VmRecordStore(std::string path, ScopedFd dir) : path_(std::move(path)), dir_(std::move(dir)) {}
  absl::StatusOr<ScopedFd> OpenVmDir(absl::string_view name, bool create) const;
  absl::StatusOr<VmRecord> Load(absl::string_view name) const;

  const std::string path_;
  const ScopedFd dir_;  // O_PATH-free O_DIRECTORY fd of the state directory
};

}  // namespace vmmd::vmm
