// Echoing client-supplied text (a path, a name) inside an error or log message without letting
// the client decide how long the message gets: a 3 MiB path must not come back whole.
#pragma once

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace vmmd {

inline constexpr size_t kMaxEchoBytes = 200;

// The first `max_bytes` bytes of `text`, C-escaped (so control bytes and quotes cannot forge
// the message), followed by "...(N bytes)" when `text` was longer. Quote it where it is used.
std::string BoundedEcho(absl::string_view text, size_t max_bytes = kMaxEchoBytes);

}  // namespace vmmd
