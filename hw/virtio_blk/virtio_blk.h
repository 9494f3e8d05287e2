// virtio-blk (Virtio 1.2, section 5.2) over a raw image file: one request queue; reads, writes,
// flush, the device ID, discard and write-zeroes. The file is opened (and locked) by whoever
// builds the device; the device only reads and writes it at offsets inside its capacity.
//
// I/O is buffered (the host page cache; no O_DIRECT): a completed write is in the host file as
// any reader of it sees it; a completed FLUSH means fdatasync returned, so it survives a host
// crash too. The guest learns this from VIRTIO_BLK_F_FLUSH and issues flushes for its own
// sync()s and journal commits. Discard punches a hole (the image stays sparse); write-zeroes
// zeroes the range (or punches it when the driver allows unmapping).
//
// The guest is hostile: a request's header, data and status byte may be split anywhere across
// its buffers (any layout); every sector range is checked against the capacity, a data length
// must be whole sectors, a request without a status byte is returned unanswered and counted.
// Such requests fail alone (IOERR/UNSUPP); only a broken queue stops the device.
//
// Threading: called by the transport with its lock held (virtio_device.h); the counters are
// atomic, readable from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "core/common/scoped_fd.h"
#include "core/memory/guest_memory.h"
#include "hw/virtio/virtio_device.h"

namespace vmmd::hw::virtio {

namespace blk {
// Feature bits (section 5.2.3).
inline constexpr uint64_t kFeatureSegMax = 1ULL << 2;
inline constexpr uint64_t kFeatureReadOnly = 1ULL << 5;
inline constexpr uint64_t kFeatureBlockSize = 1ULL << 6;
inline constexpr uint64_t kFeatureFlush = 1ULL << 9;
inline constexpr uint64_t kFeatureDiscard = 1ULL << 13;
inline constexpr uint64_t kFeatureWriteZeroes = 1ULL << 14;

// Request types and status values (section 5.2.6).
inline constexpr uint32_t kTypeIn = 0;
inline constexpr uint32_t kTypeOut = 1;
inline constexpr uint32_t kTypeFlush = 4;
inline constexpr uint32_t kTypeGetId = 8;
inline constexpr uint32_t kTypeDiscard = 11;
inline constexpr uint32_t kTypeWriteZeroes = 13;
inline constexpr uint8_t kStatusOk = 0;
inline constexpr uint8_t kStatusIoErr = 1;
inline constexpr uint8_t kStatusUnsupported = 2;

inline constexpr uint64_t kSectorSize = 512;
inline constexpr uint16_t kQueueSize = 256;
inline constexpr uint32_t kIdBytes = 20;  // VIRTIO_BLK_ID_BYTES
// Largest discard / write-zeroes range per request, in sectors (32 MiB: a range the I/O thread
// zeroes by writing, on a filesystem without fallocate, stays short).
inline constexpr uint32_t kMaxZeroSectors = 65536;
}  // namespace blk

struct BlockOptions {
  bool read_only = false;
  std::string serial;  // GET_ID: up to 20 bytes, not NUL-terminated when it is 20
};

class VirtioBlock : public VirtioDevice {
 public:
  struct Stats {
    uint64_t reads = 0;
    uint64_t writes = 0;
    uint64_t read_bytes = 0;
    uint64_t write_bytes = 0;
    uint64_t flushes = 0;
    uint64_t discards = 0;  // discard and write-zeroes requests
    uint64_t errors = 0;    // requests answered IOERR or UNSUPP, or not answerable
  };

  // `file` is the image (read-write unless options.read_only); its size, floored to whole
  // sectors, is the capacity. INVALID_ARGUMENT for an image smaller than one sector.
  static absl::StatusOr<std::unique_ptr<VirtioBlock>> Create(ScopedFd file,
                                                             const core::GuestMemory* memory,
                                                             BlockOptions options);

  uint32_t device_type() const override { return kDeviceBlock; }
  uint64_t features() const override;
  uint16_t queue_count() const override { return 1; }
  uint16_t queue_max_size() const override { return blk::kQueueSize; }
  void ReadConfig(uint64_t offset, absl::Span<uint8_t> data) const override;
  void WriteConfig(uint64_t offset, absl::Span<const uint8_t> data) override;
  absl::Status Activate(uint64_t features) override;
  absl::Status Process(uint16_t index, Virtqueue& queue) override;
  void Reset() override {}

  // fdatasync of the image.
  absl::Status Sync() const;
  // When the VM stops: syncs the image and closes it (which releases the lock its opener took);
  // requests after it fail (IOERR). Only while nothing serves the queue (the I/O thread has
  // stopped). Idempotent.
  absl::Status Close();
  Stats GetStats() const;
  uint64_t capacity_sectors() const { return capacity_; }

 private:
  VirtioBlock(ScopedFd file, const core::GuestMemory* memory, BlockOptions options,
              uint64_t capacity);
  // Serves one request; returns its status and the bytes written into its data buffers.
  uint8_t Serve(const Chain& chain, uint32_t* data_written);
  uint8_t ReadWrite(bool write, uint64_t sector, const Chain& chain, uint32_t* data_written);
  uint8_t Zero(uint32_t type, const Chain& chain);
  uint8_t GetId(const Chain& chain, uint32_t* data_written);

  ScopedFd file_;
  const core::GuestMemory* const memory_;
  const BlockOptions options_;
  const uint64_t capacity_;  // sectors
  std::atomic<uint64_t> reads_{0}, writes_{0}, read_bytes_{0}, write_bytes_{0}, flushes_{0},
      discards_{0}, errors_{0};
};

}  // namespace vmmd::hw::virtio
