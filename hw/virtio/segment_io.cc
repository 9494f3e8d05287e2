#include "hw/virtio/segment_io.h"

#include <algorithm>
#include <cstring>

namespace vmmd::hw::virtio {

bool SliceSegments(const core::GuestMemory& mem, const std::vector<Segment>& segs, uint64_t skip,
                   uint64_t len, std::vector<iovec>* out) {
  out->clear();
  for (const Segment& s : segs) {
    if (len == 0) break;
    if (skip >= s.len) {
      skip -= s.len;
      continue;
    }
    const uint64_t take = std::min<uint64_t>(s.len - skip, len);
    absl::StatusOr<absl::Span<uint8_t>> span = mem.GetSpan(s.gpa + skip, take);
    if (!span.ok()) return false;
    out->push_back(iovec{span->data(), span->size()});
    len -= take;
    skip = 0;
  }
  return len == 0;
}

bool GatherSegments(const core::GuestMemory& mem, const std::vector<Segment>& segs, uint64_t skip,
                    absl::Span<uint8_t> out) {
  std::vector<iovec> iov;
  if (!SliceSegments(mem, segs, skip, out.size(), &iov)) return false;
  size_t at = 0;
  for (const iovec& v : iov) {
    std::memcpy(out.data() + at, v.iov_base, v.iov_len);
    at += v.iov_len;
  }
  return true;
}

bool ScatterSegments(const core::GuestMemory& mem, const std::vector<Segment>& segs,
                     absl::Span<const uint8_t> in) {
  std::vector<iovec> iov;
  if (!SliceSegments(mem, segs, 0, in.size(), &iov)) return false;
  size_t at = 0;
  for (const iovec& v : iov) {
    std::memcpy(v.iov_base, in.data() + at, v.iov_len);
    at += v.iov_len;
  }
  return true;
}

}  // namespace vmmd::hw::virtio
