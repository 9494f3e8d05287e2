// Execute(): one RPC to vmmd and the formatting of its answer (declared in commands.h).
#include <chrono>
#include <cstring>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "vmmd/endpoint/unix_socket.h"
#include "vmmd/v1/vmm.grpc.pb.h"
#include "vmmd/vmmctl/commands.h"
#include "vmmd/vmmctl/format.h"

namespace vmmd::vmmctl {
namespace {

// What one call produced: the status, the response message and its human rendering.
struct Reply {
  grpc::Status status;
  std::unique_ptr<google::protobuf::Message> message;
  std::string human;
};

template <typename Response, typename Request, typename Method>
Reply Call(v1::Vmm::Stub& stub, Method method, const Request& request, absl::Duration timeout) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
  auto response = std::make_unique<Response>();
  Reply reply;
  reply.status = (stub.*method)(&context, request, response.get());
  reply.message = std::move(response);
  return reply;
}

template <typename Request>
Request Named(const std::string& name) {
  Request request;
  request.set_name(name);
  return request;
}

Reply Dispatch(v1::Vmm::Stub& stub, const Invocation& inv) {
  using Stub = v1::Vmm::Stub;
  const std::string& cmd = inv.command;
  Reply reply;
  if (cmd == "create") {
    v1::CreateVmRequest request;
    *request.mutable_spec() = inv.spec;
    reply = Call<v1::Vm>(stub, &Stub::CreateVm, request, inv.timeout);
  } else if (cmd == "start") {
    reply = Call<v1::Vm>(stub, &Stub::StartVm, Named<v1::StartVmRequest>(inv.name), inv.timeout);
  } else if (cmd == "stop") {
    reply = Call<v1::Vm>(stub, &Stub::StopVm, Named<v1::StopVmRequest>(inv.name), inv.timeout);
  } else if (cmd == "delete") {
    reply = Call<v1::DeleteVmResponse>(stub, &Stub::DeleteVm, Named<v1::DeleteVmRequest>(inv.name),
                                       inv.timeout);
    if (reply.status.ok()) reply.human = FormatConfirmation(inv.name, "DELETED");
    return reply;
  } else if (cmd == "get") {
    reply = Call<v1::Vm>(stub, &Stub::GetVm, Named<v1::GetVmRequest>(inv.name), inv.timeout);
    if (reply.status.ok()) reply.human = FormatVmDetails(static_cast<v1::Vm&>(*reply.message));
    return reply;
  } else if (cmd == "list") {
    reply = Call<v1::ListVmsResponse>(stub, &Stub::ListVms, v1::ListVmsRequest(), inv.timeout);
    if (reply.status.ok()) {
      reply.human = FormatVmList(static_cast<v1::ListVmsResponse&>(*reply.message));
    }
    return reply;
  } else if (cmd == "cpus") {
    reply = Call<v1::GetCPUStateResponse>(stub, &Stub::GetCPUState,
                                          Named<v1::GetCPUStateRequest>(inv.name), inv.timeout);
    if (reply.status.ok()) {
      reply.human = FormatCpuTable(static_cast<v1::GetCPUStateResponse&>(*reply.message));
    }
    return reply;
  } else {
    reply.status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                absl::StrCat("unknown command '", cmd, "'"));
    return reply;
  }
  // create / start / stop: "<name>: <STATE>".
  if (reply.status.ok()) {
    const auto& vm = static_cast<const v1::Vm&>(*reply.message);
    reply.human = FormatConfirmation(vm.spec().name().empty() ? inv.name : vm.spec().name(),
                                     VmStateLabel(vm.state()));
  }
  return reply;
}

}  // namespace

Outcome Execute(const Invocation& inv, const ProgressFn& progress) {
  if (inv.command == "scale") return ExecuteScale(inv, progress);
  if (inv.command == "events") return ExecuteEvents(inv, progress);
  const std::string path =
      absl::StartsWith(inv.socket, "unix:") ? inv.socket.substr(5) : inv.socket;
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateChannel(absl::StrCat("unix:", path), grpc::InsecureChannelCredentials());
  std::unique_ptr<v1::Vmm::Stub> stub = v1::Vmm::NewStub(channel);
  Reply reply = Dispatch(*stub, inv);

  Outcome outcome;
  if (!reply.status.ok()) {
    outcome.exit_code = 1;
    std::string message = reply.status.error_message();
    const bool connected = channel->GetState(false) == GRPC_CHANNEL_READY;
    if (reply.status.error_code() == grpc::StatusCode::UNAVAILABLE && !connected) {
      // Never connected: say where we looked and why it failed, in plain words if we can.
      const int err = endpoint::ProbeUnixSocket(path);
      message = absl::StrCat("cannot reach vmmd at ", inv.socket, ": ",
                             err != 0 ? std::strerror(err) : message);
    } else if (reply.status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED && !connected) {
      message = absl::StrCat("no answer from vmmd at ", inv.socket, " within ",
                             absl::FormatDuration(inv.timeout), " (", message, ")");
    }
    outcome.err = FormatError(reply.status.error_code(), message);
    return outcome;
  }
  if (!inv.json) {
    outcome.out = std::move(reply.human);
    return outcome;
  }
  absl::StatusOr<std::string> json = FormatJson(*reply.message);
  if (!json.ok()) {
    outcome.exit_code = 1;
    outcome.err = FormatError(grpc::StatusCode::INTERNAL, std::string(json.status().message()));
    return outcome;
  }
  outcome.out = std::move(*json);
  return outcome;
}

}  // namespace vmmd::vmmctl
