#include "core/bus/bus.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_format.h"
#include "core/common/log.h"

namespace vmmd::core {

absl::Status Bus::Insert(uint64_t base, uint64_t size, std::shared_ptr<BusDevice> device,
                         std::string name) {
  if (size == 0) {
    return absl::InvalidArgumentError(absl::StrFormat("bus device %s has size 0", name));
  }
  if (base + size < base) {
    return absl::InvalidArgumentError(
        absl::StrFormat("bus device %s range 0x%x+0x%x wraps", name, base, size));
  }
  if (device == nullptr) {
    return absl::InvalidArgumentError(absl::StrFormat("bus device %s is null", name));
  }
  auto next = entries_.lower_bound(base);
  if (next != entries_.end() && next->first < base + size) {
    return absl::AlreadyExistsError(absl::StrFormat(
        "bus device %s [0x%x, 0x%x) overlaps %s at 0x%x", name, base, base + size,
        next->second.name, next->first));
  }
  if (next != entries_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second.size > base) {
      return absl::AlreadyExistsError(absl::StrFormat(
          "bus device %s [0x%x, 0x%x) overlaps %s at 0x%x", name, base, base + size,
          prev->second.name, prev->first));
    }
  }
  entries_.emplace(base, Entry{size, std::move(device), std::move(name)});
  return absl::OkStatus();
}

const Bus::Entry* Bus::Find(uint64_t addr, uint64_t len, uint64_t* offset) const {
  auto it = entries_.upper_bound(addr);
  if (it == entries_.begin()) return nullptr;
  --it;
  uint64_t off = addr - it->first;
  if (off >= it->second.size || len > it->second.size - off) return nullptr;
  *offset = off;
  return &it->second;
}

void Bus::CountUnmapped(uint64_t addr, size_t len, bool is_write) {
  uint64_t n = unmapped_.fetch_add(1, std::memory_order_relaxed) + 1;
  if (ShouldLogOccurrence(n)) {  // the first few, then every 1024th (core/common/log.h)
    LogWarning("unmapped MMIO %s at 0x%x len %u (%u so far)", is_write ? "write" : "read", addr,
               len, n);
  }
}

bool Bus::Read(uint64_t addr, absl::Span<uint8_t> data) {
  uint64_t offset = 0;
  const Entry* e = Find(addr, data.size(), &offset);
  if (e == nullptr) {
    std::fill(data.begin(), data.end(), 0);
    CountUnmapped(addr, data.size(), false);
    return false;
  }
  e->device->Read(offset, data);
  return true;
}

bool Bus::Write(uint64_t addr, absl::Span<const uint8_t> data) {
  uint64_t offset = 0;
  const Entry* e = Find(addr, data.size(), &offset);
  if (e == nullptr) {
    CountUnmapped(addr, data.size(), true);
    return false;
  }
  e->device->Write(offset, data);
  return true;
}

}  // namespace vmmd::core
