// Direct kernel boot: Image + initrd + a device tree; vCPU 0 enters the kernel with x0 = DTB.
#include "core/arch/aarch64/fdt_builder.h"
#include "core/arch/aarch64/kernel_loader.h"
#include "core/common/status_macros.h"
#include "vmmd/vmm/machine.h"

namespace vmmd::vmm {

namespace a64 = core::aarch64;

absl::Status Machine::LoadDirectBoot(const VmSpec& spec) {
  VMMD_ASSIGN_OR_RETURN(a64::DirectBootLayout layout,
                        a64::LoadKernelAndInitrd(*memory_, spec.kernel_path, spec.initrd_path));
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
