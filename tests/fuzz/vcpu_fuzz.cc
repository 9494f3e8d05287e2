// PSCI decoding and the vCPU lifecycle (core/vcpu), driven by random event sequences. The first
// input byte picks the half:
//  - even: the pure state machine. Four vCPUs (the first `boot` of them boot vCPUs) receive
//    events (fuzz_input.h accesses: op picks the vCPU and the event, value the _OST codes and
//    the time step). Invariants (vcpu_state.h): boot vCPUs are only ONLINE or OFFLINE; ONLINE
//    means powered, PARKED / ENABLING / ENABLED / OFFLINE unpowered; `since` is when the state
//    was entered; a refusal is FAILED_PRECONDITION naming the event and the state, and
//    CpuOnVerdict agrees with NextVcpuLife.
//  - odd: the VcpuManager on the fake hypervisor, vCPU 0 started: the guest's PSCI calls as
//    hypercall exits on running vCPUs (CPU_ON 64/32-bit, CPU_OFF, anything else), ScaleVCPUs
//    requests and the hotplug handshake (the backend calls the AML makes). Invariants: x0
//    after CPU_ON is the verdict the snapshot predicts, any other function answers
//    NOT_SUPPORTED, and the snapshot keeps the state/power rules above.
#include <cstdint>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "core/vcpu/psci.h"
#include "core/vcpu/vcpu_state.h"
#include "tests/fuzz/fake_vcpus.h"
#include "tests/fuzz/fuzz_input.h"

namespace vmmd::fuzz {
namespace {

using core::VcpuEvent;
using core::VcpuLife;
using core::VcpuState;
namespace psci = core::psci;

constexpr size_t kMaxSteps = 64;
constexpr size_t kMaxManagerSteps = 24;
constexpr absl::Duration kWait = absl::Seconds(20);

void CheckLife(const VcpuLife& l, const char* where) {
  if (l.boot) {
    FUZZ_CHECK(l.state == VcpuState::kOnline || l.state == VcpuState::kOffline,
               absl::StrFormat("%s: boot vCPU in %s", where, core::VcpuStateName(l.state)));
  }
  if (l.state == VcpuState::kOnline) FUZZ_CHECK(l.powered, where);
  if (l.state == VcpuState::kParked || l.state == VcpuState::kEnabling ||
      l.state == VcpuState::kEnabled || l.state == VcpuState::kOffline) {
    FUZZ_CHECK(!l.powered,
               absl::StrFormat("%s: powered in %s", where, core::VcpuStateName(l.state)));
  }
}

void RunStateMachine(FuzzReader& in) {
  const uint32_t boot = 1 + in.U8() % 4;
  absl::Time now = absl::UnixEpoch() + absl::Hours(1);
  std::vector<VcpuLife> lives;
  for (uint32_t i = 0; i < 4; ++i) lives.push_back(core::InitialVcpuLife(i < boot, now));
  uint64_t generation = 0;
  for (size_t n = 0; n < kMaxSteps && !in.empty(); ++n) {
    const Access a = NextAccess(in, 0);
    VcpuLife& life = lives[a.op & 3];
    const auto event = static_cast<VcpuEvent>((a.op >> 2) % 10);
    now += absl::Milliseconds(a.size * (a.value >> 48));
    core::VcpuInput input{.event = event, .now = now};
    if (event == VcpuEvent::kPlug || event == VcpuEvent::kUnplug) input.generation = ++generation;
    if (event == VcpuEvent::kOst) {
      // Mostly the codes Linux sends, sometimes anything.
      static constexpr uint32_t kEvents[] = {core::kOstDeviceCheck, core::kOstEjectRequest,
                                             core::kOstEjectProcessing};
      input.ost_event =
          (a.value & 0x80) ? static_cast<uint32_t>(a.value >> 8) : kEvents[a.value % 3];
      input.ost_status = (a.value & 0x40) ? static_cast<uint32_t>(a.value >> 40)
                                          : static_cast<uint32_t>((a.value >> 8) & 1) * 0x80;
    }
    if (event == VcpuEvent::kCpuOn) {
      const psci::Return verdict = psci::CpuOnVerdict(0, &life);
      const bool allowed = core::NextVcpuLife(life, input).ok();
      FUZZ_CHECK((verdict == psci::Return::kSuccess) == allowed, "CpuOnVerdict agrees");
      FUZZ_CHECK(verdict != psci::Return::kAlreadyOn || life.powered, "ALREADY_ON only when on");
    }
    absl::StatusOr<VcpuLife> next = core::NextVcpuLife(life, input);
    if (!next.ok()) {
      FUZZ_CHECK(next.status().code() == absl::StatusCode::kFailedPrecondition,
                 next.status().ToString());
      const std::string prefix =
          absl::StrFormat("vCPU event %s not allowed in state %s: ", core::VcpuEventName(event),
                          core::VcpuStateName(life.state));
      FUZZ_CHECK(absl::StartsWith(next.status().message(), prefix), next.status().ToString());
      continue;
    }
    FUZZ_CHECK(next->boot == life.boot, "boot is permanent");
    FUZZ_CHECK(next->since == (next->state != life.state ? now : life.since),
               "since is when the state was entered");
    if (event != VcpuEvent::kPlug && event != VcpuEvent::kUnplug) {
      FUZZ_CHECK(next->generation == life.generation, "only requests set the generation");
    }
    life = *next;
    CheckLife(life, core::VcpuEventName(event).data());
    FUZZ_CHECK(core::Plugged(life) == (life.boot || (life.state != VcpuState::kParked &&
                                                     life.state != VcpuState::kRemoving)),
               "Plugged");
  }
}

// PSCI CPU_ON: the answer the snapshot predicts (psci.h, CpuOnVerdict).
psci::Return Predict(const std::vector<core::VcpuInfo>& snap, uint64_t mpidr) {
  if ((mpidr & ~psci::kMpidrAffinityMask) != 0) return psci::Return::kInvalidParams;
  for (const core::VcpuInfo& v : snap) {
    if ((v.mpidr & psci::kMpidrAffinityMask) != mpidr) continue;
    if (v.power == core::PsciPower::kOn) return psci::Return::kAlreadyOn;
    if (v.state == VcpuState::kEnabling || v.state == VcpuState::kEnabled ||
        v.state == VcpuState::kOffline) {
      return psci::Return::kSuccess;
    }
    return psci::Return::kDenied;
  }
  return psci::Return::kInvalidParams;
}

void RunManager(FuzzReader& in) {
  constexpr uint32_t kPossible = 4;
  FakeVcpus vcpus(kPossible, 2);
  core::VcpuManager& mgr = *vcpus.mgr;
  if (!mgr.StartBootVcpu(0x4020'0000, 0).ok()) Fail(__FILE__, __LINE__, "StartBootVcpu");
  std::vector<uint64_t> runs_at_start(kPossible, 0);  // run count when the thread was started
  auto wait_running = [&](uint32_t id) {
    FUZZ_CHECK(vcpus.record->vcpu(id)->WaitForRunCount(runs_at_start[id] + 1, kWait),
               absl::StrFormat("vCPU %u never ran", id));
  };
  wait_running(0);
  for (size_t n = 0; n < kMaxManagerSteps && !in.empty(); ++n) {
    const Access a = NextAccess(in, 0);
    std::vector<core::VcpuInfo> snap = mgr.Snapshot();
    const uint32_t id = (a.op >> 1) % kPossible;
    switch ((a.op >> 3) % 6) {
      case 0:
      case 1: {  // the guest on vCPU `id` makes a PSCI call
        if (snap[id].power != core::PsciPower::kOn) break;
        const uint32_t target = static_cast<uint32_t>(a.value) % kPossible;
        uint32_t fn = (a.op & 1) ? psci::kFnCpuOn32 : psci::kFnCpuOn64;
        if ((a.value & 0x300) == 0x300) fn = static_cast<uint32_t>(a.value >> 32);
        uint64_t x1 = testing::FakeMpidr(target) & psci::kMpidrAffinityMask;
        if ((a.value & 0xC00) == 0xC00) x1 = a.value;  // any MPIDR, affinity or not
        std::vector<uint64_t> counts(kPossible);
        for (uint32_t i = 0; i < kPossible; ++i) counts[i] = vcpus.record->vcpu(i)->run_count();
        auto v = vcpus.record->vcpu(id);
        const uint64_t runs = v->run_count();
        const psci::Call call = psci::Classify(fn);
        const psci::CpuOnArgs args = psci::DecodeCpuOn(fn, x1, 0x4030'0000, 7);
        const psci::Return want = Predict(snap, args.target_mpidr);
        if (call == psci::Call::kCpuOff) break;  // CPU_OFF has its own step
        v->PushExit(testing::ScriptedExit{
            core::HypercallExit{fn, false},
            {{core::Reg::kX1, x1}, {core::Reg::kX2, 0x4030'0000}, {core::Reg::kX3, 7}}});
        FUZZ_CHECK(v->WaitForRunCount(runs + 1, kWait), "the call was handled");
        const uint64_t x0 = v->reg(core::Reg::kX0);
        if (call == psci::Call::kCpuOn) {
          FUZZ_CHECK(x0 == psci::EncodeReturn(want),
                     absl::StrFormat("CPU_ON 0x%x of 0x%x from vCPU %u: x0 0x%x, predicted %s", fn,
                                     x1, id, x0, psci::ReturnName(want)));
          if (want == psci::Return::kSuccess) {
            const uint32_t started = [&] {
              for (uint32_t i = 0; i < kPossible; ++i) {
                if ((snap[i].mpidr & psci::kMpidrAffinityMask) == args.target_mpidr) return i;
              }
              return kPossible;
            }();
            FUZZ_CHECK(started < kPossible, "a SUCCESS names a vCPU");
            runs_at_start[started] = counts[started];
            wait_running(started);
          }
        } else {
          FUZZ_CHECK(x0 == psci::EncodeReturn(psci::Return::kNotSupported),
                     absl::StrFormat("function 0x%x: x0 0x%x", fn, x0));
        }
        break;
      }
      case 2: {  // the guest offlines vCPU `id` (CPU_OFF on its own thread)
        if (snap[id].power != core::PsciPower::kOn) break;
        auto v = vcpus.record->vcpu(id);
        v->PushExit(testing::ScriptedExit{core::HypercallExit{psci::kFnCpuOff, false}, {}});
        FUZZ_CHECK(v->WaitForMpState(core::MpState::kStopped, kWait), "CPU_OFF stopped the vCPU");
        const absl::Time deadline = absl::Now() + kWait;
        while (mgr.Snapshot()[id].power != core::PsciPower::kOff) {
          FUZZ_CHECK(absl::Now() < deadline, "CPU_OFF powered the vCPU off");
          absl::SleepFor(absl::Microseconds(50));
        }
        break;
      }
      case 3: {  // ScaleVCPUs
        absl::StatusOr<core::ScalePlan> plan = mgr.Scale(static_cast<uint32_t>(a.value % 6));
        const absl::StatusCode code = plan.status().code();
        FUZZ_CHECK(code == absl::StatusCode::kOk || code == absl::StatusCode::kInvalidArgument ||
                       code == absl::StatusCode::kUnavailable,
                   plan.status().ToString());
        break;
      }
      case 4:  // the guest's scan takes the events
        mgr.AckInsert(id);
        mgr.AckRemove(id);
        break;
      case 5:  // _OST, or _EJ0
        if (a.value & 1) {
          mgr.Eject(id);
        } else {
          mgr.Ost(id, (a.value & 2) ? core::kOstDeviceCheck : core::kOstEjectProcessing,
                  (a.value & 4) ? 0x80 : 0);
        }
        break;
    }
    snap = mgr.Snapshot();
    uint32_t online = 0;
    for (const core::VcpuInfo& v : snap) {
      VcpuLife l;
      l.state = v.state;
      l.boot = v.boot;
      l.powered = v.power == core::PsciPower::kOn;
      CheckLife(l, "manager");
      online += v.state == VcpuState::kOnline ? 1 : 0;
    }
    FUZZ_CHECK(mgr.OnlineCount() == online, "OnlineCount agrees with the snapshot");
  }
}

}  // namespace
}  // namespace vmmd::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vmmd::fuzz::FuzzReader in(data, size);
  if (in.U8() % 2 == 0) {
    vmmd::fuzz::RunStateMachine(in);
  } else {
    vmmd::fuzz::RunManager(in);
  }
  return 0;
}
