// fw_cfg (hw/fw_cfg): MMIO register accesses and DMA, with guest RAM a fuzz-controlled buffer
// and descriptors that point anywhere. Input: a sequence of accesses (fuzz_input.h); op selects
// what the guest does:
//   op & 0xF0 == 0x10  store a 16-byte descriptor in RAM (control, length, address from the input)
//   op & 0xF0 == 0x20  ring the doorbell (64-bit big-endian write) with a descriptor address in RAM
//   op & 0xF0 == 0x30  system reset
//   otherwise          an MMIO access (op bit 0: write) at the access's offset and size
// Invariants (fw_cfg.h, fw_cfg_dma.h), against a model of the registers:
//  - a DMA changes RAM only in its descriptor's control word and, for a read, in
//    [address, address + length); a failed one only in the control word, which reads back 0 or
//    the error bit;
//  - the data register returns the selected item's bytes in order, then zeros;
//  - the DMA register reads the signature; every other read is 0.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/strings/str_format.h"
#include "core/memory/guest_memory.h"
#include "hw/fw_cfg/fw_cfg.h"
#include "tests/fuzz/fuzz_input.h"

namespace vmmd::fuzz {
namespace {

namespace f = hw::fw_cfg;
constexpr uint64_t kRamBase = 0x4000'0000;
constexpr uint64_t kRamSize = 0x1000;  // 4 KiB: descriptors and transfers anywhere in it
constexpr size_t kMaxAccesses = 64;

std::vector<uint8_t> Pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 7);
  return v;
}

uint64_t LoadBe(const uint8_t* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}

void StoreBe(uint8_t* p, size_t n, uint64_t v) {
  for (size_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(v >> (8 * (n - 1 - i)));
}

hw::FwCfgItems MakeItems() {
  hw::FwCfgItems items;
  bool ok = items.AddFile("etc/acpi/tables", Pattern(300, 1)).ok() &&
            items.AddFile("etc/acpi/rsdp", Pattern(36, 9)).ok() &&
            items.AddFile("etc/table-loader", Pattern(128, 3)).ok() &&
            items.SetKernel(hw::MakeBytesBlob(Pattern(5000, 5))).ok() &&
            items.SetInitrd(hw::MakeBytesBlob(Pattern(700, 11))).ok() &&
            items.SetCmdline("console=ttyAMA0 root=/dev/vda").ok();
  if (!ok) Fail(__FILE__, __LINE__, "building the items");
  return items;
}

class Harness {
 public:
  explicit Harness(std::unique_ptr<core::GuestMemory> mem)
      : mem_(std::move(mem)),
        ram_(mem_->GetSpan(kRamBase, kRamSize).value()),
        dev_(MakeItems(), *mem_, core::DevicePlacement{.base = 0x902'0000, .size = 0x18}) {}

  void Step(FuzzReader& in) {
    const Access a = NextAccess(in, f::kRegisterSize);
    switch (a.op & 0xF0) {
      case 0x10: {  // the guest stores a descriptor
        const uint64_t at = a.offset % kRamSize;
        uint8_t d[16];
        StoreBe(d, 4, a.value & 0xFFFF'FFFF);
        // Mostly small lengths and addresses in RAM (where the firmware points), sometimes raw.
        const uint64_t raw = in.U64();
        const bool wild = (a.op & 2) != 0;
        StoreBe(d + 4, 4, wild ? (a.value >> 32) : (a.value >> 32) % 0x1000);
        StoreBe(d + 8, 8, wild ? raw : kRamBase + raw % (kRamSize + 0x20));
        for (size_t i = 0; i < 16 && at + i < kRamSize; ++i) ram_[at + i] = d[i];
        return;
      }
      case 0x20: {  // doorbell
        uint8_t be[8];
        const uint64_t gpa = kRamBase + a.offset % (kRamSize + 0x10) - (a.op & 2 ? 8 : 0);
        StoreBe(be, 8, gpa);
        Dma(gpa, [&] { dev_.Write(f::kDmaOffset, absl::MakeConstSpan(be, 8)); });
        return;
      }
      case 0x30:
        dev_.Reset();
        cursor_known_ = true;
        key_ = f::kSignature;
        item_offset_ = 0;
        dma_high_ = 0;
        return;
      default:
        break;
    }
    if (!InsideWindow(a, f::kRegisterSize)) return;
    if (a.write()) {
      Write(a);
    } else {
      Read(a);
    }
  }

 private:
  void Write(const Access& a) {
    uint8_t bytes[8];
    core::StoreLe(absl::MakeSpan(bytes, a.size), a.value);
    const uint64_t be = LoadBe(bytes, a.size);
    auto write = [&] { dev_.Write(a.offset, absl::MakeConstSpan(bytes, a.size)); };
    if (a.offset == f::kSelectorOffset && a.size == 2) {
      write();
      cursor_known_ = true;
      key_ = static_cast<uint16_t>(be);
      item_offset_ = 0;
    } else if (a.offset == f::kDmaOffset && a.size == 8) {
      Dma(be, write);
    } else if (a.offset == f::kDmaOffset && a.size == 4) {
      write();
      dma_high_ = be << 32;
    } else if (a.offset == f::kDmaOffset + 4 && a.size == 4) {
      Dma(dma_high_ | be, write);
    } else {
      write();  // ignored: nothing may change
    }
  }

  void Read(const Access& a) {
    uint8_t got[8];
    std::fill(got, got + 8, 0xEE);
    dev_.Read(a.offset, absl::MakeSpan(got, a.size));
    uint8_t want[8] = {};
    if (a.offset == f::kDataOffset) {
      if (!cursor_known_) return;
      const hw::FwCfgBlob* item = dev_.items().Find(key_);
      if (item != nullptr && item_offset_ < item->size()) {
        const uint64_t n = std::min<uint64_t>(a.size, item->size() - item_offset_);
        if (!item->ReadAt(item_offset_, absl::MakeSpan(want, n)).ok())
          Fail(__FILE__, __LINE__, "ReadAt");
        item_offset_ += n;
      }
    } else if (a.offset >= f::kDmaOffset && a.offset + a.size <= f::kRegisterSize) {
      for (size_t i = 0; i < a.size; ++i) {
        want[i] =
            static_cast<uint8_t>(f::kDmaSignature >> (8 * (7 - (a.offset - f::kDmaOffset + i))));
      }
    }
    for (size_t i = 0; i < a.size; ++i) {
      FUZZ_CHECK(got[i] == want[i],
                 absl::StrFormat("read of %u bytes at 0x%x, byte %u: %02x, want %02x", a.size,
                                 a.offset, i, got[i], want[i]));
    }
  }

  // Runs `start` (the write that starts a transfer of the descriptor at `gpa`) and checks what
  // it did to RAM.
  template <typename Start>
  void Dma(uint64_t gpa, Start start) {
    const std::vector<uint8_t> before(ram_.begin(), ram_.end());
    auto in_ram = [](uint64_t addr, uint64_t len) {
      return addr >= kRamBase && len <= kRamSize && addr - kRamBase <= kRamSize - len;
    };
    bool read = false;
    uint64_t address = 0, length = 0;
    const bool descriptor_in_ram = in_ram(gpa, f::kDmaDescriptorSize);
    if (descriptor_in_ram) {
      const uint8_t* d = &before[gpa - kRamBase];
      read = (LoadBe(d, 4) & f::kDmaCtlRead) != 0;
      length = LoadBe(d + 4, 4);
      address = LoadBe(d + 8, 8);
    }
    start();
    dma_high_ = 0;
    cursor_known_ = false;  // the transfer moved the cursor; the next select re-arms the model
    bool error = false;
    if (descriptor_in_ram) {
      const uint64_t control = LoadBe(&ram_[gpa - kRamBase], 4);
      FUZZ_CHECK(control == 0 || control == f::kDmaCtlError,
                 absl::StrFormat("control word written back as 0x%x", control));
      error = control != 0;
    }
    for (uint64_t i = 0; i < kRamSize; ++i) {
      if (ram_[i] == before[i]) continue;
      const uint64_t at = kRamBase + i;
      const bool control_word = at >= gpa && at - gpa < 4;
      const bool target =
          descriptor_in_ram && read && !error && at >= address && at - address < length;
      FUZZ_CHECK(control_word || target,
                 absl::StrFormat("DMA of descriptor 0x%x (read %d, 0x%x+0x%x, error %d) changed "
                                 "RAM at 0x%x",
                                 gpa, read, address, length, error, at));
    }
  }

  std::unique_ptr<core::GuestMemory> mem_;
  absl::Span<uint8_t> ram_;
  hw::FwCfg dev_;
  bool cursor_known_ = true;
  uint16_t key_ = f::kSignature;
  uint64_t item_offset_ = 0;
  uint64_t dma_high_ = 0;
};

void Run(const uint8_t* data, size_t size) {
  FuzzReader in(data, size);
  auto mem = core::GuestMemory::Create(kRamBase, kRamSize);
  if (!mem.ok()) Fail(__FILE__, __LINE__, mem.status().ToString());
  // RAM starts with a pattern so that any stray write shows.
  absl::Span<uint8_t> ram = (*mem)->GetSpan(kRamBase, kRamSize).value();
  for (size_t i = 0; i < ram.size(); ++i) ram[i] = static_cast<uint8_t>(0xA5 ^ (i >> 3));
  Harness h(std::move(*mem));
  for (size_t n = 0; n < kMaxAccesses && !in.empty(); ++n) h.Step(in);
}

}  // namespace
}  // namespace vmmd::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vmmd::fuzz::Run(data, size);
  return 0;
}
