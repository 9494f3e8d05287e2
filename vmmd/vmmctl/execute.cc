// Execute() and the plumbing of a unary call (call.h): connection, error wording, JSON.
#include <cstring>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "vmmd/endpoint/unix_socket.h"
#include "vmmd/vmmctl/call.h"
#include "vmmd/vmmctl/commands.h"
#include "vmmd/vmmctl/format.h"

namespace vmmd::vmmctl {
namespace {

std::string SocketPath(const Invocation& inv) {
  if (inv.address.kind == endpoint::Address::Kind::kUnix && !inv.address.path.empty()) {
    return inv.address.path;
  }
  return absl::StartsWith(inv.socket, "unix:") ? inv.socket.substr(5) : inv.socket;
}

}  // namespace

std::shared_ptr<grpc::Channel> Connect(const Invocation& inv) {
  if (inv.address.kind == endpoint::Address::Kind::kTcp) {
    return grpc::CreateChannel(inv.address.GrpcTarget(), inv.credentials != nullptr
                                                             ? inv.credentials
                                                             : grpc::InsecureChannelCredentials());
  }
  return grpc::CreateChannel(absl::StrCat("unix:", SocketPath(inv)),
                             grpc::InsecureChannelCredentials());
}

std::string ErrorMessage(const Invocation& inv, grpc::Channel& channel,
                         const grpc::Status& status) {
  std::string message = status.error_message();
  const bool connected = channel.GetState(false) == GRPC_CHANNEL_READY;
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE && !connected) {
    // Never connected: say where we looked and why it failed, in plain words if we can.
    const int err = inv.address.kind == endpoint::Address::Kind::kTcp
                        ? 0
                        : endpoint::ProbeUnixSocket(SocketPath(inv));
    message = absl::StrCat("cannot reach vmmd at ", inv.socket, ": ",
                           err != 0 ? std::strerror(err) : message);
  } else if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED && !connected) {
    message = absl::StrCat("no answer from vmmd at ", inv.socket, " within ",
                           absl::FormatDuration(inv.timeout), " (", message, ")");
  }
  return message;
}

Outcome Finish(const Invocation& inv, grpc::Channel& channel, const grpc::Status& status,
               const google::protobuf::Message& response, const std::string& human) {
  Outcome outcome;
  if (!status.ok()) {
    outcome.exit_code = 1;
    outcome.err = FormatError(status.error_code(), ErrorMessage(inv, channel, status));
    return outcome;
  }
  if (!inv.json) {
    outcome.out = human;
    return outcome;
  }
  absl::StatusOr<std::string> json = FormatJson(response);
  if (!json.ok()) {
    outcome.exit_code = 1;
    outcome.err = FormatError(grpc::StatusCode::INTERNAL, std::string(json.status().message()));
    return outcome;
  }
  outcome.out = std::move(*json);
  return outcome;
}

Outcome Execute(const Invocation& inv, const ProgressFn& progress) {
  for (const Command& c : Commands()) {
    if (c.name == inv.command) return c.run(inv, progress);
  }
  Outcome outcome;
  outcome.exit_code = 1;
  outcome.err = FormatError(grpc::StatusCode::INVALID_ARGUMENT,
                            absl::StrCat("unknown command '", inv.command, "'"));
  return outcome;
}

}  // namespace vmmd::vmmctl
