// Direct kernel boot of an arm64 Linux Image (Linux Documentation/arch/arm64/booting.rst):
// parse the 64-byte Image header, plan where Image, initrd and DTB go in guest RAM (a pure
// function), and copy files straight into guest RAM.
//
// Layout (PlanDirectBoot), for RAM [B, B+S) and the "boot window" W = [B, B + min(S, 1 GiB)):
//   kernel  AlignUp(B, 2 MiB) + text_offset, reserving max(image_size, file size) bytes. The
//           lowest possible base, which is right whatever flags bit 3 says (pre-4.6 kernels cannot
//           use memory below the Image).
//   DTB     the last whole 2 MiB block of W. 2 MiB-aligned, so it is 8-byte aligned, cannot cross
//           a 2 MiB boundary (the pre-4.2 rule) and the kernel's early [dtb, dtb + 2 MiB) cacheable
//           mapping covers RAM only; the block holds nothing else.
//   initrd  directly below the DTB block, start aligned to 64 KiB (the largest arm64 page size,
//           so the kernel's page-granular reserve/free of the initrd never touches a neighbour).
//           If it does not fit between the kernel and the DTB, it goes at the top of RAM above the
//           DTB, still inside the 1 GiB-aligned window of at most 32 GiB that covers the kernel
//           (booting.rst's initrd rule); otherwise RESOURCE_EXHAUSTED.
//   Keeping DTB and initrd at the top of the first GiB, not right after the kernel, leaves the
//   memory after the Image free (booting.rst asks for that when image_size is 0), gives the same
//   addresses for every RAM size >= 1 GiB, and leaves RAM above 1 GiB untouched.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/arch/aarch64/layout.h"
#include "core/memory/guest_memory.h"

namespace vmmd::core::aarch64 {

inline constexpr size_t kArm64ImageHeaderSize = 64;
inline constexpr uint32_t kArm64ImageMagic = 0x644d'5241;  // "ARM\x64", little-endian at 0x38
inline constexpr uint64_t kLegacyTextOffset = 0x8'0000;    // assumed when image_size is 0
inline constexpr uint64_t kInitrdAlign = 0x1'0000;
inline constexpr uint64_t kBootWindowSize = 0x4000'0000;       // 1 GiB
inline constexpr uint64_t kInitrdWindowMaxSize = 0x8'0000'0000;  // 32 GiB

// Page sizes a kernel may be built for (flags bits 1-2); a bit set for each the host can run.
inline constexpr uint32_t kImagePages4K = 1u << 0;
inline constexpr uint32_t kImagePages16K = 1u << 1;
inline constexpr uint32_t kImagePages64K = 1u << 2;
inline constexpr uint32_t kImagePagesAll = kImagePages4K | kImagePages16K | kImagePages64K;

struct Arm64ImageHeader {
  uint64_t text_offset = 0;  // effective: kLegacyTextOffset when image_size is 0
  uint64_t image_size = 0;   // 0 for kernels older than 3.17
  uint64_t flags = 0;
  uint32_t page_size = 0;    // 4096, 16384 or 65536; 0 = unspecified
  bool any_base = false;     // flags bit 3: the 2 MiB base may be anywhere in RAM
};

// INVALID_ARGUMENT, saying what is wrong with "the kernel file", when `head` (the file's first
// bytes) is shorter than 64 bytes, lacks the magic (gzip, ELF and EFI zboot files get a hint),
// is big-endian, is built for a page size not in `supported_page_sizes`, or has a text_offset
// that is not a 4 KiB multiple below 2 MiB.
absl::StatusOr<Arm64ImageHeader> ParseArm64ImageHeader(
    absl::Span<const uint8_t> head, uint32_t supported_page_sizes = kImagePagesAll);

struct DirectBootLayout {
  uint64_t kernel_load = 0;  // guest address of the Image file's first byte
  uint64_t kernel_size = 0;  // bytes reserved from kernel_load: max(image_size, file size)
  uint64_t entry = 0;        // boot vCPU PC (= kernel_load)
  uint64_t initrd_addr = 0;  // 0 when there is no initrd
  uint64_t initrd_size = 0;
  uint64_t fdt_addr = 0;     // boot vCPU x0; a 2 MiB block of RAM reserved for the DTB
  uint64_t fdt_max_size = 0;
};

// Pure. INVALID_ARGUMENT for an empty/wrapping RAM, an empty kernel file, or fdt_max_size outside
// (0, 2 MiB]; RESOURCE_EXHAUSTED, with the sizes, when the kernel or the initrd does not fit.
// initrd_size 0 means no initrd.
absl::StatusOr<DirectBootLayout> PlanDirectBoot(uint64_t ram_base, uint64_t ram_size,
                                                const Arm64ImageHeader& header,
                                                uint64_t kernel_file_size, uint64_t initrd_size,
                                                uint64_t fdt_max_size);

// Size of the regular file at `path`, which must be readable. NOT_FOUND / PERMISSION_DENIED
// (errno mapped, path in the message); INVALID_ARGUMENT if it is not a regular file.
absl::StatusOr<uint64_t> FileSize(const std::string& path);

// The first min(max_bytes, file size) bytes of the file.
absl::StatusOr<std::vector<uint8_t>> ReadFileHead(const std::string& path, size_t max_bytes);

// Copies the whole file to guest [gpa, gpa + expected_size) with pread, straight into guest RAM.
// OUT_OF_RANGE if that range is not all RAM (nothing is written); FAILED_PRECONDITION if the file
// is not expected_size bytes long (before or while reading); open errors as FileSize.
absl::Status LoadFileInto(const GuestMemory& memory, const std::string& path, uint64_t gpa,
                          uint64_t expected_size);

// FileSize + ReadFileHead + ParseArm64ImageHeader + PlanDirectBoot (RAM = `memory`) +
// LoadFileInto for the kernel and, unless initrd_path is empty, the initrd. The DTB is written
// later with WriteFdt once it is built with the initrd range from the returned layout.
absl::StatusOr<DirectBootLayout> LoadKernelAndInitrd(
    const GuestMemory& memory, const std::string& kernel_path, const std::string& initrd_path,
    uint64_t fdt_max_size = kFdtMaxSize, uint32_t supported_page_sizes = kImagePagesAll);

// An open regular file to load (read with pread only; not owned), and how messages name it.
struct BootFile {
  int fd = -1;
  std::string name;
};

// The same from files already open (e.g. opened under vmmd's image directories): every read
// goes through these fds, nothing is looked up by name. `initrd` null: none.
absl::StatusOr<DirectBootLayout> LoadKernelAndInitrd(
    const GuestMemory& memory, const BootFile& kernel, const BootFile* initrd,
    uint64_t fdt_max_size = kFdtMaxSize, uint32_t supported_page_sizes = kImagePagesAll);

// Writes `blob` at layout.fdt_addr; RESOURCE_EXHAUSTED if it is larger than layout.fdt_max_size.
absl::Status WriteFdt(const GuestMemory& memory, const DirectBootLayout& layout,
                      absl::Span<const uint8_t> blob);

}  // namespace vmmd::core::aarch64
