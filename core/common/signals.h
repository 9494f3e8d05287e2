// Process-wide signal dispositions every vmmd program sets once at start.
#pragma once

#include "absl/status/status.h"

namespace vmmd {

// SIGPIPE ignored: a write to a pipe or socket whose reader has gone (a console log reader, a
// gRPC peer, `vmmctl ... | head`) then fails with EPIPE, which the writer handles, instead of
// killing the process. Idempotent; the disposition is inherited by forked children (and kept
// across exec, so a program that spawns tools restores SIG_DFL in the child first).
absl::Status IgnoreSigpipe();

}  // namespace vmmd
