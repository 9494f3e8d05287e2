// The CPU-hotplug register block (hw/cpu_hotplug) over the real VcpuManager on the fake
// hypervisor: the guest's AML accesses (selector, control, command, _OST data) of every size and
// offset, interleaved with ScaleVCPUs requests. Input: 2 bytes of shape (possible vCPUs 1-8,
// boot vCPUs), then a sequence of accesses (fuzz_input.h); op & 0xF0 == 0x10 is Scale(value mod
// (possible + 1)), anything else an MMIO access over the 12-byte block. Invariants
// (cpu_hotplug_regs.h, cpu_hotplug_backend.h), against a model of selector and command:
//  - every read returns the bytes of the 12-byte image the model and the backend's Status give
//    (0 with an invalid selector or a read over 4 bytes);
//  - GET_NEXT_CPU_WITH_EVENT selects the first vCPU at or after the selector with an event;
//  - clearing an event clears it; boot vCPUs stay enabled whatever the guest writes;
//  - the block's status agrees with the manager's snapshot (acpi_enabled).
#include <array>
#include <cstdint>

#include "absl/strings/str_format.h"
#include "hw/cpu_hotplug/cpu_hotplug.h"
#include "tests/fuzz/fake_vcpus.h"
#include "tests/fuzz/fuzz_input.h"

namespace vmmd::fuzz {
namespace {

namespace c = hw::cpu_hotplug;
constexpr size_t kMaxAccesses = 64;

void Run(const uint8_t* data, size_t size) {
  FuzzReader in(data, size);
  const uint32_t possible = 1 + in.U8() % 8;
  const uint32_t boot = 1 + in.U8() % possible;
  FakeVcpus vcpus(possible, boot);
  core::VcpuManager& mgr = *vcpus.mgr;
  hw::CpuHotplug dev(&mgr, core::DevicePlacement{.base = 0x90C'0000, .size = c::kBlockSize});
  uint32_t selector = 0;
  uint8_t command = c::kCmdGetNextCpuWithEvent;

  for (size_t n = 0; n < kMaxAccesses && !in.empty(); ++n) {
    const Access a = NextAccess(in, c::kBlockSize);
    if ((a.op & 0xF0) == 0x10) {
      const auto target = static_cast<uint32_t>(a.value % (possible + 1));
      absl::StatusOr<core::ScalePlan> plan = mgr.Scale(target);
      const absl::StatusCode code = plan.status().code();
      FUZZ_CHECK(code == absl::StatusCode::kOk || code == absl::StatusCode::kInvalidArgument ||
                     code == absl::StatusCode::kUnavailable,
                 plan.status().ToString());
      FUZZ_CHECK(plan.ok() == (target >= boot) || code == absl::StatusCode::kUnavailable,
                 absl::StrFormat("Scale(%u) with %u boot vCPUs: %s", target, boot,
                                 plan.status().ToString()));
    } else if (InsideWindow(a, c::kBlockSize)) {
      const bool valid = selector < possible;
      if (a.write()) {
        const bool taken = a.size <= 4;
        const auto value =
            static_cast<uint32_t>(a.size >= 4 ? a.value : a.value & ((1u << (8 * a.size)) - 1));
        DeviceWrite(dev, a.offset, a.size, a.value);
        if (taken && a.offset == c::kSelectorOffset) {
          selector = value;
        } else if (taken && valid && a.offset == c::kStatusOffset) {
          const core::CpuHotplugStatus s = mgr.Status(selector);
          if (value & c::kControlClearInsert) {
            FUZZ_CHECK(!s.insert_pending, "the insert event was cleared");
          } else if (value & c::kControlClearRemove) {
            FUZZ_CHECK(!s.remove_pending, "the remove event was cleared");
          }
        } else if (taken && valid && a.offset == c::kCommandOffset) {
          // What the command would select, from the status before the write.
          command = static_cast<uint8_t>(value);
          if (command == c::kCmdGetNextCpuWithEvent) {
            for (uint32_t i = 0; i < possible; ++i) {
              const uint32_t cpu = (selector + i) % possible;
              const core::CpuHotplugStatus s = mgr.Status(cpu);
              if (s.insert_pending || s.remove_pending) {
                selector = cpu;
                break;
              }
            }
          }
        }
      } else {
        std::array<uint8_t, c::kBlockSize> image{};
        if (valid && a.size <= 4) {
          const core::CpuHotplugStatus s = mgr.Status(selector);
          image[c::kStatusOffset] =
              static_cast<uint8_t>(c::kStatusPresent | (s.enabled ? c::kStatusEnabled : 0) |
                                   (s.insert_pending ? c::kStatusInsert : 0) |
                                   (s.remove_pending ? c::kStatusRemove : 0));
          uint64_t value = 0;
          if (command == c::kCmdGetNextCpuWithEvent) value = selector;
          if (command == c::kCmdGetCpuId) value = mgr.ArchId(selector);
          core::StoreLe(absl::MakeSpan(image).subspan(c::kDataOffset, 4), value);
          core::StoreLe(absl::MakeSpan(image).subspan(c::kSelectorOffset, 4), value >> 32);
        }
        const uint64_t got = DeviceRead(dev, a.offset, a.size);
        for (size_t i = 0; i < a.size; ++i) {
          const uint8_t want = a.offset + i < c::kBlockSize ? image[a.offset + i] : 0;
          FUZZ_CHECK(static_cast<uint8_t>(got >> (8 * i)) == want,
                     absl::StrFormat("read of %u bytes at %u (selector %u, command %u): 0x%x",
                                     a.size, a.offset, selector, command, got));
        }
      }
    }
    const std::vector<core::VcpuInfo> snapshot = mgr.Snapshot();
    uint32_t plugged = 0;
    for (uint32_t cpu = 0; cpu < possible; ++cpu) {
      const core::CpuHotplugStatus s = mgr.Status(cpu);
      FUZZ_CHECK(s.enabled == snapshot[cpu].acpi_enabled, absl::StrFormat("vCPU %u enabled", cpu));
      if (cpu < boot) {
        FUZZ_CHECK(s.enabled && !s.insert_pending && !s.remove_pending,
                   absl::StrFormat("boot vCPU %u is permanent", cpu));
      }
      const core::VcpuState st = snapshot[cpu].state;
      if (cpu < boot || (st != core::VcpuState::kParked && st != core::VcpuState::kRemoving)) {
        ++plugged;
      }
    }
    FUZZ_CHECK(mgr.PluggedCount() == plugged, "PluggedCount agrees with the snapshot");
  }
}

}  // namespace
}  // namespace vmmd::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vmmd::fuzz::Run(data, size);
  return 0;
}
