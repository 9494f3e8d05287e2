// The gRPC edge of error handling: absl::Status inside vmmd, grpc::Status on the wire.
#pragma once

#include <cstddef>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace vmmd::api {

// The longest message sent to a client. gRPC carries it in the HTTP/2 trailers, whose size is
// limited (a longer one makes the client see RESOURCE_EXHAUSTED instead of the real code), and
// messages may quote client input.
inline constexpr size_t kMaxGrpcMessageBytes = 1024;

// Same code number (Abseil's canonical codes are gRPC's), same message, cut to
// kMaxGrpcMessageBytes with a note of how much was cut. A code outside the canonical range
// becomes UNKNOWN with the number kept in the message.
grpc::Status ToGrpcStatus(const absl::Status& status);

// The reverse, for clients and tests.
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace vmmd::api
