#include "core/arch/aarch64/kernel_loader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/common/errno_status.h"
#include "core/common/scoped_fd.h"
#include "core/common/status_macros.h"

namespace vmmd::core::aarch64 {
namespace {

constexpr uint64_t k2MiB = 0x20'0000;
constexpr uint64_t k4KiB = 0x1000;

uint64_t LoadLe(absl::Span<const uint8_t> bytes, size_t offset, size_t width) {
  uint64_t value = 0;
  for (size_t i = 0; i < width; ++i) value |= uint64_t{bytes[offset + i]} << (8 * i);
  return value;
}

bool AddOverflows(uint64_t a, uint64_t b) { return a > std::numeric_limits<uint64_t>::max() - b; }
uint64_t AlignDown(uint64_t v, uint64_t align) { return v - v % align; }

absl::Status BadKernel(std::string_view what) {
  return absl::InvalidArgumentError(absl::StrFormat("the kernel file %s", what));
}

absl::Status NotAnImage(absl::Span<const uint8_t> head, uint32_t magic) {
  if (head[0] == 0x1f && head[1] == 0x8b) {
    return BadKernel("is gzip-compressed (Image.gz); decompress it to an Image first");
  }
  if (std::memcmp(head.data(), "\x7f" "ELF", 4) == 0) {
    return BadKernel("is an ELF file (vmlinux); pass arch/arm64/boot/Image instead");
  }
  if (head[0] == 'M' && head[1] == 'Z' && std::memcmp(head.data() + 4, "zimg", 4) == 0) {
    return BadKernel("is a compressed EFI zboot image (vmlinuz.efi); boot it through UEFI "
                     "firmware or pass the uncompressed Image");
  }
  return BadKernel(absl::StrFormat(
      "is not an arm64 Linux Image: the magic at offset 0x38 is 0x%08x, expected 0x%08x "
      "(\"ARM\\x64\")", magic, kArm64ImageMagic));
}

constexpr size_t kReadChunk = 16 << 20;

// Takes errno by value before anything else can change it.
absl::Status PathError(int err, const char* op, const std::string& path) {
  return ErrnoStatus(err, absl::StrCat(op, " ", path));
}

struct OpenFile {
  ScopedFd fd;
  uint64_t size = 0;
};

// O_NONBLOCK so that a FIFO given as a path cannot hang the caller; it is then rejected.
absl::StatusOr<OpenFile> OpenRegularFile(const std::string& path) {
  OpenFile f;
  f.fd.Reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!f.fd.valid()) return PathError(errno, "open", path);
  struct stat st {};
  if (::fstat(f.fd.get(), &st) != 0) return PathError(errno, "fstat", path);
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(path, " is not a regular file"));
  }
  f.size = static_cast<uint64_t>(st.st_size);
  return f;
}

// Reads exactly out.size() bytes at `offset`, or fails; returns how many bytes there were if the
// file ended early.
absl::StatusOr<size_t> PreadFully(int fd, absl::Span<uint8_t> out, uint64_t offset,
                                  const std::string& path) {
  size_t done = 0;
  while (done < out.size()) {
    const size_t want = std::min(out.size() - done, kReadChunk);
    const ssize_t n = ::pread(fd, out.data() + done, want, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return PathError(errno, "read", path);
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

absl::StatusOr<uint64_t> FdSize(int fd, const std::string& name) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return PathError(errno, "fstat", name);
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(name, " is not a regular file"));
  }
  return static_cast<uint64_t>(st.st_size);
}

absl::StatusOr<std::vector<uint8_t>> ReadHead(int fd, uint64_t size, size_t max_bytes,
                                              const std::string& name) {
  std::vector<uint8_t> head(static_cast<size_t>(std::min<uint64_t>(max_bytes, size)));
  VMMD_ASSIGN_OR_RETURN(size_t got, PreadFully(fd, absl::MakeSpan(head), 0, name));
  head.resize(got);
  return head;
}

absl::Status LoadFdInto(const GuestMemory& memory, int fd, const std::string& name, uint64_t gpa,
                        uint64_t expected_size) {
  VMMD_ASSIGN_OR_RETURN(uint64_t size, FdSize(fd, name));
  if (size != expected_size) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s is %d bytes, but %d were planned for (did it change?)", name, size, expected_size));
  }
  absl::StatusOr<absl::Span<uint8_t>> dest = memory.GetSpan(gpa, expected_size);
  if (!dest.ok()) {
    return absl::Status(dest.status().code(),
                        absl::StrFormat("loading %s (%d bytes) at 0x%x: %s", name, expected_size,
                                        gpa, dest.status().message()));
  }
  VMMD_ASSIGN_OR_RETURN(size_t got, PreadFully(fd, *dest, 0, name));
  uint8_t extra = 0;
  VMMD_ASSIGN_OR_RETURN(size_t more,
                        PreadFully(fd, absl::MakeSpan(&extra, 1), expected_size, name));
  if (got != expected_size || more != 0) {
    return absl::FailedPreconditionError(
        absl::StrFormat("%s changed size while it was being loaded", name));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<uint64_t> FileSize(const std::string& path) {
  VMMD_ASSIGN_OR_RETURN(OpenFile f, OpenRegularFile(path));
  return f.size;
}

absl::StatusOr<std::vector<uint8_t>> ReadFileHead(const std::string& path, size_t max_bytes) {
  VMMD_ASSIGN_OR_RETURN(OpenFile f, OpenRegularFile(path));
  return ReadHead(f.fd.get(), f.size, max_bytes, path);
}

absl::Status LoadFileInto(const GuestMemory& memory, const std::string& path, uint64_t gpa,
                          uint64_t expected_size) {
  VMMD_ASSIGN_OR_RETURN(OpenFile f, OpenRegularFile(path));
  return LoadFdInto(memory, f.fd.get(), path, gpa, expected_size);
}

absl::StatusOr<Arm64ImageHeader> ParseArm64ImageHeader(absl::Span<const uint8_t> head,
                                                       uint32_t supported_page_sizes) {
  if (head.size() < kArm64ImageHeaderSize) {
    return BadKernel(absl::StrFormat("is %d bytes, shorter than the %d-byte arm64 Image header",
                                     head.size(), kArm64ImageHeaderSize));
  }
  const uint32_t magic = static_cast<uint32_t>(LoadLe(head, 0x38, 4));
  if (magic != kArm64ImageMagic) return NotAnImage(head, magic);

  Arm64ImageHeader h;
  h.image_size = LoadLe(head, 16, 8);
  // Before 3.17 text_offset had no defined endianness and image_size was 0; booting.rst says
  // to assume 0x80000 then.
  h.text_offset = h.image_size == 0 ? kLegacyTextOffset : LoadLe(head, 8, 8);
  h.flags = LoadLe(head, 24, 8);
  if ((h.flags & 1) != 0) {
    return BadKernel("is a big-endian kernel (Image flags bit 0); only little-endian guests boot");
  }
  const uint32_t page_field = static_cast<uint32_t>((h.flags >> 1) & 3);
  h.page_size = page_field == 0 ? 0 : 4096u << (2 * (page_field - 1));
  if (page_field != 0 && (supported_page_sizes & (1u << (page_field - 1))) == 0) {
    return BadKernel(absl::StrFormat(
        "is built for %d KiB pages (Image flags bits 1-2 = %d), which this host cannot run",
        h.page_size / 1024, page_field));
  }
  h.any_base = ((h.flags >> 3) & 1) != 0;
  if (h.text_offset % k4KiB != 0 || h.text_offset >= k2MiB) {
    return BadKernel(absl::StrFormat(
        "has text_offset 0x%x; expected a multiple of 4 KiB below 2 MiB", h.text_offset));
  }
  return h;
}

absl::StatusOr<DirectBootLayout> PlanDirectBoot(uint64_t ram_base, uint64_t ram_size,
                                                const Arm64ImageHeader& header,
                                                uint64_t kernel_file_size, uint64_t initrd_size,
                                                uint64_t fdt_max_size) {
  if (ram_size == 0 || AddOverflows(ram_base, ram_size) ||
      AddOverflows(ram_base, 4 * kKernelBaseAlign)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("direct boot: RAM [0x%x, +0x%x) is empty or wraps", ram_base, ram_size));
  }
  if (kernel_file_size == 0) return BadKernel("is empty");
  if (fdt_max_size == 0 || fdt_max_size > kFdtMaxSize) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "direct boot: DTB size limit %d is outside (0, %d]", fdt_max_size, kFdtMaxSize));
  }
  if (header.text_offset >= kKernelBaseAlign) {  // ParseArm64ImageHeader guarantees this
    return BadKernel(absl::StrFormat("has text_offset 0x%x", header.text_offset));
  }
  const uint64_t ram_end = ram_base + ram_size;
  DirectBootLayout l;
  l.fdt_max_size = fdt_max_size;
  l.kernel_size = std::max(header.image_size, kernel_file_size);
  l.kernel_load = AlignDown(ram_base + kKernelBaseAlign - 1, kKernelBaseAlign) + header.text_offset;
  l.entry = l.kernel_load;

  // The DTB takes the last whole 2 MiB block of the first GiB of RAM.
  const uint64_t window_end = AlignDown(ram_base + std::min(ram_size, kBootWindowSize), k2MiB);
  const uint64_t kernel_room =
      window_end >= l.kernel_load + k2MiB ? window_end - k2MiB - l.kernel_load : 0;
  if (l.kernel_size > kernel_room) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "direct boot: the kernel needs %d bytes at 0x%x, but only %d bytes of RAM "
        "[0x%x, 0x%x) lie between it and the 2 MiB DTB block at the top of the first GiB",
        l.kernel_size, l.kernel_load, kernel_room, ram_base, ram_end));
  }
  l.fdt_addr = window_end - k2MiB;
  if (initrd_size == 0) return l;

  const uint64_t kernel_end = l.kernel_load + l.kernel_size;
  l.initrd_size = initrd_size;
  if (initrd_size <= l.fdt_addr - kernel_end &&
      AlignDown(l.fdt_addr - initrd_size, kInitrdAlign) >= kernel_end) {
    l.initrd_addr = AlignDown(l.fdt_addr - initrd_size, kInitrdAlign);
    return l;
  }
  // Above the DTB, inside the <= 32 GiB 1 GiB-aligned window that starts below the kernel.
  const uint64_t low = l.fdt_addr + k2MiB;
  const uint64_t window_base = AlignDown(l.kernel_load, kBootWindowSize);
  const uint64_t high = AddOverflows(window_base, kInitrdWindowMaxSize)
                            ? ram_end
                            : std::min(ram_end, window_base + kInitrdWindowMaxSize);
  const uint64_t high_room = high > low ? high - low : 0;
  if (initrd_size <= high_room && AlignDown(high - initrd_size, kInitrdAlign) >= low) {
    l.initrd_addr = AlignDown(high - initrd_size, kInitrdAlign);
    return l;
  }
  return absl::ResourceExhaustedError(absl::StrFormat(
      "direct boot: the initrd needs %d bytes (start aligned to %d) but only %d bytes are free "
      "between the kernel end 0x%x and the DTB at 0x%x, and %d bytes above the DTB below 0x%x",
      initrd_size, kInitrdAlign, l.fdt_addr - kernel_end, kernel_end, l.fdt_addr, high_room,
      high));
}

absl::Status WriteFdt(const GuestMemory& memory, const DirectBootLayout& layout,
                      absl::Span<const uint8_t> blob) {
  if (blob.size() > layout.fdt_max_size) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "direct boot: the DTB is %d bytes, more than the %d planned", blob.size(),
        layout.fdt_max_size));
  }
  return memory.Write(layout.fdt_addr, blob);
}

absl::StatusOr<DirectBootLayout> LoadKernelAndInitrd(const GuestMemory& memory,
                                                     const BootFile& kernel, const BootFile* initrd,
                                                     uint64_t fdt_max_size,
                                                     uint32_t supported_page_sizes) {
  VMMD_ASSIGN_OR_RETURN(uint64_t kernel_size, FdSize(kernel.fd, kernel.name));
  VMMD_ASSIGN_OR_RETURN(std::vector<uint8_t> head,
                        ReadHead(kernel.fd, kernel_size, kArm64ImageHeaderSize, kernel.name));
  VMMD_ASSIGN_OR_RETURN(Arm64ImageHeader header,
                        ParseArm64ImageHeader(head, supported_page_sizes));
  uint64_t initrd_size = 0;
  if (initrd != nullptr) {
    VMMD_ASSIGN_OR_RETURN(initrd_size, FdSize(initrd->fd, initrd->name));
    if (initrd_size == 0) {
      return absl::InvalidArgumentError(absl::StrFormat("initrd %s is empty", initrd->name));
    }
  }
  VMMD_ASSIGN_OR_RETURN(DirectBootLayout layout,
                        PlanDirectBoot(memory.base(), memory.size(), header, kernel_size,
                                       initrd_size, fdt_max_size));
  VMMD_RETURN_IF_ERROR(LoadFdInto(memory, kernel.fd, kernel.name, layout.kernel_load, kernel_size));
  // The header that was planned for must be the one that was loaded.
  std::vector<uint8_t> loaded(head.size());
  VMMD_RETURN_IF_ERROR(memory.Read(layout.kernel_load, absl::MakeSpan(loaded)));
  if (loaded != head) {
    return absl::FailedPreconditionError(
        absl::StrFormat("kernel %s changed while it was being loaded", kernel.name));
  }
  if (initrd != nullptr) {
    VMMD_RETURN_IF_ERROR(
        LoadFdInto(memory, initrd->fd, initrd->name, layout.initrd_addr, initrd_size));
  }
  return layout;
}

absl::StatusOr<DirectBootLayout> LoadKernelAndInitrd(const GuestMemory& memory,
                                                     const std::string& kernel_path,
                                                     const std::string& initrd_path,
                                                     uint64_t fdt_max_size,
                                                     uint32_t supported_page_sizes) {
  VMMD_ASSIGN_OR_RETURN(OpenFile kernel, OpenRegularFile(kernel_path));
  OpenFile initrd;
  if (!initrd_path.empty()) {
    VMMD_ASSIGN_OR_RETURN(initrd, OpenRegularFile(initrd_path));
  }
  const BootFile kernel_file{kernel.fd.get(), kernel_path};
  const BootFile initrd_file{initrd.fd.get(), initrd_path};
  return LoadKernelAndInitrd(memory, kernel_file, initrd_path.empty() ? nullptr : &initrd_file,
                             fdt_max_size, supported_page_sizes);
}

}  // namespace vmmd::core::aarch64
