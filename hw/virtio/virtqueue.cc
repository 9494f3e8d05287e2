#include "hw/virtio/virtqueue.h"

#include <atomic>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace vmmd::hw::virtio {
namespace {

constexpr uint64_t kDescSize = 16;

// The guest's descriptor layout (little-endian on arm64, as virtio 1.x requires).
struct Desc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};
static_assert(sizeof(Desc) == kDescSize);

absl::Status Broken(const std::string& what) {
  return absl::DataLossError(absl::StrCat("virtqueue broken: ", what));
}

}  // namespace

absl::StatusOr<Virtqueue> Virtqueue::Create(const core::GuestMemory* memory, QueueConfig config) {
  const uint32_t n = config.size;
  if (n == 0 || n > kMaxQueueSize || (n & (n - 1)) != 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("queue size %u is not a power of 2 in 1..%u", n, kMaxQueueSize));
  }
  if (config.desc % 16 != 0 || config.avail % 2 != 0 || config.used % 4 != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "misaligned rings: descriptors 0x%x (16), available 0x%x (2), used 0x%x (4)", config.desc,
        config.avail, config.used));
  }
  // The event-index fields sit after each ring and count whether used or not.
  const uint64_t desc_bytes = kDescSize * n;
  const uint64_t avail_bytes = 6 + 2ULL * n;
  const uint64_t used_bytes = 6 + 8ULL * n;
  if (!memory->Contains(config.desc, desc_bytes) || !memory->Contains(config.avail, avail_bytes) ||
      !memory->Contains(config.used, used_bytes)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "a ring of the %u-entry queue is outside guest RAM (descriptors 0x%x, available 0x%x, "
        "used 0x%x)",
        n, config.desc, config.avail, config.used));
  }
  return Virtqueue(memory, config);
}

absl::StatusOr<std::optional<Chain>> Virtqueue::Pop() {
  absl::StatusOr<uint16_t> avail_idx = memory_->ReadObj<uint16_t>(config_.avail + 2);
  if (!avail_idx.ok()) return avail_idx.status();
  // The ring entries below idx are valid once idx is read.
  std::atomic_thread_fence(std::memory_order_acquire);
  const auto pending = static_cast<uint16_t>(*avail_idx - next_avail_);
  if (pending == 0) return std::nullopt;
  if (pending > config_.size) {
    return Broken(
        absl::StrFormat("available index %u is %u entries ahead of the device's %u "
                        "(queue size %u)",
                        *avail_idx, pending, next_avail_, config_.size));
  }
  const uint64_t slot = config_.avail + 4 + 2ULL * (next_avail_ % config_.size);
  absl::StatusOr<uint16_t> head = memory_->ReadObj<uint16_t>(slot);
  if (!head.ok()) return head.status();
  if (*head >= config_.size) {
    return Broken(
        absl::StrFormat("available chain head %u beyond the queue size %u", *head, config_.size));
  }
  Chain chain;
  chain.head = *head;
  if (absl::Status s = Walk(*head, &chain); !s.ok()) return s;
  ++next_avail_;
  return chain;
}

absl::Status Virtqueue::AddSegment(uint64_t addr, uint32_t len, uint16_t flags,
                                   Chain* chain) const {
  if (!memory_->Contains(addr, len)) {
    return Broken(absl::StrFormat("descriptor buffer 0x%x+%u is outside guest RAM", addr, len));
  }
  const bool writable = (flags & kDescWrite) != 0;
  if (!writable && !chain->writable.empty()) {
    return Broken("a device-readable descriptor after a device-writable one");
  }
  auto& total = writable ? chain->writable_bytes : chain->readable_bytes;
  total += len;
  if (total > std::numeric_limits<uint32_t>::max()) {
    return Broken("a chain of more than 4 GiB");
  }
  (writable ? chain->writable : chain->readable).push_back(Segment{addr, len, writable});
  return absl::OkStatus();
}

absl::Status Virtqueue::Walk(uint16_t head, Chain* chain) const {
  // Direct descriptors: at most `size` in one chain, so a cycle ends the walk as broken.
  uint16_t index = head;
  for (uint32_t count = 0;; ++count) {
    if (count >= config_.size) {
      return Broken(
          absl::StrFormat("the chain from descriptor %u is longer than the queue (%u): "
                          "a loop",
                          head, config_.size));
    }
    absl::StatusOr<Desc> d = memory_->ReadObj<Desc>(config_.desc + kDescSize * index);
    if (!d.ok()) return d.status();
    if ((d->flags & kDescIndirect) != 0) {
      if (!config_.indirect) return Broken("an indirect descriptor without VIRTIO_F_INDIRECT_DESC");
      if ((d->flags & kDescNext) != 0) return Broken("an indirect descriptor with NEXT set");
      if (d->len == 0 || d->len % kDescSize != 0 || d->len / kDescSize > config_.size) {
        return Broken(
            absl::StrFormat("an indirect table of %u bytes (a multiple of 16, at most "
                            "%u entries)",
                            d->len, config_.size));
      }
      if (!memory_->Contains(d->addr, d->len)) {
        return Broken(
            absl::StrFormat("indirect table 0x%x+%u is outside guest RAM", d->addr, d->len));
      }
      const auto entries = static_cast<uint32_t>(d->len / kDescSize);
      uint32_t i = 0;
      for (uint32_t seen = 0;; ++seen) {
        if (seen >= entries) return Broken("a loop in an indirect table");
        absl::StatusOr<Desc> e = memory_->ReadObj<Desc>(d->addr + kDescSize * i);
        if (!e.ok()) return e.status();
        if ((e->flags & kDescIndirect) != 0) return Broken("an indirect table inside another");
        if (absl::Status s = AddSegment(e->addr, e->len, e->flags, chain); !s.ok()) return s;
        if ((e->flags & kDescNext) == 0) break;
        if (e->next >= entries) {
          return Broken(
              absl::StrFormat("indirect next %u beyond the table's %u entries", e->next, entries));
        }
        i = e->next;
      }
      return absl::OkStatus();  // an indirect descriptor is the whole chain
    }
    if (absl::Status s = AddSegment(d->addr, d->len, d->flags, chain); !s.ok()) return s;
    if ((d->flags & kDescNext) == 0) return absl::OkStatus();
    if (d->next >= config_.size) {
      return Broken(
          absl::StrFormat("next descriptor %u beyond the queue size %u", d->next, config_.size));
    }
    index = d->next;
  }
}

absl::Status Virtqueue::PushUsed(uint16_t head, uint32_t written, bool publish) {
  if (head >= config_.size) {
    return absl::InvalidArgumentError(
        absl::StrFormat("used head %u beyond the queue size %u", head, config_.size));
  }
  const uint64_t elem = config_.used + 4 + 8ULL * (next_used_ % config_.size);
  struct {
    uint32_t id;
    uint32_t len;
  } used{head, written};
  if (absl::Status s = memory_->WriteObj(elem, used); !s.ok()) return s;
  ++next_used_;
  return publish ? PublishUsed() : absl::OkStatus();
}

absl::Status Virtqueue::PublishUsed() {
  // The elements are visible before the index that hands them over.
  std::atomic_thread_fence(std::memory_order_release);
  return memory_->WriteObj<uint16_t>(config_.used + 2, next_used_);
}

absl::StatusOr<bool> Virtqueue::ShouldInterrupt() {
  // The used index is written before the driver's wish is read (a full barrier, as the spec's
  // example device does), or an interrupt could be lost.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  const uint16_t old = signalled_used_;
  signalled_used_ = next_used_;
  if (old == next_used_) return false;
  if (config_.event_idx) {
    absl::StatusOr<uint16_t> used_event =
        memory_->ReadObj<uint16_t>(config_.avail + 4 + 2ULL * config_.size);
    if (!used_event.ok()) return used_event.status();
    // vring_need_event: interrupt if used_event lies in [old, new).
    return static_cast<uint16_t>(next_used_ - *used_event - 1) <
           static_cast<uint16_t>(next_used_ - old);
  }
  absl::StatusOr<uint16_t> flags = memory_->ReadObj<uint16_t>(config_.avail);
  if (!flags.ok()) return flags.status();
  return (*flags & kAvailNoInterrupt) == 0;
}

absl::StatusOr<bool> Virtqueue::HasAvailable() const {
  absl::StatusOr<uint16_t> avail_idx = memory_->ReadObj<uint16_t>(config_.avail + 2);
  if (!avail_idx.ok()) return avail_idx.status();
  const auto pending = static_cast<uint16_t>(*avail_idx - next_avail_);
  if (pending > config_.size) {
    return Broken(absl::StrFormat("available index %u is %u entries ahead of the device's %u",
                                  *avail_idx, pending, next_avail_));
  }
  return pending != 0;
}

absl::Status Virtqueue::EnableNotification() {
  if (!config_.event_idx) return memory_->WriteObj<uint16_t>(config_.used, 0);  // flags: notify
  absl::Status s = memory_->WriteObj<uint16_t>(config_.used + 4 + 8ULL * config_.size, next_avail_);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  return s;
}

}  // namespace vmmd::hw::virtio
