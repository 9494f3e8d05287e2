#include "hw/virtio_blk/virtio_blk.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_format.h"
#include "core/bus/bus_device.h"
#include "core/common/errno_status.h"
#include "hw/virtio/segment_io.h"

namespace vmmd::hw::virtio {

using namespace blk;  // NOLINT(build/namespaces): the constants above

namespace {

constexpr uint64_t kHeaderBytes = 16;
constexpr uint64_t kZeroSegmentBytes = 16;  // discard/write-zeroes: sector, num_sectors, flags

// The whole of `iov` at `offset`: preadv/pwritev until done (they may stop short).
bool FullIo(int fd, bool write, std::vector<iovec> iov, uint64_t offset) {
  size_t first = 0;
  while (first < iov.size()) {
    const int count = static_cast<int>(std::min<size_t>(iov.size() - first, IOV_MAX));
    const ssize_t n = write ? pwritev(fd, iov.data() + first, count, static_cast<off_t>(offset))
                            : preadv(fd, iov.data() + first, count, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (n == 0) return false;  // end of file inside the capacity: the image shrank
    offset += static_cast<uint64_t>(n);
    size_t done = static_cast<size_t>(n);
    while (first < iov.size() && done >= iov[first].iov_len) {
      done -= iov[first].iov_len;
      ++first;
    }
    if (done > 0) {
      iov[first].iov_base = static_cast<uint8_t*>(iov[first].iov_base) + done;
      iov[first].iov_len -= done;
    }
  }
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<VirtioBlock>> VirtioBlock::Create(ScopedFd file,
                                                                 const core::GuestMemory* memory,
                                                                 BlockOptions options) {
  struct stat st {};
  if (fstat(file.get(), &st) != 0) return ErrnoStatus(errno, "fstat of the disk image");
  if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
    return absl::InvalidArgumentError("a disk image must be a regular file or a block device");
  }
  uint64_t bytes = static_cast<uint64_t>(st.st_size);
  if (S_ISBLK(st.st_mode)) {
    const off_t end = lseek(file.get(), 0, SEEK_END);
    if (end < 0) return ErrnoStatus(errno, "size of the disk's block device");
    bytes = static_cast<uint64_t>(end);
  }
  if (bytes < kSectorSize) {
    return absl::InvalidArgumentError(
        absl::StrFormat("a disk image of %u bytes is smaller than one 512-byte sector", bytes));
  }
  return std::unique_ptr<VirtioBlock>(
      new VirtioBlock(std::move(file), memory, std::move(options), bytes / kSectorSize));
}

VirtioBlock::VirtioBlock(ScopedFd file, const core::GuestMemory* memory, BlockOptions options,
                         uint64_t capacity)
    : file_(std::move(file)), memory_(memory), options_(std::move(options)), capacity_(capacity) {}

uint64_t VirtioBlock::features() const {
  uint64_t f = kFeatureSegMax | kFeatureBlockSize | kFeatureFlush;
  if (options_.read_only) return f | kFeatureReadOnly;
  return f | kFeatureDiscard | kFeatureWriteZeroes;
}

void VirtioBlock::ReadConfig(uint64_t offset, absl::Span<uint8_t> data) const {
  // struct virtio_blk_config up to write_zeroes_may_unmap (section 5.2.4).
  uint8_t config[60] = {};
  auto put = [&config](size_t at, uint64_t value, size_t size) {
    core::StoreLe(absl::MakeSpan(config + at, size), value);
  };
  put(0, capacity_, 8);
  put(12, kQueueSize - 2, 4);   // seg_max: a chain also holds the header and the status byte
  put(20, kSectorSize, 4);      // blk_size
  put(34, 1, 2);                // num_queues
  put(36, kMaxZeroSectors, 4);  // max_discard_sectors
  put(40, 1, 4);                // max_discard_seg
  put(44, 8, 4);                // discard_sector_alignment: 4 KiB, the host's page
  put(48, kMaxZeroSectors, 4);  // max_write_zeroes_sectors
  put(52, 1, 4);                // max_write_zeroes_seg
  put(56, 1, 1);                // write_zeroes_may_unmap
  for (size_t i = 0; i < data.size(); ++i) {
    data[i] = offset < sizeof(config) && i < sizeof(config) - offset ? config[offset + i] : 0;
  }
}

void VirtioBlock::WriteConfig(uint64_t, absl::Span<const uint8_t>) {
  // Only `writeback` is writable, with VIRTIO_BLK_F_CONFIG_WCE, which is not offered.
}

absl::Status VirtioBlock::Activate(uint64_t) { return absl::OkStatus(); }

absl::Status VirtioBlock::Process(uint16_t, Virtqueue& queue) {
  for (;;) {
    absl::StatusOr<std::optional<Chain>> chain = queue.Pop();
    if (!chain.ok()) return chain.status();
    if (!chain->has_value()) return absl::OkStatus();
    const Chain& c = **chain;
    if (c.writable_bytes == 0) {  // nowhere to put the status: returned unanswered
      errors_.fetch_add(1, std::memory_order_relaxed);
      if (absl::Status s = queue.PushUsed(c.head, 0); !s.ok()) return s;
      continue;
    }
    uint32_t data_written = 0;
    const uint8_t status = Serve(c, &data_written);
    if (status != kStatusOk) errors_.fetch_add(1, std::memory_order_relaxed);
    std::vector<iovec> at;
    if (SliceSegments(*memory_, c.writable, c.writable_bytes - 1, 1, &at)) {
      *static_cast<uint8_t*>(at[0].iov_base) = status;
    }
    if (absl::Status s = queue.PushUsed(c.head, data_written + 1); !s.ok()) return s;
  }
}

uint8_t VirtioBlock::Serve(const Chain& chain, uint32_t* data_written) {
  uint8_t header[kHeaderBytes];
  if (!GatherSegments(*memory_, chain.readable, 0, absl::MakeSpan(header))) return kStatusIoErr;
  const auto type = static_cast<uint32_t>(core::LoadLe(absl::MakeConstSpan(header, 4)));
  const uint64_t sector = core::LoadLe(absl::MakeConstSpan(header + 8, 8));
  switch (type) {
    case kTypeIn:
      return ReadWrite(/*write=*/false, sector, chain, data_written);
    case kTypeOut:
      return ReadWrite(/*write=*/true, sector, chain, data_written);
    case kTypeFlush:
      flushes_.fetch_add(1, std::memory_order_relaxed);
      return Sync().ok() ? kStatusOk : kStatusIoErr;
    case kTypeGetId:
      return GetId(chain, data_written);
    case kTypeDiscard:
    case kTypeWriteZeroes:
      return options_.read_only ? kStatusIoErr : Zero(type, chain);
    default:
      return kStatusUnsupported;
  }
}

uint8_t VirtioBlock::ReadWrite(bool write, uint64_t sector, const Chain& chain,
                               uint32_t* data_written) {
  if (write && options_.read_only) return kStatusIoErr;
  // The data: after the header (a write), or before the status byte (a read).
  const uint64_t len = write ? chain.readable_bytes - kHeaderBytes : chain.writable_bytes - 1;
  if (len % kSectorSize != 0 || sector > capacity_ || len / kSectorSize > capacity_ - sector) {
    return kStatusIoErr;
  }
  std::vector<iovec> iov;
  if (!SliceSegments(*memory_, write ? chain.readable : chain.writable, write ? kHeaderBytes : 0,
                     len, &iov)) {
    return kStatusIoErr;
  }
  if (len > 0 && !FullIo(file_.get(), write, std::move(iov), sector * kSectorSize)) {
    return kStatusIoErr;
  }
  if (write) {
    writes_.fetch_add(1, std::memory_order_relaxed);
    write_bytes_.fetch_add(len, std::memory_order_relaxed);
  } else {
    reads_.fetch_add(1, std::memory_order_relaxed);
    read_bytes_.fetch_add(len, std::memory_order_relaxed);
    *data_written = static_cast<uint32_t>(len);
  }
  return kStatusOk;
}

uint8_t VirtioBlock::GetId(const Chain& chain, uint32_t* data_written) {
  std::vector<iovec> iov;
  const uint64_t room = chain.writable_bytes - 1;
  const uint64_t n = std::min<uint64_t>(room, kIdBytes);
  if (!SliceSegments(*memory_, chain.writable, 0, n, &iov)) return kStatusIoErr;
  uint8_t id[kIdBytes] = {};
  std::memcpy(id, options_.serial.data(), std::min<size_t>(options_.serial.size(), kIdBytes));
  size_t at = 0;
  for (const iovec& v : iov) {
    std::memcpy(v.iov_base, id + at, v.iov_len);
    at += v.iov_len;
  }
  *data_written = static_cast<uint32_t>(n);
  return kStatusOk;
}

uint8_t VirtioBlock::Zero(uint32_t type, const Chain& chain) {
  // One segment (max_discard_seg = max_write_zeroes_seg = 1).
  if (chain.readable_bytes != kHeaderBytes + kZeroSegmentBytes) return kStatusUnsupported;
  uint8_t seg[kZeroSegmentBytes];
  if (!GatherSegments(*memory_, chain.readable, kHeaderBytes, absl::MakeSpan(seg)))
    return kStatusIoErr;
  const uint64_t sector = core::LoadLe(absl::MakeConstSpan(seg, 8));
  const auto count = static_cast<uint32_t>(core::LoadLe(absl::MakeConstSpan(seg + 8, 4)));
  const auto flags = static_cast<uint32_t>(core::LoadLe(absl::MakeConstSpan(seg + 12, 4)));
  const bool unmap = (flags & 1) != 0;
  if ((flags & ~1u) != 0 || (type == kTypeDiscard && unmap)) return kStatusUnsupported;
  if (count > kMaxZeroSectors || sector > capacity_ || count > capacity_ - sector) {
    return kStatusIoErr;
  }
  discards_.fetch_add(1, std::memory_order_relaxed);
  if (count == 0) return kStatusOk;
  const auto offset = static_cast<off_t>(sector * kSectorSize);
  const auto length = static_cast<off_t>(uint64_t{count} * kSectorSize);
  const int mode = (type == kTypeDiscard || unmap) ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
                                                   : FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
  if (fallocate(file_.get(), mode, offset, length) == 0) return kStatusOk;
  if (errno != EOPNOTSUPP) return kStatusIoErr;
  if (type == kTypeDiscard) return kStatusOk;  // advisory: nothing to free here
  // No fallocate on this filesystem: write the zeroes.
  static const std::vector<uint8_t> zeroes(1 << 20, 0);
  for (off_t done = 0; done < length;) {
    const size_t n = static_cast<size_t>(std::min<off_t>(length - done, 1 << 20));
    const ssize_t w = pwrite(file_.get(), zeroes.data(), n, offset + done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return kStatusIoErr;
    done += w;
  }
  return kStatusOk;
}

absl::Status VirtioBlock::Close() {
  if (!file_.valid()) return absl::OkStatus();
  absl::Status s = Sync();
  file_.Reset();
  return s;
}

absl::Status VirtioBlock::Sync() const {
  if (options_.read_only || !file_.valid()) return absl::OkStatus();
  if (fdatasync(file_.get()) != 0) return ErrnoStatus(errno, "fdatasync of the disk image");
  return absl::OkStatus();
}

VirtioBlock::Stats VirtioBlock::GetStats() const {
  Stats s;
  s.reads = reads_.load(std::memory_order_relaxed);
  s.writes = writes_.load(std::memory_order_relaxed);
  s.read_bytes = read_bytes_.load(std::memory_order_relaxed);
  s.write_bytes = write_bytes_.load(std::memory_order_relaxed);
  s.flushes = flushes_.load(std::memory_order_relaxed);
  s.discards = discards_.load(std::memory_order_relaxed);
  s.errors = errors_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace vmmd::hw::virtio
