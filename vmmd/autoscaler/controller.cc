#include "vmmd/autoscaler/controller.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "core/common/log.h"
#include "core/common/thread.h"

namespace vmmd::autoscaler {
namespace {

absl::Duration FromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

void ToProto(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t s = absl::ToUnixSeconds(t);
  out->set_seconds(s);
  out->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(s))));
}

const char* ModeName(v1::AutoscaleMode m) {
  switch (m) {
    case v1::AUTOSCALE_MODE_AUTO:
      return "auto";
    case v1::AUTOSCALE_MODE_RECOMMEND:
      return "recommend";
    default:
      return "off";
  }
}

std::string CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    default:
      return absl::StrFormat("CODE_%d", static_cast<int>(code));
  }
}

}  // namespace

absl::Duration NextBackoff(absl::Duration previous, absl::Duration interval, bool precondition) {
  if (precondition) return kMaxBackoff;
  if (previous <= absl::ZeroDuration()) return std::min(2 * interval, kMaxBackoff);
  return std::min(2 * previous, kMaxBackoff);
}

Policy PolicyFromProto(const v1::AutoscalePolicy& p) {
  Policy out;
  out.min_vcpus = p.min_vcpus();
  out.max_vcpus = p.max_vcpus();
  out.target_utilization = p.target_utilization();
  out.tolerance = p.tolerance();
  out.scale_up_stabilization = FromProto(p.scale_up_stabilization());
  out.scale_down_stabilization = FromProto(p.scale_down_stabilization());
  out.scale_up_max_step = p.scale_up_max_step();
  out.scale_down_max_step = p.scale_down_max_step();
  out.step_period = FromProto(p.step_period());
  return out;
}

Sample SampleFromProto(const v1::GetCPUStateResponse& cpus, absl::Time now) {
  Sample s;
  s.time = now;
  for (const v1::VcpuStatus& v : cpus.vcpus()) {
    if (v.state() == v1::VCPU_STATE_ONLINE) ++s.online;
    s.busy_ns += v.busy_ns();
    s.delay_ns += v.delay_ns();
    if (v.has_last_transition()) {
      s.last_transition = std::max(s.last_transition, FromProto(v.last_transition()));
    }
  }
  return s;
}

Controller::Controller(std::shared_ptr<grpc::Channel> channel, ControllerOptions options,
                       AutoscalerMetrics* metrics)
    : stub_(v1::Vmm::NewStub(std::move(channel))),
      options_(std::move(options)),
      metrics_(metrics) {}

Controller::~Controller() {
  Stop();
  if (watcher_.joinable()) watcher_.join();
  for (auto& [name, t] : trackers_) {
    if (t.job != nullptr) {
      t.job->context.TryCancel();
      if (t.job->thread.joinable()) t.job->thread.join();
    }
  }
}

void Controller::Stop() {
  absl::MutexLock lock(&mu_);
  stop_ = true;
  if (watch_context_ != nullptr) watch_context_->TryCancel();
}

void Controller::Wake() {
  absl::MutexLock lock(&mu_);
  wake_ = true;
}

void Controller::Run() {
  // Without the watcher (a host out of threads), the periodic ticks still see every change.
  if (absl::StatusOr<std::thread> t = StartThread(
          "autoscaler watch", [this] { Watch(); }, "watch");
      t.ok()) {
    watcher_ = *std::move(t);
  } else {
    LogError("autoscale: no event watch: %s", t.status().ToString());
  }
  while (true) {
    Tick();
    absl::MutexLock lock(&mu_);
    auto woken = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stop_ || wake_; };
    mu_.AwaitWithTimeout(absl::Condition(&woken), options_.interval);
    if (stop_) break;
    wake_ = false;
  }
}

// Policy changes and VM state changes wake the loop, so a new policy or a started VM gets its
// first sample at once; the stream is reopened (vmmd restarted) with a growing pause.
void Controller::Watch() {
  absl::Duration pause = absl::Seconds(1);
  while (true) {
    grpc::ClientContext context;
    {
      absl::MutexLock lock(&mu_);
      if (stop_) return;
      watch_context_ = &context;
    }
    auto reader = stub_->WatchEvents(&context, v1::WatchEventsRequest());
    v1::Event event;
    bool any = false;
    while (reader->Read(&event)) {
      any = true;
      pause = absl::Seconds(1);
      if (event.has_autoscale_policy() || event.has_vm_state()) Wake();
    }
    const grpc::Status status = reader->Finish();
    {
      absl::MutexLock lock(&mu_);
      watch_context_ = nullptr;
      if (stop_) return;
      auto stopped = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stop_; };
      LogWarning("autoscaler: event stream ended (%s: %s); reopening in %s",
                 CodeName(status.error_code()), status.error_message(),
                 absl::FormatDuration(pause));
      if (mu_.AwaitWithTimeout(absl::Condition(&stopped), pause)) return;
    }
    if (!any) pause = std::min(2 * pause, absl::Seconds(30));
    Wake();  // vmmd may have restarted: list again
  }
}

void Controller::ApiError(const char* method, const grpc::Status& status, const std::string& vm) {
  if (metrics_ != nullptr) metrics_->ApiError(method);
  LogWarning("autoscaler: %s(%s): %s: %s", method, vm, CodeName(status.error_code()),
             status.error_message());
}

void Controller::Tick() {
  v1::ListVmsResponse list;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  if (grpc::Status s = stub_->ListVms(&context, v1::ListVmsRequest(), &list); !s.ok()) {
    connected_.store(false);
    ApiError("ListVms", s, "");
    return;
  }
  connected_.store(true);
  std::map<std::string, const v1::Vm*> wanted;
  for (const v1::Vm& vm : list.vms()) {
    if (vm.state() == v1::VM_STATE_RUNNING &&
        (vm.autoscale().mode() == v1::AUTOSCALE_MODE_AUTO ||
         vm.autoscale().mode() == v1::AUTOSCALE_MODE_RECOMMEND)) {
      wanted[vm.spec().name()] = &vm;
    }
  }
  // VMs no longer autoscaled (gone, stopped, policy OFF): forgotten once no scale is in flight.
  for (auto it = trackers_.begin(); it != trackers_.end();) {
    Reap(it->first, it->second);
    if (!wanted.contains(it->first) && it->second.job == nullptr) {
      if (metrics_ != nullptr) metrics_->Forget(it->first);
      it = trackers_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& [name, vm] : wanted) Visit(*vm, trackers_[name]);
}

// A finished scale: its result, and the back-off after an error.
void Controller::Reap(const std::string& name, Tracker& t) {
  if (t.job == nullptr || !t.job->done.load()) return;
  if (t.job->thread.joinable()) t.job->thread.join();
  const ScaleJob& job = *t.job;
  const char* direction = job.to >= job.from ? "up" : "down";
  t.last_scale_time = job.started;
  t.last_from = job.from;
  t.last_to = job.to;
  if (job.status.ok()) {
    t.last_result = "ok";
    t.backoff = absl::ZeroDuration();
    t.backoff_code.clear();
    t.retry_at = absl::InfinitePast();
  } else {
    const bool precondition = job.status.error_code() == grpc::StatusCode::FAILED_PRECONDITION;
    t.backoff = NextBackoff(t.backoff, options_.interval, precondition);
    t.backoff_code = CodeName(job.status.error_code());
    t.retry_at = absl::Now() + t.backoff;
    t.last_result =
        absl::StrFormat("%s: %s", t.backoff_code, job.status.error_message()).substr(0, 200);
    // The guest may or may not have taken part of it: the windows start again from what is.
    t.recommender->Reset();
  }
  LogInfo("autoscale vm=%s action=%s from=%u to=%u result=%s seconds=%.2f%s", name, direction,
          job.from, job.to, job.status.ok() ? "ok" : t.backoff_code,
          absl::ToDoubleSeconds(absl::Now() - job.started),
          job.status.ok() ? "" : absl::StrFormat(" retry_in=%s", absl::FormatDuration(t.backoff)));
  if (metrics_ != nullptr) {
    metrics_->Decision(name, direction, job.status.ok() ? "ok" : "error", job.started);
  }
  t.job.reset();
  // The outcome is visible at once, not only after the next usable sample.
  if (t.last_decision.recommended != 0) Report(name, t, t.last_decision, t.last_load);
}

void Controller::StartScale(const std::string& name, Tracker& t, uint32_t from, uint32_t to) {
  auto job = std::make_unique<ScaleJob>();
  job->from = from;
  job->to = to;
  job->started = absl::Now();
  job->context.set_deadline(
      absl::ToChronoTime(job->started + options_.scale_timeout + absl::Seconds(10)));
  v1::ScaleVCPUsRequest request;
  request.set_name(name);
  request.set_target_vcpus(to);
  request.set_wait(v1::SCALE_WAIT_ONLINE);
  const absl::Duration timeout = options_.scale_timeout;
  request.mutable_timeout()->set_seconds(absl::ToInt64Seconds(timeout));
  ScaleJob* raw = job.get();
  absl::StatusOr<std::thread> thread = StartThread(
      absl::StrFormat("ScaleVCPUs of %s", name),
      [this, raw, request] {
        v1::ScaleVCPUsResponse response;
        raw->status = stub_->ScaleVCPUs(&raw->context, request, &response);
        raw->done.store(true);
        Wake();
      },
      absl::StrFormat("%s/scale", name.substr(0, 9)));
  if (thread.ok()) {
    job->thread = *std::move(thread);
  } else {  // the job fails like a refused call, and is retried with a back-off
    job->status =
        grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, std::string(thread.status().message()));
    job->done.store(true);
  }
  t.job = std::move(job);
  t.recommender->RecordScale(absl::Now(), from, to);
}

void Controller::Visit(const v1::Vm& vm, Tracker& t) {
  const std::string& name = vm.spec().name();
  const std::string policy_bytes = vm.autoscale().SerializeAsString();
  const absl::Time started_at = FromProto(vm.started_at());
  if (t.recommender == nullptr || t.policy_bytes != policy_bytes || t.started_at != started_at) {
    if (t.recommender != nullptr) {
      LogInfo("autoscale vm=%s policy or start changed: windows start again", name);
    }
    t.recommender = std::make_unique<Recommender>(options_.max_steal);
    t.policy_bytes = policy_bytes;
    t.started_at = started_at;
    t.previous.reset();
    t.retry_at = absl::InfinitePast();
    t.backoff = absl::ZeroDuration();
  }
  // Samples at least ~an interval apart, whatever woke the loop.
  if (t.previous.has_value() && absl::Now() - t.previous->time < options_.interval * 0.8) return;
  v1::GetCPUStateRequest request;
  request.set_name(name);
  v1::GetCPUStateResponse cpus;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  if (grpc::Status s = stub_->GetCPUState(&context, request, &cpus); !s.ok()) {
    ApiError("GetCPUState", s, name);
    return;
  }
  const Sample sample = SampleFromProto(cpus, absl::Now());
  std::optional<Sample> previous = std::exchange(t.previous, sample);
  if (!previous.has_value()) return;  // the baseline
  Load load = Measure(*previous, sample);
  if (load.valid && t.job != nullptr) {
    load.valid = false;
    load.skip_reason = "a scale is in progress";
  } else if (load.valid && sample.time - started_at < options_.startup_delay) {
    load.valid = false;
    load.skip_reason = "the VM is starting up";
  }
  if (metrics_ != nullptr) metrics_->SampleUsed(load.valid);
  if (!load.valid) {
    LogDebug("autoscale vm=%s sample skipped: %s", name, load.skip_reason);
    return;
  }
  const Policy policy = PolicyFromProto(vm.autoscale());
  const uint32_t current = sample.online;
  Decision d = t.recommender->Decide(policy, current, load, sample.time);
  const bool apply = vm.autoscale().mode() == v1::AUTOSCALE_MODE_AUTO && !options_.dry_run;
  const char* action = "none";
  // A target the guest never reached (an earlier scale missed its deadline, or a person's) is
  // a change too: AUTO puts the target back on the recommendation.
  const bool change = d.direction != Direction::kNone || vm.target_vcpus() != d.recommended;
  if (change) {
    if (!apply) {
      action = "recommend";
      if (d.direction != Direction::kNone && d.recommended != t.last_published &&
          metrics_ != nullptr) {
        metrics_->Decision(name, DirectionName(d.direction), "recommended", sample.time);
      }
    } else if (sample.time < t.retry_at) {
      action = "backoff";
      d.reason += absl::StrFormat("; backing off %s after %s", absl::FormatDuration(t.backoff),
                                  t.backoff_code);
    } else {
      action = "scale";
      StartScale(name, t, current, d.recommended);
    }
  }
  if (change || d.recommended != t.last_published) {
    LogInfo(
        "autoscale vm=%s mode=%s online=%u busy=%.2f util=%.2f steal=%.2f raw=%u "
        "recommended=%u action=%s reason=\"%s\"",
        name, apply ? "auto" : ModeName(v1::AUTOSCALE_MODE_RECOMMEND), current, load.busy,
        load.utilization, load.steal, d.raw, d.recommended, action, d.reason);
  }
  t.last_published = d.recommended;
  if (metrics_ != nullptr) metrics_->Sampled(name, load.utilization, load.steal, d.recommended);
  t.last_decision = d;
  t.last_load = load;
  Report(name, t, d, load);
}

void Controller::Report(const std::string& name, const Tracker& t, const Decision& d,
                        const Load& load) {
  v1::ReportAutoscaleStatusRequest request;
  request.set_name(name);
  v1::AutoscaleStatus* s = request.mutable_status();
  s->set_recommended_vcpus(d.recommended);
  s->set_utilization(std::clamp(load.utilization, 0.0, 1.0));
  s->set_steal(std::clamp(load.steal, 0.0, 1.0));
  s->set_reason(d.reason.substr(0, 256));
  s->set_reporter(options_.reporter.substr(0, 128));
  if (t.last_scale_time != absl::InfinitePast()) {
    ToProto(t.last_scale_time, s->mutable_last_scale_time());
    s->set_last_scale_from(t.last_from);
    s->set_last_scale_to(t.last_to);
    s->set_last_scale_result(t.last_result.substr(0, 256));
  }
  v1::Vm reply;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  if (grpc::Status st = stub_->ReportAutoscaleStatus(&context, request, &reply); !st.ok()) {
    ApiError("ReportAutoscaleStatus", st, name);
  }
}

}  // namespace vmmd::autoscaler
