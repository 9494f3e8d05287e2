// What the guest is told about its machine, derived from one place each: the vCPUs, GIC and PMU
// from the machine's shape (what KVM built), every device from the device table. Both boot paths
// describe the board with BoardFdtConfig; the firmware path adds BoardAcpiPlatform.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "acpi/acpi_platform.h"
#include "acpi/acpi_tables.h"
#include "core/arch/aarch64/fdt_builder.h"
#include "core/hypervisor/hypervisor.h"
#include "core/vcpu/cpu_hotplug_backend.h"
#include "hw/fw_cfg/table_loader.h"
#include "hw/ged/ged.h"
#include "vmmd/vmm/device_table.h"

namespace vmmd::vmm {

// The vCPUs, the GIC and the PMU of a machine, as built in KVM.
struct MachineShape {
  std::vector<uint64_t> mpidrs;  // every possible vCPU, by id, as KVM reports MPIDR_EL1
  uint32_t boot_vcpus = 0;       // ids 0..boot_vcpus-1 are enabled at boot
  std::vector<core::RedistributorRegion> redists;
  bool pmu = false;
};

// GICv3 redistributor regions for `possible` vCPUs: the low region (123 vCPUs), then a high one.
std::vector<core::RedistributorRegion> RedistributorRegions(uint32_t possible);

// The CPU-hotplug register block (its status comes from `backend`, the vCPU manager) and the
// GED whose CPU-hotplug event makes the guest run the block's scan method, and which also
// carries the ACPI power button (\_SB.PWRB, notified on the power-button event: the graceful
// StopVm). Returns the GED.
absl::StatusOr<std::shared_ptr<hw::Ged>> AddCpuHotplugDevices(DeviceTable& devices,
                                                              core::CpuHotplugBackend* backend);

// The board DT: RAM [ram_base, +ram_size), the boot vCPUs only (a DT cannot describe CPUs that
// come later), the GIC, the PMU, /chosen/stdout-path and one node per device of the table.
core::aarch64::BoardFdtConfig BoardFdtConfig(const MachineShape& shape, const DeviceTable& devices,
                                             uint64_t ram_base, uint64_t ram_size,
                                             std::string stdout_path);

// The ACPI tables' view: every possible vCPU (boot ones Enabled), the GIC, timers and PMU, the
// console (SPCR) from the PL011's row, and the DSDT objects of every device of the table.
// FAILED_PRECONDITION if the table has no PL011 with an interrupt.
absl::StatusOr<acpi::AcpiPlatform> BoardAcpiPlatform(const MachineShape& shape,
                                                     const DeviceTable& devices);

// The etc/table-loader script that makes the firmware place, link and checksum `tables`
// (ALLOCATE rsdp and tables, then every pointer and checksum fixup in order, as
// acpi/acpi_tables.h requires).
absl::StatusOr<hw::TableLoader> AcpiTableLoader(const acpi::AcpiTables& tables);

}  // namespace vmmd::vmm
