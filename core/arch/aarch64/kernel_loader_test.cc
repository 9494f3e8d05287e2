#include "core/arch/aarch64/kernel_loader.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <initializer_list>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace vmmd::core::aarch64 {
namespace {

using ::testing::HasSubstr;
using ::vmmd::testing::IsOk;
using ::vmmd::testing::StatusIs;

constexpr uint64_t kMiB = 1ULL << 20;
constexpr uint64_t kGiB = 1ULL << 30;
using U64s = std::initializer_list<uint64_t>;

void PutLe(std::vector<uint8_t>& b, size_t off, uint64_t v, size_t width) {
  for (size_t i = 0; i < width; ++i) b[off + i] = static_cast<uint8_t>(v >> (8 * i));
}

std::vector<uint8_t> MakeHeader(uint64_t text_offset, uint64_t image_size, uint64_t flags) {
  std::vector<uint8_t> h(64, 0);
  PutLe(h, 0, 0x1400'0010, 4);  // code0: a branch
  PutLe(h, 8, text_offset, 8);
  PutLe(h, 16, image_size, 8);
  PutLe(h, 24, flags, 8);
  std::memcpy(h.data() + 0x38, "ARM\x64", 4);
  return h;
}

Arm64ImageHeader Header(uint64_t text_offset, uint64_t image_size) {
  absl::StatusOr<Arm64ImageHeader> h =
      ParseArm64ImageHeader(MakeHeader(text_offset, image_size, 0xA));
  EXPECT_THAT(h, IsOk());
  return h.value_or(Arm64ImageHeader{});
}

TEST(ParseArm64ImageHeaderTest, ModernHeader) {
  auto h = ParseArm64ImageHeader(MakeHeader(0, 40 * kMiB, 0xA));  // LE, 4K pages, any base
  ASSERT_THAT(h, IsOk());
  EXPECT_EQ(h->text_offset, 0u);
  EXPECT_EQ(h->image_size, 40 * kMiB);
  EXPECT_EQ(h->flags, 0xAu);
  EXPECT_EQ(h->page_size, 4096u);
  EXPECT_TRUE(h->any_base);
  h = ParseArm64ImageHeader(MakeHeader(0x8'0000, kMiB, 0x6));  // 64K pages, low base
  ASSERT_THAT(h, IsOk());
  EXPECT_EQ(h->text_offset, 0x8'0000u);
  EXPECT_EQ(h->page_size, 65536u);
  EXPECT_FALSE(h->any_base);
  h = ParseArm64ImageHeader(MakeHeader(0, kMiB, 0x4));
  ASSERT_THAT(h, IsOk());
  EXPECT_EQ(h->page_size, 16384u);
}

TEST(ParseArm64ImageHeaderTest, LegacyHeaderAssumesTextOffset512K) {
  // Pre-3.17: image_size 0, text_offset of unknown endianness (here byte-swapped 0x80000).
  auto h = ParseArm64ImageHeader(MakeHeader(0x0000'0800'0000'0000ULL, 0, 0));
  ASSERT_THAT(h, IsOk());
  EXPECT_EQ(h->text_offset, kLegacyTextOffset);
  EXPECT_EQ(h->image_size, 0u);
  EXPECT_EQ(h->page_size, 0u);
}

TEST(ParseArm64ImageHeaderTest, Rejections) {
  const auto kInvalid = absl::StatusCode::kInvalidArgument;
  std::vector<uint8_t> good = MakeHeader(0, kMiB, 0xA);
  EXPECT_THAT(ParseArm64ImageHeader(absl::MakeConstSpan(good.data(), 63)),
              StatusIs(kInvalid, HasSubstr("the kernel file is 63 bytes, shorter than the "
                                           "64-byte arm64 Image header")));
  EXPECT_THAT(ParseArm64ImageHeader({}), StatusIs(kInvalid, HasSubstr("is 0 bytes")));

  std::vector<uint8_t> bad = good;
  bad[0x3b] = 0x65;
  EXPECT_THAT(ParseArm64ImageHeader(bad),
              StatusIs(kInvalid, HasSubstr("the kernel file is not an arm64 Linux Image: the "
                                           "magic at offset 0x38 is 0x654d5241")));
  std::vector<uint8_t> gz(64, 0);
  gz[0] = 0x1f;
  gz[1] = 0x8b;
  EXPECT_THAT(ParseArm64ImageHeader(gz),
              StatusIs(kInvalid, HasSubstr("the kernel file is gzip-compressed")));
  std::vector<uint8_t> elf(64, 0);
  std::memcpy(elf.data(), "\x7f" "ELF", 4);
  EXPECT_THAT(ParseArm64ImageHeader(elf),
              StatusIs(kInvalid, HasSubstr("the kernel file is an ELF file (vmlinux)")));
  std::vector<uint8_t> zboot(64, 0);
  std::memcpy(zboot.data(), "MZ\0\0zimg", 8);
  EXPECT_THAT(ParseArm64ImageHeader(zboot),
              StatusIs(kInvalid, HasSubstr("the kernel file is a compressed EFI zboot image")));

  EXPECT_THAT(ParseArm64ImageHeader(MakeHeader(0, kMiB, 0xB)),
              StatusIs(kInvalid, HasSubstr("the kernel file is a big-endian kernel")));
  EXPECT_THAT(
      ParseArm64ImageHeader(MakeHeader(0, kMiB, 0x4), kImagePages4K | kImagePages64K),
      StatusIs(kInvalid, HasSubstr("the kernel file is built for 16 KiB pages (Image flags "
                                   "bits 1-2 = 2), which this host cannot run")));
  EXPECT_THAT(ParseArm64ImageHeader(MakeHeader(0, kMiB, 0x2), kImagePages64K),
              StatusIs(kInvalid, HasSubstr("built for 4 KiB pages")));
  EXPECT_THAT(ParseArm64ImageHeader(MakeHeader(0, kMiB, 0x0), kImagePages64K), IsOk());
  EXPECT_THAT(ParseArm64ImageHeader(MakeHeader(0x8'0010, kMiB, 0xA)),
              StatusIs(kInvalid, HasSubstr("the kernel file has text_offset 0x80010")));
  EXPECT_THAT(ParseArm64ImageHeader(MakeHeader(0x20'0000, kMiB, 0xA)),
              StatusIs(kInvalid, HasSubstr("has text_offset 0x200000")));
  EXPECT_THAT(ParseArm64ImageHeader(MakeHeader(0x1F'F000, kMiB, 0xA)), IsOk());
}

TEST(PlanDirectBootTest, Ram256MiBImage40MiB) {
  auto l = PlanDirectBoot(kRamBase, 256 * kMiB, Header(0, 40 * kMiB), 30 * kMiB,
                          0x80'0064, kFdtMaxSize);
  ASSERT_THAT(l, IsOk());
  EXPECT_EQ(l->kernel_load, 0x4000'0000u);
  EXPECT_EQ(l->entry, 0x4000'0000u);
  EXPECT_EQ(l->kernel_size, 40 * kMiB);
  EXPECT_EQ(l->fdt_addr, 0x4FE0'0000u);  // last 2 MiB of RAM
  EXPECT_EQ(l->fdt_max_size, kFdtMaxSize);
  // 0x4FE00000 - 0x800064 = 0x4F5FFF9C, aligned down to 64 KiB.
  EXPECT_EQ(l->initrd_addr, 0x4F5F'0000u);
  EXPECT_EQ(l->initrd_size, 0x80'0064u);
}

TEST(PlanDirectBootTest, NoInitrd) {
  auto l = PlanDirectBoot(kRamBase, 256 * kMiB, Header(0, 40 * kMiB), 40 * kMiB, 0, 4096);
  ASSERT_THAT(l, IsOk());
  EXPECT_EQ(l->initrd_addr, 0u);
  EXPECT_EQ(l->initrd_size, 0u);
  EXPECT_EQ(l->fdt_addr, 0x4FE0'0000u);
  EXPECT_EQ(l->fdt_max_size, 4096u);
}

TEST(PlanDirectBootTest, TextOffsetAndFootprint) {
  // Legacy kernel: text_offset 0x80000, no image_size → the file size is the footprint.
  auto legacy = ParseArm64ImageHeader(MakeHeader(0, 0, 0));
  ASSERT_THAT(legacy, IsOk());
  auto l = PlanDirectBoot(kRamBase, 256 * kMiB, *legacy, 12345678, 0, kFdtMaxSize);
  ASSERT_THAT(l, IsOk());
  EXPECT_EQ(l->kernel_load, 0x4008'0000u);
  EXPECT_EQ(l->entry, 0x4008'0000u);
  EXPECT_EQ(l->kernel_size, 12345678u);
  // A file longer than image_size (e.g. an appended signature) is reserved whole.
  l = PlanDirectBoot(kRamBase, 256 * kMiB, Header(0, 10 * kMiB), 10 * kMiB + 1, 0, kFdtMaxSize);
  ASSERT_THAT(l, IsOk());
  EXPECT_EQ(l->kernel_size, 10 * kMiB + 1);
  // RAM not 2 MiB aligned: the base rounds up.
  l = PlanDirectBoot(0x4010'0000, 256 * kMiB, Header(0x1000, 10 * kMiB), kMiB, 0, kFdtMaxSize);
  ASSERT_THAT(l, IsOk());
  EXPECT_EQ(l->kernel_load, 0x4020'1000u);
  EXPECT_EQ(l->fdt_addr, 0x4FE0'0000u);  // AlignDown(0x50100000, 2 MiB) - 2 MiB
}

TEST(PlanDirectBootTest, DtbAndInitrdStayInTheFirstGiB) {
  for (uint64_t ram : U64s{1 * kGiB, 4 * kGiB, 64 * kGiB}) {
    auto l = PlanDirectBoot(kRamBase, ram, Header(0, 40 * kMiB), 40 * kMiB, 100 * kMiB,
                            kFdtMaxSize);
    ASSERT_THAT(l, IsOk());
    EXPECT_EQ(l->fdt_addr, 0x7FE0'0000u);
    EXPECT_EQ(l->initrd_addr, 0x7FE0'0000u - 100 * kMiB);
  }
}

TEST(PlanDirectBootTest, LargeInitrdGoesAboveTheDtb) {
  // 982 MiB free below the DTB; a 1000 MiB initrd goes to the top of 2 GiB of RAM.
  auto l = PlanDirectBoot(kRamBase, 2 * kGiB, Header(0, 40 * kMiB), 40 * kMiB, 1000 * kMiB,
                          kFdtMaxSize);
  ASSERT_THAT(l, IsOk());
  EXPECT_EQ(l->fdt_addr, 0x7FE0'0000u);
  EXPECT_EQ(l->initrd_addr, 0xC000'0000u - 1000 * kMiB);
  // With 64 GiB of RAM it must stay inside the 32 GiB window that starts at the kernel's GiB.
  l = PlanDirectBoot(kRamBase, 64 * kGiB, Header(0, 40 * kMiB), 40 * kMiB, 2 * kGiB,
                     kFdtMaxSize);
  ASSERT_THAT(l, IsOk());
  EXPECT_EQ(l->initrd_addr, 0x7'C000'0000u);
  EXPECT_EQ(l->initrd_addr + l->initrd_size, kRamBase + 32 * kGiB);
}

TEST(PlanDirectBootTest, DoesNotFit) {
  const auto kExhausted = absl::StatusCode::kResourceExhausted;
  EXPECT_THAT(
      PlanDirectBoot(kRamBase, 256 * kMiB, Header(0, 300 * kMiB), 20 * kMiB, 0, kFdtMaxSize),
      StatusIs(kExhausted, HasSubstr("the kernel needs 314572800 bytes at 0x40000000, but only "
                                     "266338304 bytes of RAM [0x40000000, 0x50000000)")));
  // Exactly fills the room below the DTB: fits; one byte more does not.
  EXPECT_THAT(PlanDirectBoot(kRamBase, 256 * kMiB, Header(0, 266338304), 1, 0, kFdtMaxSize),
              IsOk());
  EXPECT_THAT(PlanDirectBoot(kRamBase, 256 * kMiB, Header(0, 266338305), 1, 0, kFdtMaxSize),
              StatusIs(kExhausted));
  EXPECT_THAT(PlanDirectBoot(kRamBase, 2 * kMiB, Header(0, 4096), 4096, 0, kFdtMaxSize),
              StatusIs(kExhausted, HasSubstr("only 0 bytes")));
  EXPECT_THAT(
      PlanDirectBoot(kRamBase, 256 * kMiB, Header(0, 40 * kMiB), 1, 250 * kMiB, kFdtMaxSize),
      StatusIs(kExhausted,
               HasSubstr("the initrd needs 262144000 bytes (start aligned to 65536) but only "
                         "224395264 bytes are free between the kernel end 0x42800000 and the "
                         "DTB at 0x4fe00000, and 0 bytes above the DTB below 0x50000000")));
}

TEST(PlanDirectBootTest, InvalidArguments) {
  const auto kInvalid = absl::StatusCode::kInvalidArgument;
  Arm64ImageHeader h = Header(0, kMiB);
  EXPECT_THAT(PlanDirectBoot(kRamBase, 0, h, kMiB, 0, kFdtMaxSize),
              StatusIs(kInvalid, HasSubstr("empty or wraps")));
  EXPECT_THAT(PlanDirectBoot(~0ULL - kMiB, kMiB, h, kMiB, 0, kFdtMaxSize), StatusIs(kInvalid));
  EXPECT_THAT(PlanDirectBoot(kRamBase, kGiB, h, 0, 0, kFdtMaxSize),
              StatusIs(kInvalid, HasSubstr("the kernel file is empty")));
  EXPECT_THAT(PlanDirectBoot(kRamBase, kGiB, h, kMiB, 0, 0),
              StatusIs(kInvalid, HasSubstr("DTB size limit 0 is outside (0, 2097152]")));
  EXPECT_THAT(PlanDirectBoot(kRamBase, kGiB, h, kMiB, 0, kFdtMaxSize + 1), StatusIs(kInvalid));
  h.text_offset = 0x20'0000;  // not from the parser
  EXPECT_THAT(PlanDirectBoot(kRamBase, kGiB, h, kMiB, 0, kFdtMaxSize), StatusIs(kInvalid));
}

// Invariants over a grid of inputs: booting.rst's rules hold for every successful plan.
TEST(PlanDirectBootTest, InvariantsHoldAcrossSizes) {
  int planned = 0;
  for (uint64_t ram_base : U64s{kRamBase, kRamBase + 0x1000'0000, 0x8010'0000}) {
    for (uint64_t ram : U64s{4 * kMiB, 64 * kMiB + 4096, 256 * kMiB, kGiB + 3 * kMiB, 40 * kGiB}) {
      for (uint64_t image : U64s{0, 4096, 30 * kMiB + 1, 200 * kMiB}) {
        for (uint64_t initrd : U64s{0, 1, 7 * kMiB + 3, 900 * kMiB, 3 * kGiB}) {
          auto header = ParseArm64ImageHeader(MakeHeader(0x8'0000, image, 0xA));
          ASSERT_THAT(header, IsOk());
          auto l = PlanDirectBoot(ram_base, ram, *header, 2 * kMiB + 5, initrd, kFdtMaxSize);
          if (!l.ok()) {
            EXPECT_THAT(l, StatusIs(absl::StatusCode::kResourceExhausted));
            continue;
          }
          ++planned;
          const uint64_t ram_end = ram_base + ram;
          EXPECT_EQ((l->kernel_load - header->text_offset) % kKernelBaseAlign, 0u);
          EXPECT_GE(l->kernel_load - header->text_offset, ram_base);
          EXPECT_EQ(l->fdt_addr % (2 * kMiB), 0u);
          EXPECT_GE(l->fdt_addr, l->kernel_load + l->kernel_size);
          EXPECT_LE(l->fdt_addr + 2 * kMiB, ram_end);  // early map of [dtb, +2 MiB) is RAM
          EXPECT_LE(l->fdt_addr + 2 * kMiB, ram_base + kGiB);
          if (initrd != 0) {
            const uint64_t start = l->initrd_addr, end = l->initrd_addr + initrd;
            EXPECT_EQ(start % kInitrdAlign, 0u);
            EXPECT_LE(end, ram_end);
            EXPECT_TRUE(end <= l->fdt_addr || start >= l->fdt_addr + 2 * kMiB);
            EXPECT_GE(start, l->kernel_load + l->kernel_size);
            const uint64_t window = l->kernel_load / kGiB * kGiB;
            EXPECT_LE(end - window, 32 * kGiB);
          }
        }
      }
    }
  }
  EXPECT_GT(planned, 50);
}

class FileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kernel_loader_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto mem = GuestMemory::Create(kRamBase, 64 * kMiB);
    ASSERT_THAT(mem, IsOk());
    mem_ = *std::move(mem);
  }
  void TearDown() override {
    for (const std::string& f : files_) unlink(f.c_str());
    rmdir(dir_.c_str());
  }
  std::string Write(const std::string& name, const std::vector<uint8_t>& bytes) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), static_cast<long>(bytes.size()));
    files_.push_back(path);
    return path;
  }
  static std::vector<uint8_t> Pattern(size_t n, uint8_t seed) {
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 131 + seed + (i >> 12));
    return v;
  }
  std::vector<uint8_t> Guest(uint64_t gpa, size_t n) {
    std::vector<uint8_t> v(n);
    EXPECT_THAT(mem_->Read(gpa, absl::MakeSpan(v)), IsOk());
    return v;
  }

  std::string dir_;
  std::vector<std::string> files_;
  std::unique_ptr<GuestMemory> mem_;
};

TEST_F(FileTest, FileSizeAndHead) {
  std::string path = Write("k", Pattern(5000, 1));
  EXPECT_THAT(FileSize(path), IsOk());
  EXPECT_EQ(FileSize(path).value_or(0), 5000u);
  auto head = ReadFileHead(path, 64);
  ASSERT_THAT(head, IsOk());
  const std::vector<uint8_t> whole = Pattern(5000, 1);
  EXPECT_EQ(*head, std::vector<uint8_t>(whole.begin(), whole.begin() + 64));
  EXPECT_EQ(ReadFileHead(Write("tiny", {1, 2, 3}), 64).value_or(std::vector<uint8_t>{}),
            (std::vector<uint8_t>{1, 2, 3}));
  EXPECT_THAT(FileSize(dir_ + "/missing"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr(dir_ + "/missing")));
  EXPECT_THAT(FileSize(dir_), StatusIs(absl::StatusCode::kInvalidArgument,
                                       HasSubstr(dir_ + " is not a regular file")));
  if (geteuid() != 0) {  // root reads anything
    chmod(path.c_str(), 0);
    EXPECT_THAT(FileSize(path), StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr(path)));
  }
}

TEST_F(FileTest, LoadFileIntoCopiesInChunks) {
  const std::vector<uint8_t> data = Pattern(16 * kMiB + 4097, 7);  // > one 16 MiB chunk
  std::string path = Write("big", data);
  ASSERT_THAT(LoadFileInto(*mem_, path, kRamBase + 0x1000, data.size()), IsOk());
  EXPECT_TRUE(Guest(kRamBase + 0x1000, data.size()) == data);
  EXPECT_EQ(Guest(kRamBase + 0xFFF, 1)[0], 0);  // nothing before
  EXPECT_EQ(Guest(kRamBase + 0x1000 + data.size(), 1)[0], 0);  // nothing after
}

TEST_F(FileTest, LoadFileIntoErrors) {
  std::string path = Write("f", Pattern(8192, 3));
  EXPECT_THAT(LoadFileInto(*mem_, dir_ + "/nope", kRamBase, 8192),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr(dir_ + "/nope")));
  EXPECT_THAT(LoadFileInto(*mem_, path, kRamBase, 8191),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("is 8192 bytes, but 8191 were planned for")));
  EXPECT_THAT(LoadFileInto(*mem_, path, kRamBase, 8193),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  // Past the end of RAM: refused before anything is written.
  EXPECT_THAT(LoadFileInto(*mem_, path, kRamBase + 64 * kMiB - 4096, 8192),
              StatusIs(absl::StatusCode::kOutOfRange, HasSubstr(path)));
  EXPECT_EQ(Guest(kRamBase + 64 * kMiB - 4096, 4096), std::vector<uint8_t>(4096, 0));
  EXPECT_THAT(LoadFileInto(*mem_, path, kRamBase - 4096, 8192),
              StatusIs(absl::StatusCode::kOutOfRange));
}

TEST_F(FileTest, LoadKernelAndInitrdEndToEnd) {
  std::vector<uint8_t> image = Pattern(3 * kMiB + 12, 9);
  std::vector<uint8_t> header = MakeHeader(0, 5 * kMiB, 0xA);
  std::copy(header.begin(), header.end(), image.begin());
  const std::vector<uint8_t> initrd = Pattern(100000, 5);
  std::string kernel_path = Write("Image", image);
  std::string initrd_path = Write("initrd", initrd);

  auto l = LoadKernelAndInitrd(*mem_, kernel_path, initrd_path);
  ASSERT_THAT(l, IsOk());
  EXPECT_EQ(l->kernel_load, 0x4000'0000u);
  EXPECT_EQ(l->kernel_size, 5 * kMiB);
  EXPECT_EQ(l->fdt_addr, 0x43E0'0000u);
  EXPECT_EQ(l->initrd_addr, 0x43DE'0000u);  // AlignDown(0x43E00000 - 100000, 64 KiB)
  EXPECT_TRUE(Guest(l->kernel_load, image.size()) == image);
  EXPECT_TRUE(Guest(l->initrd_addr, initrd.size()) == initrd);

  const std::vector<uint8_t> dtb = Pattern(3000, 2);
  ASSERT_THAT(WriteFdt(*mem_, *l, dtb), IsOk());
  EXPECT_TRUE(Guest(l->fdt_addr, dtb.size()) == dtb);
  DirectBootLayout small = *l;
  small.fdt_max_size = 2999;
  EXPECT_THAT(WriteFdt(*mem_, small, dtb),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("the DTB is 3000 bytes, more than the 2999 planned")));

  auto no_initrd = LoadKernelAndInitrd(*mem_, kernel_path, "");
  ASSERT_THAT(no_initrd, IsOk());
  EXPECT_EQ(no_initrd->initrd_size, 0u);

  std::vector<uint8_t> gz = image;
  gz[0] = 0x1f;
  gz[1] = 0x8b;
  gz[0x38] = 0;
  EXPECT_THAT(LoadKernelAndInitrd(*mem_, Write("Image.gz", gz), ""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("gzip")));
  EXPECT_THAT(LoadKernelAndInitrd(*mem_, kernel_path, dir_ + "/no-initrd"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no-initrd")));
  EXPECT_THAT(LoadKernelAndInitrd(*mem_, kernel_path, Write("empty", {})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is empty")));
}

}  // namespace
}  // namespace vmmd::core::aarch64
