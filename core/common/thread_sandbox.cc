#include "core/common/thread_sandbox.h"

#include <atomic>

namespace vmmd {
namespace {

std::atomic<ThreadSandbox> g_sandbox{nullptr};
thread_local ThreadRole t_role = ThreadRole::kNone;

}  // namespace

void SetThreadSandbox(ThreadSandbox sandbox) { g_sandbox.store(sandbox); }

absl::Status EnterThreadSandbox(ThreadRole role) {
  if (role == ThreadRole::kNone || t_role == role) return absl::OkStatus();
  const ThreadSandbox sandbox = g_sandbox.load();
  if (sandbox == nullptr) return absl::OkStatus();
  if (absl::Status s = sandbox(role); !s.ok()) return s;
  t_role = role;
  return absl::OkStatus();
}

ThreadRole CurrentThreadRole() { return t_role; }

namespace internal {
void AdoptThreadRole(ThreadRole role) { t_role = role; }
}  // namespace internal

}  // namespace vmmd
