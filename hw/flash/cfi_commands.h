// The Intel/Sharp (CFI command set 0x0001) command state machine of one flash bank built from two
// x16 chips side by side (bank width 4: bytes 0-1 of every 32-bit bus word belong to chip 0,
// bytes 2-3 to chip 1), as QEMU's virt board wires pflash_cfi01 and edk2 drives it. Pure logic
// over the bank's bytes: no locking, no I/O, no KVM (CfiFlash adds those).
//
// Both chips always receive the same command (the firmware doubles every command: 0x20 is written
// as 0x00200020), so one state machine models the pair. A write cycle whose two 16-bit lanes
// disagree is an improper command sequence.
//
// Commands (first cycle; reads afterwards show the mode named):
//   FF / F0        read array
//   90             read identifier: per chip, word 0 of any block = manufacturer 0x0089, word 1
//                  = device 0x0018 (QEMU virt's ids), word 2 = block lock status 0 (unlocked);
//                  the firmware reads block+8 (word 2 of both chips) and expects 0
//   98             CFI query (table in cfi_commands.cc; the firmware never reads it)
//   70             read status (status 0x80 "ready" in each chip's lane: 0x00800080)
//   50             clear status (error bits), then read array
//   20, D0         block erase: the 256 KiB block holding the D0 address becomes 0xFF; FF
//                  instead of D0 cancels to read array; anything else is a sequence error
//   40/10, data    word program: the written bytes are ANDed into the array (flash can only
//                  clear bits)
//   E8, count, data x count, D0
//                  buffered program: count is N-1 per chip, N <= 32 words (a 128-byte bank-wide
//                  buffer); every data cycle is one word and must fall inside the 128-byte
//                  aligned window of the first data word, in the block E8 was written to; D0
//                  ANDs the staged words into the array at once. Any violation aborts the whole
//                  program (nothing written) with a sequence error
//   60, 01/D0/2F   block lock / unlock / lock-down: accepted, blocks always read unlocked; FF
//                  cancels to read array, anything else is a sequence error
//   B0, D0         suspend / resume: accepted (operations complete instantly, nothing to suspend)
// After erase, program, lock and suspend/resume commands the bank reads status (as real chips
// do). An unknown first-cycle command is a sequence error. A sequence error sets status bits 4
// and 5 (Intel: "improper command sequence") and leaves the bank reading status; 50 clears it.
// The ready bit (7) is always set: every operation completes before the write returns.
#pragma once

#include <array>
#include <cstdint>

#include "absl/types/span.h"

namespace vmmd::hw {
namespace cfi {

inline constexpr uint64_t kBankWidth = 4;            // bytes per bus word (two x16 chips)
inline constexpr uint64_t kSectorSize = 256 * 1024;  // bank-wide erase block
inline constexpr uint32_t kWriteBufferWords = 32;    // per chip, per buffered program
inline constexpr uint64_t kWriteBufferSize = kWriteBufferWords * kBankWidth;  // 128 bytes
inline constexpr uint16_t kManufacturerId = 0x0089;
inline constexpr uint16_t kDeviceId = 0x0018;

// Status register bits (per chip).
inline constexpr uint8_t kSrReady = 0x80;
inline constexpr uint8_t kSrEraseError = 0x20;
inline constexpr uint8_t kSrProgramError = 0x10;
inline constexpr uint8_t kSrSequenceError = kSrEraseError | kSrProgramError;

// Command codes.
inline constexpr uint8_t kCmdReadArray = 0xFF;
inline constexpr uint8_t kCmdReadArrayAmd = 0xF0;
inline constexpr uint8_t kCmdReadId = 0x90;
inline constexpr uint8_t kCmdReadQuery = 0x98;
inline constexpr uint8_t kCmdReadStatus = 0x70;
inline constexpr uint8_t kCmdClearStatus = 0x50;
inline constexpr uint8_t kCmdBlockErase = 0x20;
inline constexpr uint8_t kCmdConfirm = 0xD0;
inline constexpr uint8_t kCmdWordProgram = 0x40;
inline constexpr uint8_t kCmdWordProgramAlt = 0x10;
inline constexpr uint8_t kCmdBufferedProgram = 0xE8;
inline constexpr uint8_t kCmdLockSetup = 0x60;
inline constexpr uint8_t kCmdLockBlock = 0x01;
inline constexpr uint8_t kCmdLockDown = 0x2F;
inline constexpr uint8_t kCmdSuspend = 0xB0;

enum class ReadMode { kArray, kStatus, kId, kQuery };

}  // namespace cfi

// What one write cycle did.
struct CfiWriteEffect {
  enum class Kind { kNone, kErased, kProgrammed, kSequenceError, kOutOfRange };
  Kind kind = Kind::kNone;
  uint64_t offset = 0;  // the array bytes changed (kErased / kProgrammed)
  uint64_t length = 0;
};

class CfiCommandSet {
 public:
  // `array` is the bank's bytes (a multiple of kSectorSize); not owned.
  explicit CfiCommandSet(absl::Span<uint8_t> array) : array_(array) {}

  // One bus write cycle: 1..4 bytes at `offset` inside one bank word (callers split wider or
  // straddling accesses). Out-of-range cycles are ignored (kOutOfRange).
  CfiWriteEffect Write(uint64_t offset, absl::Span<const uint8_t> bytes);
  // The byte the bank shows at `offset` in the current read mode (0 out of range).
  uint8_t ReadByte(uint64_t offset) const;

  cfi::ReadMode read_mode() const { return mode_; }
  uint8_t status() const { return status_; }
  // Error bits found by the caller (persisting an erase or program failed).
  void SetStatusBits(uint8_t bits) { status_ |= bits; }
  // Power-on / system reset: read array, status ready, no command in progress.
  void Reset();

 private:
  enum class Pending {
    kNone,
    kEraseConfirm,
    kWordData,
    kBufferCount,
    kBufferData,
    kBufferConfirm,
    kLockConfirm
  };
  CfiWriteEffect Command(uint64_t offset, uint16_t value);
  CfiWriteEffect BufferData(uint64_t offset, absl::Span<const uint8_t> bytes);
  CfiWriteEffect SequenceError();

  absl::Span<uint8_t> array_;
  cfi::ReadMode mode_ = cfi::ReadMode::kArray;
  uint8_t status_ = cfi::kSrReady;
  Pending pending_ = Pending::kNone;
  // Buffered program state.
  uint64_t buffer_block_ = 0;      // block index E8 was written to
  uint32_t buffer_remaining_ = 0;  // data words still expected
  bool window_set_ = false;
  uint64_t window_ = 0;  // 128-byte aligned offset of the write buffer
  std::array<uint8_t, cfi::kWriteBufferSize> staged_{};
};

}  // namespace vmmd::hw
