#include "hw/flash/cfi_flash.h"

#include <libfdt.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/mmio.h"
#include "tests/support/status_matchers.h"

namespace vmmd::hw {
namespace {

using ::testing::ElementsAre;
using ::vmmd::testing::IsOk;
using ::vmmd::testing::MmioRead;
using ::vmmd::testing::MmioRead32;
using ::vmmd::testing::MmioWrite;
using ::vmmd::testing::MmioWrite32;
using ::vmmd::testing::StatusIs;

constexpr uint64_t kBank = 64ull << 20;
constexpr uint32_t kStatusReady = 0x00800080;
constexpr uint32_t kSequenceError = 0x00B000B0;  // ready | erase error | program error

uint32_t Doubled(uint8_t cmd) { return (uint32_t{cmd} << 16) | cmd; }

std::vector<uint32_t> Words(uint32_t seed) {
  std::vector<uint32_t> w(32);
  for (uint32_t i = 0; i < 32; ++i) w[i] = seed * 0x01010101u ^ (i * 0x10203);
  return w;
}

// edk2's VirtNorFlashDxe sequences exactly as traced (reference/firmware-trace README §2.2),
// with every status/lock read checked.
class Firmware {
 public:
  explicit Firmware(CfiFlash& dev) : dev_(dev) {}
  void CheckUnlocked(uint64_t block) {
    MmioWrite32(dev_, block + 8, Doubled(0x90));
    EXPECT_EQ(MmioRead32(dev_, block + 8), 0u) << "lock word of block 0x" << std::hex << block;
  }
  void Erase(uint64_t block) {
    CheckUnlocked(block);
    MmioWrite32(dev_, block, Doubled(0x20));
    MmioWrite32(dev_, block, Doubled(0xD0));
    MmioWrite32(dev_, 0, Doubled(0x70));
    EXPECT_EQ(MmioRead32(dev_, 0), kStatusReady);
    MmioWrite32(dev_, 0, Doubled(0xFF));
  }
  void Program(uint64_t target, const std::vector<uint32_t>& words, bool check_lock = true) {
    if (check_lock) CheckUnlocked(target / (256 * 1024) * (256 * 1024));
    MmioWrite32(dev_, target, Doubled(0xE8));
    EXPECT_EQ(MmioRead32(dev_, target), kStatusReady);  // XSR: buffer available
    MmioWrite32(dev_, target, 0x001F001F);              // 32 words per chip
    for (size_t i = 0; i < words.size(); ++i) MmioWrite32(dev_, target + 4 * i, words[i]);
    MmioWrite32(dev_, target, Doubled(0xD0));
    MmioWrite32(dev_, 0, Doubled(0x70));
    EXPECT_EQ(MmioRead32(dev_, 0), kStatusReady);
    MmioWrite32(dev_, 0, Doubled(0x50));
  }
  void ReadArray() { MmioWrite32(dev_, 0, Doubled(0xFF)); }

 private:
  CfiFlash& dev_;
};

std::unique_ptr<CfiFlash> MakeVars(uint8_t fill = 0x00) {
  auto storage = FlashStorage::CreateVolatile(kBank, fill);
  EXPECT_THAT(storage, IsOk());
  return std::make_unique<CfiFlash>(std::move(*storage),
                                    core::DevicePlacement{.base = 0x0400'0000, .size = kBank},
                                    /*read_only=*/false);
}

TEST(CfiFlashTest, ErasesABlockToFfExactlyAsTraced) {
  auto dev = MakeVars(0x00);
  Firmware fw(*dev);
  fw.Erase(0x40000);
  EXPECT_EQ(dev->read_mode(), cfi::ReadMode::kArray);
  EXPECT_EQ(MmioRead32(*dev, 0x40000), 0xFFFFFFFFu);
  EXPECT_EQ(MmioRead32(*dev, 0x7FFFC), 0xFFFFFFFFu);
  EXPECT_EQ(MmioRead32(*dev, 0x3FFFC), 0u);  // the block before
  EXPECT_EQ(MmioRead32(*dev, 0x80000), 0u);  // the block after
  for (uint64_t i = 0; i < 256 * 1024; ++i) ASSERT_EQ(dev->data()[0x40000 + i], 0xFF) << i;
  EXPECT_EQ(dev->GetStats().erases, 1u);
  EXPECT_EQ(dev->GetStats().sequence_errors, 0u);
}

TEST(CfiFlashTest, BufferedProgramOf32WordsExactlyAsTraced) {
  auto dev = MakeVars(0x00);
  Firmware fw(*dev);
  fw.Erase(0);
  const std::vector<uint32_t> words = Words(0x5A);
  fw.Program(0x80, words);
  fw.ReadArray();
  for (size_t i = 0; i < 32; ++i) EXPECT_EQ(MmioRead32(*dev, 0x80 + 4 * i), words[i]) << i;
  EXPECT_EQ(MmioRead32(*dev, 0x7C), 0xFFFFFFFFu);   // just before the window
  EXPECT_EQ(MmioRead32(*dev, 0x100), 0xFFFFFFFFu);  // just after
  EXPECT_EQ(dev->GetStats().programs, 1u);
  // The byte image is little-endian words.
  EXPECT_EQ(dev->data()[0x80], static_cast<uint8_t>(words[0]));
  EXPECT_EQ(dev->data()[0x83], static_cast<uint8_t>(words[0] >> 24));
}

TEST(CfiFlashTest, ProgramAndsBitsLikeTheVariableStateByte) {
  auto dev = MakeVars(0xFF);
  Firmware fw(*dev);
  std::vector<uint32_t> words(32, 0xFFFFFFFF);
  words[5] = 0xFFFF7FFF;  // State 0xFF -> 0x7F in byte 1 of word 5
  fw.Program(0x680, words);
  words[5] = 0xFFFF3FFF;  // -> 0x3F
  fw.Program(0x680, words);
  words[5] = 0xFFFFC0FF;  // tries to set bits again: AND keeps them clear
  fw.Program(0x680, words);
  fw.ReadArray();
  EXPECT_EQ(MmioRead32(*dev, 0x680 + 20), 0xFFFF00FFu);
  EXPECT_EQ(MmioRead32(*dev, 0x680 + 16), 0xFFFFFFFFu);
}

TEST(CfiFlashTest, WordProgramAndsTheWrittenBytes) {
  auto dev = MakeVars(0xFF);
  MmioWrite32(*dev, 0x1000, Doubled(0x40));
  MmioWrite32(*dev, 0x1000, 0x12345678);
  EXPECT_EQ(MmioRead32(*dev, 0x2000), kStatusReady);  // status mode after a program
  MmioWrite32(*dev, 0x1004, Doubled(0x10));
  MmioWrite(*dev, 0x1006, 0x0F0F, 2);  // a 16-bit program into chip 1's lane
  MmioWrite32(*dev, 0, Doubled(0xFF));
  EXPECT_EQ(MmioRead32(*dev, 0x1000), 0x12345678u);
  EXPECT_EQ(MmioRead32(*dev, 0x1004), 0x0F0FFFFFu);
  MmioWrite32(*dev, 0x1000, Doubled(0x40));
  MmioWrite32(*dev, 0x1000, 0xFFFFFF00);
  MmioWrite32(*dev, 0, Doubled(0xFF));
  EXPECT_EQ(MmioRead32(*dev, 0x1000), 0x12345600u);
  EXPECT_EQ(dev->GetStats().programs, 3u);
}

TEST(CfiFlashTest, IdentifierAndLockStatus) {
  auto dev = MakeVars();
  MmioWrite32(*dev, 0x40008, Doubled(0x90));
  EXPECT_EQ(MmioRead32(*dev, 0x40000), 0x00890089u);  // manufacturer, both chips
  EXPECT_EQ(MmioRead32(*dev, 0x40004), 0x00180018u);  // device
  EXPECT_EQ(MmioRead32(*dev, 0x40008), 0u);           // block lock status: unlocked
  EXPECT_EQ(MmioRead32(*dev, 0x8), 0u);
  EXPECT_EQ(MmioRead(*dev, 0x40000, 8), 0x0018001800890089ull);
  EXPECT_EQ(MmioRead(*dev, 0x40000, 1), 0x89u);
  EXPECT_EQ(MmioRead(*dev, 0x40002, 2), 0x0089u);
  MmioWrite32(*dev, 0, Doubled(0xFF));
  EXPECT_EQ(MmioRead32(*dev, 0x40000), 0u);  // the array (zeros) again
}

TEST(CfiFlashTest, CfiQueryTable) {
  auto dev = MakeVars();
  MmioWrite32(*dev, 0x55 * 4, Doubled(0x98));
  EXPECT_EQ(MmioRead32(*dev, 0x10 * 4), 0x00510051u);  // 'Q'
  EXPECT_EQ(MmioRead32(*dev, 0x11 * 4), 0x00520052u);  // 'R'
  EXPECT_EQ(MmioRead32(*dev, 0x12 * 4), 0x00590059u);  // 'Y'
  EXPECT_EQ(MmioRead32(*dev, 0x13 * 4), 0x00010001u);  // Intel/Sharp command set
  EXPECT_EQ(MmioRead32(*dev, 0x27 * 4), 0x00190019u);  // 2^25 bytes per chip
  EXPECT_EQ(MmioRead32(*dev, 0x2A * 4), 0x00060006u);  // 64-byte buffer per chip
  EXPECT_EQ(MmioRead32(*dev, 0x2D * 4), 0x00FF00FFu);  // 256 blocks
  EXPECT_EQ(MmioRead32(*dev, 0x30 * 4), 0x00020002u);  // of 128 KiB per chip
  EXPECT_EQ(MmioRead32(*dev, 0x31 * 4), 0x00500050u);  // 'P'
  EXPECT_EQ(MmioRead32(*dev, 0x100 * 4), 0u);          // past the table
  MmioWrite32(*dev, 0, Doubled(0xFF));
  EXPECT_EQ(dev->read_mode(), cfi::ReadMode::kArray);
}

TEST(CfiFlashTest, StatusReadsAtAnyAddressAndWidth) {
  auto dev = MakeVars();
  MmioWrite32(*dev, 0x123400, Doubled(0x70));
  EXPECT_EQ(MmioRead32(*dev, 0), kStatusReady);
  EXPECT_EQ(MmioRead32(*dev, 0x3FFFFFC), kStatusReady);
  EXPECT_EQ(MmioRead(*dev, 0x100, 8), 0x0080008000800080ull);
  EXPECT_EQ(MmioRead(*dev, 0x100, 2), 0x0080u);
  EXPECT_EQ(MmioRead(*dev, 0x102, 1), 0x80u);
  EXPECT_EQ(MmioRead(*dev, 0x103, 1), 0x00u);
}

TEST(CfiFlashTest, InvalidSequencesSetStatusErrorBitsAndClearStatusClearsThem) {
  struct Case {
    const char* what;
    std::vector<std::pair<uint64_t, uint32_t>> writes;
  };
  const std::vector<Case> cases = {
      {"erase confirm is not D0", {{0x40000, Doubled(0x20)}, {0x40000, Doubled(0x00)}}},
      {"unknown command", {{0, Doubled(0x42)}}},
      {"chips given different commands", {{0, 0x00700090}}},
      {"command with a high byte", {{0, 0x01FF01FF}}},
      {"buffer count over 32 words", {{0x100, Doubled(0xE8)}, {0x100, 0x00200020}}},
      {"lock confirm is not 01/D0/2F", {{0, Doubled(0x60)}, {0, Doubled(0x20)}}},
  };
  for (const Case& c : cases) {
    auto dev = MakeVars(0x00);
    for (auto [offset, value] : c.writes) MmioWrite32(*dev, offset, value);
    EXPECT_EQ(dev->read_mode(), cfi::ReadMode::kStatus) << c.what;
    EXPECT_EQ(MmioRead32(*dev, 0), kSequenceError) << c.what;
    EXPECT_EQ(dev->GetStats().sequence_errors, 1u) << c.what;
    EXPECT_EQ(dev->GetStats().erases + dev->GetStats().programs, 0u) << c.what;
    // 50 clears the error and returns to read array; 70 then shows a clean status.
    MmioWrite32(*dev, 0, Doubled(0x50));
    EXPECT_EQ(dev->read_mode(), cfi::ReadMode::kArray) << c.what;
    MmioWrite32(*dev, 0, Doubled(0x70));
    EXPECT_EQ(MmioRead32(*dev, 0), kStatusReady) << c.what;
    for (uint64_t i = 0; i < 0x80000; i += 4096) ASSERT_EQ(dev->data()[i], 0) << c.what;
  }
}

TEST(CfiFlashTest, AbortedBufferedProgramsWriteNothing) {
  const std::vector<uint32_t> words = Words(0x33);
  // (a) a data word outside the 128-byte window; (b) confirm is not D0; (c) data in another
  // block than the E8 address.
  for (int variant = 0; variant < 3; ++variant) {
    auto dev = MakeVars(0xFF);
    const uint64_t e8_at = variant == 2 ? 0x40000 : 0x200;
    MmioWrite32(*dev, e8_at, Doubled(0xE8));
    MmioWrite32(*dev, e8_at, 0x00030003);  // 4 words
    MmioWrite32(*dev, 0x200, words[0]);
    MmioWrite32(*dev, 0x204, words[1]);
    if (variant == 0) {
      MmioWrite32(*dev, 0x280, words[2]);  // next window
    } else {
      MmioWrite32(*dev, 0x208, words[2]);
      MmioWrite32(*dev, 0x20C, words[3]);
      MmioWrite32(*dev, 0x200, variant == 1 ? Doubled(0xFF) : Doubled(0xD0));
    }
    EXPECT_EQ(MmioRead32(*dev, 0), kSequenceError) << variant;
    for (uint64_t i = 0x200; i < 0x280; ++i) ASSERT_EQ(dev->data()[i], 0xFF) << variant;
    EXPECT_EQ(dev->GetStats().programs, 0u) << variant;
  }
}

TEST(CfiFlashTest, ShortBufferedProgramAndSplitWideWrites) {
  auto dev = MakeVars(0xFF);
  MmioWrite32(*dev, 0x300, Doubled(0xE8));
  MmioWrite32(*dev, 0x300, 0x00010001);              // 2 words
  MmioWrite(*dev, 0x308, 0x1111111122222222ull, 8);  // one 64-bit store = two words
  MmioWrite(*dev, 0x300, 0x00D000D000D000D0ull, 8);  // confirm, then a stray D0 = "resume"
  EXPECT_EQ(dev->GetStats().sequence_errors, 0u);
  MmioWrite(*dev, 0, 0x00FF00FF00FF00FFull, 8);
  EXPECT_EQ(MmioRead32(*dev, 0x308), 0x22222222u);
  EXPECT_EQ(MmioRead32(*dev, 0x30C), 0x11111111u);
  EXPECT_EQ(MmioRead32(*dev, 0x300), 0xFFFFFFFFu);
}

TEST(CfiFlashTest, LockSuspendAndResumeAreAccepted) {
  auto dev = MakeVars();
  for (uint8_t second : {0x01, 0xD0, 0x2F}) {
    MmioWrite32(*dev, 0x40000, Doubled(0x60));
    MmioWrite32(*dev, 0x40000, Doubled(second));
    EXPECT_EQ(MmioRead32(*dev, 0), kStatusReady);
  }
  MmioWrite32(*dev, 0x40008, Doubled(0x90));
  EXPECT_EQ(MmioRead32(*dev, 0x40008), 0u);  // still reported unlocked
  MmioWrite32(*dev, 0, Doubled(0xB0));
  EXPECT_EQ(MmioRead32(*dev, 0), kStatusReady);
  MmioWrite32(*dev, 0, Doubled(0xD0));
  EXPECT_EQ(MmioRead32(*dev, 0), kStatusReady);
  MmioWrite32(*dev, 0, Doubled(0x60));
  MmioWrite32(*dev, 0, Doubled(0xFF));  // cancels
  EXPECT_EQ(dev->read_mode(), cfi::ReadMode::kArray);
  EXPECT_EQ(dev->GetStats().sequence_errors, 0u);
}

// The start of the measured first boot (traces/flash-zero-boot1.txt), blank store of zeros.
TEST(CfiFlashTest, ReplaysTheStartOfTheMeasuredFirstBoot) {
  auto dev = MakeVars(0x00);
  Firmware fw(*dev);
  fw.Erase(0x0);
  fw.Erase(0x40000);
  fw.Erase(0x80000);
  fw.Program(0x0, Words(1));
  fw.ReadArray();
  fw.Erase(0x80000);
  fw.Erase(0x80000);
  fw.Program(0x80000, Words(2), /*check_lock=*/false);
  fw.ReadArray();
  fw.Program(0x80000, Words(3));
  fw.ReadArray();
  fw.Program(0x40000, Words(4));
  fw.ReadArray();
  for (size_t i = 0; i < 32; ++i) {
    EXPECT_EQ(MmioRead32(*dev, 0x0 + 4 * i), Words(1)[i]);
    EXPECT_EQ(MmioRead32(*dev, 0x80000 + 4 * i), Words(2)[i] & Words(3)[i]);
    EXPECT_EQ(MmioRead32(*dev, 0x40000 + 4 * i), Words(4)[i]);
  }
  EXPECT_EQ(MmioRead32(*dev, 0xC0000), 0u);  // never touched
  const CfiFlash::Stats stats = dev->GetStats();
  EXPECT_EQ(stats.erases, 5u);
  EXPECT_EQ(stats.programs, 4u);
  EXPECT_EQ(stats.sequence_errors, 0u);
}

TEST(CfiFlashTest, ReadOnlyBankIgnoresTheStrayStore) {
  auto storage = FlashStorage::CreateVolatile(kBank, 0x00);
  ASSERT_THAT(storage, IsOk());
  (*storage)->data()[0x1CB20] = 0xAB;
  CfiFlash flash0(std::move(*storage), core::DevicePlacement{.base = 0, .size = kBank},
                  /*read_only=*/true);
  MmioWrite(flash0, 0x1CB20, 0x17384, 8);  // the bookworm DxeIpl store
  MmioWrite32(flash0, 0, Doubled(0x20));   // even real commands do nothing
  MmioWrite32(flash0, 0, Doubled(0xD0));
  MmioWrite32(flash0, 0, Doubled(0x70));
  EXPECT_EQ(flash0.read_mode(), cfi::ReadMode::kArray);
  EXPECT_EQ(MmioRead(flash0, 0x1CB20, 8), 0xABu);
  EXPECT_EQ(MmioRead32(flash0, 0), 0u);
  EXPECT_EQ(flash0.data()[0x1CB20], 0xAB);
  EXPECT_EQ(flash0.GetStats().ignored_writes, 4u);
}

TEST(CfiFlashTest, MemslotHookFollowsReadArrayModeEagerly) {
  auto dev = MakeVars(0xFF);
  std::vector<bool> calls;
  ASSERT_THAT(dev->EnableDirectReads([&](bool map) {
    calls.push_back(map);
    return absl::OkStatus();
  }),
              IsOk());
  EXPECT_THAT(calls, ElementsAre(true));
  EXPECT_TRUE(dev->direct_mapped());

  Firmware fw(*dev);
  MmioWrite32(*dev, 0x8, Doubled(0x90));  // leaves read array: unmapped before the write returns
  EXPECT_THAT(calls, ElementsAre(true, false));
  EXPECT_FALSE(dev->direct_mapped());
  EXPECT_EQ(MmioRead32(*dev, 0x8), 0u);  // trapped read in ID mode: stays unmapped
  // Each program ends with 50 (clear status → read array): mapped again before the guest's
  // next (possibly undecodable) load; the next E8 unmaps.
  fw.Program(0x100, Words(9), /*check_lock=*/false);
  EXPECT_THAT(calls, ElementsAre(true, false, true));
  EXPECT_TRUE(dev->direct_mapped());
  fw.Program(0x180, Words(8), /*check_lock=*/false);
  EXPECT_THAT(calls, ElementsAre(true, false, true, false, true));
  fw.ReadArray();  // already in read array: no change
  EXPECT_THAT(calls, ElementsAre(true, false, true, false, true));
  EXPECT_EQ(dev->GetStats().map_calls, 5u);
}

// A store wider than the bank word, or straddling two, is several write cycles, one per bank
// word (QEMU's memory core splits a 64-bit store into two 32-bit pflash writes the same way). In
// read-array mode the first cycle can take the bank out of read-array mode and the next one
// program the array: the slot must be gone before that next cycle runs. The hooks below record
// whether they map and the array word the store programs at that moment.
TEST(CfiFlashTest, WideStoreInReadArrayUnmapsBeforeItsDataCycleProgramsTheArray) {
  auto dev = MakeVars(0xFF);
  std::vector<std::string> calls;
  ASSERT_THAT(dev->EnableDirectReads([&](bool map) {
    uint32_t word;
    std::memcpy(&word, dev->data() + 0x204, 4);
    calls.push_back((map ? "map " : "unmap ") + std::to_string(word));
    return absl::OkStatus();
  }),
              IsOk());
  // One 64-bit store: 40 (word program) in the word at 0x200, the data in the word at 0x204.
  MmioWrite(*dev, 0x200, (uint64_t{0x12345678} << 32) | Doubled(0x40), 8);
  EXPECT_THAT(calls, ElementsAre("map 4294967295", "unmap 4294967295"));  // 0xFFFFFFFF
  EXPECT_FALSE(dev->direct_mapped());
  EXPECT_EQ(dev->read_mode(), cfi::ReadMode::kStatus);
  EXPECT_EQ(MmioRead32(*dev, 0x204), kStatusReady);
  uint32_t programmed;
  std::memcpy(&programmed, dev->data() + 0x204, 4);
  EXPECT_EQ(programmed, 0x12345678u);
  EXPECT_EQ(dev->data()[0x200], 0xFF);  // the command cycle wrote nothing to the array
  EXPECT_EQ(dev->GetStats().programs, 1u);
}

TEST(CfiFlashTest, StraddlingStoreInReadArrayUnmapsBeforeItsSecondCycle) {
  auto dev = MakeVars(0xFF);
  std::vector<std::string> calls;
  ASSERT_THAT(dev->EnableDirectReads([&](bool map) {
    uint32_t word;
    std::memcpy(&word, dev->data() + 0x304, 4);
    calls.push_back((map ? "map " : "unmap ") + std::to_string(word));
    return absl::OkStatus();
  }),
              IsOk());
  // A 32-bit store at 0x302: bytes 40 00 go to chip 1 of the word at 0x300 (word program), bytes
  // 40 00 to chip 0 of the word at 0x304 (its data).
  MmioWrite32(*dev, 0x302, Doubled(0x40));
  EXPECT_THAT(calls, ElementsAre("map 4294967295", "unmap 4294967295"));
  EXPECT_FALSE(dev->direct_mapped());
  EXPECT_EQ(dev->data()[0x304], 0x40);
  EXPECT_EQ(dev->data()[0x305], 0x00);
  EXPECT_EQ(dev->data()[0x306], 0xFF);
  EXPECT_EQ(dev->GetStats().programs, 1u);
}

TEST(CfiFlashTest, FailingHookIsCountedAndRetried) {
  auto dev = MakeVars(0x00);
  int failures_left = 1;
  std::vector<bool> calls;
  ASSERT_THAT(dev->EnableDirectReads([&](bool map) {
    calls.push_back(map);
    if (!map && failures_left-- > 0) return absl::InternalError("KVM_SET_USER_MEMORY_REGION");
    return absl::OkStatus();
  }),
              IsOk());
  MmioWrite32(*dev, 0, Doubled(0x70));  // unmap fails
  EXPECT_TRUE(dev->direct_mapped());
  EXPECT_EQ(dev->GetStats().map_errors, 1u);
  EXPECT_EQ(MmioRead32(*dev, 0), kStatusReady);  // retried on this trapped read: now unmapped
  EXPECT_FALSE(dev->direct_mapped());
  EXPECT_THAT(calls, ElementsAre(true, false, false));
}

TEST(CfiFlashTest, InitialMapFailureIsReturned) {
  auto dev = MakeVars();
  EXPECT_THAT(dev->EnableDirectReads([](bool) { return absl::InternalError("no slot"); }),
              StatusIs(absl::StatusCode::kInternal));
  EXPECT_FALSE(dev->direct_mapped());
}

TEST(CfiFlashTest, ResetReturnsToReadArray) {
  auto dev = MakeVars();
  MmioWrite32(*dev, 0, Doubled(0x42));
  dev->Reset();
  EXPECT_EQ(dev->read_mode(), cfi::ReadMode::kArray);
  EXPECT_EQ(dev->status(), 0x80);
}

std::string TempPath() {
  char tmpl[] = "/tmp/cfi_flash_testXXXXXX";
  const int fd = mkstemp(tmpl);
  close(fd);
  unlink(tmpl);
  return tmpl;
}

TEST(CfiFlashTest, VariablesSurviveARestart) {
  const std::string path = TempPath();
  const std::vector<uint32_t> words = Words(0x77);
  {
    auto storage = FlashStorage::OpenPersistent(path, kBank);
    ASSERT_THAT(storage, IsOk());
    CfiFlash dev(std::move(*storage), core::DevicePlacement{.base = 0x0400'0000, .size = kBank},
                 false);
    Firmware fw(dev);
    fw.Erase(0x40000);
    fw.Program(0x40080, words);
    fw.ReadArray();
    ASSERT_THAT(dev.Flush(), IsOk());
  }  // "VM stopped"
  auto storage = FlashStorage::OpenPersistent(path, kBank);
  ASSERT_THAT(storage, IsOk());
  CfiFlash dev(std::move(*storage), core::DevicePlacement{.base = 0x0400'0000, .size = kBank},
               false);
  for (size_t i = 0; i < 32; ++i) EXPECT_EQ(MmioRead32(dev, 0x40080 + 4 * i), words[i]) << i;
  EXPECT_EQ(MmioRead32(dev, 0x40000), 0xFFFFFFFFu);
  EXPECT_EQ(MmioRead32(dev, 0x7FFFC), 0xFFFFFFFFu);
  EXPECT_EQ(MmioRead32(dev, 0x80000), 0u);
  unlink(path.c_str());
}

// Property test (a deterministic fuzz): random command streams of every size and alignment.
// Nothing crashes and the ready bit never drops; without erase commands in the stream the array
// only ever loses bits (programs AND).
TEST(CfiFlashPropertyTest, RandomCommandStreamsKeepFlashInvariants) {
  for (bool with_erase : {false, true}) {
    auto dev = MakeVars(0xFF);
    for (uint64_t i = 0; i < 0x100000; ++i) dev->data()[i] = static_cast<uint8_t>(i * 37);
    const std::vector<uint8_t> shadow(dev->data(), dev->data() + 0x100000);
    std::mt19937_64 rng(with_erase ? 7 : 8);
    std::vector<uint8_t> cmds = {0xFF, 0xF0, 0x90, 0x98, 0x70, 0x50, 0xD0, 0x40, 0x10,
                                 0xE8, 0x60, 0x01, 0x2F, 0xB0, 0x00, 0x1F, 0x03};
    if (with_erase) cmds.push_back(0x20);
    for (int iter = 0; iter < 200000; ++iter) {
      const size_t size = size_t{1} << (rng() % 4);
      const uint64_t offset = (rng() % 0x100000) & ~uint64_t{size - 1};
      uint64_t value = rng();
      if (rng() % 3 != 0) value = 0x0001000100010001ull * cmds[rng() % cmds.size()];
      if (rng() % 2 == 0) {
        MmioWrite(*dev, offset, value, size);
      } else {
        MmioRead(*dev, offset, size);
      }
      ASSERT_EQ(dev->status() & 0x80, 0x80);
    }
    const CfiFlash::Stats st = dev->GetStats();
    EXPECT_GT(st.programs, 100u) << with_erase;
    EXPECT_GT(st.sequence_errors, 100u) << with_erase;
    if (!with_erase) {
      ASSERT_EQ(st.erases, 0u);
      for (size_t i = 0; i < shadow.size(); ++i) ASSERT_EQ(dev->data()[i] & ~shadow[i], 0) << i;
    } else {
      EXPECT_GT(st.erases, 0u);  // the erase paths were exercised too
    }
    dev->Reset();
    MmioWrite32(*dev, 0, Doubled(0x70));
    EXPECT_EQ(MmioRead32(*dev, 0), kStatusReady);
  }
}

TEST(CfiFlashTest, DescribesTheCombinedQemuNode) {
  core::aarch64::FdtWriter fdt;
  ASSERT_THAT(fdt.PropU32("#address-cells", 2), IsOk());
  ASSERT_THAT(fdt.PropU32("#size-cells", 2), IsOk());
  CfiFlashBanksNode node({{0, kBank}, {0x0400'0000, kBank}});
  ASSERT_THAT(node.DescribeFdt(fdt), IsOk());
  auto blob = fdt.Finish();
  ASSERT_THAT(blob, IsOk());
  const void* dt = blob->data();
  int off = fdt_path_offset(dt, "/flash@0");
  ASSERT_GE(off, 0);
  int len = 0;
  EXPECT_STREQ(static_cast<const char*>(fdt_getprop(dt, off, "compatible", &len)), "cfi-flash");
  const auto* reg = static_cast<const uint8_t*>(fdt_getprop(dt, off, "reg", &len));
  ASSERT_EQ(len, 32);
  EXPECT_THAT(std::vector<uint8_t>(reg, reg + 32),
              ElementsAre(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x04, 0, 0, 0,  //
                          0, 0, 0, 0, 0x04, 0, 0, 0, 0, 0, 0, 0, 0x04, 0, 0, 0));
  const auto* width = static_cast<const uint8_t*>(fdt_getprop(dt, off, "bank-width", &len));
  ASSERT_EQ(len, 4);
  EXPECT_THAT(std::vector<uint8_t>(width, width + 4), ElementsAre(0, 0, 0, 4));
  core::aarch64::FdtWriter empty;
  EXPECT_THAT(CfiFlash::DescribeBanksFdt(empty, {}), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace vmmd::hw
