// Byte ranges of a chain's segments (virtqueue.h) as host memory: what devices read requests
// from and write replies into. The segments were checked to be guest RAM when the chain was
// taken; these check again (GuestMemory::GetSpan) and fail rather than go outside it.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "core/memory/guest_memory.h"
#include "hw/virtio/virtqueue.h"

namespace vmmd::hw::virtio {

// Host iovecs for bytes [skip, skip + len) of `segs`; false if the segments hold fewer bytes.
bool SliceSegments(const core::GuestMemory& mem, const std::vector<Segment>& segs, uint64_t skip,
                   uint64_t len, std::vector<iovec>* out);
// Copies bytes [skip, skip + out.size()) of `segs` out of guest RAM.
bool GatherSegments(const core::GuestMemory& mem, const std::vector<Segment>& segs, uint64_t skip,
                    absl::Span<uint8_t> out);
// Copies `in` into `segs` from their first byte on; false if they hold fewer bytes.
bool ScatterSegments(const core::GuestMemory& mem, const std::vector<Segment>& segs,
                     absl::Span<const uint8_t> in);

}  // namespace vmmd::hw::virtio
