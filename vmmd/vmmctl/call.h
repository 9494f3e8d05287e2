// How vmmctl calls vmmd: a unary RPC with the invocation's deadline and the human rendering of
// its answer (execute.cc), and the calls that report progress from the WatchEvents stream
// (stream.cc). The command table (commands.cc) is built from these.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/status.h"
#include "vmmd/v1/vmm.grpc.pb.h"
#include "vmmd/vmmctl/commands.h"

namespace vmmd::vmmctl {

// A channel to the invocation's socket.
std::shared_ptr<grpc::Channel> Connect(const Invocation& inv);

// A failed call's message, in plain words where vmmd could not be reached ("cannot reach vmmd
// at <socket>: <strerror>") or did not answer ("no answer from vmmd at <socket> within <timeout>").
std::string ErrorMessage(const Invocation& inv, grpc::Channel& channel, const grpc::Status& status);

// What a failed or successful call prints: the error in plain words (where vmmd could not be
// reached, or did not answer), the message as JSON with --json, or `human`.
Outcome Finish(const Invocation& inv, grpc::Channel& channel, const grpc::Status& status,
               const google::protobuf::Message& response, const std::string& human);

// One unary RPC: `method` on a fresh stub with the invocation's deadline, `request` as built,
// the answer printed with `format` (unless --json).
template <typename Request, typename Response>
Outcome CallUnary(const Invocation& inv,
                  grpc::Status (v1::Vmm::Stub::*method)(grpc::ClientContext*, const Request&,
                                                        Response*),
                  const Request& request,
                  const std::function<std::string(const Response&)>& format) {
  std::shared_ptr<grpc::Channel> channel = Connect(inv);
  std::unique_ptr<v1::Vmm::Stub> stub = v1::Vmm::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(inv.timeout));
  Response response;
  const grpc::Status status = ((*stub).*method)(&context, request, &response);
  return Finish(inv, *channel, status, response, status.ok() ? format(response) : "");
}

// A request message carrying only the invocation's NAME.
template <typename Request>
Request Named(const Invocation& inv) {
  Request request;
  request.set_name(inv.name);
  return request;
}

// scale / events (stream.cc): the RPC plus the WatchEvents stream that reports progress.
Outcome ExecuteScale(const Invocation& inv, const ProgressFn& progress);
Outcome ExecuteEvents(const Invocation& inv, const ProgressFn& progress);
// console (console.cc): GetVm for the log's path, then the file read on this host.
Outcome ExecuteConsole(const Invocation& inv, const ProgressFn& progress);
// top (top_run.cc): a frame through `progress` every interval, until SIGINT/SIGTERM or the
// frame count.
Outcome ExecuteTop(const Invocation& inv, const ProgressFn& progress);

}  // namespace vmmd::vmmctl
