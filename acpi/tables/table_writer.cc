#include "acpi/tables/table_writer.h"

#include <limits>

#include "absl/strings/str_format.h"

namespace vmmd::acpi {

uint8_t Sum8(absl::Span<const uint8_t> bytes) {
  uint8_t sum = 0;
  for (uint8_t b : bytes) sum = static_cast<uint8_t>(sum + b);
  return sum;
}

void SetChecksum(absl::Span<uint8_t> bytes, size_t start, size_t length, size_t checksum_offset) {
  if (start > bytes.size() || length > bytes.size() - start || checksum_offset < start ||
      checksum_offset >= start + length) {
    return;
  }
  bytes[checksum_offset] = 0;
  bytes[checksum_offset] = static_cast<uint8_t>(-Sum8(bytes.subspan(start, length)));
}

TableWriter::TableWriter(std::string_view signature, uint8_t revision) {
  Chars(signature, 4);
  U32(0);  // Length, set by Finish()
  U8(revision);
  U8(0);  // Checksum, set by Finish()
  Chars(kOemId, 6);
  Chars(kOemTableId, 8);
  U32(kOemRevision);
  Chars(kCreatorId, 4);
  U32(kCreatorRevision);
}

void TableWriter::Chars(std::string_view s, size_t width, char pad) {
  for (size_t i = 0; i < width; ++i) {
    bytes_.push_back(static_cast<uint8_t>(i < s.size() ? s[i] : pad));
  }
}

void TableWriter::Gas(uint8_t space, uint8_t bit_width, uint8_t bit_offset, uint8_t access_size,
                      uint64_t address) {
  U8(space);
  U8(bit_width);
  U8(bit_offset);
  U8(access_size);
  U64(address);
}

absl::StatusOr<std::vector<uint8_t>> TableWriter::Finish() && {
  if (bytes_.size() > std::numeric_limits<uint32_t>::max()) {
    return absl::OutOfRangeError(
        absl::StrFormat("ACPI table of %u bytes does not fit its 32-bit length", bytes_.size()));
  }
  WriteLe(absl::MakeSpan(bytes_), kTableLengthOffset, 4, bytes_.size());
  SetChecksum(absl::MakeSpan(bytes_), 0, bytes_.size(), kTableChecksumOffset);
  return std::move(bytes_);
}

uint64_t ReadLe(absl::Span<const uint8_t> bytes, size_t offset, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n && offset + i < bytes.size(); ++i) {
    v |= static_cast<uint64_t>(bytes[offset + i]) << (8 * i);
  }
  return v;
}

void WriteLe(absl::Span<uint8_t> bytes, size_t offset, size_t n, uint64_t value) {
  for (size_t i = 0; i < n && offset + i < bytes.size(); ++i) {
    bytes[offset + i] = static_cast<uint8_t>(value >> (8 * i));
  }
}

}  // namespace vmmd::acpi
