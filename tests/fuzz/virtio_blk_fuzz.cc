// A hostile driver against virtio-blk behind the virtio-mmio transport: register accesses
// (any offset and width in and around the window), writes into guest RAM (rings, descriptors,
// request headers and data), and queue notifications served on the calling thread. A 64 KiB
// image in a memfd backs the disk. Input: a stream of operations, each one byte:
//   op % 4 == 0: a register access (fuzz_input.h's Access; op bit 0 = write)
//   op % 4 == 1: write up to 64 input bytes at an input offset of the 64 KiB of RAM
//   op % 4 == 2: serve queue 0 (what a notification does)
//   op % 4 == 3: a correct driver's set-up (features, one 16-entry queue with descriptors at
//                RAM+0, available ring at +0x1000, used ring at +0x2000, DRIVER_OK), so the
//                fuzzer reaches an active device easily
// Invariants: nothing outside guest RAM or the image is touched (ASan); the image keeps its
// size; an inactive device never moves the used index; status never reports DRIVER_OK together
// with a refused FEATURES_OK.
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <memory>

#include "hw/virtio/virtio_mmio.h"
#include "hw/virtio_blk/virtio_blk.h"
#include "tests/fuzz/fuzz_input.h"

namespace vmmd::fuzz {
namespace {

namespace v = hw::virtio;
constexpr uint64_t kBase = 0x4000'0000;
constexpr uint64_t kRam = 64 * 1024;
constexpr off_t kImage = 64 * 1024;

class NoIrq : public core::IrqLine {
 public:
  void SetLevel(bool) override {}
};

void Reg(v::VirtioMmio& t, uint64_t offset, uint32_t value) { DeviceWrite(t, offset, 4, value); }

void SetUp(v::VirtioMmio& t) {
  namespace m = v::mmio;
  Reg(t, m::kStatus, 0);
  Reg(t, m::kStatus, 3);
  Reg(t, m::kDriverFeaturesSel, 0);
  Reg(t, m::kDriverFeatures,
      static_cast<uint32_t>(v::kFeatureEventIdx | v::kFeatureIndirectDesc | v::blk::kFeatureFlush));
  Reg(t, m::kDriverFeaturesSel, 1);
  Reg(t, m::kDriverFeatures, 1);
  Reg(t, m::kStatus, 11);
  Reg(t, m::kQueueSel, 0);
  Reg(t, m::kQueueNum, 16);
  Reg(t, m::kQueueDescLow, static_cast<uint32_t>(kBase));
  Reg(t, m::kQueueDriverLow, static_cast<uint32_t>(kBase + 0x1000));
  Reg(t, m::kQueueDeviceLow, static_cast<uint32_t>(kBase + 0x2000));
  Reg(t, m::kQueueReady, 1);
  Reg(t, m::kStatus, 15);
}

void Run(const uint8_t* data, size_t size) {
  static std::unique_ptr<core::GuestMemory> memory = [] {
    auto m = core::GuestMemory::Create(kBase, kRam);
    return m.ok() ? *std::move(m) : nullptr;
  }();
  FUZZ_CHECK(memory != nullptr, "guest RAM");
  auto* ram = static_cast<uint8_t*>(memory->host_base());
  std::fill(ram, ram + kRam, 0);
  ScopedFd image(memfd_create("virtio-blk-fuzz", MFD_CLOEXEC));
  FUZZ_CHECK(image.valid() && ftruncate(image.get(), kImage) == 0, "the image");
  const int image_fd = image.get();
  auto block = v::VirtioBlock::Create(std::move(image), memory.get(), {.serial = "fuzz"});
  FUZZ_CHECK(block.ok(), block.status().ToString());
  NoIrq irq;
  auto transport = v::VirtioMmio::Create(*std::move(block), memory.get(), &irq,
                                         {.base = 0x0a00'0000, .size = 0x200, .spi = 16}, 0);
  FUZZ_CHECK(transport.ok(), transport.status().ToString());
  v::VirtioMmio& t = **transport;

  FuzzReader in(data, size);
  for (int ops = 0; ops < 512 && !in.empty(); ++ops) {
    const uint8_t op = in.U8();
    switch (op % 4) {
      case 0:
        AnyAccess(in, t, v::mmio::kWindowSize);
        break;
      case 1:
        PokeRam(in, ram, kRam);
        break;
      case 2: {
        const uint32_t status = static_cast<uint32_t>(DeviceRead(t, v::mmio::kStatus, 4));
        const uint16_t used = *memory->ReadObj<uint16_t>(kBase + 0x2000 + 2);
        t.ServeQueue(0);
        const bool active =
            (status & v::mmio::kStatusDriverOk) != 0 && (status & v::mmio::kStatusNeedsReset) == 0;
        if (!active) {
          FUZZ_CHECK(*memory->ReadObj<uint16_t>(kBase + 0x2000 + 2) == used,
                     "an inactive device returned buffers");
        }
        break;
      }
      case 3:
        SetUp(t);
        break;
    }
    const uint32_t status = static_cast<uint32_t>(DeviceRead(t, v::mmio::kStatus, 4));
    if ((status & v::mmio::kStatusDriverOk) != 0) {
      FUZZ_CHECK(
          (status & v::mmio::kStatusFeaturesOk) != 0 || (status & v::mmio::kStatusNeedsReset) != 0,
          "DRIVER_OK without FEATURES_OK");
    }
  }
  struct stat st {};
  FUZZ_CHECK(fstat(image_fd, &st) == 0 && st.st_size == kImage, "the image kept its size");
}

}  // namespace
}  // namespace vmmd::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vmmd::fuzz::Run(data, size);
  return 0;
}
