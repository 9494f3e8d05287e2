// The gRPC edge of error handling: absl::Status inside vmmd, grpc::Status on the wire.
#pragma once

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace vmmd {

// Same code number (Abseil's canonical codes are gRPC's), same message. A code outside the
// canonical range becomes UNKNOWN with the number kept in the message.
grpc::Status ToGrpcStatus(const absl::Status& status);

// The reverse, for clients and tests.
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace vmmd
