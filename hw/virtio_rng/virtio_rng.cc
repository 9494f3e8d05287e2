#include "hw/virtio_rng/virtio_rng.h"

#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <optional>

#include "core/common/errno_status.h"

namespace vmmd::hw::virtio {

using namespace rng;  // NOLINT(build/namespaces): the constants above

namespace {

// Fills `out` from getrandom(2), flags 0, resuming after EINTR and short reads; returns how
// many bytes it filled (all of them unless getrandom failed).
size_t FillRandom(absl::Span<uint8_t> out) {
  size_t at = 0;
  while (at < out.size()) {
    const ssize_t n = getrandom(out.data() + at, out.size() - at, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    at += static_cast<size_t>(n);
  }
  return at;
}

}  // namespace

absl::StatusOr<std::unique_ptr<VirtioRng>> VirtioRng::Create(const core::GuestMemory* memory) {
  if (memory == nullptr) return absl::InvalidArgumentError("virtio-rng needs guest memory");
  // Once the pool is initialized it stays so: from here on getrandom(flags 0) never blocks.
  uint8_t probe = 0;
  for (;;) {
    if (getrandom(&probe, 1, GRND_NONBLOCK) == 1) break;
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {
      return absl::FailedPreconditionError(
          "the host kernel's random pool is not initialized yet (getrandom would block)");
    }
    return ErrnoStatus(errno, "getrandom");
  }
  return std::unique_ptr<VirtioRng>(new VirtioRng(memory));
}

void VirtioRng::ReadConfig(uint64_t, absl::Span<uint8_t> data) const {
  std::fill(data.begin(), data.end(), 0);  // no configuration space
}

void VirtioRng::WriteConfig(uint64_t, absl::Span<const uint8_t>) {}

absl::Status VirtioRng::Activate(uint64_t) { return absl::OkStatus(); }

absl::Status VirtioRng::Process(uint16_t, Virtqueue& queue) {
  uint64_t served = 0;
  for (uint32_t chains = 0; chains < kMaxProcessChains && served < kMaxProcessBytes; ++chains) {
    absl::StatusOr<std::optional<Chain>> chain = queue.Pop();
    if (!chain.ok()) return chain.status();
    if (!chain->has_value()) return absl::OkStatus();
    const Chain& c = **chain;
    bool failed = c.writable_bytes == 0;  // nowhere to put a byte: returned with none
    const uint32_t written = failed ? 0 : Fill(c, &failed);
    requests_.fetch_add(1, std::memory_order_relaxed);
    bytes_.fetch_add(written, std::memory_order_relaxed);
    if (failed) errors_.fetch_add(1, std::memory_order_relaxed);
    served += written;
    if (absl::Status s = queue.PushUsed(c.head, written); !s.ok()) return s;
  }
  return absl::OkStatus();  // budget spent: the transport calls again while chains remain
}

uint32_t VirtioRng::Fill(const Chain& chain, bool* failed) {
  uint64_t want = std::min<uint64_t>(chain.writable_bytes, kMaxChainBytes);
  uint32_t written = 0;
  for (const Segment& s : chain.writable) {
    if (want == 0) break;
    const uint64_t take = std::min<uint64_t>(s.len, want);
    // The queue checked the segment is guest RAM; GetSpan checks again.
    absl::StatusOr<absl::Span<uint8_t>> span = memory_->GetSpan(s.gpa, take);
    const size_t n = span.ok() ? FillRandom(*span) : 0;
    written += static_cast<uint32_t>(n);
    if (n < take) {
      *failed = true;
      break;
    }
    want -= take;
  }
  return written;
}

VirtioRng::Stats VirtioRng::GetStats() const {
  Stats s;
  s.requests = requests_.load(std::memory_order_relaxed);
  s.bytes = bytes_.load(std::memory_order_relaxed);
  s.errors = errors_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace vmmd::hw::virtio
