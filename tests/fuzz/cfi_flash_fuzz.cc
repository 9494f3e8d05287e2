// CFI flash (hw/flash): a guest's command streams against a variable-store bank with the memslot
// hook installed, and against a read-only code bank. Input: 1 byte of initial fill, then a
// sequence of accesses (fuzz_input.h); op bit 1 picks the code bank. Invariants:
//  - the array changes only while the read-only memslot is removed (cfi_flash.h, "the memslot
//    protocol"): while the hook has it mapped, the bank's buffer is mprotect'ed read-only, so a
//    write under the slot faults at the very store (ASan reports the SEGV with its stack);
//  - the slot is mapped exactly when the bank is in read-array mode (hooks never fail here);
//  - a read shows the array in read-array mode and the status word in status mode;
//  - the code bank never changes (its buffer is read-only throughout) and always reads its array.
#include <sys/mman.h>

#include <cstdint>
#include <cstring>
#include <memory>

#include "absl/strings/str_format.h"
#include "hw/flash/cfi_flash.h"
#include "tests/fuzz/fuzz_input.h"

namespace vmmd::fuzz {
namespace {

constexpr uint64_t kBank = 2 * hw::cfi::kSectorSize;  // two erase blocks
constexpr size_t kMaxAccesses = 64;

std::unique_ptr<hw::CfiFlash> MakeBank(bool read_only, uint8_t fill) {
  auto storage = hw::FlashStorage::CreateVolatile(kBank, fill);
  if (!storage.ok()) Fail(__FILE__, __LINE__, storage.status().ToString());
  return std::make_unique<hw::CfiFlash>(
      std::move(*storage), core::DevicePlacement{.base = 0x400'0000, .size = kBank}, read_only);
}

void Protect(hw::CfiFlash& bank, bool read_only) {
  if (::mprotect(bank.data(), bank.size(), read_only ? PROT_READ : PROT_READ | PROT_WRITE) != 0) {
    Fail(__FILE__, __LINE__, "mprotect");
  }
}

// The banks live across runs (creating 1 MiB of fresh pages per run would dominate the time);
// each run starts them from reset with the variable store refilled.
struct Banks {
  std::unique_ptr<hw::CfiFlash> vars = MakeBank(false, 0xFF);
  std::unique_ptr<hw::CfiFlash> code = MakeBank(true, 0x5A);
  Banks() { Protect(*code, true); }
};

void Run(const uint8_t* data, size_t size) {
  static Banks* banks = new Banks();  // NOLINT: lives for the process
  FuzzReader in(data, size);
  hw::CfiFlash* vars = banks->vars.get();
  hw::CfiFlash* code = banks->code.get();
  if (!vars->EnableDirectReads(nullptr).ok()) Fail(__FILE__, __LINE__, "EnableDirectReads");
  Protect(*vars, false);
  std::memset(vars->data(), in.U8(), vars->size());
  vars->Reset();
  code->Reset();
  const hw::CfiFlash::Stats vars_before = vars->GetStats();
  const hw::CfiFlash::Stats code_before = code->GetStats();

  bool mapped = false;
  auto hook = [&](bool map) {
    Protect(*vars, map);  // what KVM maps, nobody may write
    mapped = map;
    return absl::OkStatus();
  };
  if (!vars->EnableDirectReads(hook).ok()) Fail(__FILE__, __LINE__, "EnableDirectReads");
  FUZZ_CHECK(mapped, "a fresh bank is in read-array mode, so it is mapped");

  for (size_t n = 0; n < kMaxAccesses && !in.empty(); ++n) {
    const Access a = NextAccess(in, kBank);
    if (!InsideWindow(a, kBank)) continue;
    hw::CfiFlash& dev = (a.op & 2) ? *code : *vars;
    if (a.write()) {
      DeviceWrite(dev, a.offset, a.size, a.value);
    } else {
      const hw::cfi::ReadMode mode = dev.read_mode();
      const uint8_t status = dev.status();
      const uint64_t got = DeviceRead(dev, a.offset, a.size);
      for (size_t i = 0; i < a.size; ++i) {
        const uint64_t at = a.offset + i;
        const auto byte = static_cast<uint8_t>(got >> (8 * i));
        if (dev.read_only() || mode == hw::cfi::ReadMode::kArray) {
          FUZZ_CHECK(byte == dev.data()[at], absl::StrFormat("array read at 0x%x", at));
        } else if (mode == hw::cfi::ReadMode::kStatus) {
          const uint8_t want = (at % 2) != 0 ? 0 : status;
          FUZZ_CHECK(byte == want, absl::StrFormat("status read at 0x%x: %x", at, byte));
        }
      }
    }
    FUZZ_CHECK(mapped == (vars->read_mode() == hw::cfi::ReadMode::kArray),
               "the slot is mapped exactly in read-array mode");
    FUZZ_CHECK(code->read_mode() == hw::cfi::ReadMode::kArray, "the code bank left read-array");
  }
  const hw::CfiFlash::Stats stats = vars->GetStats();
  FUZZ_CHECK(stats.map_errors == 0 && stats.persist_errors == 0, "no hook or persist errors");
  FUZZ_CHECK(code->GetStats().ignored_writes == code->GetStats().writes,
             "code bank writes ignored");
}

}  // namespace
}  // namespace vmmd::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vmmd::fuzz::Run(data, size);
  return 0;
}
