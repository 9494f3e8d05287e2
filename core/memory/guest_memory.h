// Guest RAM: one anonymous mapping at a guest-physical base. Every access by guest-supplied
// address goes through the bounds-checked accessors here; nothing else computes host pointers
// from guest addresses.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace vmmd::core {

class GuestMemory {
 public:
  // Reserves `size` bytes (MAP_NORESERVE: pages are committed on first touch).
  static absl::StatusOr<std::unique_ptr<GuestMemory>> Create(uint64_t base, uint64_t size);
  ~GuestMemory();
  GuestMemory(const GuestMemory&) = delete;
  GuestMemory& operator=(const GuestMemory&) = delete;

  uint64_t base() const { return base_; }
  uint64_t size() const { return size_; }
  uint64_t end() const { return base_ + size_; }
  void* host_base() const { return host_; }

  // True if [gpa, gpa+len) lies entirely in RAM (overflow-safe).
  bool Contains(uint64_t gpa, uint64_t len) const {
    return gpa >= base_ && len <= size_ && gpa - base_ <= size_ - len;
  }
  // OUT_OF_RANGE unless the whole range is RAM.
  absl::StatusOr<absl::Span<uint8_t>> GetSpan(uint64_t gpa, uint64_t len) const;
  absl::Status Read(uint64_t gpa, absl::Span<uint8_t> out) const;
  absl::Status Write(uint64_t gpa, absl::Span<const uint8_t> in) const;

  template <typename T>
  absl::StatusOr<T> ReadObj(uint64_t gpa) const {
    static_assert(std::is_trivially_copyable_v<T>);
    T value;
    absl::Status s = Read(gpa, absl::MakeSpan(reinterpret_cast<uint8_t*>(&value), sizeof(T)));
    if (!s.ok()) return s;
    return value;
  }
  template <typename T>
  absl::Status WriteObj(uint64_t gpa, const T& value) const {
    static_assert(std::is_trivially_copyable_v<T>);
    return Write(gpa, absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(&value), sizeof(T)));
  }

 private:
  GuestMemory(uint64_t base, uint64_t size, void* host) : base_(base), size_(size), host_(host) {}
  uint64_t base_;
  uint64_t size_;
  void* host_;
};

}  // namespace vmmd::core
