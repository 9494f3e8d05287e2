// Direct kernel boot: Image + initrd + a device tree; vCPU 0 enters the kernel with x0 = DTB.
#include "absl/strings/str_cat.h"
#include "core/arch/aarch64/fdt_builder.h"
#include "core/arch/aarch64/kernel_loader.h"
#include "core/common/bounded_echo.h"
#include "core/common/status_macros.h"
#include "vmmd/vmm/machine.h"

namespace vmmd::vmm {

namespace a64 = core::aarch64;

absl::StatusOr<a64::DirectBootLayout> Machine::LoadKernel(const VmSpec& spec, VmSpecFiles& files) {
  if (!files.kernel.has_value()) {
    return absl::InvalidArgumentError("a boot without firmware needs kernel_path");
  }
  const a64::BootFile kernel{files.kernel->fd.get(),
                             absl::StrCat("kernel_path \"", BoundedEcho(spec.kernel_path), "\"")};
  a64::BootFile initrd;
  if (files.initrd.has_value()) {
    initrd = {files.initrd->fd.get(),
              absl::StrCat("initrd_path \"", BoundedEcho(spec.initrd_path), "\"")};
  }
  return a64::LoadKernelAndInitrd(*memory_, kernel, files.initrd.has_value() ? &initrd : nullptr);
}

absl::Status Machine::LoadDirectBoot(const VmSpec& spec, VmSpecFiles& files) {
  VMMD_ASSIGN_OR_RETURN(a64::DirectBootLayout layout, LoadKernel(spec, files));
  a64::BoardFdtConfig fdt = FdtConfig();
  fdt.cmdline = spec.cmdline;
  if (layout.initrd_size != 0) fdt.initrd = a64::FdtInitrd{layout.initrd_addr, layout.initrd_size};
  VMMD_ASSIGN_OR_RETURN(std::vector<uint8_t> blob, a64::BuildBoardFdt(fdt));
  VMMD_RETURN_IF_ERROR(a64::WriteFdt(*memory_, layout, blob));
  entry_ = layout.entry;
  entry_x0_ = layout.fdt_addr;
  return absl::OkStatus();
}

}  // namespace vmmd::vmm
