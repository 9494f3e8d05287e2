#include "core/kvm/device_attr.h"

#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <cerrno>

#include "core/common/errno_status.h"

namespace vmmd::core::kvm {

absl::Status SetDeviceAttr(int fd, uint32_t group, uint64_t attr, const void* value,
                           std::string_view what) {
  kvm_device_attr a{};
  a.group = group;
  a.attr = attr;
  a.addr = reinterpret_cast<uint64_t>(value);
  if (ioctl(fd, KVM_SET_DEVICE_ATTR, &a) < 0) return ErrnoStatus(errno, what);
  return absl::OkStatus();
}

}  // namespace vmmd::core::kvm
