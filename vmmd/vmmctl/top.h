// vmmctl top: every VM on one line, refreshed every interval. A sample is ListVms plus
// GetCPUState of each RUNNING VM; a frame (the rates between two samples) and its text are pure
// functions of the samples, and the loop (RunTop) runs over injected calls, clock and sleep, so
// all of it is unit-tested; ExecuteTop (top_run.cc) binds it to vmmd and to SIGINT/SIGTERM.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "grpcpp/support/status.h"
#include "vmmd/v1/vmm.pb.h"

namespace vmmd::vmmctl {

// --sort: by name (ascending); by utilisation, steal or online vCPUs (descending, "-" last,
// ties by name).
enum class TopSort { kName, kUtil, kSteal, kVcpus };
// "name", "util", "steal", "vcpus"; INVALID_ARGUMENT for anything else.
absl::StatusOr<TopSort> ParseTopSort(absl::string_view text);

// One VM in a sample: its ListVms entry and, for a RUNNING VM, its vCPUs (GetCPUState) and when
// they were read (the middle of the call).
struct TopVmSample {
  v1::Vm vm;
  bool has_vcpus = false;
  std::vector<v1::VcpuStatus> vcpus;
  absl::Time vcpus_time;
};

struct TopSample {
  absl::Time time;  // when it was taken (before ListVms)
  std::vector<TopVmSample> vms;
};

// Busy and steal fractions of the online vCPUs between two readings of one VM's vCPUs, `wall`
// apart: the sum of every vCPU's busy_ns (delay_ns) delta / (wall × online vCPUs). Unset when
// there is nothing to measure: wall <= 0, no vCPU online, the online set changed (a vCPU came,
// went, or went and came back: its last_transition moved), a vCPU is missing from either
// reading, or a counter went backwards (the VM was recreated).
struct VcpuLoad {
  std::optional<double> utilization;
  std::optional<double> steal;
};
VcpuLoad MeasureVcpuLoad(const std::vector<v1::VcpuStatus>& before,
                         const std::vector<v1::VcpuStatus>& after, absl::Duration wall);

// One line of the view.
struct TopRow {
  std::string name;
  v1::VmState state = v1::VM_STATE_UNSPECIFIED;
  uint32_t online = 0;
  uint32_t target = 0;
  uint32_t max = 0;
  std::optional<double> utilization;  // fractions; unset: "-"
  std::optional<double> steal;
  v1::AutoscaleMode mode = v1::AUTOSCALE_MODE_UNSPECIFIED;
  uint32_t recommended = 0;  // 0: none
  // The autoscaler's last ScaleVCPUs (autoscale_status.last_scale_*).
  bool has_last_scale = false;
  absl::Time last_scale_time;
  uint32_t last_scale_from = 0;
  uint32_t last_scale_to = 0;
  std::string last_scale_result;
};

struct TopFrame {
  absl::Time time;            // the current sample's
  uint32_t online_vcpus = 0;  // summed over the rows
  std::vector<TopRow> rows;   // sorted
};

// The frame of `current`, with rates against `previous` (null: the first frame, no rates). A
// VM's rates are unset unless it is RUNNING with vCPUs read in both samples, with the same
// created_at and started_at (else it was recreated or restarted: `current` is a new baseline);
// the interval is the time between the two vCPU readings (MeasureVcpuLoad).
TopFrame ComputeTopFrame(const TopSample* previous, const TopSample& current, TopSort sort);

// The human frame: "<RFC 3339 UTC time>  VMs: N  online vCPUs: M", then the table
// "NAME  STATE  VCPUS  UTIL  STEAL  MODE  REC  LAST_SCALE" (FormatTable): VCPUS is
// online/target/max, UTIL and STEAL whole percentages ("37%", "-" when unset), MODE off /
// recommend / auto, REC the recommendation ("-": none), LAST_SCALE "2->3 ok 14s ago" ("-": none).
std::string FormatTopFrame(const TopFrame& frame);
// The frame as one JSON object on one line, '\n'-terminated:
// {"time":"2026-11-30T12:00:00.000Z","vms":[{"name":"vm1","state":"RUNNING","online":2,
// "target":2,"max":4,"utilization":0.4213,"steal":0,"mode":"auto","recommended":3,
// "last_scale":{"time":"...","from":2,"to":3,"result":"ok"}}]}; utilization, steal (fractions,
// 4 decimals), recommended and last_scale are null when unset.
std::string FormatTopFrameJson(const TopFrame& frame);
// "14s", "5m", "3h", "2d" (whole units, rounded down; negative durations are "0s").
std::string AgeLabel(absl::Duration age);

// What `vmmctl top` is asked for (Invocation has the same fields).
struct TopOptions {
  absl::Duration interval = absl::Seconds(2);
  uint32_t count = 0;  // frames to print; 0: until stopped
  bool once = false;   // a baseline sample, one interval, one frame
  TopSort sort = TopSort::kName;
  bool json = false;
  bool clear_screen = false;  // prefix each frame with ESC[H ESC[2J (stdout is a terminal)
};

// What the loop needs from the world; ExecuteTop binds these to vmmd, the clock and the signals.
struct TopIo {
  std::function<grpc::Status(v1::ListVmsResponse* response)> list_vms;
  std::function<grpc::Status(const std::string& name, v1::GetCPUStateResponse* response)>
      get_cpu_state;
  std::function<absl::Time()> now;
  // Waits until `deadline`; false if a stop was requested first.
  std::function<bool(absl::Time deadline)> sleep_until;
  // True once SIGINT/SIGTERM arrived (a call it interrupted then fails: that is not an error).
  std::function<bool()> stop_requested;
};

// One sample: ListVms, then GetCPUState of each RUNNING VM. A VM whose GetCPUState is
// NOT_FOUND (deleted in between) is left out; any other failure is returned.
grpc::Status TakeTopSample(const TopIo& io, TopSample* sample);

// The loop: a sample every interval (paced from the first one, not drifting with the calls'
// latency), each printed through `print` as a frame (--once: the second only), until `count`
// frames, or a stop (exit 0). A failed call ends it with "vmmctl: CODE: message", exit 1.
struct TopResult {
  int exit_code = 0;
  std::string err;
};
TopResult RunTop(const TopOptions& options, const TopIo& io,
                 const std::function<void(const std::string& text)>& print);

// ANSI: cursor home, clear screen.
inline constexpr absl::string_view kClearScreen = "\x1b[H\x1b[2J";

}  // namespace vmmd::vmmctl
