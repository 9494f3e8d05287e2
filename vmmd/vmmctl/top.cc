#include "vmmd/vmmctl/top.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "vmmd/vmmctl/format.h"

namespace vmmd::vmmctl {
namespace {

// LAST_SCALE shows at most this much of the result (an error message can be long).
constexpr size_t kMaxResult = 40;

bool SameTimestamp(bool a_set, const google::protobuf::Timestamp& a, bool b_set,
                   const google::protobuf::Timestamp& b) {
  if (a_set != b_set) return false;
  return !a_set || (a.seconds() == b.seconds() && a.nanos() == b.nanos());
}

absl::Time ToTime(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

std::string SecondsLabel(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

std::string MillisecondsLabel(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone());
}

std::string Percent(const std::optional<double>& fraction) {
  if (!fraction.has_value() || !std::isfinite(*fraction)) return "-";
  return absl::StrFormat("%.0f%%", *fraction * 100);
}

// Control characters as spaces, cut to `max` bytes ("..." included) on a UTF-8 boundary.
std::string OneLine(const std::string& text, size_t max) {
  std::string out = text;
  for (char& c : out) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) c = ' ';
  }
  if (out.size() <= max) return out;
  size_t cut = max - 3;
  while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
  return out.substr(0, cut) + "...";
}

std::string LastScaleLabel(const TopRow& row, absl::Time now) {
  if (!row.has_last_scale) return "-";
  std::string label = absl::StrCat(row.last_scale_from, "->", row.last_scale_to);
  const std::string result = OneLine(row.last_scale_result, kMaxResult);
  if (!result.empty()) absl::StrAppend(&label, " ", result);
  absl::StrAppend(&label, " ", AgeLabel(now - row.last_scale_time), " ago");
  return label;
}

// A JSON string literal.
std::string JsonString(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte == 0x7f) {
      absl::StrAppendFormat(&out, "\\u%04x", byte);
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

// A fraction with at most 4 decimals ("0.4213", "0", "1.05"), or null.
std::string JsonFraction(const std::optional<double>& fraction) {
  if (!fraction.has_value() || !std::isfinite(*fraction)) return "null";
  return absl::StrFormat("%g", std::round(*fraction * 1e4) / 1e4);
}

// The sort key of a descending column: unset sorts after every value.
std::optional<double> SortKey(const TopRow& row, TopSort sort) {
  switch (sort) {
    case TopSort::kUtil:
      return row.utilization;
    case TopSort::kSteal:
      return row.steal;
    case TopSort::kVcpus:
      return static_cast<double>(row.online);
    case TopSort::kName:
      break;
  }
  return std::nullopt;
}

void SortRows(std::vector<TopRow>& rows, TopSort sort) {
  std::sort(rows.begin(), rows.end(), [sort](const TopRow& a, const TopRow& b) {
    if (sort != TopSort::kName) {
      const std::optional<double> ka = SortKey(a, sort);
      const std::optional<double> kb = SortKey(b, sort);
      if (ka.has_value() != kb.has_value()) return ka.has_value();
      if (ka.has_value() && *ka != *kb) return *ka > *kb;
    }
    return a.name < b.name;
  });
}

}  // namespace

absl::StatusOr<TopSort> ParseTopSort(absl::string_view text) {
  if (text == "name") return TopSort::kName;
  if (text == "util") return TopSort::kUtil;
  if (text == "steal") return TopSort::kSteal;
  if (text == "vcpus") return TopSort::kVcpus;
  return absl::InvalidArgumentError(
      absl::StrCat("--sort must be name, util, steal or vcpus (got '", text, "')"));
}

VcpuLoad MeasureVcpuLoad(const std::vector<v1::VcpuStatus>& before,
                         const std::vector<v1::VcpuStatus>& after, absl::Duration wall) {
  if (wall <= absl::ZeroDuration() || before.size() != after.size()) return {};
  absl::flat_hash_map<uint32_t, const v1::VcpuStatus*> by_id;
  for (const v1::VcpuStatus& v : before) by_id[v.id()] = &v;
  uint64_t busy = 0;
  uint64_t delay = 0;
  uint32_t online = 0;
  for (const v1::VcpuStatus& now : after) {
    const auto it = by_id.find(now.id());
    if (it == by_id.end()) return {};
    const v1::VcpuStatus& then = *it->second;
    const bool was_online = then.state() == v1::VCPU_STATE_ONLINE;
    const bool is_online = now.state() == v1::VCPU_STATE_ONLINE;
    if (was_online != is_online) return {};
    if (is_online && !SameTimestamp(then.has_last_transition(), then.last_transition(),
                                    now.has_last_transition(), now.last_transition())) {
      return {};  // it went offline and came back within the interval
    }
    if (now.busy_ns() < then.busy_ns() || now.delay_ns() < then.delay_ns()) return {};
    busy += now.busy_ns() - then.busy_ns();
    delay += now.delay_ns() - then.delay_ns();
    online += is_online ? 1 : 0;
  }
  if (online == 0) return {};
  const double capacity_ns = absl::ToDoubleNanoseconds(wall) * online;
  VcpuLoad load;
  load.utilization = static_cast<double>(busy) / capacity_ns;
  load.steal = static_cast<double>(delay) / capacity_ns;
  return load;
}

TopFrame ComputeTopFrame(const TopSample* previous, const TopSample& current, TopSort sort) {
  absl::flat_hash_map<std::string, const TopVmSample*> before;
  if (previous != nullptr) {
    for (const TopVmSample& s : previous->vms) before[s.vm.spec().name()] = &s;
  }
  TopFrame frame;
  frame.time = current.time;
  for (const TopVmSample& s : current.vms) {
    const v1::Vm& vm = s.vm;
    TopRow row;
    row.name = vm.spec().name();
    row.state = vm.state();
    row.online = vm.online_vcpus();
    row.target = vm.target_vcpus();
    row.max = vm.spec().max_vcpus();
    row.mode = vm.autoscale().mode();
    const auto it = before.find(row.name);
    if (vm.state() == v1::VM_STATE_RUNNING && s.has_vcpus && it != before.end() &&
        it->second->has_vcpus) {
      const v1::Vm& then = it->second->vm;
      if (SameTimestamp(then.has_created_at(), then.created_at(), vm.has_created_at(),
                        vm.created_at()) &&
          SameTimestamp(then.has_started_at(), then.started_at(), vm.has_started_at(),
                        vm.started_at())) {
        const VcpuLoad load =
            MeasureVcpuLoad(it->second->vcpus, s.vcpus, s.vcpus_time - it->second->vcpus_time);
        row.utilization = load.utilization;
        row.steal = load.steal;
      }
    }
    if (vm.has_autoscale_status()) {
      const v1::AutoscaleStatus& st = vm.autoscale_status();
      row.recommended = st.recommended_vcpus();
      if (st.has_last_scale_time()) {
        row.has_last_scale = true;
        row.last_scale_time = ToTime(st.last_scale_time());
        row.last_scale_from = st.last_scale_from();
        row.last_scale_to = st.last_scale_to();
        row.last_scale_result = st.last_scale_result();
      }
    }
    frame.online_vcpus += row.online;
    frame.rows.push_back(std::move(row));
  }
  SortRows(frame.rows, sort);
  return frame;
}

std::string AgeLabel(absl::Duration age) {
  const int64_t s = std::max<int64_t>(0, absl::ToInt64Seconds(age));
  if (s < 120) return absl::StrCat(s, "s");
  if (s < 120 * 60) return absl::StrCat(s / 60, "m");
  if (s < 48 * 3600) return absl::StrCat(s / 3600, "h");
  return absl::StrCat(s / 86400, "d");
}

std::string FormatTopFrame(const TopFrame& frame) {
  std::vector<std::vector<std::string>> table = {
      {"NAME", "STATE", "VCPUS", "UTIL", "STEAL", "MODE", "REC", "LAST_SCALE"}};
  for (const TopRow& row : frame.rows) {
    table.push_back({row.name.empty() ? "-" : row.name, VmStateLabel(row.state),
                     absl::StrCat(row.online, "/", row.target, "/", row.max),
                     Percent(row.utilization), Percent(row.steal), AutoscaleModeLabel(row.mode),
                     row.recommended == 0 ? "-" : absl::StrCat(row.recommended),
                     LastScaleLabel(row, frame.time)});
  }
  return absl::StrCat(SecondsLabel(frame.time), "  VMs: ", frame.rows.size(),
                      "  online vCPUs: ", frame.online_vcpus, "\n", FormatTable(table));
}

std::string FormatTopFrameJson(const TopFrame& frame) {
  std::vector<std::string> vms;
  for (const TopRow& row : frame.rows) {
    const std::string last_scale =
        row.has_last_scale
            ? absl::StrCat("{\"time\":", JsonString(MillisecondsLabel(row.last_scale_time)),
                           ",\"from\":", row.last_scale_from, ",\"to\":", row.last_scale_to,
                           ",\"result\":", JsonString(row.last_scale_result), "}")
            : "null";
    vms.push_back(absl::StrCat(
        "{\"name\":", JsonString(row.name), ",\"state\":", JsonString(VmStateLabel(row.state)),
        ",\"online\":", row.online, ",\"target\":", row.target, ",\"max\":", row.max,
        ",\"utilization\":", JsonFraction(row.utilization), ",\"steal\":", JsonFraction(row.steal),
        ",\"mode\":", JsonString(AutoscaleModeLabel(row.mode)),
        ",\"recommended\":", row.recommended == 0 ? "null" : absl::StrCat(row.recommended),
        ",\"last_scale\":", last_scale, "}"));
  }
  return absl::StrCat("{\"time\":", JsonString(MillisecondsLabel(frame.time)), ",\"vms\":[",
                      absl::StrJoin(vms, ","), "]}\n");
}

grpc::Status TakeTopSample(const TopIo& io, TopSample* sample) {
  sample->time = io.now();
  sample->vms.clear();
  v1::ListVmsResponse list;
  if (grpc::Status status = io.list_vms(&list); !status.ok()) return status;
  for (v1::Vm& vm : *list.mutable_vms()) {
    TopVmSample s;
    if (vm.state() == v1::VM_STATE_RUNNING) {
      v1::GetCPUStateResponse cpus;
      const absl::Time sent = io.now();
      const grpc::Status status = io.get_cpu_state(vm.spec().name(), &cpus);
      if (status.error_code() == grpc::StatusCode::NOT_FOUND) continue;  // deleted meanwhile
      if (!status.ok()) return status;
      s.has_vcpus = true;
      s.vcpus_time = sent + (io.now() - sent) / 2;
      s.vcpus.assign(cpus.vcpus().begin(), cpus.vcpus().end());
    }
    s.vm = std::move(vm);
    sample->vms.push_back(std::move(s));
  }
  return grpc::Status::OK;
}

TopResult RunTop(const TopOptions& options, const TopIo& io,
                 const std::function<void(const std::string& text)>& print) {
  const uint32_t frames = options.once ? 1 : options.count;
  uint32_t printed = 0;
  bool baseline_only = options.once;  // --once: the first sample is not shown
  std::optional<TopSample> previous;
  absl::Time next = io.now();
  for (;;) {
    TopSample current;
    const grpc::Status status = TakeTopSample(io, &current);
    if (io.stop_requested()) return {};
    if (!status.ok()) return {1, FormatError(status.error_code(), status.error_message())};
    if (!baseline_only) {
      const TopFrame frame =
          ComputeTopFrame(previous.has_value() ? &*previous : nullptr, current, options.sort);
      std::string text = options.json ? FormatTopFrameJson(frame) : FormatTopFrame(frame);
      if (options.clear_screen) text.insert(0, kClearScreen.data(), kClearScreen.size());
      if (print) print(text);
      if (frames != 0 && ++printed >= frames) return {};
    }
    baseline_only = false;
    previous = std::move(current);
    // Paced from the first sample; after slow calls, the next sample is taken at once.
    next = std::max(next + options.interval, io.now());
    if (!io.sleep_until(next)) return {};
  }
}

}  // namespace vmmd::vmmctl
