// The bytes of one flash bank: a private, page-aligned anonymous mapping (so the VMM can hand it
// to KVM as a read-only memslot), optionally written through to a file.
//
// Persistence choice (flash1, the UEFI variable store): the buffer is the working copy; every
// completed erase or program is written to the file at once with pwrite of exactly the changed
// range (a 128-byte program writes 128 bytes, an erase 256 KiB). That survives a crash of vmmd,
// because the data is in the host page cache the moment the guest's status poll says "done".
// fdatasync is deferred to Flush() (the VMM calls it at Stop; the destructor calls it too), which
// is what makes it survive a host power loss. QEMU's pflash behaves the same way with its
// default cache mode. `sync_each_write` makes every persisted range durable immediately (an
// fdatasync per erase/program: ~180 on a first boot, so it costs boot time on slow disks).
// The file is opened O_CLOEXEC and locked with flock(LOCK_EX | LOCK_NB) so two VMs cannot share
// one variable store.
//
// RAM: opening a bank writes only the file's non-zero pages into the buffer (holes are skipped,
// zero pages are read through a small bounce buffer and not copied); every other page stays an
// untouched anonymous page. A 64 MiB variable store in which edk2 keeps a few hundred KiB costs
// that much RSS, not 64 MiB; the same holds for a zero-padded firmware image. The pages the
// guest later erases or programs become resident as it writes them.
//
// Why not MAP_SHARED over the file: a host-side truncate of the file would SIGBUS the daemon on
// a guest-reachable path, and KVM memslots over shared file pages add writeback and THP corner
// cases; a private buffer plus pwrite has none of that and the same durability points.
//
// Not thread-safe: the owning device serialises access.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/common/scoped_fd.h"

namespace vmmd::hw {

class FlashStorage {
 public:
  // A code bank: the bytes of `path` followed by zeros up to `size` (what QEMU's -bios gives
  // and what Debian's padded AAVMF_CODE.fd holds). INVALID_ARGUMENT if the file is empty or
  // larger than `size`; NOT_FOUND etc. from open.
  static absl::StatusOr<std::unique_ptr<FlashStorage>> LoadImage(const std::string& path,
                                                                 uint64_t size);
  // The same from a file already open for reading (`name` is how messages call it).
  static absl::StatusOr<std::unique_ptr<FlashStorage>> LoadImage(ScopedFd fd,
                                                                 const std::string& name,
                                                                 uint64_t size);
  // A variable-store bank persisted in `path`. A missing or empty file is created/extended to
  // `size` bytes of zeros (the firmware formats a blank store on first boot); any other size is
  // INVALID_ARGUMENT (as QEMU refuses a mis-sized pflash image). FAILED_PRECONDITION if another
  // process or VM holds the file's lock.
  static absl::StatusOr<std::unique_ptr<FlashStorage>> OpenPersistent(const std::string& path,
                                                                      uint64_t size,
                                                                      bool sync_each_write = false);
  // No file: contents start as `fill` and are lost with the object.
  static absl::StatusOr<std::unique_ptr<FlashStorage>> CreateVolatile(uint64_t size,
                                                                      uint8_t fill = 0xFF);

  ~FlashStorage();
  FlashStorage(const FlashStorage&) = delete;
  FlashStorage& operator=(const FlashStorage&) = delete;

  uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }
  bool persistent() const { return fd_.valid(); }
  const std::string& path() const { return path_; }

  // Writes buffer bytes [offset, offset + length) to the file (no-op without one); also
  // fdatasyncs when opened with sync_each_write. OUT_OF_RANGE for a range outside the bank.
  absl::Status Persist(uint64_t offset, uint64_t length);
  // fdatasync (no-op without a file).
  absl::Status Flush();

 private:
  FlashStorage(uint8_t* data, uint64_t size, ScopedFd fd, std::string path, bool sync)
      : data_(data), size_(size), fd_(std::move(fd)), path_(std::move(path)), sync_(sync) {}
  static absl::StatusOr<uint8_t*> MapBuffer(uint64_t size);

  uint8_t* const data_;
  const uint64_t size_;
  ScopedFd fd_;
  const std::string path_;
  const bool sync_;
};

}  // namespace vmmd::hw
