#include "hw/flash/flash_image_cache.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace vmmd::hw {
namespace {

using ::vmmd::testing::IsOk;
using ::vmmd::testing::StatusIs;

constexpr uint64_t kBank = 64ull << 20;

class FlashImageCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/flash_image_cache_testXXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }

  std::string Write(const std::string& name, const std::string& bytes) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    return path;
  }
  absl::StatusOr<std::shared_ptr<FlashStorage>> Load(const std::string& path) {
    return cache_.Load(ScopedFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC)), path, kBank);
  }

  std::string dir_;
  FlashImageCache cache_;
};

TEST_F(FlashImageCacheTest, VmsBootingTheSameFileShareOneCopy) {
  const std::string fw = Write("QEMU_EFI.fd", "EDK2");
  absl::StatusOr<std::shared_ptr<FlashStorage>> a = Load(fw);
  absl::StatusOr<std::shared_ptr<FlashStorage>> b = Load(fw);
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  EXPECT_EQ((*a)->data(), (*b)->data());  // the same host pages
  EXPECT_EQ((*a)->size(), kBank);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>((*a)->data()), 5), std::string("EDK2\0", 5));
  FlashImageCache::Stats stats = cache_.GetStats();
  EXPECT_EQ(stats.loads, 1u);
  EXPECT_EQ(stats.shared, 1u);
  EXPECT_EQ(stats.live, 1u);

  // Another file with the same bytes is another image (the cache knows files, not contents).
  absl::StatusOr<std::shared_ptr<FlashStorage>> other = Load(Write("copy.fd", "EDK2"));
  ASSERT_THAT(other, IsOk());
  EXPECT_NE((*other)->data(), (*a)->data());
  EXPECT_EQ(cache_.GetStats().live, 2u);
}

TEST_F(FlashImageCacheTest, ARewrittenFileIsANewImageAndTheOldOneStaysWithItsVms) {
  const std::string fw = Write("fw.fd", "old!");
  absl::StatusOr<std::shared_ptr<FlashStorage>> old_image = Load(fw);
  ASSERT_THAT(old_image, IsOk());
  // Rewritten in place (same inode): its status-change time moves.
  absl::SleepFor(absl::Milliseconds(20));
  Write("fw.fd", "new!");
  absl::StatusOr<std::shared_ptr<FlashStorage>> new_image = Load(fw);
  ASSERT_THAT(new_image, IsOk());
  EXPECT_NE((*new_image)->data(), (*old_image)->data());
  EXPECT_EQ((*new_image)->data()[0], 'n');
  EXPECT_EQ((*old_image)->data()[0], 'o');  // the running VM keeps what it booted
  EXPECT_EQ(cache_.GetStats().loads, 2u);
}

TEST_F(FlashImageCacheTest, TheLastHolderFreesTheImage) {
  const std::string fw = Write("fw.fd", "EDK2");
  {
    absl::StatusOr<std::shared_ptr<FlashStorage>> a = Load(fw);
    ASSERT_THAT(a, IsOk());
    EXPECT_EQ(cache_.GetStats().live, 1u);
  }
  EXPECT_EQ(cache_.GetStats().live, 0u);
  ASSERT_THAT(Load(fw), IsOk());  // loaded again
  EXPECT_EQ(cache_.GetStats().loads, 2u);
  EXPECT_EQ(cache_.GetStats().shared, 0u);
}

TEST_F(FlashImageCacheTest, ErrorsAreLoadImagesAndNothingIsCached) {
  const std::string empty = Write("empty.fd", "");
  EXPECT_THAT(Load(empty),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("it must be 1..")));
  EXPECT_THAT(cache_.Load(ScopedFd(), "nothing", kBank),
              StatusIs(absl::StatusCode::kInternal, ::testing::HasSubstr("stat nothing")));
  EXPECT_EQ(cache_.GetStats().loads, 0u);
  EXPECT_EQ(cache_.GetStats().live, 0u);
}

}  // namespace
}  // namespace vmmd::hw
