// The PrimeCell identification registers every ARM AMBA peripheral has at the top of its 4 KiB
// window: PeriphID0..3 at 0xFE0..0xFEC and PCellID0..3 at 0xFF0..0xFFC, each holding one byte
// of a 32-bit ID in its low 8 bits. Linux's AMBA bus and edk2 read them (byte-wide) to match
// drivers.
#pragma once

#include <cstdint>

namespace vmmd::hw::primecell {

inline constexpr uint64_t kPeriphId0 = 0xFE0;
inline constexpr uint64_t kCellId0 = 0xFF0;
inline constexpr uint64_t kCellId3 = 0xFFC;
inline constexpr uint32_t kCellId = 0xB105'F00D;  // the same for every PrimeCell

constexpr bool IsIdRegister(uint64_t reg) { return reg >= kPeriphId0 && reg <= kCellId3; }

// The value of ID register `reg` (IsIdRegister(reg)) of a peripheral with `periph_id`.
constexpr uint32_t IdRegister(uint64_t reg, uint32_t periph_id) {
  const uint64_t index = (reg - kPeriphId0) / 4;
  const uint32_t id = index < 4 ? periph_id : kCellId;
  return (id >> (8 * (index % 4))) & 0xFF;
}

static_assert(IdRegister(0xFE0, 0x0014'1011) == 0x11 && IdRegister(0xFE8, 0x0014'1011) == 0x14);
static_assert(IdRegister(0xFF0, 0) == 0x0D && IdRegister(0xFFC, 0) == 0xB1);

}  // namespace vmmd::hw::primecell
