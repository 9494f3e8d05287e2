// Firmware code banks shared between VMs. Every UEFI VM executes its firmware from flash0, a
// read-only bank no guest can write (CfiFlash ignores and counts stores to it), so one copy of
// an image serves every VM that boots it: each VM's read-only memslot maps the same host pages.
// Without it each VM held a private copy (~2 MiB resident for Debian's QEMU_EFI.fd).
//
// An image is known by the identity of the opened file (device, inode, size, modification and
// status-change times): a file replaced or rewritten in place is a different image, loaded
// again, while the VMs that booted the old one keep it. The cache holds images weakly: the last
// VM that uses one frees it.
//
// Thread safety: Load may be called from any thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/common/scoped_fd.h"
#include "hw/flash/flash_storage.h"

namespace vmmd::hw {

class FlashImageCache {
 public:
  struct Stats {
    uint64_t loads = 0;   // images read from a file
    uint64_t shared = 0;  // requests served by an image already loaded
    uint64_t live = 0;    // images in use now
  };

  // The image in `fd` as a code bank of `size` bytes (FlashStorage::LoadImage's rules and
  // errors), shared with every other holder of the same file at the same size. The bank must
  // stay read-only: the caller maps it into KVM read-only and never writes it.
  absl::StatusOr<std::shared_ptr<FlashStorage>> Load(ScopedFd fd, const std::string& name,
                                                     uint64_t size);

  Stats GetStats() const;

 private:
  // st_dev, st_ino, st_size, st_mtim, st_ctim (ns), bank size.
  using Key = std::tuple<dev_t, ino_t, int64_t, int64_t, int64_t, uint64_t>;

  mutable absl::Mutex mu_;
  std::map<Key, std::weak_ptr<FlashStorage>> images_ ABSL_GUARDED_BY(mu_);
  uint64_t loads_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t shared_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace vmmd::hw
