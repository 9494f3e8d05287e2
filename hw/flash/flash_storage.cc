#include "hw/flash/flash_storage.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_format.h"
#include "core/common/errno_status.h"
#include "core/common/log.h"

namespace vmmd::hw {
namespace {

// Reads exactly out_len bytes from offset 0 (EINTR and short reads handled).
absl::Status ReadAll(int fd, uint8_t* out, uint64_t out_len, const std::string& path) {
  uint64_t done = 0;
  while (done < out_len) {
    const ssize_t n = ::pread(fd, out + done, out_len - done, static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, absl::StrFormat("read %s", path));
    }
    if (n == 0) return absl::DataLossError(absl::StrFormat("%s: unexpected end of file", path));
    done += static_cast<uint64_t>(n);
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
  absl::StatusOr<uint64_t> file_size = FileSize(fd.get(), path);
  if (!file_size.ok()) return file_size.status();
  if (*file_size == 0 || *file_size > size) {
    return absl::InvalidArgumentError(
        absl::StrFormat("firmware %s is %u bytes; it must be 1..%u bytes", path, *file_size, size));
  }
  absl::StatusOr<uint8_t*> data = MapBuffer(size);
  if (!data.ok()) return data.status();
  std::unique_ptr<FlashStorage> storage(new FlashStorage(*data, size, ScopedFd(), path, false));
  if (absl::Status s = ReadAll(fd.get(), *data, *file_size, path); !s.ok()) return s;
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
    if (absl::Status s = ReadAll(storage->fd_.get(), *data, size, path); !s.ok()) return s;
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
