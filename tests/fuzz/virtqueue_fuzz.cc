// The split virtqueue (hw/virtio/virtqueue.h) over guest RAM the input fills: a hostile driver's
// descriptor tables, rings and indices. Input: a queue size (a power of 2, 1..256), the two
// feature bits, then the bytes of a 64 KiB RAM (descriptors at 0x0, available ring at 0x1000,
// used ring at 0x2000; buffers anywhere). The device pops until the queue is empty or broken
// (at most 2 x size chains), returning each chain. Invariants:
//  - Pop ends (a loop is refused, never followed) and a broken queue is DATA_LOSS only;
//  - every segment lies wholly in guest RAM; readable segments come before writable ones and
//    the byte totals are their sums, within 4 GiB;
//  - a chain has at most `size` segments (direct) or one table's entries (indirect);
//  - PushUsed of a popped head succeeds and the used index counts the returned chains.
#include <algorithm>
#include <cstdint>
#include <memory>

#include "absl/strings/str_format.h"
#include "hw/virtio/virtqueue.h"
#include "tests/fuzz/fuzz_input.h"

namespace vmmd::fuzz {
namespace {

namespace v = hw::virtio;
constexpr uint64_t kBase = 0x4000'0000;
constexpr uint64_t kRam = 64 * 1024;

void Run(const uint8_t* data, size_t size) {
  FuzzReader in(data, size);
  const uint32_t queue_size = 1u << (in.U8() % 9);
  const uint8_t features = in.U8();
  static std::unique_ptr<core::GuestMemory> memory = [] {
    auto m = core::GuestMemory::Create(kBase, kRam);
    return m.ok() ? *std::move(m) : nullptr;
  }();
  FUZZ_CHECK(memory != nullptr, "guest RAM");
  auto* ram = static_cast<uint8_t*>(memory->host_base());
  std::fill(ram, ram + kRam, 0);
  absl::Span<const uint8_t> rest = in.Rest();
  std::copy(rest.begin(), rest.begin() + std::min<size_t>(rest.size(), kRam), ram);

  absl::StatusOr<v::Virtqueue> q = v::Virtqueue::Create(
      memory.get(), v::QueueConfig{queue_size, kBase, kBase + 0x1000, kBase + 0x2000,
                                   (features & 1) != 0, (features & 2) != 0});
  FUZZ_CHECK(q.ok(), q.status().ToString());
  uint16_t returned = 0;
  for (uint32_t n = 0; n < 2 * queue_size; ++n) {
    absl::StatusOr<std::optional<v::Chain>> chain = q->Pop();
    if (!chain.ok()) {
      FUZZ_CHECK(chain.status().code() == absl::StatusCode::kDataLoss ||
                     chain.status().code() == absl::StatusCode::kOutOfRange,
                 chain.status().ToString());
      break;
    }
    if (!chain->has_value()) break;
    const v::Chain& c = **chain;
    FUZZ_CHECK(c.head < queue_size, "head within the queue");
    FUZZ_CHECK(c.readable.size() + c.writable.size() <= queue_size, "at most size segments");
    uint64_t r = 0, w = 0;
    for (const v::Segment& s : c.readable) {
      FUZZ_CHECK(memory->Contains(s.gpa, s.len) && !s.writable, "a readable segment in RAM");
      r += s.len;
    }
    for (const v::Segment& s : c.writable) {
      FUZZ_CHECK(memory->Contains(s.gpa, s.len) && s.writable, "a writable segment in RAM");
      w += s.len;
    }
    FUZZ_CHECK(r == c.readable_bytes && w == c.writable_bytes && r <= UINT32_MAX && w <= UINT32_MAX,
               absl::StrFormat("totals %u/%u vs %u/%u", r, w, c.readable_bytes, c.writable_bytes));
    FUZZ_CHECK(q->PushUsed(c.head, static_cast<uint32_t>(w)).ok(), "PushUsed of a popped head");
    ++returned;
    FUZZ_CHECK(*memory->ReadObj<uint16_t>(kBase + 0x2000 + 2) == returned, "the used index");
    (void)q->ShouldInterrupt();
  }
  (void)q->EnableNotification();
}

}  // namespace
}  // namespace vmmd::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vmmd::fuzz::Run(data, size);
  return 0;
}
