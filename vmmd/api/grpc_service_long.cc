// The long-lived calls of VmmService on gRPC's callback API: WatchEvents streams, fed by
// LongCalls' pump, and ScaleVCPUs calls that wait for their guest on a LongCalls thread of
// their own. Neither holds a gRPC server thread while it waits.
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "vmmd/api/grpc_service.h"
#include "vmmd/api/status_to_grpc.h"
#include "vmmd/api/vm_convert.h"

namespace vmmd::api {

class VmmService::WatchReactor final : public grpc::ServerWriteReactor<v1::Event>, public LongCall {
 public:
  WatchReactor(VmmService* service, std::string name) : service_(service), name_(std::move(name)) {}

  // Answers `status` without streaming (the call was refused).
  void Refuse(const absl::Status& status) {
    {
      absl::MutexLock lock(&mu_);
      finishing_ = true;
    }
    Finish(service_->FinishRead("WatchEvents", name_, status, absl::InfinitePast()));
  }

  // The call is admitted: stream `stream` (its snapshot first).
  void Begin(std::unique_ptr<vmm::EventStream> stream) {
    {
      absl::MutexLock lock(&mu_);
      stream_ = std::move(stream);
      admitted_ = true;
    }
    service_->stats_.StreamOpened();
    Poll();
  }

  void Poll() override {
    bool write = false;
    {
      absl::MutexLock lock(&mu_);
      if (finishing_ || writing_ || stream_ == nullptr) return;
      std::optional<vmm::WatchEvent> event = stream_->Next(absl::InfinitePast());
      if (event.has_value()) {
        if (event->dropped_before > 0) service_->stats_.EventsDropped(event->dropped_before);
        event_ = EventToProto(*event);
        writing_ = true;
        write = true;
      } else if (stream_->closed()) {
        finishing_ = true;  // the hub shut down: the stream ends OK, as it always did
      } else {
        return;
      }
    }
    if (write) {
      StartWrite(&event_);
    } else {
      FinishStream(grpc::Status::OK);
    }
  }

  void End(const grpc::Status& status) override {
    {
      absl::MutexLock lock(&mu_);
      if (finishing_) return;
      if (writing_) {
        pending_end_ = status;  // OnWriteDone finishes
        return;
      }
      finishing_ = true;
    }
    FinishStream(status);
  }

  void OnWriteDone(bool ok) override {
    std::optional<grpc::Status> finish;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (pending_end_.has_value()) {
        finish = *pending_end_;
      } else if (!ok) {
        finish = grpc::Status::OK;  // the client went away
      }
      if (finish.has_value()) finishing_ = true;
    }
    if (finish.has_value()) {
      FinishStream(*finish);
      return;
    }
    Poll();
  }

  // The client cancelled (or the server's shutdown did): finish; the status is not sent.
  void OnCancel() override { End(grpc::Status::OK); }

  void OnDone() override {
    bool admitted;
    {
      absl::MutexLock lock(&mu_);
      admitted = admitted_;
    }
    if (admitted) {
      service_->stats_.StreamClosed();
      service_->long_calls_.Leave(this);
    }
    Unref();  // gRPC's
  }

 private:
  void FinishStream(const grpc::Status& status) {
    service_->FinishRead(
        "WatchEvents", name_,
        absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message()),
        absl::InfinitePast());
    Finish(status);
  }

  VmmService* const service_;
  const std::string name_;
  absl::Mutex mu_;
  std::unique_ptr<vmm::EventStream> stream_ ABSL_GUARDED_BY(mu_);
  v1::Event event_;  // the write in flight (written only while writing_ is false)
  bool admitted_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finishing_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<grpc::Status> pending_end_ ABSL_GUARDED_BY(mu_);
};

grpc::ServerWriteReactor<v1::Event>* VmmService::WatchEvents(
    grpc::CallbackServerContext*, const v1::WatchEventsRequest* request) {
  auto* reactor = new WatchReactor(this, request->name());
  absl::StatusOr<std::unique_ptr<vmm::EventStream>> stream = vms_->Watch(request->name());
  if (!stream.ok()) {
    reactor->Refuse(stream.status());
    return reactor;
  }
  if (absl::Status admitted = long_calls_.Admit(reactor); !admitted.ok()) {
    reactor->Refuse(admitted);
    return reactor;
  }
  long_calls_.Wake();
  reactor->Begin(*std::move(stream));
  return reactor;
}

class VmmService::ScaleReactor final : public grpc::ServerUnaryReactor, public LongCall {
 public:
  ScaleReactor(VmmService* service, const v1::ScaleVCPUsRequest& request,
               v1::ScaleVCPUsResponse* response, absl::Time start)
      : service_(service), request_(request), response_(response), start_(start) {}

  // Finishes with the outcome `status` (and `result` when OK), unless already ended.
  void Complete(const absl::Status& status, const v1::ScaleVCPUsResponse& result) {
    {
      absl::MutexLock lock(&mu_);
      if (finishing_) return;
      finishing_ = true;
      if (status.ok()) *response_ = result;
    }
    Finish(service_->Finish("ScaleVCPUs", request_.name(), status, start_));
  }

  void End(const grpc::Status& status) override {
    Complete(
        absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message()),
        {});
  }

  // A cancelled call ends at once; its wait goes on (it cannot be interrupted) and keeps its
  // place under the cap until it returns.
  void OnCancel() override { End(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled")); }

  void OnDone() override {
    Release();
    Unref();  // gRPC's
  }

  // Admitted under the cap: the waiter and OnDone each Release once; the second one leaves.
  void Admitted() {
    absl::MutexLock lock(&mu_);
    holders_ = 2;
  }
  void Release() {
    bool last;
    {
      absl::MutexLock lock(&mu_);
      last = holders_ > 0 && --holders_ == 0;
    }
    if (last) service_->long_calls_.Leave(this);
  }

  // Runs the wait (on a LongCalls thread).
  void Wait(absl::Time call_deadline) {
    v1::ScaleVCPUsResponse result;
    const absl::Status status = service_->DoScale(request_, call_deadline, &result);
    Complete(status, result);
  }

 private:
  VmmService* const service_;
  const v1::ScaleVCPUsRequest request_;  // a copy: the waiter may outlive the call
  v1::ScaleVCPUsResponse* const response_;
  const absl::Time start_;
  absl::Mutex mu_;
  bool finishing_ ABSL_GUARDED_BY(mu_) = false;
  int holders_ ABSL_GUARDED_BY(mu_) = 0;  // 0: not admitted
};

grpc::ServerUnaryReactor* VmmService::ScaleVCPUs(grpc::CallbackServerContext* context,
                                                 const v1::ScaleVCPUsRequest* request,
                                                 v1::ScaleVCPUsResponse* response) {
  const absl::Time start = absl::Now();
  const absl::Time call_deadline = absl::FromChrono(context->deadline());
  const bool waits =
      request->wait() == v1::SCALE_WAIT_ENABLED || request->wait() == v1::SCALE_WAIT_ONLINE;
  absl::Status shape = ValidateVmName(request->name(), "name");
  if (shape.ok()) shape = ScaleDeadline(*request, start, call_deadline).status();
  if (!waits || !shape.ok()) {
    // Answers without waiting for the guest (or refuses the request): done on this thread.
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(
        Finish("ScaleVCPUs", request->name(), DoScale(*request, call_deadline, response), start));
    return reactor;
  }
  auto* reactor = new ScaleReactor(this, *request, response, start);
  if (absl::Status admitted = long_calls_.Admit(reactor); !admitted.ok()) {
    reactor->Complete(admitted, {});
    return reactor;
  }
  reactor->Admitted();
  reactor->Ref();  // the waiter's
  absl::Status started = long_calls_.RunBlocking([reactor, call_deadline] {
    reactor->Wait(call_deadline);
    reactor->Release();
    reactor->Unref();
  });
  if (!started.ok()) {
    reactor->Unref();
    reactor->Release();
    reactor->Complete(started, {});
  }
  return reactor;
}

}  // namespace vmmd::api
