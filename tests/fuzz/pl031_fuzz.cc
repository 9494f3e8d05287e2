// PL031 RTC (hw/pl031): guest register accesses while a fuzz-driven clock steps forwards,
// backwards and across 2^32. Input: a sequence of accesses (fuzz_input.h); op & 0xF0 == 0x10
// moves the clock by a signed 16-bit amount (0x30: sets it to the raw value), 0x20 polls, 0x40
// resets; anything else is an MMIO access over the 4 KiB window. Invariants (pl031.h):
//  - DR reads the counter: the clock plus the offset the last LR write set, mod 2^32;
//  - LR and MR read back what was written; CR reads 1; IMSC reads the written bit 0;
//  - RIS latches a match when the counter steps onto or past MR (including across a wrap),
//    when LR is loaded with MR or MR with the counter, and only ICR clears it;
//  - MIS = RIS & IMSC; the line is driven only on changes and is high exactly when MIS != 0.
#include <cstdint>

#include "absl/strings/str_format.h"
#include "hw/pl031/pl031.h"
#include "tests/fuzz/fuzz_input.h"

namespace vmmd::fuzz {
namespace {

namespace p = hw::pl031;
constexpr uint64_t kWindow = 0x1000;
constexpr size_t kMaxAccesses = 96;

class Irq : public core::IrqLine {
 public:
  void SetLevel(bool high) override {
    FUZZ_CHECK(high != level, "the interrupt line is driven only on changes");
    level = high;
  }
  bool level = false;
};

// The device's documented behaviour, written out independently.
struct Model {
  int64_t* clock;
  uint64_t offset = 0;  // counter = clock + offset (mod 2^64)
  uint64_t last = 0;    // counter at the last evaluation
  uint32_t mr = 0, lr = 0, imsc = 0, ris = 0;

  uint64_t Counter() const { return static_cast<uint64_t>(*clock) + offset; }
  // Has the counter stepped onto MR in (last, now]?
  void Evaluate() {
    const uint64_t now = Counter();
    const auto delta = static_cast<int64_t>(now - last);
    if (delta > 0) {
      // The first k > last with k mod 2^32 == MR.
      const uint64_t next = last + 1 + static_cast<uint32_t>(mr - static_cast<uint32_t>(last + 1));
      if (next - last <= static_cast<uint64_t>(delta)) ris |= p::kIntMatch;
    }
    last = now;
  }
};

void Run(const uint8_t* data, size_t size) {
  FuzzReader in(data, size);
  int64_t clock = static_cast<int64_t>(in.U64());
  Irq irq;
  hw::Pl031 dev(&irq, core::DevicePlacement{.base = 0x901'0000, .size = kWindow, .spi = 2},
                [&clock] { return clock; });
  Model m{.clock = &clock};
  m.last = m.Counter();
  for (size_t n = 0; n < kMaxAccesses && !in.empty(); ++n) {
    const Access a = NextAccess(in, kWindow);
    switch (a.op & 0xF0) {
      case 0x10:
        clock = static_cast<int64_t>(static_cast<uint64_t>(clock) +
                                     static_cast<uint64_t>(int64_t{static_cast<int16_t>(a.value)}));
        continue;
      case 0x30:
        clock = static_cast<int64_t>(a.value);
        continue;
      case 0x20:
        dev.Poll();
        m.Evaluate();
        break;
      case 0x40:
        dev.Reset();
        m.last = m.Counter();
        m.mr = m.imsc = m.ris = 0;
        break;
      default: {
        if (!InsideWindow(a, kWindow)) continue;
        const uint64_t reg = a.offset & ~uint64_t{3};
        const unsigned shift = static_cast<unsigned>(a.offset & 3) * 8;
        m.Evaluate();
        if (a.write()) {
          DeviceWrite(dev, a.offset, a.size, a.value);
          if ((a.offset & 3) != 0) break;
          const auto v = static_cast<uint32_t>(Truncate(a.value, a.size));
          if (reg == p::kMr) {
            m.mr = v;
            if (static_cast<uint32_t>(m.last) == v) m.ris |= p::kIntMatch;
          } else if (reg == p::kLr) {
            m.lr = v;
            m.offset = uint64_t{v} - static_cast<uint64_t>(clock);
            m.last = v;
            if (v == m.mr) m.ris |= p::kIntMatch;
          } else if (reg == p::kImsc) {
            m.imsc = v & p::kIntMatch;
          } else if (reg == p::kIcr) {
            m.ris &= ~(v & p::kIntMatch);
          }
        } else {
          const uint64_t got = DeviceRead(dev, a.offset, a.size);
          int64_t want = -1;
          switch (reg) {
            case p::kDr:
              want = static_cast<uint32_t>(m.Counter());
              break;
            case p::kMr:
              want = m.mr;
              break;
            case p::kLr:
              want = m.lr;
              break;
            case p::kCr:
              want = p::kCrStart;
              break;
            case p::kImsc:
              want = m.imsc;
              break;
            case p::kRis:
              want = m.ris;
              break;
            case p::kMis:
              want = m.ris & m.imsc;
              break;
            case p::kIcr:
              want = 0;
              break;
            default:
              break;
          }
          if (want >= 0) {
            const uint64_t expect = Truncate(static_cast<uint32_t>(want) >> shift, a.size);
            FUZZ_CHECK(got == expect, absl::StrFormat("read of %u bytes at 0x%x: 0x%x, want 0x%x",
                                                      a.size, a.offset, got, expect));
          }
        }
        break;
      }
    }
    FUZZ_CHECK(irq.level == ((m.ris & m.imsc) != 0),
               absl::StrFormat("line %d with RIS %x IMSC %x", irq.level, m.ris, m.imsc));
  }
}

}  // namespace
}  // namespace vmmd::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vmmd::fuzz::Run(data, size);
  return 0;
}
