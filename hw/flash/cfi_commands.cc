#include "hw/flash/cfi_commands.h"

#include <algorithm>
#include <cstring>
#include <optional>

namespace vmmd::hw {
namespace {

using cfi::ReadMode;

// The CFI query table one x16 chip answers at word address i (upper byte 0). Minimal but
// consistent with the bank: 32 MiB per chip, 256 blocks of 128 KiB, 64-byte write buffer.
// clang-format off
constexpr uint8_t kQueryTable[] = {
    // 0x00-0x0F: identifier area (not part of the query structure)
    0x89, 0x18, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    'Q',  'R',  'Y',         // 0x10 query string
    0x01, 0x00,              // 0x13 primary command set: Intel/Sharp extended
    0x31, 0x00,              // 0x15 primary extended table at 0x31
    0x00, 0x00,              // 0x17 no alternate command set
    0x00, 0x00,              // 0x19 no alternate table
    0x27, 0x36,              // 0x1B Vcc min 2.7 V, max 3.6 V
    0x00, 0x00,              // 0x1D no Vpp
    0x04,                    // 0x1F typical word program 2^4 us
    0x08,                    // 0x20 typical buffer program 2^8 us
    0x0A,                    // 0x21 typical block erase 2^10 ms
    0x00,                    // 0x22 chip erase not supported
    0x04, 0x04, 0x04, 0x00,  // 0x23 max = typical * 2^n
    25,                      // 0x27 device size 2^25 = 32 MiB per chip
    0x01, 0x00,              // 0x28 interface: x16 asynchronous
    0x06, 0x00,              // 0x2A write buffer 2^6 = 64 bytes per chip
    0x01,                    // 0x2C one erase block region
    0xFF, 0x00,              // 0x2D 256 blocks (value + 1)
    0x00, 0x02,              // 0x2F block size 0x200 * 256 = 128 KiB per chip
    'P',  'R',  'I',         // 0x31 primary extended query
    '1',  '0',               // 0x34 version 1.0
    0x00, 0x00, 0x00, 0x00,  // 0x36 optional features: none
    0x00,                    // 0x3A functions after suspend: none
    0x01, 0x00,              // 0x3B block status register: lock bit
    0x00, 0x00,              // 0x3D Vcc / Vpp optimum: not given
    0x00,                    // 0x3F no protection register fields
};
// clang-format on
static_assert(sizeof(kQueryTable) == 0x40);
static_assert(kQueryTable[0x10] == 'Q' && kQueryTable[0x27] == 25 && kQueryTable[0x31] == 'P' &&
              kQueryTable[0x3B] == 0x01);

// The 16-bit value each addressed chip sees in this cycle; nullopt if the two chips were both
// addressed and got different values.
std::optional<uint16_t> ChipValue(uint64_t offset, absl::Span<const uint8_t> bytes) {
  uint16_t lane[2] = {0, 0};
  bool present[2] = {false, false};
  for (size_t i = 0; i < bytes.size(); ++i) {
    const uint64_t pos = (offset + i) % cfi::kBankWidth;
    const size_t chip = pos / 2;
    lane[chip] = static_cast<uint16_t>(lane[chip] | (bytes[i] << (8 * (pos % 2))));
    present[chip] = true;
  }
  if (present[0] && present[1] && lane[0] != lane[1]) return std::nullopt;
  return present[0] ? lane[0] : lane[1];
}

}  // namespace

void CfiCommandSet::Reset() {
  mode_ = ReadMode::kArray;
  status_ = cfi::kSrReady;
  pending_ = Pending::kNone;
}

CfiWriteEffect CfiCommandSet::SequenceError() {
  status_ |= cfi::kSrSequenceError;
  mode_ = ReadMode::kStatus;
  pending_ = Pending::kNone;
  return {CfiWriteEffect::Kind::kSequenceError, 0, 0};
}

CfiWriteEffect CfiCommandSet::Write(uint64_t offset, absl::Span<const uint8_t> bytes) {
  if (bytes.empty() || bytes.size() > cfi::kBankWidth || offset > array_.size() ||
      bytes.size() > array_.size() - offset ||
      offset / cfi::kBankWidth != (offset + bytes.size() - 1) / cfi::kBankWidth) {
    return {CfiWriteEffect::Kind::kOutOfRange, 0, 0};
  }
  if (pending_ == Pending::kWordData) {
    pending_ = Pending::kNone;
    mode_ = ReadMode::kStatus;
    for (size_t i = 0; i < bytes.size(); ++i) array_[offset + i] &= bytes[i];
    return {CfiWriteEffect::Kind::kProgrammed, offset, bytes.size()};
  }
  if (pending_ == Pending::kBufferData) return BufferData(offset, bytes);

  const std::optional<uint16_t> value = ChipValue(offset, bytes);
  if (!value) return SequenceError();
  const auto cmd = static_cast<uint8_t>(*value & 0xFF);
  switch (pending_) {
    case Pending::kNone:
      return Command(offset, *value);
    case Pending::kEraseConfirm: {
      pending_ = Pending::kNone;
      if (cmd == cfi::kCmdReadArray) {
        mode_ = ReadMode::kArray;
        return {};
      }
      if (cmd != cfi::kCmdConfirm) return SequenceError();
      const uint64_t block = offset / cfi::kSectorSize * cfi::kSectorSize;
      const uint64_t length = std::min<uint64_t>(cfi::kSectorSize, array_.size() - block);
      std::memset(array_.data() + block, 0xFF, length);
      mode_ = ReadMode::kStatus;
      return {CfiWriteEffect::Kind::kErased, block, length};
    }
    case Pending::kBufferCount: {
      const uint32_t words = uint32_t{*value} + 1;
      if (words > cfi::kWriteBufferWords) return SequenceError();
      buffer_remaining_ = words;
      window_set_ = false;
      staged_.fill(0xFF);
      pending_ = Pending::kBufferData;
      return {};
    }
    case Pending::kBufferConfirm: {
      pending_ = Pending::kNone;
      if (cmd != cfi::kCmdConfirm) return SequenceError();
      for (size_t i = 0; i < staged_.size(); ++i) array_[window_ + i] &= staged_[i];
      mode_ = ReadMode::kStatus;
      return {CfiWriteEffect::Kind::kProgrammed, window_, cfi::kWriteBufferSize};
    }
    case Pending::kLockConfirm:
      pending_ = Pending::kNone;
      if (cmd == cfi::kCmdReadArray) {
        mode_ = ReadMode::kArray;
        return {};
      }
      if (cmd != cfi::kCmdLockBlock && cmd != cfi::kCmdConfirm && cmd != cfi::kCmdLockDown) {
        return SequenceError();
      }
      mode_ = ReadMode::kStatus;
      return {};
    case Pending::kWordData:
    case Pending::kBufferData:
      break;  // handled above
  }
  return SequenceError();
}

CfiWriteEffect CfiCommandSet::Command(uint64_t offset, uint16_t value) {
  if ((value >> 8) != 0) return SequenceError();  // commands use the low byte only
  switch (static_cast<uint8_t>(value)) {
    case cfi::kCmdReadArray:
    case cfi::kCmdReadArrayAmd:
      mode_ = ReadMode::kArray;
      return {};
    case cfi::kCmdReadId:
      mode_ = ReadMode::kId;
      return {};
    case cfi::kCmdReadQuery:
      mode_ = ReadMode::kQuery;
      return {};
    case cfi::kCmdReadStatus:
      mode_ = ReadMode::kStatus;
      return {};
    case cfi::kCmdClearStatus:
      status_ = cfi::kSrReady;
      mode_ = ReadMode::kArray;
      return {};
    case cfi::kCmdBlockErase:
      pending_ = Pending::kEraseConfirm;
      mode_ = ReadMode::kStatus;
      return {};
    case cfi::kCmdWordProgram:
    case cfi::kCmdWordProgramAlt:
      pending_ = Pending::kWordData;
      mode_ = ReadMode::kStatus;
      return {};
    case cfi::kCmdBufferedProgram:
      pending_ = Pending::kBufferCount;
      buffer_block_ = offset / cfi::kSectorSize;
      mode_ = ReadMode::kStatus;  // XSR: bit 7 = a write buffer is available
      return {};
    case cfi::kCmdLockSetup:
      pending_ = Pending::kLockConfirm;
      mode_ = ReadMode::kStatus;
      return {};
    case cfi::kCmdSuspend:
    case cfi::kCmdConfirm:  // resume
      mode_ = ReadMode::kStatus;
      return {};
    default:
      return SequenceError();
  }
}

CfiWriteEffect CfiCommandSet::BufferData(uint64_t offset, absl::Span<const uint8_t> bytes) {
  if (!window_set_) {
    window_ = offset / cfi::kWriteBufferSize * cfi::kWriteBufferSize;
    window_set_ = true;
    if (window_ / cfi::kSectorSize != buffer_block_) return SequenceError();
  }
  if (offset < window_ || offset + bytes.size() > window_ + cfi::kWriteBufferSize) {
    return SequenceError();
  }
  for (size_t i = 0; i < bytes.size(); ++i) staged_[offset - window_ + i] &= bytes[i];
  if (--buffer_remaining_ == 0) pending_ = Pending::kBufferConfirm;
  return {};
}

uint8_t CfiCommandSet::ReadByte(uint64_t offset) const {
  if (offset >= array_.size()) return 0;
  const uint64_t pos = offset % cfi::kBankWidth;
  const bool high_byte = (pos % 2) != 0;  // the upper byte of a chip's 16-bit word
  switch (mode_) {
    case ReadMode::kArray:
      return array_[offset];
    case ReadMode::kStatus:
      return high_byte ? 0 : status_;
    case ReadMode::kId: {
      const uint64_t word = (offset % cfi::kSectorSize) / cfi::kBankWidth;
      const uint16_t id = word == 0 ? cfi::kManufacturerId : word == 1 ? cfi::kDeviceId : 0;
      return static_cast<uint8_t>(high_byte ? id >> 8 : id);
    }
    case ReadMode::kQuery: {
      const uint64_t word = offset / cfi::kBankWidth;
      if (high_byte || word >= sizeof(kQueryTable)) return 0;
      return kQueryTable[word];
    }
  }
  return 0;
}

}  // namespace vmmd::hw
