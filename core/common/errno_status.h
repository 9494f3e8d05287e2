// errno → absl::Status with a message naming the failed operation (absl::ErrnoToStatus is not
// in Abseil 20220623).
#pragma once

#include <string_view>

#include "absl/status/status.h"

namespace vmmd {

// The canonical code for an errno value: ENOMEM → RESOURCE_EXHAUSTED, EINVAL → INVALID_ARGUMENT,
// EEXIST → ALREADY_EXISTS, ENOENT → NOT_FOUND, EPERM/EACCES → PERMISSION_DENIED,
// EBUSY/EAGAIN → UNAVAILABLE, ENOSYS/EOPNOTSUPP → UNIMPLEMENTED, anything else → INTERNAL.
absl::StatusCode ErrnoToCode(int err);

// "<what>: <strerror> (errno N)" with the code above.
absl::Status ErrnoStatus(int err, std::string_view what);

}  // namespace vmmd
