// The items a fw_cfg device serves (QEMU docs/specs/fw_cfg.rst): the signature, the feature
// bitmap, the file directory, the legacy direct-boot keys that edk2 ArmVirtQemu reads, and named
// files from key 0x20 up.
//
// Items are immutable byte sources (FwCfgBlob). Small ones (ACPI tables, the command line) are a
// shared immutable buffer; large ones (the kernel, the initrd) are a file read with pread on
// demand, straight into the destination (guest RAM for DMA): the 40 MB kernel is never copied into
// the VMM's own heap and costs no memory while the guest is not reading it. The file is opened
// and its size fixed when the item is created, so a missing file fails VM creation, not boot.
//
// An FwCfgItems is filled in before the guest runs and then moved into the FwCfg device, which
// never changes it: every access path reads it without locking.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/common/scoped_fd.h"

namespace vmmd::hw {
namespace fw_cfg {

// Selector keys (QEMU include/standard-headers/linux/qemu_fw_cfg.h; edk2 QemuFwCfgLib.h).
inline constexpr uint16_t kSignature = 0x00;   // "QEMU"
inline constexpr uint16_t kId = 0x01;          // u32 LE feature bitmap
inline constexpr uint16_t kKernelSize = 0x08;  // u32 LE
inline constexpr uint16_t kInitrdSize = 0x0b;  // u32 LE
inline constexpr uint16_t kBootMenu = 0x0e;    // u16 LE
inline constexpr uint16_t kKernelData = 0x11;
inline constexpr uint16_t kInitrdData = 0x12;
inline constexpr uint16_t kCmdlineSize = 0x14;  // u32 LE, including the NUL
inline constexpr uint16_t kCmdlineData = 0x15;  // NUL-terminated
inline constexpr uint16_t kSetupSize = 0x17;    // u32 LE, always 0 on arm
inline constexpr uint16_t kSetupData = 0x18;    // always empty on arm
inline constexpr uint16_t kFileDir = 0x19;
inline constexpr uint16_t kFileFirst = 0x20;
// Bit 14 of a selector value is the legacy "write channel" flag; it does not change which item
// is selected (QEMU masks it off too).
inline constexpr uint16_t kWriteChannel = 0x4000;

inline constexpr uint32_t kIdTraditional = 1u << 0;
inline constexpr uint32_t kIdDma = 1u << 1;

inline constexpr size_t kFileNameSize = 56;  // including the NUL
inline constexpr size_t kMaxFileNameLength = kFileNameSize - 1;
inline constexpr size_t kDirEntrySize = 64;  // u32 size, u16 select, u16 reserved, name[56]
inline constexpr size_t kMaxFiles = 1024;
// The largest item (and the longest DMA transfer, see fw_cfg_dma.h). Sizes travel in u32 fields;
// 1 GiB covers any kernel or initrd a VM boots with and bounds the work of one DMA request.
inline constexpr uint64_t kMaxItemSize = uint64_t{1} << 30;

}  // namespace fw_cfg

// An immutable sequence of bytes. Thread-safe: ReadAt may be called concurrently.
class FwCfgBlob {
 public:
  virtual ~FwCfgBlob() = default;
  virtual uint64_t size() const = 0;
  // Fills `out` with bytes [offset, offset + out.size()); the caller guarantees that range lies
  // inside the blob. DATA_LOSS if a backing file no longer has them.
  virtual absl::Status ReadAt(uint64_t offset, absl::Span<uint8_t> out) const = 0;
};

// A blob over an in-memory buffer (shared, never modified).
std::shared_ptr<const FwCfgBlob> MakeBytesBlob(std::vector<uint8_t> bytes);
std::shared_ptr<const FwCfgBlob> MakeStringBlob(std::string_view text);
// A blob over a regular file, read with pread when the guest asks. The size is taken now;
// NOT_FOUND / PERMISSION_DENIED if it cannot be opened, INVALID_ARGUMENT if it is not a regular
// file or is larger than fw_cfg::kMaxItemSize.
absl::StatusOr<std::shared_ptr<const FwCfgBlob>> OpenFileBlob(const std::string& path);
// The same over a file already open for reading (`name` is how messages call it).
absl::StatusOr<std::shared_ptr<const FwCfgBlob>> OpenFileBlob(ScopedFd fd, const std::string& name);

class FwCfgItems {
 public:
  // Signature, ID (traditional + DMA), an empty directory and every legacy key the firmware
  // reads, with zero sizes and empty data (so a boot without a kernel reads zeros, never an
  // unknown key).
  FwCfgItems();
  FwCfgItems(FwCfgItems&&) = default;
  FwCfgItems& operator=(FwCfgItems&&) = default;
  FwCfgItems(const FwCfgItems&) = delete;
  FwCfgItems& operator=(const FwCfgItems&) = delete;

  // A named file. Names are 1..55 bytes without NUL; ALREADY_EXISTS for a duplicate,
  // INVALID_ARGUMENT for a bad name or a blob over kMaxItemSize, RESOURCE_EXHAUSTED past
  // kMaxFiles. Keys follow the directory's name order (as in QEMU), so adding a file may
  // renumber the others: look keys up with FindFile once everything is added.
  absl::Status AddFile(std::string_view name, std::vector<uint8_t> bytes);
  absl::Status AddFile(std::string_view name, std::shared_ptr<const FwCfgBlob> blob);

  // Legacy direct-boot items: kernel_size/kernel_data, initrd_size/initrd_data. Replace any
  // previous value. INVALID_ARGUMENT for a null blob or one over kMaxItemSize.
  absl::Status SetKernel(std::shared_ptr<const FwCfgBlob> kernel);
  absl::Status SetInitrd(std::shared_ptr<const FwCfgBlob> initrd);
  // cmdline_data = `cmdline` + NUL, cmdline_size = its length + 1. INVALID_ARGUMENT if it holds
  // a NUL.
  absl::Status SetCmdline(std::string_view cmdline);

  // The item selected by `key` (the write-channel bit ignored), or null if there is none.
  const FwCfgBlob* Find(uint16_t key) const;
  std::optional<uint16_t> FindFile(std::string_view name) const;
  size_t file_count() const { return files_.size(); }

 private:
  absl::Status CheckBlob(const FwCfgBlob* blob) const;
  void SetU32(uint16_t key, uint32_t value);
  void RebuildDirectory();

  std::map<uint16_t, std::shared_ptr<const FwCfgBlob>> fixed_;
  // Sorted by name; file i has key kFileFirst + i.
  std::vector<std::pair<std::string, std::shared_ptr<const FwCfgBlob>>> files_;
};

// A valid fw_cfg file or loader name: 1..55 bytes, no NUL. INVALID_ARGUMENT otherwise.
absl::Status ValidateFwCfgName(std::string_view name);

}  // namespace vmmd::hw
