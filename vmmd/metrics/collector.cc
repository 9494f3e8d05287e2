#include "vmmd/metrics/collector.h"

#include <deque>
#include <iterator>
#include <limits>
#include <string>
#include <tuple>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/common/log.h"
#include "core/vcpu/vcpu_state.h"
#include "core/vcpu/vcpu_stats.h"

namespace vmmd::metrics {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;

constexpr double kNsPerSecond = 1e9;

std::string Lower(std::string_view s) { return absl::AsciiStrToLower(std::string(s)); }

// Families in exposition order; each added once, filled as the inputs are walked (a deque: the
// pointers Add hands out stay valid).
class Families {
 public:
  MetricFamily* Add(std::string name, std::string help, MetricType type) {
    families_.push_back(MetricFamily{std::move(name), std::move(help), type, {}});
    return &families_.back();
  }
  std::vector<MetricFamily> Take() {
    return std::vector<MetricFamily>(std::make_move_iterator(families_.begin()),
                                     std::make_move_iterator(families_.end()));
  }

 private:
  std::deque<MetricFamily> families_;
};

void Gauge(MetricFamily* f, Labels labels, double value) {
  ClientMetric m;
  m.label = std::move(labels);
  m.gauge.value = value;
  f->metric.push_back(std::move(m));
}

void Counter(MetricFamily* f, Labels labels, double value) {
  ClientMetric m;
  m.label = std::move(labels);
  m.counter.value = value;
  f->metric.push_back(std::move(m));
}

void Histogram(MetricFamily* f, Labels labels, const DurationHistogram& h) {
  ClientMetric m;
  m.label = std::move(labels);
  m.histogram.sample_count = h.count();
  m.histogram.sample_sum = h.sum_seconds();
  uint64_t cumulative = 0;
  for (size_t i = 0; i < h.counts().size(); ++i) {
    cumulative += h.counts()[i];
    const double bound =
        i < h.bounds().size() ? h.bounds()[i] : std::numeric_limits<double>::infinity();
    m.histogram.bucket.push_back({cumulative, bound});
  }
  f->metric.push_back(std::move(m));
}

void AddVmFamilies(Families& out, const vmm::ManagerReport& report) {
  const std::vector<vmm::VmReport>& vms = report.vms;
  MetricFamily* by_state = out.Add("vmmd_vms", "VMs by lifecycle state.", MetricType::Gauge);
  for (vmm::VmState s : vmm::kVmStates) {
    double n = 0;
    for (const vmm::VmReport& r : vms) n += r.info.state == s ? 1 : 0;
    Gauge(by_state, {{"state", Lower(vmm::VmStateName(s))}}, n);
  }
  MetricFamily* vm_state =
      out.Add("vmmd_vm_state", "1 for the lifecycle state a VM is in, 0 for every other.",
              MetricType::Gauge);
  MetricFamily* vcpus =
      out.Add("vmmd_vm_vcpus", "vCPUs of a VM by lifecycle state (every state, zeros included).",
              MetricType::Gauge);
  MetricFamily* boot =
      out.Add("vmmd_vm_boot_vcpus", "vCPUs a VM boots with (permanent).", MetricType::Gauge);
  MetricFamily* max =
      out.Add("vmmd_vm_max_vcpus", "Possible vCPUs of a VM (all created in KVM at start).",
              MetricType::Gauge);
  MetricFamily* target = out.Add(
      "vmmd_vm_target_vcpus",
      "The target of a VM's last accepted ScaleVCPUs (its size: kept across resets and restarts).",
      MetricType::Gauge);
  MetricFamily* online = out.Add("vmmd_vm_online_vcpus",
                                 "vCPUs in the guest's online set (PSCI on).", MetricType::Gauge);
  MetricFamily* memory = out.Add("vmmd_vm_memory_bytes", "Guest RAM of a VM.", MetricType::Gauge);
  MetricFamily* transitions =
      out.Add("vmmd_vm_transitions_total",
              "Lifecycle transitions of a VM, by the state it entered.", MetricType::Counter);
  MetricFamily* restarts =
      out.Add("vmmd_vm_restarts_total", "Guest-requested resets (PSCI SYSTEM_RESET) of a VM.",
              MetricType::Counter);
  MetricFamily* unmapped = out.Add(
      "vmmd_vm_unmapped_mmio_total",
      "Guest accesses to guest-physical addresses with no device or memory.", MetricType::Counter);
  MetricFamily* exits = out.Add(
      "vmmd_vm_exits_total", "Exits of a VM's vCPUs from KVM_RUN, by reason.", MetricType::Counter);
  MetricFamily* busy = out.Add(
      "vmmd_vcpu_busy_seconds_total",
      "Time a vCPU's threads ran on a host CPU: guest code and vmmd handling its exits (an idle "
      "vCPU waits in a trapped WFI and costs nothing).",
      MetricType::Counter);
  MetricFamily* delay =
      out.Add("vmmd_vcpu_delay_seconds_total",
              "Time a vCPU's threads were runnable but waited for a host CPU (the guest's steal).",
              MetricType::Counter);
  MetricFamily* phases = out.Add(
      "vmmd_vcpu_hotplug_phase_seconds",
      "Per vCPU, from the ScaleVCPUs request to a phase of its hot-add (taken: the guest took "
      "the event; enabled: it registered the CPU; online: it runs) or hot-remove (parked); every "
      "VM since vmmd started, deleted ones included.",
      MetricType::Histogram);
  for (core::HotplugPhase p : core::kHotplugPhases) {
    Histogram(phases, {{"phase", std::string(core::HotplugPhaseName(p))}},
              report.all_vcpus.phase(p));
  }
  MetricFamily* requests =
      out.Add("vmmd_vcpu_scale_requests_total",
              "ScaleVCPUs requests of a VM, by direction (add, remove, none) and how they ended.",
              MetricType::Counter);
  MetricFamily* cpu_on =
      out.Add("vmmd_guest_cpu_on_total", "The guest's PSCI CPU_ON calls, by vmmd's verdict.",
              MetricType::Counter);

  MetricFamily* disk_requests =
      out.Add("vmmd_disk_requests_total",
              "virtio-blk requests of a VM's disk since the VM started, by operation (read, write, "
              "flush, discard: discard and write-zeroes).",
              MetricType::Counter);
  MetricFamily* disk_bytes = out.Add(
      "vmmd_disk_bytes_total",
      "Bytes a VM's disk read or wrote for the guest since the VM started.", MetricType::Counter);
  MetricFamily* disk_errors = out.Add(
      "vmmd_disk_failed_requests_total",
      "virtio-blk requests answered with an error (outside the disk, malformed, read-only, I/O "
      "error on the image).",
      MetricType::Counter);
  MetricFamily* nic_frames = out.Add(
      "vmmd_nic_frames_total",
      "Ethernet frames through a VM's virtio-net interface since the VM started, by direction "
      "(rx: to the guest, tx: from it).",
      MetricType::Counter);
  MetricFamily* nic_bytes =
      out.Add("vmmd_nic_bytes_total",
              "Frame bytes through a VM's virtio-net interface since the VM started, by direction.",
              MetricType::Counter);
  MetricFamily* nic_dropped = out.Add(
      "vmmd_nic_dropped_frames_total",
      "Frames a VM's virtio-net interface dropped, by direction (rx: the guest had no room; tx: "
      "malformed, or the host refused them).",
      MetricType::Counter);
  MetricFamily* queue_errors = out.Add(
      "vmmd_virtio_queue_errors_total",
      "Times the guest broke a queue of a VM's virtio disk or NIC (a malformed ring or descriptor "
      "chain): the device stopped until the guest reset it (DEVICE_NEEDS_RESET).",
      MetricType::Counter);
  for (const vmm::VmReport& r : vms) {
    const std::string& vm = r.info.spec.name;
    for (size_t i = 0; i < r.info.nics.size() && i < r.info.spec.nics.size(); ++i) {
      const vmm::NicStats& n = r.info.nics[i];
      const std::string& nic = r.info.spec.nics[i].tap;
      for (const auto& [dir, frames, bytes, dropped] :
           {std::tuple<const char*, uint64_t, uint64_t, uint64_t>{"rx", n.rx_frames, n.rx_bytes,
                                                                  n.rx_dropped},
            {"tx", n.tx_frames, n.tx_bytes, n.tx_dropped}}) {
        const Labels labels = {{"vm", vm}, {"nic", nic}, {"direction", dir}};
        Counter(nic_frames, labels, static_cast<double>(frames));
        Counter(nic_bytes, labels, static_cast<double>(bytes));
        Counter(nic_dropped, labels, static_cast<double>(dropped));
      }
      Counter(queue_errors, {{"vm", vm}, {"device", absl::StrCat("nic:", nic)}},
              static_cast<double>(n.queue_errors));
    }
    for (size_t i = 0; i < r.info.disks.size(); ++i) {
      const vmm::DiskStats& d = r.info.disks[i];
      const std::string disk = vmm::DiskSerial(r.info.spec, i);
      for (const auto& [op, n] : {std::pair<const char*, uint64_t>{"read", d.reads},
                                  {"write", d.writes},
                                  {"flush", d.flushes},
                                  {"discard", d.discards}}) {
        Counter(disk_requests, {{"vm", vm}, {"disk", disk}, {"op", op}}, static_cast<double>(n));
      }
      Counter(disk_bytes, {{"vm", vm}, {"disk", disk}, {"op", "read"}},
              static_cast<double>(d.read_bytes));
      Counter(disk_bytes, {{"vm", vm}, {"disk", disk}, {"op", "write"}},
              static_cast<double>(d.write_bytes));
      Counter(disk_errors, {{"vm", vm}, {"disk", disk}}, static_cast<double>(d.errors));
      Counter(queue_errors, {{"vm", vm}, {"device", absl::StrCat("disk:", disk)}},
              static_cast<double>(d.queue_errors));
    }
    const vmm::VmStats& st = r.stats;
    for (vmm::VmState s : vmm::kVmStates) {
      Gauge(vm_state, {{"vm", vm}, {"state", Lower(vmm::VmStateName(s))}}, r.info.state == s);
    }
    for (core::VcpuState s :
         {core::VcpuState::kParked, core::VcpuState::kEnabling, core::VcpuState::kEnabled,
          core::VcpuState::kOnline, core::VcpuState::kOffline, core::VcpuState::kRemoving}) {
      double n = 0;
      for (const core::VcpuInfo& v : r.vcpus) n += v.state == s ? 1 : 0;
      Gauge(vcpus, {{"vm", vm}, {"state", Lower(core::VcpuStateName(s))}}, n);
    }
    Gauge(boot, {{"vm", vm}}, r.info.spec.boot_vcpus);
    Gauge(max, {{"vm", vm}}, r.info.spec.max_vcpus);
    Gauge(target, {{"vm", vm}}, r.info.target_vcpus);
    Gauge(online, {{"vm", vm}}, r.info.online_vcpus);
    Gauge(memory, {{"vm", vm}}, static_cast<double>(r.info.spec.memory_mib) * 1024 * 1024);
    for (vmm::VmState s : vmm::kVmStates) {
      Counter(transitions, {{"vm", vm}, {"to", Lower(vmm::VmStateName(s))}},
              static_cast<double>(st.transitions_to(s)));
    }
    Counter(restarts, {{"vm", vm}}, r.info.restarts);
    Counter(unmapped, {{"vm", vm}}, static_cast<double>(st.unmapped_mmio));
    Counter(exits, {{"vm", vm}, {"reason", "mmio"}}, static_cast<double>(st.mmio_exits));
    Counter(exits, {{"vm", vm}, {"reason", "hypercall"}}, static_cast<double>(st.hypercall_exits));
    Counter(exits, {{"vm", vm}, {"reason", "other"}},
            static_cast<double>(st.exits - st.mmio_exits - st.hypercall_exits));
    for (const core::VcpuInfo& v : r.vcpus) {
      const std::string id = absl::StrCat(v.id);
      Counter(busy, {{"vm", vm}, {"vcpu", id}}, static_cast<double>(v.busy_ns) / kNsPerSecond);
      Counter(delay, {{"vm", vm}, {"vcpu", id}}, static_cast<double>(v.delay_ns) / kNsPerSecond);
    }
    for (vmm::ScaleDirection d : vmm::kScaleDirections) {
      for (vmm::ScaleResultKind k : vmm::kScaleResultKinds) {
        Counter(requests,
                {{"vm", vm},
                 {"direction", std::string(vmm::ScaleDirectionName(d))},
                 {"result", std::string(vmm::ScaleResultKindName(k))}},
                static_cast<double>(st.requests(d, k)));
      }
    }
    const core::CpuOnCounts& c = st.vcpus.cpu_on;
    const std::pair<const char*, uint64_t> verdicts[] = {{"granted", c.granted},
                                                         {"denied", c.denied},
                                                         {"already_on", c.already_on},
                                                         {"invalid_params", c.invalid_params},
                                                         {"internal_failure", c.internal_failure}};
    for (const auto& [verdict, n] : verdicts) {
      Counter(cpu_on, {{"vm", vm}, {"verdict", verdict}}, static_cast<double>(n));
    }
  }
}

void AddApiFamilies(Families& out, const api::ApiStats::Snapshot& api) {
  MetricFamily* requests =
      out.Add("vmmd_api_requests_total", "vmmd.v1 calls by method and gRPC status code.",
              MetricType::Counter);
  for (const auto& [key, n] : api.calls) {
    Counter(requests, {{"method", key.first}, {"code", key.second}}, static_cast<double>(n));
  }
  MetricFamily* latency =
      out.Add("vmmd_api_request_duration_seconds", "How long unary vmmd.v1 calls took, by method.",
              MetricType::Histogram);
  for (const auto& [method, h] : api.latency) Histogram(latency, {{"method", method}}, h);
  MetricFamily* streams =
      out.Add("vmmd_api_watch_streams", "WatchEvents streams open now.", MetricType::Gauge);
  Gauge(streams, {}, static_cast<double>(api.open_streams));
  MetricFamily* dropped =
      out.Add("vmmd_api_watch_events_dropped_total",
              "Events WatchEvents readers lost because they read too slowly.", MetricType::Counter);
  Counter(dropped, {}, static_cast<double>(api.dropped_events));
}

void AddProcessFamilies(Families& out, const ProcessStats& p) {
  Counter(out.Add("process_cpu_seconds_total", "User and system CPU time of vmmd.",
                  MetricType::Counter),
          {}, p.cpu_seconds);
  Gauge(out.Add("process_resident_memory_bytes", "Resident memory of vmmd.", MetricType::Gauge), {},
        static_cast<double>(p.resident_bytes));
  Gauge(out.Add("process_virtual_memory_bytes", "Virtual memory of vmmd (guest RAM included).",
                MetricType::Gauge),
        {}, static_cast<double>(p.virtual_bytes));
  Gauge(out.Add("process_open_fds", "Open file descriptors of vmmd.", MetricType::Gauge), {},
        static_cast<double>(p.open_fds));
  Gauge(out.Add("process_max_fds", "vmmd's limit on open file descriptors.", MetricType::Gauge), {},
        static_cast<double>(p.max_fds));
  Gauge(out.Add("process_threads", "Threads of vmmd (vCPU threads included).", MetricType::Gauge),
        {}, static_cast<double>(p.threads));
  Gauge(out.Add("process_start_time_seconds", "When vmmd started, in seconds since the epoch.",
                MetricType::Gauge),
        {}, p.start_time_seconds);
}

}  // namespace

std::vector<MetricFamily> BuildFamilies(const ScrapeInputs& in) {
  Families out;
  Gauge(
      out.Add("vmmd_build_info", "vmmd's version and architecture (always 1).", MetricType::Gauge),
      {{"arch", in.build.arch}, {"version", in.build.version}}, 1);
  Gauge(out.Add("vmmd_host_wfi_trapped",
                "1 when KVM traps the guests' WFI, so an idle vCPU sleeps and busy time is work "
                "the guest did; 0 when the host kernel disabled the trap "
                "(kvm-arm.wfi_trap_policy=notrap) and idle vCPUs count as busy.",
                MetricType::Gauge),
        {}, in.host.wfi_trapped ? 1 : 0);
  AddVmFamilies(out, in.vms);
  AddApiFamilies(out, in.api);
  if (in.process.ok()) AddProcessFamilies(out, *in.process);
  return out.Take();
}

std::vector<MetricFamily> Collector::Collect() const {
  const absl::Time start = absl::Now();
  ScrapeInputs in;
  in.vms = vms_->Report();
  in.api = api_->Get();
  in.process = ReadProcessStats();
  in.build = build_;
  in.host = host_;
  if (!in.process.ok()) {
    errors_.fetch_add(1, std::memory_order_relaxed);
    LogWarning("metrics: %s", in.process.status().ToString());
  }
  std::vector<MetricFamily> out = BuildFamilies(in);
  // What this collection cost (the text encoding that follows is not included).
  MetricFamily took{"vmmd_metrics_collect_duration_seconds",
                    "How long vmmd took to collect this scrape's samples.",
                    MetricType::Gauge,
                    {}};
  Gauge(&took, {}, absl::ToDoubleSeconds(absl::Now() - start));
  out.push_back(std::move(took));
  MetricFamily errors{"vmmd_metrics_collect_errors_total",
                      "Scrapes in which vmmd could not read one of its sources (then left out).",
                      MetricType::Counter,
                      {}};
  Counter(&errors, {}, static_cast<double>(errors_.load(std::memory_order_relaxed)));
  out.push_back(std::move(errors));
  return out;
}

BuildInfo ThisBuild() {
#if defined(__aarch64__)
  const char* arch = "arm64";
#elif defined(__x86_64__)
  const char* arch = "amd64";
#else
  const char* arch = "other";
#endif
  return BuildInfo{VMMD_VERSION, arch};
}

}  // namespace vmmd::metrics
