// vmmctl scale / events: calls that report progress as it happens, from the WatchEvents stream.
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "core/common/thread.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "vmmd/v1/vmm.grpc.pb.h"
#include "vmmd/vmmctl/call.h"
#include "vmmd/vmmctl/commands.h"
#include "vmmd/vmmctl/format.h"

namespace vmmd::vmmctl {
namespace {

Outcome Failed(const grpc::Status& status) {
  Outcome o;
  o.exit_code = 1;
  o.err = FormatError(status.error_code(), status.error_message());
  return o;
}

void SetDeadline(grpc::ClientContext& context, absl::Duration timeout) {
  context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
}

}  // namespace

Outcome ExecuteScale(const Invocation& inv, const ProgressFn& progress) {
  std::unique_ptr<v1::Vmm::Stub> stub = v1::Vmm::NewStub(Connect(inv));

  // Progress: this VM's vCPU transitions, printed as they happen. The stream's first message
  // (the snapshot) tells us it is live before the request goes out.
  grpc::ClientContext watch_context;
  SetDeadline(watch_context, inv.timeout);
  v1::WatchEventsRequest watch_request;
  watch_request.set_name(inv.name);
  std::unique_ptr<grpc::ClientReader<v1::Event>> reader =
      stub->WatchEvents(&watch_context, watch_request);
  absl::Notification live;
  // Progress is optional: without a thread for it (a host out of threads) the scale goes on.
  absl::StatusOr<std::thread> watcher = StartThread("vmmctl watch", [&] {
    v1::Event event;
    while (reader->Read(&event)) {
      if (event.snapshot()) {
        if (!live.HasBeenNotified()) live.Notify();
        continue;
      }
      if (progress && !inv.json && event.has_vcpu_state()) progress(FormatEvent(event));
    }
    if (!live.HasBeenNotified()) live.Notify();  // the stream failed: go on without progress
  });
  if (!watcher.ok()) {
    watch_context.TryCancel();
    live.Notify();
  }
  live.WaitForNotificationWithTimeout(absl::Seconds(5));

  v1::ScaleVCPUsRequest request;
  request.set_name(inv.name);
  request.set_target_vcpus(inv.target_vcpus);
  request.set_wait(inv.wait);
  const absl::Duration wait = inv.scale_timeout;
  request.mutable_timeout()->set_seconds(absl::ToInt64Seconds(wait));
  request.mutable_timeout()->set_nanos(
      static_cast<int32_t>(absl::ToInt64Nanoseconds(wait - absl::Seconds(absl::ToInt64Seconds(wait)))));
  v1::ScaleVCPUsResponse response;
  grpc::ClientContext context;
  SetDeadline(context, inv.timeout);
  grpc::Status status = stub->ScaleVCPUs(&context, request, &response);

  // Let the stream deliver what the daemon published before it answered, then stop it.
  absl::SleepFor(absl::Milliseconds(100));
  watch_context.TryCancel();
  if (watcher.ok()) watcher->join();
  reader->Finish();

  if (!status.ok()) return Failed(status);
  Outcome o;
  if (inv.json) {
    absl::StatusOr<std::string> json = FormatJson(response);
    if (!json.ok()) return Failed(grpc::Status(grpc::StatusCode::INTERNAL, "JSON conversion failed"));
    o.out = std::move(*json);
  } else {
    o.out = FormatScaleResult(response);
  }
  return o;
}

Outcome ExecuteEvents(const Invocation& inv, const ProgressFn& progress) {
  std::unique_ptr<v1::Vmm::Stub> stub = v1::Vmm::NewStub(Connect(inv));
  grpc::ClientContext context;
  if (inv.events_deadline) SetDeadline(context, inv.timeout);
  v1::WatchEventsRequest request;
  request.set_name(inv.name);
  std::unique_ptr<grpc::ClientReader<v1::Event>> reader = stub->WatchEvents(&context, request);
  v1::Event event;
  while (reader->Read(&event)) {
    if (!progress) continue;
    if (inv.json) {
      absl::StatusOr<std::string> json = FormatJson(event);
      if (json.ok()) progress(*json);
    } else {
      progress(FormatEvent(event));
    }
  }
  grpc::Status status = reader->Finish();
  // The deadline the user asked for ends the stream normally.
  if (status.ok() || (inv.events_deadline &&
                      status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED)) {
    return Outcome{};
  }
  return Failed(status);
}

}  // namespace vmmd::vmmctl
