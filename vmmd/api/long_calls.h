// The calls that can last: WatchEvents streams and ScaleVCPUs calls that wait for the guest.
// They run on gRPC's callback API, so none of them holds one of the server's threads while it
// waits. LongCalls admits them up to a cap (RESOURCE_EXHAUSTED beyond it, naming the cap and
// its flag), feeds the streams from one pump thread, and ends them all at shutdown.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/support/status.h"
#include "vmmd/vmm/event_hub.h"

namespace vmmd::api {

// One admitted call. Reference-counted: the registry, the pump and the call's own reactor
// each hold a reference while they use it; the last Unref deletes it.
class LongCall {
 public:
  LongCall() = default;
  LongCall(const LongCall&) = delete;
  LongCall& operator=(const LongCall&) = delete;

  void Ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }
  // Makes progress without blocking (a stream writes what is queued). Called by the pump.
  virtual void Poll() {}
  // Ends the call with `status` (shutdown). Idempotent; the call leaves the registry later,
  // once gRPC is done with it.
  virtual void End(const grpc::Status& status) = 0;

 protected:
  virtual ~LongCall() = default;

 private:
  std::atomic<int> refs_{1};  // the creator's
};

class LongCalls {
 public:
  // At most `max_calls` calls at once. The pump wakes on every event of `hub` (which must
  // outlive this object) and at least every `poll_period`.
  LongCalls(vmm::EventHub* hub, int max_calls,
            absl::Duration poll_period = absl::Milliseconds(100));
  // Shuts down (if not done) and waits for every call to leave and every RunBlocking body to
  // return.
  ~LongCalls();
  LongCalls(const LongCalls&) = delete;
  LongCalls& operator=(const LongCalls&) = delete;

  // Registers `call` (taking a reference): RESOURCE_EXHAUSTED "too many long-lived calls ...
  // (--max_streams=N)" at the cap, UNAVAILABLE "vmmd is shutting down" once Shutdown began.
  absl::Status Admit(LongCall* call);
  // Unregisters `call` and drops the registry's reference (its reactor's OnDone).
  void Leave(LongCall* call);
  // Stops admitting and ends every call with UNAVAILABLE "vmmd is shutting down" (a stream
  // whose write is in flight ends when the write completes, or when the server's shutdown
  // cancels it). Does not wait: a call leaves once gRPC is done with it and, for a waiting
  // ScaleVCPUs, once its wait returned (the daemon stops every VM next, which ends it).
  void Shutdown();
  // Wakes the pump now (a stream was admitted: re-subscribe behind it, see the .cc).
  void Wake();

  int open() const;
  int max_calls() const { return max_calls_; }

  // A thread for a call that must block (a waiting ScaleVCPUs): counted, so the destructor
  // can wait for it. RESOURCE_EXHAUSTED if the host refuses a thread.
  absl::Status RunBlocking(std::function<void()> body);

 private:
  void Pump();

  vmm::EventHub* const hub_;
  const int max_calls_;
  const absl::Duration poll_period_;
  mutable absl::Mutex mu_;
  std::vector<LongCall*> calls_ ABSL_GUARDED_BY(mu_);
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_pump_ ABSL_GUARDED_BY(mu_) = false;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  int blocking_ ABSL_GUARDED_BY(mu_) = 0;  // RunBlocking bodies still running
  std::thread pump_;
};

}  // namespace vmmd::api
