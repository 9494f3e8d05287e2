// The VM lifecycle as a complete table: every (state, event) pair, allowed or refused.
#include "vmmd/vmm/vm_state.h"

#include <map>
#include <optional>
#include <utility>

#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace vmmd::vmm {
namespace {

using ::testing::HasSubstr;
using ::vmmd::testing::StatusIs;
using S = VmState;
using E = VmEvent;

TEST(VmStateTest, EveryStateAndEvent) {
  // Allowed transitions; every other pair is refused.
  const std::map<std::pair<S, E>, S> allowed = {
      {{S::kCreated, E::kStart}, S::kStarting},     {{S::kStopped, E::kStart}, S::kStarting},
      {{S::kFailed, E::kStart}, S::kStarting},      {{S::kStarting, E::kBooted}, S::kRunning},
      {{S::kStarting, E::kBootFailed}, S::kFailed}, {{S::kRunning, E::kHalt}, S::kStopping},
      {{S::kStopping, E::kHalted}, S::kStopped},    {{S::kStopping, E::kCrashed}, S::kFailed},
  };
  const S states[] = {S::kCreated,  S::kStarting, S::kRunning,
                      S::kStopping, S::kStopped,  S::kFailed};
  const E events[] = {E::kStart, E::kBooted, E::kBootFailed, E::kHalt, E::kHalted, E::kCrashed};
  int refused = 0;
  for (S s : states) {
    for (E e : events) {
      SCOPED_TRACE(absl::StrFormat("%s %s", VmStateName(s), VmEventName(e)));
      const absl::StatusOr<S> next = NextVmState(s, e);
      const auto it = allowed.find({s, e});
      if (it != allowed.end()) {
        ASSERT_TRUE(next.ok()) << next.status();
        EXPECT_EQ(*next, it->second);
      } else {
        EXPECT_THAT(next, StatusIs(absl::StatusCode::kFailedPrecondition,
                                   HasSubstr(absl::StrFormat("is %s; ", VmStateName(s)))));
        ++refused;
      }
    }
  }
  EXPECT_EQ(refused, 36 - 8);
}

TEST(VmStateTest, RefusalsSayWhatIsNeeded) {
  EXPECT_THAT(
      NextVmState(S::kRunning, E::kStart),
      StatusIs(absl::StatusCode::kFailedPrecondition,
               HasSubstr("is RUNNING; only a CREATED, STOPPED or FAILED VM can be started")));
  EXPECT_THAT(NextVmState(S::kStopped, E::kHalt),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("is STOPPED; only a RUNNING VM can be stopped")));
}

TEST(VmStateTest, NamesAreStable) {
  EXPECT_EQ(VmStateName(S::kCreated), "CREATED");
  EXPECT_EQ(VmStateName(S::kStarting), "STARTING");
  EXPECT_EQ(VmStateName(S::kRunning), "RUNNING");
  EXPECT_EQ(VmStateName(S::kStopping), "STOPPING");
  EXPECT_EQ(VmStateName(S::kStopped), "STOPPED");
  EXPECT_EQ(VmStateName(S::kFailed), "FAILED");
  EXPECT_EQ(VmEventName(E::kCrashed), "Crashed");
}

}  // namespace
}  // namespace vmmd::vmm
