// Builder for the `etc/table-loader` fw_cfg file: the script edk2's AcpiPlatformDxe runs to place
// the ACPI blobs in guest memory, patch pointers between them and fix checksums (QEMU
// hw/acpi/bios-linker-loader.c; edk2 OvmfPkg/AcpiPlatformDxe/QemuLoader.h).
//
// Each command is 128 bytes, little-endian, packed:
//   u32 type, then a 124-byte union (zero-padded):
//   1 ALLOCATE      char file[56]; u32 alignment; u8 zone (1 HIGH, 2 FSEG)
//   2 ADD_POINTER   char pointer_file[56]; char pointee_file[56]; u32 pointer_offset;
//                   u8 pointer_size (1/2/4/8): pointer_file[offset..+size) += base of pointee_file
//   3 ADD_CHECKSUM  char file[56]; u32 result_offset; u32 start; u32 length: file[result_offset]
//                   = 8-bit checksum making file[start..start+length) sum to 0
// Names are NUL-terminated inside their 56 bytes (1..55 characters).
//
// The builder rejects what edk2 would reject when it runs the script: a bad name, an alignment
// that is not a power of two or exceeds 4096 (edk2 allocates whole pages), a file allocated twice,
// a command that names a file not allocated before it, a pointer size not in {1,2,4,8}.
// Validate() then checks the script against the actual fw_cfg files (existence, ranges, and that
// every relative pointer already points inside its pointee), as edk2's first pass does.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "hw/fw_cfg/fw_cfg_items.h"

namespace vmmd::hw {
namespace table_loader {

inline constexpr size_t kCommandSize = 128;
inline constexpr uint32_t kCmdAllocate = 1;
inline constexpr uint32_t kCmdAddPointer = 2;
inline constexpr uint32_t kCmdAddChecksum = 3;
inline constexpr uint32_t kMaxAlignment = 4096;  // edk2: Alignment > EFI_PAGE_SIZE is unsupported
// The conventional fw_cfg name of the script and QEMU's names for the blobs.
inline constexpr std::string_view kLoaderFile = "etc/table-loader";
inline constexpr std::string_view kAcpiTablesFile = "etc/acpi/tables";
inline constexpr std::string_view kAcpiRsdpFile = "etc/acpi/rsdp";

enum class Zone : uint8_t { kHigh = 1, kFseg = 2 };

}  // namespace table_loader

class TableLoader {
 public:
  absl::Status Allocate(std::string_view file, uint32_t alignment, table_loader::Zone zone);
  absl::Status AddPointer(std::string_view pointer_file, std::string_view pointee_file,
                          uint32_t pointer_offset, uint8_t pointer_size);
  absl::Status AddChecksum(std::string_view file, uint32_t result_offset, uint32_t start,
                           uint32_t length);

  // The script: command_count() * 128 bytes.
  std::vector<uint8_t> Serialize() const;
  size_t command_count() const { return commands_.size(); }

  // Every file the script names exists in `items` (FAILED_PRECONDITION otherwise); every
  // pointer and checksum range fits its file and every relative pointer value is below its
  // pointee's size (OUT_OF_RANGE otherwise).
  absl::Status Validate(const FwCfgItems& items) const;

 private:
  struct Command {
    uint32_t type = 0;
    std::string file;     // ALLOCATE / ADD_CHECKSUM file; ADD_POINTER pointer file
    std::string pointee;  // ADD_POINTER only
    uint32_t a = 0;       // alignment | pointer_offset | result_offset
    uint32_t b = 0;       // zone | pointer_size | start
    uint32_t c = 0;       // length (ADD_CHECKSUM)
  };
  bool IsAllocated(std::string_view file) const;

  std::vector<Command> commands_;
};

}  // namespace vmmd::hw
