#include "vmmd/vmmctl/top.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"
#include "vmmd/vmmctl/commands.h"

namespace vmmd::vmmctl {
namespace {

using ::testing::ElementsAre;
using ::vmmd::testing::StatusIs;

const absl::Time kT0 = absl::FromUnixSeconds(1700000000);  // 2023-11-14T22:13:20Z
constexpr uint64_t kMs = 1'000'000;                        // ns

void SetTime(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t ns = absl::ToUnixNanos(t);
  out->set_seconds(ns / 1'000'000'000);
  out->set_nanos(static_cast<int32_t>(ns % 1'000'000'000));
}

v1::VcpuStatus Vcpu(uint32_t id, v1::VcpuState state, uint64_t busy_ms, uint64_t delay_ms,
                    int64_t transition_s = 0) {
  v1::VcpuStatus v;
  v.set_id(id);
  v.set_state(state);
  v.set_busy_ns(busy_ms * kMs);
  v.set_delay_ns(delay_ms * kMs);
  if (transition_s != 0) v.mutable_last_transition()->set_seconds(transition_s);
  return v;
}

constexpr v1::VcpuState kOn = v1::VCPU_STATE_ONLINE;
constexpr v1::VcpuState kParked = v1::VCPU_STATE_PARKED;
constexpr v1::VcpuState kOff = v1::VCPU_STATE_OFFLINE;

v1::Vm Vm(const std::string& name, v1::VmState state, uint32_t online, uint32_t target,
          uint32_t max, v1::AutoscaleMode mode = v1::AUTOSCALE_MODE_OFF) {
  v1::Vm vm;
  vm.mutable_spec()->set_name(name);
  vm.mutable_spec()->set_max_vcpus(max);
  vm.set_state(state);
  vm.set_online_vcpus(online);
  vm.set_target_vcpus(target);
  vm.mutable_autoscale()->set_mode(mode);
  vm.mutable_created_at()->set_seconds(1600000000);
  if (state == v1::VM_STATE_RUNNING) vm.mutable_started_at()->set_seconds(1600000100);
  return vm;
}

TopVmSample Sampled(v1::Vm vm, std::vector<v1::VcpuStatus> vcpus = {},
                    absl::Time at = absl::InfinitePast()) {
  TopVmSample s;
  s.vm = std::move(vm);
  s.has_vcpus = s.vm.state() == v1::VM_STATE_RUNNING;
  s.vcpus = std::move(vcpus);
  s.vcpus_time = at;
  return s;
}

TEST(TopTest, ParseSort) {
  EXPECT_EQ(*ParseTopSort("name"), TopSort::kName);
  EXPECT_EQ(*ParseTopSort("util"), TopSort::kUtil);
  EXPECT_EQ(*ParseTopSort("steal"), TopSort::kSteal);
  EXPECT_EQ(*ParseTopSort("vcpus"), TopSort::kVcpus);
  EXPECT_THAT(ParseTopSort("cpu"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "--sort must be name, util, steal or vcpus (got 'cpu')"));
}

TEST(TopTest, LoadIsTheBusyFractionOfTheOnlineVcpus) {
  // 2 online vCPUs over 1 s: 500 + 300 ms busy = 40 %; 150 + 50 ms waiting = 10 %. The offline
  // boot vCPU's counters are summed too (it has none), parked ones are not online.
  const std::vector<v1::VcpuStatus> before = {Vcpu(0, kOn, 1000, 100, 5), Vcpu(1, kOn, 2000, 0, 6),
                                              Vcpu(2, kOff, 7, 7), Vcpu(3, kParked, 0, 0)};
  const std::vector<v1::VcpuStatus> after = {Vcpu(0, kOn, 1500, 250, 5), Vcpu(1, kOn, 2300, 50, 6),
                                             Vcpu(2, kOff, 7, 7), Vcpu(3, kParked, 0, 0)};
  VcpuLoad load = MeasureVcpuLoad(before, after, absl::Seconds(1));
  ASSERT_TRUE(load.utilization.has_value());
  ASSERT_TRUE(load.steal.has_value());
  EXPECT_DOUBLE_EQ(*load.utilization, 0.4);
  EXPECT_DOUBLE_EQ(*load.steal, 0.1);
  load = MeasureVcpuLoad(before, after, absl::Milliseconds(500));
  EXPECT_DOUBLE_EQ(*load.utilization, 0.8);
  // In vCPU id order or not: matched by id.
  const std::vector<v1::VcpuStatus> shuffled = {after[3], after[1], after[0], after[2]};
  EXPECT_DOUBLE_EQ(*MeasureVcpuLoad(before, shuffled, absl::Seconds(1)).utilization, 0.4);
}

TEST(TopTest, NoLoadWhenThereIsNothingToCompare) {
  const std::vector<v1::VcpuStatus> before = {Vcpu(0, kOn, 1000, 0, 5), Vcpu(1, kParked, 0, 0)};
  auto none = [&](const std::vector<v1::VcpuStatus>& after, absl::Duration wall) {
    const VcpuLoad load = MeasureVcpuLoad(before, after, wall);
    return !load.utilization.has_value() && !load.steal.has_value();
  };
  const absl::Duration s = absl::Seconds(1);
  EXPECT_FALSE(none({Vcpu(0, kOn, 1100, 0, 5), Vcpu(1, kParked, 0, 0)}, s));  // the baseline
  EXPECT_TRUE(none({Vcpu(0, kOn, 1100, 0, 5), Vcpu(1, kParked, 0, 0)}, absl::ZeroDuration()));
  // The online set changed: vCPU 1 came; vCPU 0 went; vCPU 0 went and came back.
  EXPECT_TRUE(none({Vcpu(0, kOn, 1100, 0, 5), Vcpu(1, kOn, 10, 0, 9)}, s));
  EXPECT_TRUE(none({Vcpu(0, kOff, 1100, 0, 9), Vcpu(1, kParked, 0, 0)}, s));
  EXPECT_TRUE(none({Vcpu(0, kOn, 1100, 0, 9), Vcpu(1, kParked, 0, 0)}, s));
  // A counter went backwards (the VM was recreated); a vCPU is missing or unknown.
  EXPECT_TRUE(none({Vcpu(0, kOn, 900, 0, 5), Vcpu(1, kParked, 0, 0)}, s));
  EXPECT_TRUE(none({Vcpu(0, kOn, 1100, 0, 5), Vcpu(1, kParked, 0, 0), Vcpu(2, kParked, 0, 0)}, s));
  EXPECT_TRUE(none({Vcpu(0, kOn, 1100, 0, 5), Vcpu(7, kParked, 0, 0)}, s));
  // No vCPU online.
  EXPECT_TRUE(MeasureVcpuLoad({Vcpu(0, kOff, 5, 0)}, {Vcpu(0, kOff, 9, 0)}, s).utilization ==
              std::nullopt);
}

// Two samples 2 s apart: web (2 of 4 online, busy 40 %, steal 10 %, autoscaled 2->3 14 s
// before the frame), db (1 of 2, busy 95 %), idle (created, never started) and fresh (started
// after the first sample).
struct TwoSamples {
  TopSample previous;
  TopSample current;
};

TwoSamples Fleet() {
  const absl::Time t1 = kT0 - absl::Seconds(2);
  TwoSamples s;
  v1::Vm web = Vm("web", v1::VM_STATE_RUNNING, 2, 3, 4, v1::AUTOSCALE_MODE_AUTO);
  v1::Vm db = Vm("db", v1::VM_STATE_RUNNING, 1, 1, 2, v1::AUTOSCALE_MODE_RECOMMEND);
  v1::Vm idle = Vm("idle", v1::VM_STATE_CREATED, 0, 2, 4);
  v1::Vm fresh = Vm("fresh", v1::VM_STATE_RUNNING, 1, 1, 1);
  s.previous.time = t1 - absl::Milliseconds(3);
  s.previous.vms = {
      Sampled(db, {Vcpu(0, kOn, 100, 0), Vcpu(1, kParked, 0, 0)}, t1),
      Sampled(idle),
      Sampled(web,
              {Vcpu(0, kOn, 1000, 0), Vcpu(1, kOn, 0, 0), Vcpu(2, kParked, 0, 0),
               Vcpu(3, kParked, 0, 0)},
              t1),
  };
  v1::AutoscaleStatus* st = web.mutable_autoscale_status();
  st->set_recommended_vcpus(3);
  SetTime(kT0 - absl::Seconds(14), st->mutable_last_scale_time());
  st->set_last_scale_from(2);
  st->set_last_scale_to(3);
  st->set_last_scale_result("ok");
  db.mutable_autoscale_status()->set_reason("not enough samples");  // no recommendation yet
  s.current.time = kT0;
  s.current.vms = {
      Sampled(db, {Vcpu(0, kOn, 2000, 0), Vcpu(1, kParked, 0, 0)}, kT0),
      Sampled(fresh, {Vcpu(0, kOn, 50, 1)}, kT0),
      Sampled(idle),
      Sampled(web,
              {Vcpu(0, kOn, 2000, 200), Vcpu(1, kOn, 600, 200), Vcpu(2, kParked, 0, 0),
               Vcpu(3, kParked, 0, 0)},
              kT0),
  };
  return s;
}

TEST(TopTest, FrameTextWithExactColumns) {
  const TwoSamples s = Fleet();
  const TopFrame frame = ComputeTopFrame(&s.previous, s.current, TopSort::kName);
  EXPECT_EQ(frame.online_vcpus, 4u);
  EXPECT_EQ(FormatTopFrame(frame),
            "2023-11-14T22:13:20Z  VMs: 4  online vCPUs: 4\n"
            "NAME   STATE    VCPUS  UTIL  STEAL  MODE       REC  LAST_SCALE\n"
            "db     RUNNING  1/1/2  95%   0%     recommend  -    -\n"
            "fresh  RUNNING  1/1/1  -     -      off        -    -\n"
            "idle   CREATED  0/2/4  -     -      off        -    -\n"
            "web    RUNNING  2/3/4  40%   10%    auto       3    2->3 ok 14s ago\n");
  // The first frame has no rates.
  EXPECT_EQ(FormatTopFrame(ComputeTopFrame(nullptr, s.current, TopSort::kName)),
            "2023-11-14T22:13:20Z  VMs: 4  online vCPUs: 4\n"
            "NAME   STATE    VCPUS  UTIL  STEAL  MODE       REC  LAST_SCALE\n"
            "db     RUNNING  1/1/2  -     -      recommend  -    -\n"
            "fresh  RUNNING  1/1/1  -     -      off        -    -\n"
            "idle   CREATED  0/2/4  -     -      off        -    -\n"
            "web    RUNNING  2/3/4  -     -      auto       3    2->3 ok 14s ago\n");
  EXPECT_EQ(FormatTopFrame(ComputeTopFrame(nullptr, TopSample{kT0, {}}, TopSort::kName)),
            "2023-11-14T22:13:20Z  VMs: 0  online vCPUs: 0\n"
            "NAME  STATE  VCPUS  UTIL  STEAL  MODE  REC  LAST_SCALE\n");
}

std::vector<std::string> Names(const TopFrame& frame) {
  std::vector<std::string> names;
  for (const TopRow& row : frame.rows) names.push_back(row.name);
  return names;
}

TEST(TopTest, SortOrders) {
  const TwoSamples s = Fleet();
  auto order = [&](TopSort sort) { return Names(ComputeTopFrame(&s.previous, s.current, sort)); };
  EXPECT_THAT(order(TopSort::kName), ElementsAre("db", "fresh", "idle", "web"));
  // Descending; no value last; ties by name.
  EXPECT_THAT(order(TopSort::kUtil), ElementsAre("db", "web", "fresh", "idle"));
  EXPECT_THAT(order(TopSort::kSteal), ElementsAre("web", "db", "fresh", "idle"));
  EXPECT_THAT(order(TopSort::kVcpus), ElementsAre("web", "db", "fresh", "idle"));
}

TEST(TopTest, RestartedRecreatedOrStoppedVmsStartANewBaseline) {
  TwoSamples s = Fleet();
  auto web_util = [&] {
    const TopFrame f = ComputeTopFrame(&s.previous, s.current, TopSort::kName);
    return f.rows[3].utilization;
  };
  ASSERT_EQ(web_util(), 0.4);
  TopVmSample& web = s.current.vms[3];
  web.vm.mutable_started_at()->set_seconds(1600000200);  // restarted
  EXPECT_EQ(web_util(), std::nullopt);
  web.vm.mutable_started_at()->set_seconds(1600000100);
  web.vm.mutable_created_at()->set_nanos(1);  // deleted and created again
  EXPECT_EQ(web_util(), std::nullopt);
  web.vm.mutable_created_at()->set_nanos(0);
  web.vm.set_state(v1::VM_STATE_STOPPING);  // no longer RUNNING
  EXPECT_EQ(web_util(), std::nullopt);
  web.vm.set_state(v1::VM_STATE_RUNNING);
  s.previous.vms.pop_back();  // not there before
  EXPECT_EQ(web_util(), std::nullopt);
}

TEST(TopTest, LastScaleLabels) {
  TopFrame frame;
  frame.time = kT0;
  TopRow row;
  row.name = "vm1";
  row.state = v1::VM_STATE_RUNNING;
  row.has_last_scale = true;
  row.last_scale_from = 4;
  row.last_scale_to = 8;
  row.last_scale_time = kT0 - absl::Minutes(5) - absl::Seconds(59);
  row.last_scale_result = "FAILED_PRECONDITION: the guest refused vCPU 5\n(_OST 0x80)";
  frame.rows.push_back(row);
  row.name = "vm2";
  row.last_scale_result = "";
  row.last_scale_time = kT0 + absl::Seconds(3);  // the reporter's clock is ahead
  frame.rows.push_back(row);
  const std::vector<std::string> lines = absl::StrSplit(FormatTopFrame(frame), '\n');
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[2],
            "vm1   RUNNING  0/0/0  -     -      off   -    "
            "4->8 FAILED_PRECONDITION: the guest refuse... 5m ago");
  EXPECT_EQ(lines[3], "vm2   RUNNING  0/0/0  -     -      off   -    4->8 0s ago");
}

TEST(TopTest, AgeLabels) {
  EXPECT_EQ(AgeLabel(absl::Seconds(-3)), "0s");
  EXPECT_EQ(AgeLabel(absl::Milliseconds(14999)), "14s");
  EXPECT_EQ(AgeLabel(absl::Seconds(119)), "119s");
  EXPECT_EQ(AgeLabel(absl::Seconds(120)), "2m");
  EXPECT_EQ(AgeLabel(absl::Minutes(119)), "119m");
  EXPECT_EQ(AgeLabel(absl::Hours(2)), "2h");
  EXPECT_EQ(AgeLabel(absl::Hours(47)), "47h");
  EXPECT_EQ(AgeLabel(absl::Hours(48)), "2d");
}

TEST(TopTest, JsonFrameOnOneLine) {
  TwoSamples s = Fleet();
  s.current.time += absl::Milliseconds(250);
  s.current.vms[1].vm.mutable_spec()->set_name("q\"\\\x01");  // escaped, never raw
  const TopFrame frame = ComputeTopFrame(&s.previous, s.current, TopSort::kUtil);
  EXPECT_EQ(FormatTopFrameJson(frame),
            "{\"time\":\"2023-11-14T22:13:20.250Z\",\"vms\":["
            "{\"name\":\"db\",\"state\":\"RUNNING\",\"online\":1,\"target\":1,\"max\":2,"
            "\"utilization\":0.95,\"steal\":0,\"mode\":\"recommend\",\"recommended\":null,"
            "\"last_scale\":null},"
            "{\"name\":\"web\",\"state\":\"RUNNING\",\"online\":2,\"target\":3,\"max\":4,"
            "\"utilization\":0.4,\"steal\":0.1,\"mode\":\"auto\",\"recommended\":3,"
            "\"last_scale\":{\"time\":\"2023-11-14T22:13:06.000Z\",\"from\":2,\"to\":3,"
            "\"result\":\"ok\"}},"
            "{\"name\":\"idle\",\"state\":\"CREATED\",\"online\":0,\"target\":2,\"max\":4,"
            "\"utilization\":null,\"steal\":null,\"mode\":\"off\",\"recommended\":null,"
            "\"last_scale\":null},"
            "{\"name\":\"q\\\"\\\\\\u0001\",\"state\":\"RUNNING\",\"online\":1,\"target\":1,"
            "\"max\":1,\"utilization\":null,\"steal\":null,\"mode\":\"off\",\"recommended\":null,"
            "\"last_scale\":null}]}\n");
}

// A stand-in for vmmd and the clock: VMs with scripted vCPUs whose online ones are busy half of
// the time and wait a tenth of it; sleeping moves the clock.
class FakeVmmd {
 public:
  FakeVmmd() {
    list_.add_vms()->CopyFrom(Vm("b-run", v1::VM_STATE_RUNNING, 1, 2, 4));
    list_.add_vms()->CopyFrom(Vm("a-new", v1::VM_STATE_CREATED, 0, 2, 4));
  }

  TopIo Io() {
    TopIo io;
    io.list_vms = [this](v1::ListVmsResponse* r) {
      ++list_calls_;
      now_ += call_time_;
      *r = list_;
      return list_error_;
    };
    io.get_cpu_state = [this](const std::string& name, v1::GetCPUStateResponse* r) {
      now_ += call_time_;
      if (missing_.count(name) > 0) return grpc::Status(grpc::StatusCode::NOT_FOUND, "gone");
      if (!cpu_error_.ok()) return cpu_error_;
      const uint64_t ns = static_cast<uint64_t>(absl::ToInt64Nanoseconds(now_ - kT0));
      r->set_name(name);
      v1::VcpuStatus* v = r->add_vcpus();
      v->set_id(0);
      v->set_state(kOn);
      v->set_busy_ns(ns / 2);
      v->set_delay_ns(ns / 10);
      r->add_vcpus()->CopyFrom(Vcpu(1, kParked, 0, 0));
      return grpc::Status::OK;
    };
    io.now = [this] { return now_; };
    io.sleep_until = [this](absl::Time deadline) {
      sleeps_.push_back(deadline - kT0);
      if (stop_after_sleeps_ >= 0 && static_cast<int>(sleeps_.size()) > stop_after_sleeps_) {
        stopped_ = true;
        return false;
      }
      now_ = std::max(now_, deadline);
      return true;
    };
    io.stop_requested = [this] { return stopped_; };
    return io;
  }

  TopResult Run(const TopOptions& options) {
    return RunTop(options, Io(), [this](const std::string& text) { frames_.push_back(text); });
  }

  v1::ListVmsResponse list_;
  grpc::Status list_error_;
  grpc::Status cpu_error_;
  std::set<std::string> missing_;
  absl::Time now_ = kT0;
  absl::Duration call_time_;
  int stop_after_sleeps_ = -1;
  bool stopped_ = false;
  int list_calls_ = 0;
  std::vector<absl::Duration> sleeps_;
  std::vector<std::string> frames_;
};

TEST(RunTopTest, CountFramesOneIntervalApart) {
  FakeVmmd vmmd;
  TopOptions options;
  options.count = 3;
  const TopResult result = vmmd.Run(options);
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.err, "");
  EXPECT_THAT(vmmd.sleeps_, ElementsAre(absl::Seconds(2), absl::Seconds(4)));
  ASSERT_EQ(vmmd.frames_.size(), 3u);
  EXPECT_EQ(vmmd.frames_[0],
            "2023-11-14T22:13:20Z  VMs: 2  online vCPUs: 1\n"
            "NAME   STATE    VCPUS  UTIL  STEAL  MODE  REC  LAST_SCALE\n"
            "a-new  CREATED  0/2/4  -     -      off   -    -\n"
            "b-run  RUNNING  1/2/4  -     -      off   -    -\n");
  EXPECT_EQ(vmmd.frames_[2],
            "2023-11-14T22:13:24Z  VMs: 2  online vCPUs: 1\n"
            "NAME   STATE    VCPUS  UTIL  STEAL  MODE  REC  LAST_SCALE\n"
            "a-new  CREATED  0/2/4  -     -      off   -    -\n"
            "b-run  RUNNING  1/2/4  50%   10%    off   -    -\n");
}

TEST(RunTopTest, PacedFromTheFirstSampleDespiteSlowCalls) {
  FakeVmmd vmmd;
  vmmd.call_time_ = absl::Milliseconds(300);  // a sample takes 0.6 s
  TopOptions options;
  options.count = 3;
  options.interval = absl::Seconds(1);
  ASSERT_EQ(vmmd.Run(options).exit_code, 0);
  EXPECT_THAT(vmmd.sleeps_, ElementsAre(absl::Seconds(1), absl::Seconds(2)));
  // Slower than the interval: the next sample at once, no burst to catch up.
  FakeVmmd slow;
  slow.call_time_ = absl::Milliseconds(800);
  ASSERT_EQ(slow.Run(options).exit_code, 0);
  EXPECT_THAT(slow.sleeps_, ElementsAre(absl::Milliseconds(1600), absl::Milliseconds(3200)));
}

TEST(RunTopTest, OncePrintsOnlyTheSecondSample) {
  FakeVmmd vmmd;
  TopOptions options;
  options.once = true;
  options.interval = absl::Milliseconds(200);
  options.json = true;
  ASSERT_EQ(vmmd.Run(options).exit_code, 0);
  EXPECT_EQ(vmmd.list_calls_, 2);
  EXPECT_THAT(vmmd.sleeps_, ElementsAre(absl::Milliseconds(200)));
  ASSERT_EQ(vmmd.frames_.size(), 1u);
  EXPECT_EQ(vmmd.frames_[0],
            "{\"time\":\"2023-11-14T22:13:20.200Z\",\"vms\":["
            "{\"name\":\"a-new\",\"state\":\"CREATED\",\"online\":0,\"target\":2,\"max\":4,"
            "\"utilization\":null,\"steal\":null,\"mode\":\"off\",\"recommended\":null,"
            "\"last_scale\":null},"
            "{\"name\":\"b-run\",\"state\":\"RUNNING\",\"online\":1,\"target\":2,\"max\":4,"
            "\"utilization\":0.5,\"steal\":0.1,\"mode\":\"off\",\"recommended\":null,"
            "\"last_scale\":null}]}\n");
}

TEST(RunTopTest, ClearsTheScreenBeforeEachFrameWhenAsked) {
  FakeVmmd vmmd;
  TopOptions options;
  options.count = 2;
  options.clear_screen = true;
  ASSERT_EQ(vmmd.Run(options).exit_code, 0);
  ASSERT_EQ(vmmd.frames_.size(), 2u);
  for (const std::string& frame : vmmd.frames_) {
    EXPECT_EQ(frame.rfind("\x1b[H\x1b[2J2023-11-14T22:13:2", 0), 0u) << frame;
  }
}

TEST(RunTopTest, UntilStopped) {
  FakeVmmd vmmd;
  vmmd.stop_after_sleeps_ = 3;
  const TopResult result = vmmd.Run(TopOptions());  // no count: runs until stopped
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.err, "");
  EXPECT_EQ(vmmd.frames_.size(), 4u);
}

TEST(RunTopTest, VmDeletedBetweenTheCallsIsLeftOut) {
  FakeVmmd vmmd;
  vmmd.missing_ = {"b-run"};
  TopOptions options;
  options.count = 1;
  ASSERT_EQ(vmmd.Run(options).exit_code, 0);
  ASSERT_EQ(vmmd.frames_.size(), 1u);
  EXPECT_EQ(vmmd.frames_[0],
            "2023-11-14T22:13:20Z  VMs: 1  online vCPUs: 0\n"
            "NAME   STATE    VCPUS  UTIL  STEAL  MODE  REC  LAST_SCALE\n"
            "a-new  CREATED  0/2/4  -     -      off   -    -\n");
}

TEST(RunTopTest, FailedCallsEndItWithExit1) {
  FakeVmmd vmmd;
  vmmd.list_error_ = grpc::Status(grpc::StatusCode::UNAVAILABLE, "cannot reach vmmd at x");
  TopResult result = vmmd.Run(TopOptions());
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.err, "vmmctl: UNAVAILABLE: cannot reach vmmd at x\n");
  EXPECT_TRUE(vmmd.frames_.empty());

  FakeVmmd cpus;
  cpus.cpu_error_ = grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "Deadline Exceeded");
  result = cpus.Run(TopOptions());
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.err, "vmmctl: DEADLINE_EXCEEDED: Deadline Exceeded\n");

  // A call a stop signal cancelled is not an error.
  FakeVmmd stopped;
  stopped.list_error_ = grpc::Status(grpc::StatusCode::CANCELLED, "Cancelled");
  stopped.stopped_ = true;
  result = stopped.Run(TopOptions());
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.err, "");
}

// The command line.
ParsedArgs TopArgs(absl::flat_hash_set<std::string> flags_set = {}) {
  ParsedArgs args;
  args.positional = {"top"};
  args.flags_set = std::move(flags_set);
  return args;
}

FlagValues TopFlags() {
  FlagValues flags;
  flags.socket = "/run/vmmd/vmmd.sock";
  return flags;
}

TEST(TopInvocationTest, DefaultsAndFlags) {
  absl::StatusOr<Invocation> inv = BuildInvocation(TopArgs(), TopFlags(), "/");
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->command, "top");
  EXPECT_EQ(inv->top.interval, absl::Seconds(2));
  EXPECT_EQ(inv->top.count, 0u);
  EXPECT_FALSE(inv->top.once);
  EXPECT_EQ(inv->top.sort, TopSort::kName);
  EXPECT_EQ(inv->timeout, absl::Seconds(30));  // each call's deadline

  FlagValues flags = TopFlags();
  flags.interval = 0.2;
  flags.count = 5;
  flags.sort = "steal";
  inv = BuildInvocation(TopArgs({"interval", "count", "sort"}), flags, "/");
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->top.interval, absl::Milliseconds(200));
  EXPECT_EQ(inv->top.count, 5u);
  EXPECT_EQ(inv->top.sort, TopSort::kSteal);

  flags = TopFlags();
  flags.once = true;
  inv = BuildInvocation(TopArgs({"once"}), flags, "/");
  ASSERT_TRUE(inv.ok());
  EXPECT_TRUE(inv->top.once);
}

TEST(TopInvocationTest, UsageErrors) {
  auto problem = [](absl::flat_hash_set<std::string> set, const FlagValues& flags,
                    std::vector<std::string> positional = {"top"}) {
    ParsedArgs args = TopArgs(std::move(set));
    args.positional = std::move(positional);
    return std::string(BuildInvocation(args, flags, "/").status().message());
  };
  for (double bad : {0.0, -1.0, 3600.5, std::nan("")}) {
    FlagValues flags = TopFlags();
    flags.interval = bad;
    EXPECT_EQ(problem({"interval"}, flags),
              "top: --interval must be a number of seconds in (0, 3600]")
        << bad;
  }
  FlagValues flags = TopFlags();
  flags.interval = 3600;
  EXPECT_EQ(problem({"interval"}, flags), "");
  flags = TopFlags();
  EXPECT_EQ(problem({"count"}, flags), "top: --count must be at least 1");
  flags.count = 2;
  flags.once = true;
  EXPECT_EQ(problem({"count", "once"}, flags), "top: --once and --count exclude each other");
  flags = TopFlags();
  flags.sort = "mem";
  EXPECT_EQ(problem({"sort"}, flags), "top: --sort must be name, util, steal or vcpus (got 'mem')");
  EXPECT_EQ(problem({}, TopFlags(), {"top", "vm1"}), "top: unexpected argument 'vm1'");
  EXPECT_EQ(problem({"interval"}, TopFlags(), {"list"}), "list: --interval is only for top");
  EXPECT_EQ(problem({"once"}, TopFlags(), {"get", "vm1"}), "get: --once is only for top");
}

}  // namespace
}  // namespace vmmd::vmmctl
