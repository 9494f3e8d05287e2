// Decoding libFuzzer's bytes the way a guest issues them: a stream of MMIO accesses
// (op, offset, size, value), plus the helpers every target shares. Header-only; the targets
// include it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/types/span.h"
#include "core/bus/bus_device.h"

namespace vmmd::fuzz {

// Reads little-endian integers off the front of the input; past its end every read is 0 and
// empty() is true.
class FuzzReader {
 public:
  FuzzReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return pos_ >= size_; }
  size_t remaining() const { return empty() ? 0 : size_ - pos_; }
  uint64_t Bytes(size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n && i < 8; ++i) {
      if (pos_ < size_) v |= static_cast<uint64_t>(data_[pos_]) << (8 * i);
      ++pos_;
    }
    return v;
  }
  uint8_t U8() { return static_cast<uint8_t>(Bytes(1)); }
  uint16_t U16() { return static_cast<uint16_t>(Bytes(2)); }
  uint32_t U32() { return static_cast<uint32_t>(Bytes(4)); }
  uint64_t U64() { return Bytes(8); }
  // The next min(n, remaining()) bytes.
  absl::Span<const uint8_t> Take(size_t n) {
    const size_t k = n < remaining() ? n : remaining();
    if (k == 0) return {};
    absl::Span<const uint8_t> out(data_ + pos_, k);
    pos_ += k;
    return out;
  }
  // The rest of the input (possibly empty).
  absl::Span<const uint8_t> Rest() {
    if (empty()) return {};
    absl::Span<const uint8_t> rest(data_ + pos_, size_ - pos_);
    pos_ = size_;
    return rest;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

// One guest access, 14 bytes of input: op (bit 0: write; the rest is the target's to use),
// offset (u32, reduced modulo the target's window), size (1, 2, 4 or 8 from the low 2 bits),
// value (u64, the low `size` bytes are stored).
struct Access {
  uint8_t op = 0;
  uint64_t offset = 0;
  size_t size = 1;
  uint64_t value = 0;
  bool write() const { return (op & 1) != 0; }
};

// Decodes the next access; `window` bounds the offset (offsets up to window + 8 are produced so
// that accesses at and across the end of the device are exercised too).
inline Access NextAccess(FuzzReader& in, uint64_t window) {
  Access a;
  a.op = in.U8();
  a.offset = in.U32() % (window + 8);
  a.size = size_t{1} << (in.U8() & 3);
  a.value = in.U64();
  return a;
}

// The bus hands a device only accesses that lie inside its window: the same here.
inline bool InsideWindow(const Access& a, uint64_t window) {
  return a.offset < window && a.size <= window - a.offset;
}

// The low `size` bytes of `value`: what a read of `size` bytes shows of a wider register value.
inline uint64_t Truncate(uint64_t value, size_t size) {
  return size >= 8 ? value : value & ((uint64_t{1} << (8 * size)) - 1);
}

inline uint64_t DeviceRead(core::BusDevice& dev, uint64_t offset, size_t size) {
  uint8_t buf[8] = {0xEE, 0xEE, 0xEE, 0xEE, 0xEE, 0xEE, 0xEE, 0xEE};
  dev.Read(offset, absl::MakeSpan(buf, size));
  return core::LoadLe(absl::MakeConstSpan(buf, size));
}

inline void DeviceWrite(core::BusDevice& dev, uint64_t offset, size_t size, uint64_t value) {
  uint8_t buf[8];
  core::StoreLe(absl::MakeSpan(buf, size), value);
  dev.Write(offset, absl::MakeConstSpan(buf, size));
}

// One register access from the input, inside a `window`-byte device (one outside is skipped,
// as the bus would): what a fuzzer does when it checks nothing of the register's value.
inline void AnyAccess(FuzzReader& in, core::BusDevice& dev, uint64_t window) {
  const Access a = NextAccess(in, window);
  if (!InsideWindow(a, window)) return;
  if (a.write()) {
    DeviceWrite(dev, a.offset, a.size, a.value);
  } else {
    (void)DeviceRead(dev, a.offset, a.size);
  }
}

// Up to 64 bytes of the input written at an offset (u16 modulo `size`) of guest RAM, as a
// driver writes rings, descriptors and buffers.
inline void PokeRam(FuzzReader& in, uint8_t* ram, uint64_t size) {
  const uint64_t at = in.U16() % size;
  absl::Span<const uint8_t> bytes = in.Take(std::min<size_t>(in.U8() % 65, size - at));
  std::copy(bytes.begin(), bytes.end(), ram + at);
}

// An invariant failed: print what and abort, which libFuzzer reports as a crash with the input.
[[noreturn]] inline void Fail(const char* file, int line, const std::string& what) {
  std::fprintf(stderr, "FUZZ INVARIANT FAILED at %s:%d: %s\n", file, line, what.c_str());
  std::abort();
}

}  // namespace vmmd::fuzz

// Checks an invariant in a fuzz target (active in every build type).
#define FUZZ_CHECK(cond, what)                                                               \
  do {                                                                                       \
    if (!(cond)) ::vmmd::fuzz::Fail(__FILE__, __LINE__, std::string(#cond) + ": " + (what)); \
  } while (0)
