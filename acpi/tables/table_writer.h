// Little-endian byte writer for ACPI system description tables: the 36-byte common header
// (ACPI 6.5 section 5.2.6), fields, Generic Address Structures, and the final length/checksum.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace vmmd::acpi {

// Identification written into every table header.
inline constexpr std::string_view kOemId = "VMMD  ";         // 6 bytes
inline constexpr std::string_view kOemTableId = "VMMDVIRT";  // 8 bytes
inline constexpr uint32_t kOemRevision = 1;
inline constexpr std::string_view kCreatorId = "VMMD";  // 4 bytes
inline constexpr uint32_t kCreatorRevision = 1;

inline constexpr size_t kTableHeaderSize = 36;
inline constexpr size_t kTableLengthOffset = 4;
inline constexpr size_t kTableChecksumOffset = 9;

// Generic Address Structure address space ids and access sizes.
inline constexpr uint8_t kGasSystemMemory = 0;
inline constexpr uint8_t kGasAccessDWord = 3;

// The byte sum of `bytes` (mod 256); a valid ACPI table sums to 0.
uint8_t Sum8(absl::Span<const uint8_t> bytes);
// Sets bytes[checksum_offset] so that bytes[start, start + length) sums to 0. The range must
// lie inside `bytes` and contain the checksum byte.
void SetChecksum(absl::Span<uint8_t> bytes, size_t start, size_t length, size_t checksum_offset);

class TableWriter {
 public:
  // Begins a table: signature (4 chars), revision, and the vmmd OEM/creator fields.
  TableWriter(std::string_view signature, uint8_t revision);

  void U8(uint8_t v) { bytes_.push_back(v); }
  void U16(uint16_t v) { Le(v, 2); }
  void U32(uint32_t v) { Le(v, 4); }
  void U64(uint64_t v) { Le(v, 8); }
  void Bytes(absl::Span<const uint8_t> b) { bytes_.insert(bytes_.end(), b.begin(), b.end()); }
  // `s` padded with `pad` (or truncated) to exactly `width` bytes.
  void Chars(std::string_view s, size_t width, char pad = ' ');
  void Zeros(size_t n) { bytes_.insert(bytes_.end(), n, 0); }
  // Generic Address Structure (12 bytes).
  void Gas(uint8_t space, uint8_t bit_width, uint8_t bit_offset, uint8_t access_size,
           uint64_t address);

  size_t size() const { return bytes_.size(); }

  // Fills in Length and Checksum. OUT_OF_RANGE if the table exceeds 4 GiB.
  absl::StatusOr<std::vector<uint8_t>> Finish() &&;

 private:
  void Le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) bytes_.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }

  std::vector<uint8_t> bytes_;
};

// Reads a little-endian value of `n` bytes at `offset` (the caller checks bounds).
uint64_t ReadLe(absl::Span<const uint8_t> bytes, size_t offset, size_t n);
void WriteLe(absl::Span<uint8_t> bytes, size_t offset, size_t n, uint64_t value);

}  // namespace vmmd::acpi
