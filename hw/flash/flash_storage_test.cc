#include "hw/flash/flash_storage.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace vmmd::hw {
namespace {

using ::vmmd::testing::IsOk;
using ::vmmd::testing::StatusIs;

constexpr uint64_t kBank = 64ull << 20;

class TempPath {
 public:
  TempPath() {
    char tmpl[] = "/tmp/flash_storage_testXXXXXX";
    const int fd = mkstemp(tmpl);
    close(fd);
    unlink(tmpl);
    path_ = tmpl;
  }
  ~TempPath() { unlink(path_.c_str()); }
  const std::string& path() const { return path_; }
  void Write(const std::vector<uint8_t>& bytes) const {
    const int fd = open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    close(fd);
  }
  std::vector<uint8_t> ReadAt(uint64_t offset, size_t n) const {
    std::vector<uint8_t> out(n);
    const int fd = open(path_.c_str(), O_RDONLY);
    EXPECT_EQ(pread(fd, out.data(), n, static_cast<off_t>(offset)), static_cast<ssize_t>(n));
    close(fd);
    return out;
  }
  uint64_t Size() const {
    struct stat st;
    if (stat(path_.c_str(), &st) != 0) return 0;
    return static_cast<uint64_t>(st.st_size);
  }

 private:
  std::string path_;
};

TEST(FlashStorageTest, FirmwareImageIsZeroPaddedToTheBank) {
  TempPath fw;
  fw.Write({0x11, 0x22, 0x33});
  auto s = FlashStorage::LoadImage(fw.path(), kBank);
  ASSERT_THAT(s, IsOk());
  EXPECT_EQ((*s)->size(), kBank);
  EXPECT_FALSE((*s)->persistent());
  EXPECT_EQ((*s)->data()[0], 0x11);
  EXPECT_EQ((*s)->data()[2], 0x33);
  EXPECT_EQ((*s)->data()[3], 0x00);
  EXPECT_EQ((*s)->data()[kBank - 1], 0x00);
  EXPECT_EQ(reinterpret_cast<uintptr_t>((*s)->data()) % 4096, 0u);  // memslot-ready
}

TEST(FlashStorageTest, FirmwareImageErrors) {
  TempPath empty;
  empty.Write({});
  EXPECT_THAT(FlashStorage::LoadImage(empty.path(), kBank),
              StatusIs(absl::StatusCode::kInvalidArgument));
  TempPath big;
  big.Write(std::vector<uint8_t>(8192 + 1, 1));
  EXPECT_THAT(FlashStorage::LoadImage(big.path(), 8192),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(FlashStorage::LoadImage("/nonexistent/QEMU_EFI.fd", kBank),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST(FlashStorageTest, MissingVariableStoreIsCreatedBlank) {
  TempPath vars;
  auto s = FlashStorage::OpenPersistent(vars.path(), kBank);
  ASSERT_THAT(s, IsOk());
  EXPECT_TRUE((*s)->persistent());
  EXPECT_EQ(vars.Size(), kBank);
  EXPECT_EQ((*s)->data()[12345], 0);
}

TEST(FlashStorageTest, PersistWritesExactlyTheRange) {
  TempPath vars;
  auto s = FlashStorage::OpenPersistent(vars.path(), kBank, /*sync_each_write=*/true);
  ASSERT_THAT(s, IsOk());
  for (int i = 0; i < 8; ++i) (*s)->data()[0x1000 + i] = static_cast<uint8_t>(0xA0 + i);
  ASSERT_THAT((*s)->Persist(0x1002, 4), IsOk());
  EXPECT_EQ(vars.ReadAt(0x1000, 8), (std::vector<uint8_t>{0, 0, 0xA2, 0xA3, 0xA4, 0xA5, 0, 0}));
  EXPECT_THAT((*s)->Persist(kBank - 2, 4), StatusIs(absl::StatusCode::kOutOfRange));
  EXPECT_THAT((*s)->Flush(), IsOk());
}

TEST(FlashStorageTest, ExistingStoreIsLoadedAndMisSizedOnesRejected) {
  TempPath vars;
  std::vector<uint8_t> image(kBank, 0);
  image[0x40000] = 0x5A;
  vars.Write(image);
  {
    auto s = FlashStorage::OpenPersistent(vars.path(), kBank);
    ASSERT_THAT(s, IsOk());
    EXPECT_EQ((*s)->data()[0x40000], 0x5A);
  }
  TempPath small;
  small.Write(std::vector<uint8_t>(540672, 0));  // an x86 OVMF_VARS.fd
  EXPECT_THAT(FlashStorage::OpenPersistent(small.path(), kBank),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(small.Size(), 540672u);  // left alone
}

// Pages of [data, data + size) in RAM (mincore): what the bank costs in RSS.
uint64_t ResidentPages(const uint8_t* data, uint64_t size) {
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> vec((size + page - 1) / page);
  EXPECT_EQ(mincore(const_cast<uint8_t*>(data), size, vec.data()), 0);
  uint64_t n = 0;
  for (unsigned char v : vec) n += v & 1;
  return n;
}

TEST(FlashStorageTest, OpeningAStoreCostsRamOnlyForItsNonZeroPages) {
  // What edk2 leaves in a 64 MiB store: its variables and FTW areas at the start, zeros after
  // (here also 8 MiB of zeros written out, as a copied non-sparse file has them).
  TempPath vars;
  {
    const int fd = open(vars.path().c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(ftruncate(fd, kBank), 0);
    const std::vector<uint8_t> header(0x2000, 0xFF);
    ASSERT_EQ(pwrite(fd, header.data(), header.size(), 0), 0x2000);
    const std::vector<uint8_t> zeros(8 << 20, 0);
    ASSERT_EQ(pwrite(fd, zeros.data(), zeros.size(), 16 << 20), 8 << 20);
    const uint8_t marker = 0x5A;
    ASSERT_EQ(pwrite(fd, &marker, 1, (40 << 20) + 123), 1);
    close(fd);
  }
  auto s = FlashStorage::OpenPersistent(vars.path(), kBank);
  ASSERT_THAT(s, IsOk());
  const uint64_t resident = ResidentPages((*s)->data(), kBank);
  std::printf("64 MiB variable store: %lu KiB resident after open\n",
              static_cast<unsigned long>(resident * 4));
  EXPECT_EQ(resident, 3u);  // the two header pages and the marker's page
  EXPECT_EQ((*s)->data()[0], 0xFF);
  EXPECT_EQ((*s)->data()[0x1FFF], 0xFF);
  EXPECT_EQ((*s)->data()[0x2000], 0x00);
  EXPECT_EQ((*s)->data()[(40 << 20) + 123], 0x5A);
  EXPECT_EQ((*s)->data()[(40 << 20) + 122], 0x00);
  EXPECT_EQ((*s)->data()[(16 << 20) + 5], 0x00);
}

TEST(FlashStorageTest, AStoreCannotBeOpenedTwice) {
  TempPath vars;
  auto first = FlashStorage::OpenPersistent(vars.path(), kBank);
  ASSERT_THAT(first, IsOk());
  EXPECT_THAT(FlashStorage::OpenPersistent(vars.path(), kBank),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  first->reset();
  EXPECT_THAT(FlashStorage::OpenPersistent(vars.path(), kBank), IsOk());
}

TEST(FlashStorageTest, VolatileBankAndBadSizes) {
  auto s = FlashStorage::CreateVolatile(8192, 0xFF);
  ASSERT_THAT(s, IsOk());
  EXPECT_EQ((*s)->data()[8191], 0xFF);
  EXPECT_THAT((*s)->Persist(0, 8192), IsOk());  // no file: nothing to do
  EXPECT_THAT(FlashStorage::CreateVolatile(0), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(FlashStorage::CreateVolatile(1000), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace vmmd::hw
