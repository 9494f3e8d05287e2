#include "core/vcpu/psci.h"

#include "gtest/gtest.h"

namespace vmmd::core::psci {
namespace {

TEST(PsciTest, ClassifiesOnlyTheForwardedCalls) {
  EXPECT_EQ(Classify(0x84000003), Call::kCpuOn);
  EXPECT_EQ(Classify(0xC4000003), Call::kCpuOn);
  EXPECT_EQ(Classify(0x84000002), Call::kCpuOff);
  EXPECT_EQ(Classify(0x84000000), Call::kOther);  // PSCI_VERSION stays in KVM
  EXPECT_EQ(Classify(0xC4000004), Call::kOther);  // AFFINITY_INFO stays in KVM
  // The forwarded ranges cover exactly the three ids.
  uint32_t covered = 0;
  for (const auto& r : kForwardedRanges) {
    for (uint32_t id = r.base; id < r.base + r.count; ++id) {
      EXPECT_NE(Classify(id), Call::kOther) << std::hex << id;
      ++covered;
    }
  }
  EXPECT_EQ(covered, 3u);
}

TEST(PsciTest, Smc32ArgumentsAreTruncated) {
  CpuOnArgs a = DecodeCpuOn(kFnCpuOn32, 0xdead'0000'0000'0101ULL, 0xffff'ffff'4008'0000ULL, 0x1'0000'0007ULL);
  EXPECT_EQ(a.target_mpidr, 0x101u);
  EXPECT_EQ(a.entry, 0x4008'0000u);
  EXPECT_EQ(a.context_id, 7u);
  CpuOnArgs b = DecodeCpuOn(kFnCpuOn64, 0x1'0000'0001ULL, 0x8'4008'0000ULL, 0x1'0000'0007ULL);
  EXPECT_EQ(b.target_mpidr, 0x1'0000'0001ULL);
  EXPECT_EQ(b.entry, 0x8'4008'0000ULL);
  EXPECT_EQ(b.context_id, 0x1'0000'0007ULL);
}

TEST(PsciTest, ReturnsAreSignExtended) {
  EXPECT_EQ(EncodeReturn(Return::kSuccess), 0u);
  EXPECT_EQ(EncodeReturn(Return::kDenied), 0xffff'ffff'ffff'fffdULL);
  EXPECT_EQ(EncodeReturn(Return::kInvalidParams), 0xffff'ffff'ffff'fffeULL);
  EXPECT_EQ(EncodeReturn(Return::kAlreadyOn), 0xffff'ffff'ffff'fffcULL);
}

VcpuLife Life(VcpuState state, bool boot, bool powered) {
  VcpuLife life;
  life.state = state;
  life.boot = boot;
  life.powered = powered;
  return life;
}

TEST(PsciTest, CpuOnVerdicts) {
  const VcpuLife boot_off = Life(VcpuState::kOffline, true, false);
  const VcpuLife boot_on = Life(VcpuState::kOnline, true, true);
  const VcpuLife parked = Life(VcpuState::kParked, false, false);
  const VcpuLife enabled = Life(VcpuState::kEnabled, false, false);
  const VcpuLife removing_off = Life(VcpuState::kRemoving, false, false);
  const VcpuLife removing_on = Life(VcpuState::kRemoving, false, true);
  const VcpuLife online = Life(VcpuState::kOnline, false, true);
  EXPECT_EQ(CpuOnVerdict(1, nullptr), Return::kInvalidParams);
  EXPECT_EQ(CpuOnVerdict(1ULL << 24 | 1, &boot_off),
            Return::kInvalidParams);  // bits 24..31 (MT, U) are not affinity
  EXPECT_EQ(CpuOnVerdict(1, &boot_off), Return::kSuccess);
  EXPECT_EQ(CpuOnVerdict(1, &boot_on), Return::kAlreadyOn);
  EXPECT_EQ(CpuOnVerdict(2, &parked), Return::kDenied);
  EXPECT_EQ(CpuOnVerdict(2, &enabled), Return::kSuccess);
  EXPECT_EQ(CpuOnVerdict(2, &removing_off), Return::kDenied);
  EXPECT_EQ(CpuOnVerdict(2, &removing_on), Return::kAlreadyOn);
  EXPECT_EQ(CpuOnVerdict(2, &online), Return::kAlreadyOn);
}

}  // namespace
}  // namespace vmmd::core::psci
