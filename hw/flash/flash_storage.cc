#include "hw/flash/flash_storage.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "core/common/errno_status.h"
#include "core/common/log.h"
#include "core/common/status_macros.h"

namespace vmmd::hw {
namespace {

// Reads exactly `len` bytes at `offset` (EINTR and short reads handled).
absl::Status ReadAt(int fd, uint8_t* out, uint64_t len, uint64_t offset, const std::string& path) {
  uint64_t done = 0;
  while (done < len) {
    const ssize_t n = ::pread(fd, out + done, len - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, absl::StrFormat("read %s", path));
    }
    if (n == 0) return absl::DataLossError(absl::StrFormat("%s: unexpected end of file", path));
    done += static_cast<uint64_t>(n);
  }
  return absl::OkStatus();
}

// Fills the still-untouched (zero) buffer `out` with the first `len` bytes of the file, writing
// only the pages that are not all zeros: holes are skipped (SEEK_DATA/SEEK_HOLE) and the rest
// is read through a small bounce buffer, so a 64 MiB variable store that holds a few hundred KiB
// of variables costs a few hundred KiB of RAM, not 64 MiB.
absl::Status ReadNonZeroPages(int fd, uint8_t* out, uint64_t len, const std::string& path) {
  constexpr uint64_t kPage = 4096;
  constexpr uint64_t kChunk = 256 * kPage;
  std::vector<uint8_t> bounce(kChunk);
  uint64_t pos = 0;
  while (pos < len) {
    // The next data extent; a file system without SEEK_DATA reports everything as data.
    off_t data = ::lseek(fd, static_cast<off_t>(pos), SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) break;  // only a hole is left
      return ErrnoStatus(errno, absl::StrFormat("seek %s", path));
    }
    off_t hole = ::lseek(fd, data, SEEK_HOLE);
    if (hole < 0) return ErrnoStatus(errno, absl::StrFormat("seek %s", path));
    uint64_t begin = static_cast<uint64_t>(data) / kPage * kPage;
    const uint64_t end = std::min<uint64_t>(static_cast<uint64_t>(hole), len);
    while (begin < end) {
      const uint64_t n = std::min(kChunk, end - begin);
      VMMD_RETURN_IF_ERROR(ReadAt(fd, bounce.data(), n, begin, path));
      for (uint64_t off = 0; off < n; off += kPage) {
        const uint64_t m = std::min(kPage, n - off);
        const uint8_t* p = bounce.data() + off;
        if (std::any_of(p, p + m, [](uint8_t b) { return b != 0; })) {
          std::memcpy(out + begin + off, p, m);
        }
      }
      begin += n;
    }
    pos = std::max(end, pos + 1);
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> FileSize(int fd, const std::string& path) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return ErrnoStatus(errno, absl::StrFormat("fstat %s", path));
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrFormat("%s is not a regular file", path));
  }
  return static_cast<uint64_t>(st.st_size);
}

}  // namespace

absl::StatusOr<uint8_t*> FlashStorage::MapBuffer(uint64_t size) {
  if (size == 0 || size % 4096 != 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("flash bank size 0x%x is not a positive multiple of 4 KiB", size));
  }
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return ErrnoStatus(errno, "mmap flash bank");
  ::madvise(p, size, MADV_DONTFORK);
  return static_cast<uint8_t*>(p);
}

absl::StatusOr<std::unique_ptr<FlashStorage>> FlashStorage::LoadImage(const std::string& path,
                                                                      uint64_t size) {
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus(errno, absl::StrFormat("open firmware %s", path));
  return LoadImage(std::move(fd), path, size);
}

absl::StatusOr<std::unique_ptr<FlashStorage>> FlashStorage::LoadImage(ScopedFd fd,
                                                                      const std::string& path,
                                                                      uint64_t size) {
  absl::StatusOr<uint64_t> file_size = FileSize(fd.get(), path);
  if (!file_size.ok()) return file_size.status();
  if (*file_size == 0 || *file_size > size) {
    return absl::InvalidArgumentError(
        absl::StrFormat("firmware %s is %u bytes; it must be 1..%u bytes", path, *file_size, size));
  }
  absl::StatusOr<uint8_t*> data = MapBuffer(size);
  if (!data.ok()) return data.status();
  std::unique_ptr<FlashStorage> storage(new FlashStorage(*data, size, ScopedFd(), path, false));
  if (absl::Status s = ReadNonZeroPages(fd.get(), *data, *file_size, path); !s.ok()) return s;
  return storage;  // the rest of the anonymous mapping is already zero
}

absl::StatusOr<std::unique_ptr<FlashStorage>> FlashStorage::OpenPersistent(const std::string& path,
                                                                           uint64_t size,
                                                                           bool sync_each_write) {
  ScopedFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd.valid()) return ErrnoStatus(errno, absl::StrFormat("open variable store %s", path));
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return absl::FailedPreconditionError(
          absl::StrFormat("variable store %s is in use by another VM", path));
    }
    return ErrnoStatus(errno, absl::StrFormat("flock %s", path));
  }
  absl::StatusOr<uint64_t> file_size = FileSize(fd.get(), path);
  if (!file_size.ok()) return file_size.status();
  if (*file_size == 0) {
    if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) {
      return ErrnoStatus(errno, absl::StrFormat("extend %s to %u bytes", path, size));
    }
  } else if (*file_size != size) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "variable store %s is %u bytes; the flash bank needs exactly %u", path, *file_size, size));
  }
  absl::StatusOr<uint8_t*> data = MapBuffer(size);
  if (!data.ok()) return data.status();
  std::unique_ptr<FlashStorage> storage(
      new FlashStorage(*data, size, std::move(fd), path, sync_each_write));
  if (*file_size != 0) {
    if (absl::Status s = ReadNonZeroPages(storage->fd_.get(), *data, size, path); !s.ok()) {
      return s;
    }
  }
  return storage;
}

absl::StatusOr<std::unique_ptr<FlashStorage>> FlashStorage::CreateVolatile(uint64_t size,
                                                                           uint8_t fill) {
  absl::StatusOr<uint8_t*> data = MapBuffer(size);
  if (!data.ok()) return data.status();
  if (fill != 0) std::memset(*data, fill, size);
  return std::unique_ptr<FlashStorage>(new FlashStorage(*data, size, ScopedFd(), "", false));
}

FlashStorage::~FlashStorage() {
  if (absl::Status s = Flush(); !s.ok()) LogError("flash: %s", s.ToString());
  ::munmap(data_, size_);
}

absl::Status FlashStorage::Persist(uint64_t offset, uint64_t length) {
  if (offset > size_ || length > size_ - offset) {
    return absl::OutOfRangeError(absl::StrFormat(
        "persist [0x%x, +0x%x) is outside the 0x%x-byte bank", offset, length, size_));
  }
  if (!fd_.valid()) return absl::OkStatus();
  uint64_t done = 0;
  while (done < length) {
    const ssize_t n = ::pwrite(fd_.get(), data_ + offset + done, length - done,
                               static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, absl::StrFormat("write %s", path_));
    }
    if (n == 0) return absl::DataLossError(absl::StrFormat("write %s: no progress", path_));
    done += static_cast<uint64_t>(n);
  }
  return sync_ ? Flush() : absl::OkStatus();
}

absl::Status FlashStorage::Flush() {
  if (!fd_.valid()) return absl::OkStatus();
  if (::fdatasync(fd_.get()) != 0)
    return ErrnoStatus(errno, absl::StrFormat("fdatasync %s", path_));
  return absl::OkStatus();
}

}  // namespace vmmd::hw
