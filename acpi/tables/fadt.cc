#include "acpi/tables/fadt.h"

#include "acpi/tables/table_writer.h"

namespace vmmd::acpi {

absl::StatusOr<std::vector<uint8_t>> BuildFadt(uint64_t x_dsdt) {
  TableWriter w("FACP", kFadtRevision);
  w.U32(0);     // 36 FIRMWARE_CTRL (no FACS on hardware-reduced platforms)
  w.U32(0);     // 40 DSDT: X_DSDT is used instead
  w.U8(0);      // 44 reserved
  w.U8(0);      // 45 Preferred_PM_Profile: unspecified
  w.U16(0);     // 46 SCI_INT: none
  w.Zeros(64);  // 48..111 SMI_CMD .. CENTURY, IAPC_BOOT_ARCH, reserved: all unused
  w.U32(kFadtFlagHwReducedAcpi);                      // 112 Flags
  w.Gas(0, 0, 0, 0, 0);                               // 116 RESET_REG: none
  w.U8(0);                                            // 128 RESET_VALUE
  w.U16(kFadtArmPsciCompliant | kFadtArmPsciUseHvc);  // 129 ARM_BOOT_ARCH
  w.U8(kFadtMinorRevision);                           // 131 FADT Minor Version
  w.U64(0);                                           // 132 X_FIRMWARE_CTRL
  w.U64(x_dsdt);                                      // 140 X_DSDT
  w.Zeros(12 * 8);                                    // 148..243 X_PM1a_EVT_BLK .. X_GPE1_BLK: none
  w.Gas(0, 0, 0, 0, 0);                               // 244 SLEEP_CONTROL_REG
  w.Gas(0, 0, 0, 0, 0);                               // 256 SLEEP_STATUS_REG
  w.Chars("VMMD", 8, '\0');                           // 268 Hypervisor Vendor Identity
  return std::move(w).Finish();
}

}  // namespace vmmd::acpi
