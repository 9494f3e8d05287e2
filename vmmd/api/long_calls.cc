#include "vmmd/api/long_calls.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/common/log.h"
#include "core/common/thread.h"

namespace vmmd::api {

LongCalls::LongCalls(vmm::EventHub* hub, int max_calls, absl::Duration poll_period)
    : hub_(hub), max_calls_(max_calls), poll_period_(poll_period) {
  pump_ = std::thread([this] { Pump(); });
}

LongCalls::~LongCalls() {
  Shutdown();
  {
    absl::MutexLock lock(&mu_);
    stop_pump_ = true;
  }
  pump_.join();
  // A blocking body (a waiting ScaleVCPUs) ends when its VM stops or its deadline passes; the
  // daemon stops every VM before the service goes.
  absl::MutexLock lock(&mu_);
  auto idle = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return blocking_ == 0 && calls_.empty(); };
  mu_.Await(absl::Condition(&idle));
}

absl::Status LongCalls::Admit(LongCall* call) {
  absl::MutexLock lock(&mu_);
  if (shutting_down_) return absl::UnavailableError("vmmd is shutting down");
  if (static_cast<int>(calls_.size()) >= max_calls_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "too many long-lived calls (WatchEvents streams and waiting ScaleVCPUs calls): ",
        calls_.size(), " open, the cap is ", max_calls_,
        " (vmmd --max_streams); close one or raise the cap"));
  }
  call->Ref();
  calls_.push_back(call);
  return absl::OkStatus();
}

void LongCalls::Leave(LongCall* call) {
  bool found = false;
  {
    absl::MutexLock lock(&mu_);
    auto it = std::find(calls_.begin(), calls_.end(), call);
    if (it != calls_.end()) {
      calls_.erase(it);
      found = true;
    }
  }
  if (found) call->Unref();
}

void LongCalls::Shutdown() {
  std::vector<LongCall*> calls;
  {
    absl::MutexLock lock(&mu_);
    shutting_down_ = true;
    calls = calls_;
    for (LongCall* c : calls) c->Ref();
  }
  const grpc::Status status(grpc::StatusCode::UNAVAILABLE, "vmmd is shutting down");
  for (LongCall* c : calls) {
    c->End(status);
    c->Unref();
  }
}

void LongCalls::Wake() {
  absl::MutexLock lock(&mu_);
  wake_ = true;
}

int LongCalls::open() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(calls_.size());
}

absl::Status LongCalls::RunBlocking(std::function<void()> body) {
  {
    absl::MutexLock lock(&mu_);
    ++blocking_;
  }
  auto run = [this, body = std::move(body)] {
    body();
    absl::MutexLock lock(&mu_);
    --blocking_;
  };
  absl::StatusOr<std::thread> thread =
      StartThread("a waiting ScaleVCPUs call", std::move(run), "api-scale-wait");
  if (!thread.ok()) {
    absl::MutexLock lock(&mu_);
    --blocking_;
    return thread.status();
  }
  thread->detach();
  return absl::OkStatus();
}

// The pump sleeps on a subscription of its own to the event hub, so an event wakes it at once;
// then it lets every stream write what it has queued. EventHub::Publish fills its subscribers
// in the order they subscribed, so the pump re-subscribes after each new stream (Wake) to be
// filled last: by the time it wakes, every stream's queue has the event. The periodic wake-up
// (poll_period) also covers a stream admitted since the last re-subscription. With no call
// open it sleeps until one is admitted: an idle vmmd has no thread waking up.
void LongCalls::Pump() {
  SetCurrentThreadName("api-pump");
  std::unique_ptr<vmm::EventHub::Subscription> wakeups = hub_->Subscribe("", 1);
  while (true) {
    std::vector<LongCall*> calls;
    {
      absl::MutexLock lock(&mu_);
      auto busy = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
        return stop_pump_ || wake_ || !calls_.empty();
      };
      mu_.Await(absl::Condition(&busy));
      if (stop_pump_) return;
      if (wake_) {
        wake_ = false;
        auto fresh = hub_->Subscribe("", 1);
        wakeups = std::move(fresh);
      }
      calls = calls_;
      for (LongCall* c : calls) c->Ref();
    }
    for (LongCall* c : calls) {
      c->Poll();
      c->Unref();
    }
    if (wakeups->closed()) {
      absl::MutexLock lock(&mu_);
      auto stop = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stop_pump_; };
      mu_.AwaitWithTimeout(absl::Condition(&stop), poll_period_);
      continue;
    }
    if (wakeups->Next(absl::Now() + poll_period_).has_value()) {
      while (wakeups->Next(absl::InfinitePast()).has_value()) {
      }
    }
  }
}

}  // namespace vmmd::api
