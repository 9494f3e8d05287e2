// The vCPU state machine as a table: (state, power, step) x event -> next or refusal, for
// hot-pluggable and boot vCPUs; then what every transition records, and invariants that hold
// for every reachable life and every event.
#include "core/vcpu/vcpu_state.h"

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace vmmd::core {
namespace {

using ::testing::HasSubstr;
using ::vmmd::testing::StatusIs;
using S = VcpuState;
using E = VcpuEvent;
using St = VcpuStep;

// The part of a life the table is about.
struct Shape {
  S state;
  bool powered;
  St step;
};

std::string Describe(const Shape& s) {
  return absl::StrFormat("%s/%s/%s", VcpuStateName(s.state), s.powered ? "on" : "off",
                         VcpuStepName(s.step));
}

VcpuLife LifeOf(const Shape& s, bool boot = false) {
  VcpuLife life;
  life.state = s.state;
  life.powered = s.powered;
  life.step = s.step;
  life.boot = boot;
  return life;
}

struct Row {
  Shape from;
  E event;
  std::optional<Shape> to;  // nullopt: refused
  std::string refusal = "";
  uint32_t ost_event = 0;
  uint32_t ost_status = 0;
};

void RunTable(const std::vector<Row>& rows, bool boot) {
  for (const Row& r : rows) {
    SCOPED_TRACE(absl::StrFormat("%s %s(0x%x, 0x%x)", Describe(r.from), VcpuEventName(r.event),
                                 r.ost_event, r.ost_status));
    const absl::StatusOr<VcpuLife> next =
        NextVcpuLife(LifeOf(r.from, boot), {.event = r.event,
                                            .now = absl::FromUnixSeconds(100),
                                            .generation = 7,
                                            .ost_event = r.ost_event,
                                            .ost_status = r.ost_status});
    if (!r.to.has_value()) {
      EXPECT_THAT(next, StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr(r.refusal)));
      continue;
    }
    ASSERT_TRUE(next.ok()) << next.status();
    EXPECT_EQ(Describe({next->state, next->powered, next->step}), Describe(*r.to));
    EXPECT_EQ(next->boot, boot);
  }
}

TEST(VcpuStateTest, HotPluggableVcpuTable) {
  const Shape parked{S::kParked, false, St::kNone};
  const Shape offered{S::kEnabling, false, St::kOffered};
  const Shape taken{S::kEnabling, false, St::kTaken};
  const Shape unsupported{S::kEnabling, false, St::kUnsupported};
  const Shape add_refused{S::kEnabling, false, St::kRefused};
  const Shape enabled{S::kEnabled, false, St::kRegistered};
  const Shape online{S::kOnline, true, St::kRegistered};
  const Shape offline{S::kOffline, false, St::kRegistered};
  const Shape eject_on{S::kRemoving, true, St::kEjectRequested};
  const Shape eject_off{S::kRemoving, false, St::kEjectRequested};
  const Shape ejecting_on{S::kRemoving, true, St::kEjectTaken};
  const Shape ejecting_off{S::kRemoving, false, St::kEjectTaken};
  const Shape eject_refused{S::kRemoving, false, St::kRefused};
  const Shape insert_seen{S::kEnabling, false, St::kInsertSeen};
  const Shape eject_seen_on{S::kRemoving, true, St::kEjectSeen};
  const Shape eject_seen_off{S::kRemoving, false, St::kEjectSeen};
  // clang-format off
  RunTable({
      // API: Plug is idempotent; it withdraws a removal the guest has not taken.
      {parked, E::kPlug, offered},
      {offered, E::kPlug, offered},
      {taken, E::kPlug, taken},
      {enabled, E::kPlug, enabled},
      {online, E::kPlug, online},
      {offline, E::kPlug, offline},
      {eject_on, E::kPlug, Shape{S::kOnline, true, St::kNone}},
      {eject_off, E::kPlug, Shape{S::kOffline, false, St::kNone}},
      {eject_seen_on, E::kPlug, std::nullopt, "carrying out the removal"},
      {eject_seen_off, E::kPlug, std::nullopt, "carrying out the removal"},
      {insert_seen, E::kPlug, insert_seen},
      {ejecting_on, E::kPlug, std::nullopt, "carrying out the removal"},
      {eject_refused, E::kPlug, std::nullopt, "carrying out the removal"},
      // API: Unplug withdraws an offer not taken (or that the guest cannot take); anything the
      // guest may hold is ejected.
      {parked, E::kUnplug, parked},
      {offered, E::kUnplug, parked},
      {unsupported, E::kUnplug, parked},
      {insert_seen, E::kUnplug, eject_off},
      {eject_seen_on, E::kUnplug, eject_seen_on},
      {taken, E::kUnplug, eject_off},
      {add_refused, E::kUnplug, eject_off},
      {enabled, E::kUnplug, eject_off},
      {online, E::kUnplug, eject_on},
      {offline, E::kUnplug, eject_off},
      {ejecting_on, E::kUnplug, ejecting_on},
      // Guest: the scan takes the events; stray acknowledgements change nothing.
      {offered, E::kInsertTaken, taken},
      {taken, E::kInsertTaken, taken},
      {parked, E::kInsertTaken, parked},
      {Shape{S::kOnline, true, St::kOffered}, E::kInsertTaken, Shape{S::kOnline, true, St::kTaken}},
      {eject_on, E::kRemoveTaken, ejecting_on},
      {online, E::kRemoveTaken, online},
      {offered, E::kRemoveTaken, offered},
      // Guest: reading a pending event makes it seen (no longer withdrawable); the clear that
      // follows takes it; reading anything else changes nothing.
      {offered, E::kStatusRead, insert_seen},
      {insert_seen, E::kStatusRead, insert_seen},
      {insert_seen, E::kInsertTaken, taken},
      {eject_on, E::kStatusRead, eject_seen_on},
      {eject_seen_on, E::kStatusRead, eject_seen_on},
      {eject_seen_on, E::kRemoveTaken, ejecting_on},
      {taken, E::kStatusRead, taken},
      {online, E::kStatusRead, online},
      {parked, E::kStatusRead, parked},
      {ejecting_on, E::kStatusRead, ejecting_on},
      {insert_seen, E::kOst, enabled, "", kOstDeviceCheck, kOstSuccess},
      {eject_seen_off, E::kEjected, parked},
      // Guest: _OST. Device Check success registers the CPU (late too); failures refuse a
      // change in flight; "eject in progress" (0x84) and stray reports change nothing.
      {taken, E::kOst, enabled, "", kOstDeviceCheck, kOstSuccess},
      {offered, E::kOst, enabled, "", kOstDeviceCheck, kOstSuccess},
      {unsupported, E::kOst, enabled, "", kOstDeviceCheck, kOstSuccess},
      {Shape{S::kOnline, true, St::kTaken}, E::kOst, online, "", kOstDeviceCheck, kOstSuccess},
      {enabled, E::kOst, enabled, "", kOstDeviceCheck, kOstSuccess},
      {parked, E::kOst, parked, "", kOstDeviceCheck, kOstSuccess},
      {taken, E::kOst, add_refused, "", kOstDeviceCheck, 1},
      {taken, E::kOst, add_refused, "", kOstDeviceCheck, 0x82},
      {ejecting_off, E::kOst, ejecting_off, "", kOstEjectProcessing, 0x84},
      {ejecting_off, E::kOst, ejecting_off, "", kOstEjectProcessing, kOstSuccess},
      {ejecting_off, E::kOst, eject_refused, "", kOstEjectProcessing, 0x81},
      {ejecting_off, E::kOst, eject_refused, "", kOstEjectRequest, 0x80},
      {online, E::kOst, online, "", 0x200, 2},  // nothing in flight: recorded only
      {parked, E::kOst, parked, "", kOstDeviceCheck, 1},
      // Guest: PSCI CPU_ON / CPU_OFF.
      {taken, E::kCpuOn, Shape{S::kOnline, true, St::kTaken}},
      {unsupported, E::kCpuOn, Shape{S::kOnline, true, St::kTaken}},
      {enabled, E::kCpuOn, online},
      {offline, E::kCpuOn, online},
      {online, E::kCpuOn, std::nullopt, "already on"},
      {parked, E::kCpuOn, std::nullopt, "not enabled"},
      {ejecting_off, E::kCpuOn, std::nullopt, "being removed"},
      {eject_on, E::kCpuOn, std::nullopt, "already on"},
      {online, E::kCpuOff, offline},
      {ejecting_on, E::kCpuOff, ejecting_off},
      {offline, E::kCpuOff, std::nullopt, "not on"},
      {parked, E::kCpuOff, std::nullopt, "not on"},
      // Guest: _EJ0 completes a removal of a powered-off vCPU, nothing else.
      {ejecting_off, E::kEjected, parked},
      {eject_off, E::kEjected, parked},
      {ejecting_on, E::kEjected, std::nullopt, "still powered on"},
      {parked, E::kEjected, std::nullopt, "no removal"},
      {offered, E::kEjected, std::nullopt, "no removal"},
      {enabled, E::kEjected, std::nullopt, "no removal"},
      {online, E::kEjected, std::nullopt, "no removal"},
      {offline, E::kEjected, std::nullopt, "no removal"},
      // vmmd: the registration grace ran out for a taken hot-add only.
      {taken, E::kGraceExpired, unsupported},
      {offered, E::kGraceExpired, offered},
      {enabled, E::kGraceExpired, enabled},
  }, /*boot=*/false);
  // clang-format on
}

TEST(VcpuStateTest, BootVcpuTable) {
  const Shape off{S::kOffline, false, St::kNone};
  const Shape on{S::kOnline, true, St::kNone};
  // clang-format off
  RunTable({
      {off, E::kCpuOn, on},
      {on, E::kCpuOff, off},
      {on, E::kCpuOn, std::nullopt, "already on"},
      {off, E::kCpuOff, std::nullopt, "not on"},
      {on, E::kPlug, on},
      {on, E::kInsertTaken, on},
      {on, E::kRemoveTaken, on},
      {on, E::kGraceExpired, on},
      {on, E::kStatusRead, on},
      {on, E::kOst, on, "", kOstDeviceCheck, 1},
      {on, E::kUnplug, std::nullopt, "boot vCPUs are permanent"},
      {off, E::kEjected, std::nullopt, "boot vCPUs are permanent"},
  }, /*boot=*/true);
  // clang-format on
}

TEST(VcpuStateTest, TransitionsRecordWhenAndWhichRequest) {
  const absl::Time t0 = absl::FromUnixSeconds(10);
  const VcpuLife parked = InitialVcpuLife(false, t0);
  EXPECT_EQ(parked.state, S::kParked);
  EXPECT_EQ(parked.since, t0);
  EXPECT_EQ(InitialVcpuLife(true, t0).state, S::kOffline);

  const absl::Time t1 = absl::FromUnixSeconds(11);
  absl::StatusOr<VcpuLife> offered =
      NextVcpuLife(parked, {.event = E::kPlug, .now = t1, .generation = 3});
  ASSERT_TRUE(offered.ok());
  EXPECT_EQ(offered->generation, 3u);
  EXPECT_EQ(offered->since, t1);
  EXPECT_EQ(offered->step_at, t1);

  // A step without a state change moves step_at, not since.
  const absl::Time t2 = absl::FromUnixSeconds(12);
  absl::StatusOr<VcpuLife> taken = NextVcpuLife(*offered, {.event = E::kInsertTaken, .now = t2});
  ASSERT_TRUE(taken.ok());
  EXPECT_EQ(taken->since, t1);
  EXPECT_EQ(taken->step_at, t2);
  EXPECT_EQ(taken->generation, 3u);

  // The registration time is the first report's.
  const absl::Time t3 = absl::FromUnixSeconds(13);
  absl::StatusOr<VcpuLife> registered =
      NextVcpuLife(*taken, {.event = E::kOst, .now = t3, .ost_event = kOstDeviceCheck});
  ASSERT_TRUE(registered.ok());
  EXPECT_EQ(registered->step_at, t3);
  absl::StatusOr<VcpuLife> again = NextVcpuLife(
      *registered, {.event = E::kOst, .now = absl::FromUnixSeconds(14), .ost_event = 1});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->step_at, t3);
  EXPECT_EQ(again->ost_event, 1u);

  // A repeated request leaves the life exactly as it was (no new generation).
  absl::StatusOr<VcpuLife> replug =
      NextVcpuLife(*registered, {.event = E::kPlug, .now = t3, .generation = 4});
  ASSERT_TRUE(replug.ok());
  EXPECT_EQ(*replug, *registered);
}

// Every event applied to every reachable life keeps the life consistent: a running vCPU is
// ONLINE or being removed, nothing parked has a handshake in flight, an eject step belongs to
// REMOVING, and "unsupported" only to a hot-add in flight.
bool Consistent(const VcpuLife& l) {
  if (l.state == S::kOnline && !l.powered) return false;
  if (l.powered && l.state != S::kOnline && l.state != S::kRemoving) return false;
  if (l.state == S::kParked && l.step != St::kNone) return false;
  if ((l.step == St::kEjectRequested || l.step == St::kEjectSeen || l.step == St::kEjectTaken) &&
      l.state != S::kRemoving) {
    return false;
  }
  if (l.step == St::kUnsupported && l.state != S::kEnabling) return false;
  // Unseen: enabled at boot and never powered (its CPU_ON is refused until the guest reads it).
  if (l.step == St::kUnseen && (l.state != S::kEnabled || l.powered)) return false;
  if (l.boot && (l.state != S::kOnline && l.state != S::kOffline)) return false;
  if (l.change == VcpuChange::kAdd && l.state != S::kEnabling && l.state != S::kEnabled) {
    return false;
  }
  if (l.change == VcpuChange::kRemove && l.state != S::kRemoving) return false;
  if (l.boot && l.change != VcpuChange::kNone) return false;
  return true;
}

TEST(VcpuStateTest, EveryEventKeepsEveryLifeConsistent) {
  const S states[] = {S::kParked, S::kEnabling, S::kEnabled, S::kOnline, S::kOffline, S::kRemoving};
  const St steps[] = {St::kNone,       St::kOffered,     St::kInsertSeen,     St::kTaken,
                      St::kRegistered, St::kUnsupported, St::kEjectRequested, St::kEjectSeen,
                      St::kEjectTaken, St::kRefused,     St::kUnseen};
  const E events[] = {E::kPlug,  E::kUnplug, E::kInsertTaken, E::kRemoveTaken,  E::kOst,
                      E::kCpuOn, E::kCpuOff, E::kEjected,     E::kGraceExpired, E::kStatusRead};
  const std::pair<uint32_t, uint32_t> osts[] = {
      {kOstDeviceCheck, 0}, {kOstDeviceCheck, 1}, {kOstEjectProcessing, 0x81}, {0x103, 0x84}};
  int checked = 0;
  for (bool boot : {false, true}) {
    for (S state : states) {
      for (bool powered : {false, true}) {
        for (St step : steps) {
          for (VcpuChange change : {VcpuChange::kNone, VcpuChange::kAdd, VcpuChange::kRemove}) {
            VcpuLife from = LifeOf({state, powered, step}, boot);
            from.change = change;
            if (!Consistent(from)) continue;
            for (E event : events) {
              for (const auto& [ost_event, ost_status] : osts) {
                absl::StatusOr<VcpuLife> next = NextVcpuLife(from, {.event = event,
                                                                    .now = absl::FromUnixSeconds(1),
                                                                    .generation = 1,
                                                                    .ost_event = ost_event,
                                                                    .ost_status = ost_status});
                ++checked;
                if (!next.ok()) {
                  EXPECT_EQ(next.status().code(), absl::StatusCode::kFailedPrecondition);
                  continue;
                }
                EXPECT_TRUE(Consistent(*next))
                    << Describe({state, powered, step}) << (boot ? " boot " : " ")
                    << VcpuEventName(event) << " -> "
                    << Describe({next->state, next->powered, next->step});
              }
            }
          }
        }
      }
    }
  }
  EXPECT_GT(checked, 1000);
}

// A hot-add is "in progress" from its request until the vCPU runs, a hot-remove until it is
// parked; the request's time stays with it, so each phase can be timed from it.
TEST(VcpuStateTest, ARequestStaysInProgressUntilItsEnd) {
  auto step = [](const VcpuLife& l, E e, int64_t t, uint32_t ost_event = 0) {
    absl::StatusOr<VcpuLife> next = NextVcpuLife(
        l, {.event = e, .now = absl::FromUnixSeconds(t), .generation = 5, .ost_event = ost_event});
    EXPECT_TRUE(next.ok()) << next.status();
    return next.value_or(l);
  };
  VcpuLife l = InitialVcpuLife(false, absl::FromUnixSeconds(0));
  l = step(l, E::kPlug, 10);
  EXPECT_EQ(l.change, VcpuChange::kAdd);
  EXPECT_EQ(l.requested_at, absl::FromUnixSeconds(10));
  l = step(l, E::kInsertTaken, 11);
  l = step(l, E::kOst, 12, kOstDeviceCheck);
  EXPECT_EQ(l.state, S::kEnabled);
  EXPECT_EQ(l.change, VcpuChange::kAdd);
  EXPECT_EQ(l.requested_at, absl::FromUnixSeconds(10));
  l = step(l, E::kCpuOn, 13);
  EXPECT_EQ(l.change, VcpuChange::kNone);  // done: running
  l = step(l, E::kCpuOff, 14);
  l = step(l, E::kCpuOn, 15);
  EXPECT_EQ(l.change, VcpuChange::kNone);  // the guest's own toggling is no request
  l = step(l, E::kUnplug, 20);
  EXPECT_EQ(l.change, VcpuChange::kRemove);
  EXPECT_EQ(l.requested_at, absl::FromUnixSeconds(20));
  l = step(l, E::kCpuOff, 21);
  l = step(l, E::kEjected, 22);
  EXPECT_EQ(l.state, S::kParked);
  EXPECT_EQ(l.change, VcpuChange::kNone);
  // Withdrawn before the guest took it: no hot-add happened, nothing is in progress.
  l = step(step(l, E::kPlug, 30), E::kUnplug, 31);
  EXPECT_EQ(l.state, S::kParked);
  EXPECT_EQ(l.change, VcpuChange::kNone);
}

TEST(VcpuStateTest, OstFailureCodes) {
  EXPECT_FALSE(OstFailed(kOstDeviceCheck, 0));
  EXPECT_TRUE(OstFailed(kOstDeviceCheck, 1));
  EXPECT_TRUE(OstFailed(kOstDeviceCheck, 0x82));
  EXPECT_TRUE(OstFailed(kOstEjectProcessing, 0x80));
  EXPECT_TRUE(OstFailed(kOstEjectRequest, 0x83));
  EXPECT_FALSE(OstFailed(kOstEjectProcessing, 0x84));  // in progress
  EXPECT_TRUE(OstFailed(0x200, 2));
  EXPECT_FALSE(OstFailed(0x200, 0x80));
}

TEST(VcpuStateTest, NamesAreStable) {
  EXPECT_EQ(VcpuStateName(S::kParked), "PARKED");
  EXPECT_EQ(VcpuStateName(S::kEnabling), "ENABLING");
  EXPECT_EQ(VcpuStateName(S::kEnabled), "ENABLED");
  EXPECT_EQ(VcpuStateName(S::kOnline), "ONLINE");
  EXPECT_EQ(VcpuStateName(S::kOffline), "OFFLINE");
  EXPECT_EQ(VcpuStateName(S::kRemoving), "REMOVING");
  EXPECT_EQ(VcpuStepName(St::kEjectTaken), "eject taken");
  EXPECT_EQ(VcpuEventName(E::kGraceExpired), "GraceExpired");
  EXPECT_EQ(VcpuEventName(E::kStatusRead), "StatusRead");
  EXPECT_EQ(VcpuStepName(St::kInsertSeen), "insert seen");
  EXPECT_EQ(VcpuStepName(St::kEjectSeen), "eject seen");
  EXPECT_EQ(VcpuStepName(St::kUnseen), "unseen");
}

// A vCPU available before this boot (start_vcpus, or a size the VM was scaled to) starts ENABLED
// but unseen: its CPU_ON is refused until the guest's ACPI has read its status (the kernel's
// early bring-up passes it by), then the guest's CPU_ON brings it online, and it can be removed
// like any hot-added vCPU.
TEST(VcpuStateTest, APluggedVcpuStartsEnabledAndUnseen) {
  const absl::Time t0 = absl::FromUnixSeconds(10);
  const VcpuLife plugged = InitialVcpuLife(false, t0, /*plugged=*/true);
  EXPECT_EQ(plugged.state, S::kEnabled);
  EXPECT_FALSE(plugged.boot);
  EXPECT_FALSE(plugged.powered);
  EXPECT_EQ(plugged.step, VcpuStep::kUnseen);
  EXPECT_TRUE(AcpiEnabled(plugged));
  EXPECT_TRUE(AwaitingGuestAcpi(plugged));
  EXPECT_FALSE(InsertPending(plugged));
  EXPECT_TRUE(Plugged(plugged));
  // A boot vCPU ignores `plugged`.
  EXPECT_EQ(InitialVcpuLife(true, t0, true).state, S::kOffline);

  EXPECT_THAT(NextVcpuLife(plugged, {.event = E::kCpuOn, .now = t0}),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("the guest's ACPI has not seen it yet")));
  const absl::Time t1 = t0 + absl::Seconds(2);
  absl::StatusOr<VcpuLife> seen = NextVcpuLife(plugged, {.event = E::kStatusRead, .now = t1});
  ASSERT_TRUE(seen.ok());
  EXPECT_EQ(seen->state, S::kEnabled);
  EXPECT_EQ(seen->step, VcpuStep::kRegistered);
  EXPECT_EQ(seen->step_at, t1);
  EXPECT_FALSE(AwaitingGuestAcpi(*seen));

  absl::StatusOr<VcpuLife> on = NextVcpuLife(*seen, {.event = E::kCpuOn, .now = t1});
  ASSERT_TRUE(on.ok());
  EXPECT_EQ(on->state, S::kOnline);
  EXPECT_TRUE(on->powered);
  absl::StatusOr<VcpuLife> unplug =
      NextVcpuLife(*on, {.event = E::kUnplug, .now = t0, .generation = 2});
  ASSERT_TRUE(unplug.ok());
  EXPECT_EQ(unplug->state, S::kRemoving);
  EXPECT_TRUE(RemovePending(*unplug));
}

// Removed before the guest's ACPI has read it: the guest never had it, so it is parked at once
// (its scan then reads _STA 0xD) — no eject request.
TEST(VcpuStateTest, AnUnseenVcpuIsParkedWithoutAnEject) {
  const absl::Time t0 = absl::FromUnixSeconds(10);
  const VcpuLife plugged = InitialVcpuLife(false, t0, /*plugged=*/true);
  absl::StatusOr<VcpuLife> unplug =
      NextVcpuLife(plugged, {.event = E::kUnplug, .now = t0, .generation = 3});
  ASSERT_TRUE(unplug.ok());
  EXPECT_EQ(unplug->state, S::kParked);
  EXPECT_EQ(unplug->step, VcpuStep::kNone);
  EXPECT_EQ(unplug->change, VcpuChange::kNone);
  EXPECT_EQ(unplug->generation, 3u);
  EXPECT_FALSE(AcpiEnabled(*unplug));
  EXPECT_FALSE(RemovePending(*unplug));
}

}  // namespace
}  // namespace vmmd::core
