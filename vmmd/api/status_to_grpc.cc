#include "vmmd/api/status_to_grpc.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace vmmd::api {
namespace {

constexpr int kMaxCanonicalCode = 16;  // UNAUTHENTICATED

std::string Bounded(absl::string_view message) {
  if (message.size() <= kMaxGrpcMessageBytes) return std::string(message);
  return absl::StrCat(message.substr(0, kMaxGrpcMessageBytes), "... (",
                      message.size() - kMaxGrpcMessageBytes, " more bytes)");
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  const int code = static_cast<int>(status.code());
  if (code < 1 || code > kMaxCanonicalCode) {
    return grpc::Status(grpc::StatusCode::UNKNOWN,
                        Bounded(absl::StrCat("status code ", code, ": ", status.message())));
  }
  return grpc::Status(static_cast<grpc::StatusCode>(code), Bounded(status.message()));
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  const int code = static_cast<int>(status.error_code());
  if (code < 1 || code > kMaxCanonicalCode) {
    return absl::UnknownError(absl::StrCat("status code ", code, ": ", status.error_message()));
  }
  return absl::Status(static_cast<absl::StatusCode>(code), status.error_message());
}

}  // namespace vmmd::api
