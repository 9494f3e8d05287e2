// The arm64 Image header parser and the direct-boot planner (core/arch/aarch64/kernel_loader):
// the kernel file and the initrd are the API client's files, so their bytes and sizes are
// untrusted. Input: 1 byte of supported page sizes, 8 bytes of RAM size (MiB units) and base
// shift, 8 bytes of file size, 8 of initrd size, 4 of DTB limit, then the file's first bytes.
// Invariants (kernel_loader.h):
//  - a header parses only with >= 64 bytes, the magic, a 4 KiB-multiple text_offset below
//    2 MiB and a page size the host supports;
//  - a plan keeps the kernel at a 2 MiB boundary + text_offset with max(image_size, file size)
//    bytes, the DTB in the last 2 MiB block of the first GiB, the initrd 64 KiB-aligned, all
//    three inside RAM and disjoint.
#include <algorithm>
#include <cstdint>

#include "absl/strings/str_format.h"
#include "core/arch/aarch64/kernel_loader.h"
#include "tests/fuzz/fuzz_input.h"

namespace vmmd::fuzz {
namespace {

namespace a64 = core::aarch64;
constexpr uint64_t k2MiB = 0x20'0000;

bool Inside(uint64_t base, uint64_t size, uint64_t ram_base, uint64_t ram_size) {
  return base >= ram_base && size <= ram_size && base - ram_base <= ram_size - size;
}
bool Disjoint(uint64_t a, uint64_t a_size, uint64_t b, uint64_t b_size) {
  return a + a_size <= b || b + b_size <= a;
}

void Run(const uint8_t* data, size_t size) {
  FuzzReader in(data, size);
  const uint32_t pages = in.U8() & a64::kImagePagesAll;
  const uint64_t ram_mib = in.U32();
  const uint32_t ram_shift = in.U32();
  // Mostly the board's RAM base; sometimes anywhere (unaligned, near the top of the space).
  const uint64_t ram_base = (ram_shift & 1) ? (uint64_t{ram_shift} << 20) ^ ram_mib : a64::kRamBase;
  const uint64_t ram_size = (ram_shift & 2) ? (ram_mib << 20) : (ram_mib % 0x10000 + 1) << 20;
  uint64_t file_size = in.U64();
  uint64_t initrd_size = in.U64();
  if ((file_size >> 63) == 0) file_size %= 0x1000'0000;  // mostly realistic: below 256 MiB
  if ((initrd_size >> 63) == 0) initrd_size %= 0x1000'0000;
  const uint64_t fdt_limit = in.U32() % (a64::kFdtMaxSize + 2);
  const absl::Span<const uint8_t> head = in.Rest();

  absl::StatusOr<a64::Arm64ImageHeader> header = a64::ParseArm64ImageHeader(head, pages);
  if (!header.ok()) {
    FUZZ_CHECK(header.status().code() == absl::StatusCode::kInvalidArgument,
               header.status().ToString());
    return;
  }
  FUZZ_CHECK(head.size() >= a64::kArm64ImageHeaderSize, "a header needs 64 bytes");
  FUZZ_CHECK(head[0x38] == 'A' && head[0x39] == 'R' && head[0x3A] == 'M' && head[0x3B] == 0x64,
             "the magic");
  FUZZ_CHECK(header->text_offset % 4096 == 0 && header->text_offset < k2MiB,
             absl::StrFormat("text_offset 0x%x", header->text_offset));
  const uint32_t ps = header->page_size;
  FUZZ_CHECK(ps == 0 || (ps == 4096 && (pages & a64::kImagePages4K)) ||
                 (ps == 16384 && (pages & a64::kImagePages16K)) ||
                 (ps == 65536 && (pages & a64::kImagePages64K)),
             absl::StrFormat("page size %u with supported 0x%x", ps, pages));
  FUZZ_CHECK(header->any_base == ((header->flags & 8) != 0), "any_base is flags bit 3");

  absl::StatusOr<a64::DirectBootLayout> l =
      a64::PlanDirectBoot(ram_base, ram_size, *header, file_size, initrd_size, fdt_limit);
  if (!l.ok()) {
    const absl::StatusCode code = l.status().code();
    FUZZ_CHECK(
        code == absl::StatusCode::kInvalidArgument || code == absl::StatusCode::kResourceExhausted,
        l.status().ToString());
    return;
  }
  FUZZ_CHECK(file_size > 0 && fdt_limit > 0 && fdt_limit <= a64::kFdtMaxSize, "inputs checked");
  FUZZ_CHECK(l->entry == l->kernel_load, "entry");
  FUZZ_CHECK(l->kernel_load % k2MiB == header->text_offset, "kernel at 2 MiB + text_offset");
  FUZZ_CHECK(l->kernel_size == std::max(header->image_size, file_size), "kernel reservation");
  FUZZ_CHECK(Inside(l->kernel_load, l->kernel_size, ram_base, ram_size),
             absl::StrFormat("kernel [0x%x, +0x%x) outside RAM [0x%x, +0x%x)", l->kernel_load,
                             l->kernel_size, ram_base, ram_size));
  FUZZ_CHECK(l->fdt_addr % k2MiB == 0 && l->fdt_max_size == fdt_limit, "DTB block");
  FUZZ_CHECK(Inside(l->fdt_addr, k2MiB, ram_base, ram_size), "DTB block inside RAM");
  FUZZ_CHECK(l->fdt_addr + k2MiB - ram_base <= a64::kBootWindowSize, "DTB in the first GiB");
  FUZZ_CHECK(Disjoint(l->kernel_load, l->kernel_size, l->fdt_addr, k2MiB), "kernel vs DTB");
  if (initrd_size == 0) {
    FUZZ_CHECK(l->initrd_addr == 0 && l->initrd_size == 0, "no initrd");
    return;
  }
  FUZZ_CHECK(l->initrd_size == initrd_size && l->initrd_addr % a64::kInitrdAlign == 0, "initrd");
  FUZZ_CHECK(Inside(l->initrd_addr, initrd_size, ram_base, ram_size),
             absl::StrFormat("initrd [0x%x, +0x%x) outside RAM [0x%x, +0x%x)", l->initrd_addr,
                             initrd_size, ram_base, ram_size));
  FUZZ_CHECK(Disjoint(l->initrd_addr, initrd_size, l->kernel_load, l->kernel_size),
             "initrd vs kernel");
  FUZZ_CHECK(Disjoint(l->initrd_addr, initrd_size, l->fdt_addr, k2MiB), "initrd vs DTB");
  const uint64_t window = l->kernel_load / a64::kBootWindowSize * a64::kBootWindowSize;
  FUZZ_CHECK(l->initrd_addr + initrd_size - window <= a64::kInitrdWindowMaxSize,
             "initrd within the 32 GiB window of the kernel");
}

}  // namespace
}  // namespace vmmd::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vmmd::fuzz::Run(data, size);
  return 0;
}
