// Plain domain types of the VM API (the gRPC layer converts to and from these).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "core/vcpu/vcpu_info.h"
#include "vmmd/vmm/vm_state.h"

namespace vmmd::vmm {

// A virtio-blk disk: a raw image file on the vmmd host.
struct DiskSpec {
  std::string path;  // absolute, under an image directory (as kernel_path)
  bool read_only = false;
  std::string serial;  // the device ID the guest reads (GET_ID); empty: "disk<index>"

  bool operator==(const DiskSpec&) const = default;
};

// A virtio-net interface: a TAP interface on the vmmd host, which vmmd attaches to.
struct NicSpec {
  std::string tap;  // the host interface's name
  std::string mac;  // "02:00:5e:10:00:01"; empty: derived from the VM's name (nic_spec.h)

  bool operator==(const NicSpec&) const = default;
};

// How a VM boots. The values are the API's (v1::BootMode); a spec may carry any int until it is
// validated (ValidateVmSpecFields).
enum class BootMode : int {
  kUnspecified = 0,  // kUefi with a firmware_path, else kDeviceTree (EffectiveBootMode)
  kDeviceTree = 1,   // vmmd loads the kernel; a device tree; no vCPU hotplug
  kUefi = 2,         // firmware in flash0; ACPI from fw_cfg; vCPU hotplug
  kAcpiDirect = 3,   // vmmd loads the kernel; ACPI through a synthetic EFI hand-off; vCPU hotplug
};

struct VmSpec {
  std::string name;              // DNS label: [a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?
  std::string kernel_path;       // arm64 Image (absolute path on the vmmd host)
  std::string initrd_path;       // optional
  std::string cmdline;           // optional, < 2048 bytes
  std::string firmware_path;     // optional: UEFI firmware for flash0 (ACPI boot)
  uint64_t memory_mib = 0;
  uint32_t boot_vcpus = 0;       // vCPUs online at boot (ids 0..boot_vcpus-1)
  uint32_t max_vcpus = 0;        // possible vCPUs, all created in KVM at start
  uint32_t start_vcpus = 0;      // available at the first start (0: boot_vcpus)
  std::vector<DiskSpec> disks;   // virtio-blk, in order (the first is the guest's vda)
  std::vector<NicSpec> nics;     // virtio-net, in order (the guest's eth0, eth1, ...)
  bool entropy = false;          // a virtio-rng device
  BootMode boot_mode = BootMode::kUnspecified;

  bool operator==(const VmSpec&) const = default;
};

// The serial the guest sees for disk `index` of `spec`: its own, or "disk<index>".
inline std::string DiskSerial(const VmSpec& spec, size_t index) {
  if (index < spec.disks.size() && !spec.disks[index].serial.empty()) {
    return spec.disks[index].serial;
  }
  return "disk" + std::to_string(index);
}

// A VM's autoscaling policy (autoscale_policy.h has the rules and defaults).
enum class AutoscaleMode { kOff, kRecommend, kAuto };

struct AutoscalePolicy {
  AutoscaleMode mode = AutoscaleMode::kOff;
  // 0 / nullopt mean "the default" (ResolveAutoscalePolicy fills them in).
  uint32_t min_vcpus = 0;
  uint32_t max_vcpus = 0;
  double target_utilization = 0;
  std::optional<double> tolerance;
  std::optional<absl::Duration> scale_up_stabilization;
  std::optional<absl::Duration> scale_down_stabilization;
  uint32_t scale_up_max_step = 0;
  uint32_t scale_down_max_step = 0;
  std::optional<absl::Duration> step_period;

  bool operator==(const AutoscalePolicy&) const = default;
};

// What an autoscaler last reported for a VM.
struct AutoscaleStatus {
  bool present = false;  // false: nothing reported since the policy was last set
  uint32_t recommended_vcpus = 0;
  double utilization = 0;
  double steal = 0;
  std::string reason;
  absl::Time report_time = absl::InfinitePast();
  absl::Time last_scale_time = absl::InfinitePast();
  uint32_t last_scale_from = 0;
  uint32_t last_scale_to = 0;
  std::string last_scale_result;
  std::string reporter;
};

// One disk's I/O since its VM started (virtio-blk requests the guest made).
struct DiskStats {
  uint64_t reads = 0;
  uint64_t writes = 0;
  uint64_t read_bytes = 0;
  uint64_t write_bytes = 0;
  uint64_t flushes = 0;
  uint64_t discards = 0;
  uint64_t errors = 0;  // requests answered with an error (out of range, malformed, I/O error)
  uint64_t queue_errors = 0;  // times the guest broke a queue and the device needed a reset
};

// One NIC's traffic since its VM started; rx is towards the guest.
struct NicStats {
  uint64_t rx_frames = 0;
  uint64_t rx_bytes = 0;
  uint64_t tx_frames = 0;
  uint64_t tx_bytes = 0;
  uint64_t rx_dropped = 0;  // frames the guest had no room for
  uint64_t tx_dropped = 0;  // frames the guest sent malformed or the host refused
  uint64_t queue_errors = 0;  // times the guest broke a queue and the device needed a reset
};

struct VmInfo {
  VmSpec spec;
  VmState state = VmState::kCreated;
  std::string state_reason;  // why it is in this state ("guest powered off", an error, ...)
  absl::Time created_at = absl::InfinitePast();
  absl::Time started_at = absl::InfinitePast();
  absl::Time stopped_at = absl::InfinitePast();
  uint32_t online_vcpus = 0;
  uint32_t target_vcpus = 0;  // the last accepted ScaleVCPUs target (start_vcpus before the first)
  uint32_t restarts = 0;  // guest-requested resets
  uint64_t unmapped_mmio = 0;
  AutoscalePolicy autoscale;         // effective values
  AutoscaleStatus autoscale_status;  // present=false until an autoscaler reports
  // Where vmmd writes the guest's console (<state_dir>/<name>/console.log); empty without a
  // state directory (the output is dropped).
  std::string console_log_path;
  std::vector<DiskStats> disks;  // per spec disk while the VM runs (empty otherwise)
  std::vector<NicStats> nics;    // per spec NIC while the VM runs (empty otherwise)
};

}  // namespace vmmd::vmm
