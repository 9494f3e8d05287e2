#include "core/memory/guest_memory.h"

#include <sys/mman.h>

#include <cerrno>

#include "absl/strings/str_format.h"
#include "core/common/errno_status.h"

namespace vmmd::core {

absl::StatusOr<std::unique_ptr<GuestMemory>> GuestMemory::Create(uint64_t base, uint64_t size) {
  if (size == 0 || base + size < base) {
    return absl::InvalidArgumentError(
        absl::StrFormat("guest memory [0x%x, +0x%x) is empty or wraps", base, size));
  }
  void* host = mmap(nullptr, size, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (host == MAP_FAILED) {
    return ErrnoStatus(errno, absl::StrFormat("mmap %u MiB of guest RAM", size >> 20));
  }
  // Guest RAM has no business in core dumps of the daemon, nor in a forked child.
  madvise(host, size, MADV_DONTDUMP);
  madvise(host, size, MADV_DONTFORK);
  return std::unique_ptr<GuestMemory>(new GuestMemory(base, size, host));
}

GuestMemory::~GuestMemory() { munmap(host_, size_); }

absl::StatusOr<absl::Span<uint8_t>> GuestMemory::GetSpan(uint64_t gpa, uint64_t len) const {
  if (!Contains(gpa, len)) {
    return absl::OutOfRangeError(absl::StrFormat(
        "guest range [0x%x, +0x%x) is outside RAM [0x%x, 0x%x)", gpa, len, base_, end()));
  }
  return absl::MakeSpan(static_cast<uint8_t*>(host_) + (gpa - base_), len);
}

absl::Status GuestMemory::Read(uint64_t gpa, absl::Span<uint8_t> out) const {
  auto span = GetSpan(gpa, out.size());
  if (!span.ok()) return span.status();
  std::memcpy(out.data(), span->data(), out.size());
  return absl::OkStatus();
}

absl::Status GuestMemory::Write(uint64_t gpa, absl::Span<const uint8_t> in) const {
  auto span = GetSpan(gpa, in.size());
  if (!span.ok()) return span.status();
  std::memcpy(span->data(), in.data(), in.size());
  return absl::OkStatus();
}

}  // namespace vmmd::core
