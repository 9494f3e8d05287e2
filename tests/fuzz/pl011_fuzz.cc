// PL011 UART (hw/pl011): guest register accesses interleaved with host input. Input: a sequence
// of accesses (fuzz_input.h); op & 0xF0 == 0x10 queues up to 8 host input bytes (the value's
// low bytes), 0x20 resets the UART, anything else is an MMIO access over the 4 KiB window.
// Invariants, against a model of the FIFO and the plain read/write registers (pl011.h):
//  - DR reads pop the model's FIFO in order (0 when empty); input beyond the FIFO's capacity
//    (16 with LCR_H.FEN, else 1) is dropped;
//  - the sink receives exactly the bytes written to DR without CR.LBE; with it they loop back;
//  - FR: TXFE set, TXFF and BUSY clear, RXFE/RXFF follow the FIFO level;
//  - read/write registers read back what was written, masked; MIS = RIS & IMSC;
//  - the interrupt line is driven only on changes and is high exactly when MIS != 0.
#include <algorithm>
#include <cstdint>
#include <deque>
#include <vector>

#include "absl/strings/str_format.h"
#include "hw/pl011/pl011.h"
#include "tests/fuzz/fuzz_input.h"

namespace vmmd::fuzz {
namespace {

namespace p = hw::pl011;
constexpr uint64_t kWindow = 0x1000;
constexpr size_t kMaxAccesses = 96;

class Sink : public hw::ByteSink {
 public:
  void Write(absl::Span<const uint8_t> bytes) override {
    out.insert(out.end(), bytes.begin(), bytes.end());
  }
  std::vector<uint8_t> out;
};

class Irq : public core::IrqLine {
 public:
  void SetLevel(bool high) override {
    FUZZ_CHECK(high != level, "the interrupt line is driven only on changes");
    level = high;
  }
  bool level = false;
};

struct Model {
  std::deque<uint8_t> fifo;
  std::vector<uint8_t> sent;
  uint32_t ilpr = 0, ibrd = 0, fbrd = 0, lcr_h = 0, cr = p::kCrReset, ifls = p::kIflsReset;
  uint32_t imsc = 0, dmacr = 0;
  size_t capacity() const { return (lcr_h & p::kLcrHFen) != 0 ? p::kFifoDepth : 1; }
  void Receive(absl::Span<const uint8_t> bytes) {
    for (uint8_t b : bytes) {
      if (fifo.size() < capacity()) fifo.push_back(b);
    }
  }
  // The plain read/write registers: the value they read back, or -1 for any other register.
  int64_t Plain(uint64_t reg) const {
    switch (reg) {
      case p::kIlpr:
        return ilpr;
      case p::kIbrd:
        return ibrd;
      case p::kFbrd:
        return fbrd;
      case p::kLcrH:
        return lcr_h;
      case p::kCr:
        return cr;
      case p::kIfls:
        return ifls;
      case p::kImsc:
        return imsc;
      case p::kDmacr:
        return dmacr;
      default:
        return -1;
    }
  }
  void WritePlain(uint64_t reg, uint32_t v) {
    switch (reg) {
      case p::kIlpr:
        ilpr = v & 0xFF;
        break;
      case p::kIbrd:
        ibrd = v & 0xFFFF;
        break;
      case p::kFbrd:
        fbrd = v & 0x3F;
        break;
      case p::kLcrH:
        lcr_h = v & 0xFF;
        break;
      case p::kCr:
        cr = v & p::kCrMask;
        break;
      case p::kIfls:
        ifls = v & p::kIflsMask;
        break;
      case p::kImsc:
        imsc = v & p::kIntMask;
        break;
      case p::kDmacr:
        dmacr = v & 0x7;
        break;
      default:
        break;
    }
  }
};

void Run(const uint8_t* data, size_t size) {
  FuzzReader in(data, size);
  Sink sink;
  Irq irq;
  hw::Pl011 dev(&sink, &irq, core::DevicePlacement{.base = 0x900'0000, .size = kWindow, .spi = 1});
  Model m;
  for (size_t n = 0; n < kMaxAccesses && !in.empty(); ++n) {
    const Access a = NextAccess(in, kWindow);
    if ((a.op & 0xF0) == 0x10) {
      uint8_t bytes[8];
      core::StoreLe(absl::MakeSpan(bytes, 8), a.value);
      const size_t count = a.size;
      const size_t want = std::min(count, m.capacity() - std::min(m.capacity(), m.fifo.size()));
      FUZZ_CHECK(dev.EnqueueInput(absl::MakeConstSpan(bytes, count)) == want, "accepted input");
      m.Receive(absl::MakeConstSpan(bytes, count));
    } else if ((a.op & 0xF0) == 0x20) {
      dev.Reset();
      const std::vector<uint8_t> sent = m.sent;
      m = Model{};
      m.sent = sent;
    } else if (InsideWindow(a, kWindow)) {
      const uint64_t reg = a.offset & ~uint64_t{3};
      const bool aligned = (a.offset & 3) == 0;
      if (a.write()) {
        DeviceWrite(dev, a.offset, a.size, a.value);
        if (aligned && reg == p::kDr) {
          const auto byte = static_cast<uint8_t>(a.value);
          if ((m.cr & p::kCrLbe) != 0) {
            m.Receive(absl::MakeConstSpan(&byte, 1));
          } else {
            m.sent.push_back(byte);
          }
        } else if (aligned) {
          m.WritePlain(reg, static_cast<uint32_t>(Truncate(a.value, a.size)));
        }
      } else {
        const uint64_t got = DeviceRead(dev, a.offset, a.size);
        const unsigned shift = static_cast<unsigned>(a.offset & 3) * 8;
        int64_t want = -1;
        if (reg == p::kDr) {
          uint32_t byte = 0;
          if (aligned && !m.fifo.empty()) {
            byte = m.fifo.front();
            m.fifo.pop_front();
          }
          want = aligned ? byte : 0;
        } else if (reg == p::kFr) {
          uint32_t fr = p::kFrTxfe | p::kFrDcd | p::kFrDsr | p::kFrCts;
          if (m.fifo.empty()) fr |= p::kFrRxfe;
          if (m.fifo.size() >= m.capacity()) fr |= p::kFrRxff;
          want = fr >> shift;
        } else if (m.Plain(reg) >= 0) {
          want = static_cast<uint32_t>(m.Plain(reg)) >> shift;
        }
        if (want >= 0) {
          want = static_cast<int64_t>(Truncate(static_cast<uint64_t>(want), a.size));
          FUZZ_CHECK(got == static_cast<uint64_t>(want),
                     absl::StrFormat("read of %u bytes at 0x%x: 0x%x, want 0x%x", a.size, a.offset,
                                     got, want));
        }
      }
    }
    const uint64_t ris = DeviceRead(dev, p::kRis, 4);
    const uint64_t mis = DeviceRead(dev, p::kMis, 4);
    FUZZ_CHECK(mis == (ris & m.imsc), absl::StrFormat("MIS 0x%x, RIS 0x%x", mis, ris));
    FUZZ_CHECK(irq.level == (mis != 0), "the line is high exactly when MIS != 0");
    FUZZ_CHECK(sink.out == m.sent, "the sink got exactly the transmitted bytes");
  }
}

}  // namespace
}  // namespace vmmd::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vmmd::fuzz::Run(data, size);
  return 0;
}
