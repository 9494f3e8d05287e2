// The CPU-hotplug register block ABI, shared by the MMIO model (cpu_hotplug.cc) and the AML
// that drives it (cpu_hotplug_aml.cc). It is QEMU's documented block (its docs/specs/
// acpi_cpu_hotplug.rst; what Linux expects of it: README.md), 12 bytes, little-endian, accesses
// of 1-4 bytes:
//
//   read  0x0 dword  command data 2: MPIDR[63:32] after GET_CPU_ID, else 0
//   read  0x4 byte   status of the selected vCPU: bit 0 enabled, 1 insert event, 2 remove
//                    event, 5 present (always set for a possible vCPU)
//   read  0x8 dword  command data: the selector after GET_NEXT_CPU_WITH_EVENT, MPIDR[31:0]
//                    after GET_CPU_ID, else 0
//   write 0x0 dword  selector (vCPU index)
//   write 0x4 byte   control: bit 1 clears the insert event, bit 2 clears the remove event,
//                    bit 3 ejects; only the first of these set is acted on
//   write 0x5 byte   command (below); GET_NEXT_CPU_WITH_EVENT runs on the write
//   write 0x8 dword  command data: the _OST event after OST_EVENT, the _OST status after
//                    OST_STATUS (which reports both)
//
// With a selector that names no possible vCPU every read returns 0 and every write but the
// selector's is ignored. Other offsets read 0 and ignore writes.
#pragma once

#include <cstdint>
#include <string_view>

namespace vmmd::hw::cpu_hotplug {

inline constexpr uint64_t kBlockSize = 12;

inline constexpr uint64_t kSelectorOffset = 0x0;  // write: selector; read: command data 2
inline constexpr uint64_t kStatusOffset = 0x4;    // read: status; write: control
inline constexpr uint64_t kCommandOffset = 0x5;   // write only
inline constexpr uint64_t kDataOffset = 0x8;      // read/write: command data

// Status bits (read at kStatusOffset).
inline constexpr uint8_t kStatusEnabled = 1u << 0;
inline constexpr uint8_t kStatusInsert = 1u << 1;
inline constexpr uint8_t kStatusRemove = 1u << 2;
inline constexpr uint8_t kStatusPresent = 1u << 5;
// Control bits (written at kStatusOffset).
inline constexpr uint8_t kControlClearInsert = 1u << 1;
inline constexpr uint8_t kControlClearRemove = 1u << 2;
inline constexpr uint8_t kControlEject = 1u << 3;

// Commands (written at kCommandOffset).
inline constexpr uint8_t kCmdGetNextCpuWithEvent = 0;
inline constexpr uint8_t kCmdOstEvent = 1;
inline constexpr uint8_t kCmdOstStatus = 2;
inline constexpr uint8_t kCmdGetCpuId = 3;

// Notify values the scan sends (ACPI 6.5 table 5.166).
inline constexpr uint8_t kNotifyDeviceCheck = 1;
inline constexpr uint8_t kNotifyEjectRequest = 3;

// _STA values (README.md): present+enabled+shown+functioning / present+shown+functioning.
inline constexpr uint8_t kStaEnabled = 0x0F;
inline constexpr uint8_t kStaDisabled = 0x0D;

// AML names. The resource device holding the registers, and the processor container.
inline constexpr std::string_view kResourceDevice = "PRES";
inline constexpr std::string_view kContainerDevice = "CPUS";
// What the GED's _EVT calls when the CPU-hotplug event bit is set.
inline constexpr std::string_view kScanMethodPath = "\\_SB.CPUS.CSCN";

}  // namespace vmmd::hw::cpu_hotplug
