#include "vmmd/autoscaler/recommender.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_format.h"

namespace vmmd::autoscaler {

Load Measure(const Sample& prev, const Sample& cur) {
  Load load;
  const absl::Duration dt = cur.time - prev.time;
  if (dt <= absl::ZeroDuration()) {
    load.skip_reason = "no time passed";
  } else if (cur.online != prev.online || cur.last_transition > prev.time) {
    load.skip_reason = "the vCPUs changed during the interval";
  } else if (cur.busy_ns < prev.busy_ns || cur.delay_ns < prev.delay_ns) {
    load.skip_reason = "the counters restarted";
  } else if (cur.online == 0) {
    load.skip_reason = "no vCPU online";
  } else {
    const double seconds = absl::ToDoubleSeconds(dt);
    load.valid = true;
    load.busy = static_cast<double>(cur.busy_ns - prev.busy_ns) / 1e9 / seconds;
    // Counters and clocks are read at slightly different instants: clamp to what is possible.
    load.busy = std::min(load.busy, static_cast<double>(cur.online));
    load.utilization = load.busy / cur.online;
    load.steal = std::min(
        1.0, static_cast<double>(cur.delay_ns - prev.delay_ns) / 1e9 / seconds / cur.online);
  }
  return load;
}

const char* DirectionName(Direction d) {
  switch (d) {
    case Direction::kUp:
      return "up";
    case Direction::kDown:
      return "down";
    case Direction::kNone:
      break;
  }
  return "none";
}

void Recommender::Reset() {
  raws_.clear();
  scales_.clear();
}

void Recommender::RecordScale(absl::Time now, uint32_t from, uint32_t to) {
  if (from == to) return;
  scales_.push_back({now, static_cast<int32_t>(to) - static_cast<int32_t>(from)});
}

Decision Recommender::Decide(const Policy& p, uint32_t current, const Load& load, absl::Time now) {
  Decision d;
  const uint32_t lo = std::max<uint32_t>(p.min_vcpus, 1);
  const uint32_t hi = std::max(p.max_vcpus, lo);
  // This sample's own recommendation.
  const double ratio = load.utilization / p.target_utilization;
  uint32_t raw = current;
  std::string why;
  if (std::fabs(ratio - 1) <= p.tolerance) {
    why = absl::StrFormat("utilisation %.2f within %.2f +- %.0f%%", load.utilization,
                          p.target_utilization, p.tolerance * 100);
  } else {
    // A hair below an integer stays there (0.7 / 0.7 is 1, not 2, whatever the rounding).
    raw = static_cast<uint32_t>(std::max(1.0, std::ceil(load.busy / p.target_utilization - 1e-9)));
    why =
        absl::StrFormat("busy %.2f vCPUs / target %.2f = %u", load.busy, p.target_utilization, raw);
  }
  if (raw < lo || raw > hi) {
    raw = std::clamp(raw, lo, hi);
    absl::StrAppendFormat(&why, ", bounded to %u..%u", lo, hi);
  }
  if (raw > current && load.steal > max_steal_) {
    why = absl::StrFormat("host contended: steal %.2f > %.2f, more vCPUs would not help",
                          load.steal, max_steal_);
    raw = std::max(current, lo);
    raw = std::min(raw, hi);
  }
  d.raw = raw;
  raws_.push_back({now, raw});

  // Windows: forget what no window covers any more.
  const absl::Duration keep = std::max(p.scale_up_stabilization, p.scale_down_stabilization);
  while (!raws_.empty() && raws_.front().time < now - keep) raws_.pop_front();
  uint32_t up = raw, down = raw;
  for (const Raw& r : raws_) {
    if (r.time >= now - p.scale_up_stabilization) up = std::min(up, r.vcpus);
    if (r.time >= now - p.scale_down_stabilization) down = std::max(down, r.vcpus);
  }
  uint32_t want = current;
  if (up > current) {
    want = up;
    if (up < raw) absl::StrAppendFormat(&why, "; scale-up window holds %u", up);
  } else if (down < current) {
    want = down;
    if (down > raw) absl::StrAppendFormat(&why, "; scale-down window holds %u", down);
  } else if (raw != current) {
    absl::StrAppendFormat(&why, "; %s window holds %u", raw > current ? "scale-up" : "scale-down",
                          current);
  }
  // Out of bounds now (the policy changed): back inside at once, whatever the windows say.
  want = std::clamp(want, lo, hi);

  // Steps: what the last period already added or removed counts.
  while (!scales_.empty() && scales_.front().time <= now - p.step_period) scales_.pop_front();
  int64_t added = 0, removed = 0;
  for (const Scale& s : scales_) (s.delta > 0 ? added : removed) += std::abs(s.delta);
  if (want > current && current >= lo) {
    const int64_t room = std::max<int64_t>(0, int64_t{p.scale_up_max_step} - added);
    if (want - current > room) {
      want = current + static_cast<uint32_t>(room);
      absl::StrAppendFormat(&why, "; step limit +%u per %s", p.scale_up_max_step,
                            absl::FormatDuration(p.step_period));
    }
  } else if (want < current && current <= hi && current >= lo) {
    const int64_t room = std::max<int64_t>(0, int64_t{p.scale_down_max_step} - removed);
    if (current - want > room) {
      want = current - static_cast<uint32_t>(room);
      absl::StrAppendFormat(&why, "; step limit -%u per %s", p.scale_down_max_step,
                            absl::FormatDuration(p.step_period));
    }
  }
  d.recommended = want;
  d.direction = want > current   ? Direction::kUp
                : want < current ? Direction::kDown
                                 : Direction::kNone;
  d.reason = std::move(why);
  return d;
}

}  // namespace vmmd::autoscaler
