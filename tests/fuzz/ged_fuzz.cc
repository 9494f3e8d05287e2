// ACPI GED (hw/ged): ESEL accesses of every size and offset interleaved with events the VMM
// raises. Input: a sequence of accesses (fuzz_input.h); op & 0xF0 == 0x10 raises the value's low
// 32 bits as events; anything else is an MMIO access over the 4-byte window. Invariants (ged.h):
//  - a DWORD read at 0 returns every bit raised since the last such read, then reads 0;
//  - every other read returns 0 and every write is ignored (the pending bits stay);
//  - each non-empty RaiseEvent pulses the line once (high then low); an empty one does nothing.
#include <cstdint>
#include <vector>

#include "absl/strings/str_format.h"
#include "hw/ged/ged.h"
#include "tests/fuzz/fuzz_input.h"

namespace vmmd::fuzz {
namespace {

constexpr size_t kMaxAccesses = 96;

class Irq : public core::IrqLine {
 public:
  void SetLevel(bool high) override { levels.push_back(high); }
  std::vector<bool> levels;
};

void Run(const uint8_t* data, size_t size) {
  FuzzReader in(data, size);
  Irq irq;
  hw::Ged dev(&irq,
              core::DevicePlacement{.base = 0x908'0000, .size = hw::ged::kRegionSize, .spi = 9},
              {{hw::ged::kEventCpuHotplug, "\\_SB.CPUS.CSCN"}});
  uint32_t pending = 0;
  size_t pulses = 0;
  for (size_t n = 0; n < kMaxAccesses && !in.empty(); ++n) {
    const Access a = NextAccess(in, hw::ged::kRegionSize);
    if ((a.op & 0xF0) == 0x10) {
      const auto bits = static_cast<uint32_t>(a.value);
      dev.RaiseEvent(bits);
      pending |= bits;
      if (bits != 0) ++pulses;
    } else if (InsideWindow(a, hw::ged::kRegionSize)) {
      if (a.write()) {
        DeviceWrite(dev, a.offset, a.size, a.value);
      } else {
        const uint64_t got = DeviceRead(dev, a.offset, a.size);
        uint64_t want = 0;
        if (a.offset == hw::ged::kEselOffset && a.size == 4) {
          want = pending;
          pending = 0;
        }
        FUZZ_CHECK(got == want, absl::StrFormat("read of %u bytes at %u: 0x%x, want 0x%x", a.size,
                                                a.offset, got, want));
      }
    }
    FUZZ_CHECK(dev.PendingEvents() == pending, "pending events");
    FUZZ_CHECK(irq.levels.size() == 2 * pulses, "one pulse per raise");
  }
  for (size_t i = 0; i < irq.levels.size(); ++i) {
    FUZZ_CHECK(irq.levels[i] == (i % 2 == 0), "pulses are high then low");
  }
}

}  // namespace
}  // namespace vmmd::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vmmd::fuzz::Run(data, size);
  return 0;
}
