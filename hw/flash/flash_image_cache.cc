#include "hw/flash/flash_image_cache.h"

#include <sys/stat.h>

#include <cerrno>
#include <utility>

#include "absl/strings/str_format.h"
#include "core/common/errno_status.h"

namespace vmmd::hw {

namespace {

int64_t Nanos(const struct timespec& t) { return int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec; }

}  // namespace

absl::StatusOr<std::shared_ptr<FlashStorage>> FlashImageCache::Load(ScopedFd fd,
                                                                    const std::string& name,
                                                                    uint64_t size) {
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus(errno, absl::StrFormat("stat %s", name));
  const Key key{st.st_dev,         st.st_ino,         int64_t{st.st_size},
                Nanos(st.st_mtim), Nanos(st.st_ctim), size};
  // Loaded under the lock: two VMs starting with the same image read it once.
  absl::MutexLock lock(&mu_);
  for (auto it = images_.begin(); it != images_.end();) {  // forget freed images
    it = it->second.expired() ? images_.erase(it) : std::next(it);
  }
  if (auto it = images_.find(key); it != images_.end()) {
    if (std::shared_ptr<FlashStorage> image = it->second.lock()) {
      ++shared_;
      return image;
    }
  }
  absl::StatusOr<std::unique_ptr<FlashStorage>> loaded =
      FlashStorage::LoadImage(std::move(fd), name, size);
  if (!loaded.ok()) return loaded.status();
  std::shared_ptr<FlashStorage> image = std::move(*loaded);
  images_[key] = image;
  ++loads_;
  return image;
}

FlashImageCache::Stats FlashImageCache::GetStats() const {
  absl::MutexLock lock(&mu_);
  Stats stats{.loads = loads_, .shared = shared_};
  for (const auto& [key, image] : images_) stats.live += image.expired() ? 0 : 1;
  return stats;
}

}  // namespace vmmd::hw
