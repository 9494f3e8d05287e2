#include "vmmd/vmmctl/commands.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace vmmd::vmmctl {
namespace {

using ::vmmd::testing::StatusIs;

ParsedArgs Args(std::vector<std::string> positional,
                absl::flat_hash_set<std::string> flags_set = {}) {
  ParsedArgs args;
  args.positional = std::move(positional);
  args.flags_set = std::move(flags_set);
  return args;
}

FlagValues Flags() {
  FlagValues flags;
  flags.socket = "/run/vmmd/vmmd.sock";
  return flags;
}

FlagValues CreateFlags() {
  FlagValues flags = Flags();
  flags.kernel = "images/Image";
  flags.initrd = "/abs/initrd";
  flags.cmdline = "console=ttyAMA0";
  flags.firmware = "fw.fd";
  flags.memory_mib = 256;
  flags.vcpus = 2;
  flags.max_vcpus = 4;
  return flags;
}

const absl::flat_hash_set<std::string> kCreateSet = {"kernel",     "initrd", "cmdline",  "firmware",
                                                     "memory_mib", "vcpus",  "max_vcpus"};

TEST(BuildInvocationTest, CreateMakesPathsAbsolute) {
  absl::StatusOr<Invocation> inv =
      BuildInvocation(Args({"create", "vm1"}, kCreateSet), CreateFlags(), "/home/me");
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->command, "create");
  EXPECT_EQ(inv->name, "vm1");
  EXPECT_EQ(inv->spec.name(), "vm1");
  EXPECT_EQ(inv->spec.kernel_path(), "/home/me/images/Image");
  EXPECT_EQ(inv->spec.initrd_path(), "/abs/initrd");
  EXPECT_EQ(inv->spec.firmware_path(), "/home/me/fw.fd");
  EXPECT_EQ(inv->spec.cmdline(), "console=ttyAMA0");
  EXPECT_EQ(inv->spec.memory_mib(), 256u);
  EXPECT_EQ(inv->spec.boot_vcpus(), 2u);
  EXPECT_EQ(inv->spec.max_vcpus(), 4u);
  EXPECT_EQ(inv->timeout, absl::Seconds(30));
  EXPECT_FALSE(inv->json);
}

TEST(BuildInvocationTest, CreateWithAFirmwareMayBootFromTheDiskWithoutAKernel) {
  FlagValues flags = CreateFlags();
  flags.kernel = "";
  flags.initrd = "";
  flags.cmdline = "";
  flags.disks = {"debian.raw"};
  absl::flat_hash_set<std::string> set = {"firmware", "disk", "memory_mib", "vcpus", "max_vcpus"};
  absl::StatusOr<Invocation> inv = BuildInvocation(Args({"create", "vm1"}, set), flags, "/home/me");
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->spec.kernel_path(), "");
  EXPECT_EQ(inv->spec.firmware_path(), "/home/me/fw.fd");
  EXPECT_EQ(inv->spec.disks(0).path(), "/home/me/debian.raw");
  flags.firmware = "";
  set.erase("firmware");
  EXPECT_THAT(BuildInvocation(Args({"create", "vm1"}, set), flags, "/home/me"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "create: --kernel is required (or --firmware and a --disk to boot from)"));
}

TEST(BuildInvocationTest, CreateTakesNicsInOrderAndEntropy) {
  FlagValues flags = CreateFlags();
  flags.nics = {"tap=tap0", "mac=02:00:5e:10:00:02,tap=tap1"};
  flags.entropy = true;
  absl::flat_hash_set<std::string> set = kCreateSet;
  set.insert("net");
  set.insert("entropy");
  absl::StatusOr<Invocation> inv = BuildInvocation(Args({"create", "vm1"}, set), flags, "/home/me");
  ASSERT_TRUE(inv.ok()) << inv.status();
  ASSERT_EQ(inv->spec.nics_size(), 2);
  EXPECT_EQ(inv->spec.nics(0).tap(), "tap0");
  EXPECT_EQ(inv->spec.nics(0).mac(), "");
  EXPECT_EQ(inv->spec.nics(1).tap(), "tap1");
  EXPECT_EQ(inv->spec.nics(1).mac(), "02:00:5e:10:00:02");
  EXPECT_TRUE(inv->spec.entropy());
  for (const char* bad : {"tap0", "mac=02:00:5e:10:00:02", "tap=tap0,ro", ""}) {
    flags.nics = {bad};
    EXPECT_THAT(BuildInvocation(Args({"create", "vm1"}, set), flags, "/home/me"),
                StatusIs(absl::StatusCode::kInvalidArgument))
        << bad;
  }
}

TEST(BuildInvocationTest, CreateTakesDisksInOrder) {
  FlagValues flags = CreateFlags();
  flags.disks = {"root.img", "/abs/data.img,ro,serial=data-1", "x.img,serial=a,ro"};
  absl::flat_hash_set<std::string> set = kCreateSet;
  set.insert("disk");
  absl::StatusOr<Invocation> inv = BuildInvocation(Args({"create", "vm1"}, set), flags, "/home/me");
  ASSERT_TRUE(inv.ok()) << inv.status();
  ASSERT_EQ(inv->spec.disks_size(), 3);
  EXPECT_EQ(inv->spec.disks(0).path(), "/home/me/root.img");
  EXPECT_FALSE(inv->spec.disks(0).read_only());
  EXPECT_EQ(inv->spec.disks(0).serial(), "");
  EXPECT_EQ(inv->spec.disks(1).path(), "/abs/data.img");
  EXPECT_TRUE(inv->spec.disks(1).read_only());
  EXPECT_EQ(inv->spec.disks(1).serial(), "data-1");
  EXPECT_TRUE(inv->spec.disks(2).read_only());
  for (const char* bad : {",ro", "a.img,rw", "a.img,serial"}) {
    flags.disks = {bad};
    EXPECT_THAT(BuildInvocation(Args({"create", "vm1"}, set), flags, "/home/me"),
                StatusIs(absl::StatusCode::kInvalidArgument))
        << bad;
  }
}

TEST(BuildInvocationTest, CreateNeedsItsFlags) {
  for (const char* missing : {"memory_mib", "vcpus", "max_vcpus"}) {
    absl::flat_hash_set<std::string> set = kCreateSet;
    set.erase(missing);
    EXPECT_THAT(BuildInvocation(Args({"create", "vm1"}, set), CreateFlags(), "/"),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         std::string("create: --") + missing + " is required"));
  }
}

TEST(BuildInvocationTest, NameCommands) {
  for (const char* cmd : {"start", "stop", "delete", "get", "cpus"}) {
    absl::StatusOr<Invocation> inv = BuildInvocation(Args({cmd, "vm1"}), Flags(), "/");
    ASSERT_TRUE(inv.ok()) << cmd;
    EXPECT_EQ(inv->name, "vm1");
    EXPECT_THAT(BuildInvocation(Args({cmd}), Flags(), "/"),
                StatusIs(absl::StatusCode::kInvalidArgument, std::string(cmd) + ": missing NAME"));
    EXPECT_THAT(BuildInvocation(Args({cmd, "a", "b"}), Flags(), "/"),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         std::string(cmd) + ": unexpected argument 'b'"));
  }
}

TEST(BuildInvocationTest, ConsoleFollowsOnRequest) {
  absl::StatusOr<Invocation> inv = BuildInvocation(Args({"console", "vm1"}), Flags(), "/");
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->name, "vm1");
  EXPECT_FALSE(inv->follow);
  FlagValues flags = Flags();
  flags.follow = true;
  inv = BuildInvocation(Args({"console", "vm1"}, {"follow"}), flags, "/");
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_TRUE(inv->follow);
  EXPECT_FALSE(inv->follow_deadline);  // until interrupted
  flags.timeout_set = true;
  inv = BuildInvocation(Args({"console", "vm1"}, {"follow", "timeout"}), flags, "/");
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_TRUE(inv->follow_deadline);
  // create no longer takes a console path.
  EXPECT_THAT(BuildInvocation(Args({"create", "vm1"}, {"console_log"}), Flags(), "/"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(BuildInvocation(Args({"console"}), Flags(), "/"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(BuildInvocationTest, ListTakesNoName) {
  EXPECT_TRUE(BuildInvocation(Args({"list"}), Flags(), "/").ok());
  EXPECT_THAT(BuildInvocation(Args({"list", "vm1"}), Flags(), "/"),
              StatusIs(absl::StatusCode::kInvalidArgument, "list: unexpected argument 'vm1'"));
}

TEST(BuildInvocationTest, UsageErrors) {
  EXPECT_THAT(BuildInvocation(Args({}), Flags(), "/"),
              StatusIs(absl::StatusCode::kInvalidArgument, "missing COMMAND"));
  EXPECT_THAT(BuildInvocation(Args({"frobnicate"}), Flags(), "/"),
              StatusIs(absl::StatusCode::kInvalidArgument, "unknown command 'frobnicate'"));
  EXPECT_THAT(BuildInvocation(Args({"get", "vm1"}, {"kernel"}), Flags(), "/"),
              StatusIs(absl::StatusCode::kInvalidArgument, "get: --kernel is only for create"));
  FlagValues flags = Flags();
  flags.timeout_seconds = 0;
  EXPECT_THAT(BuildInvocation(Args({"list"}), flags, "/"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  flags = Flags();
  flags.socket = "unix:";
  EXPECT_THAT(BuildInvocation(Args({"list"}), flags, "/"),
              StatusIs(absl::StatusCode::kInvalidArgument, "--socket must not be empty"));
}

TEST(BuildInvocationTest, GlobalFlags) {
  FlagValues flags = Flags();
  flags.json = true;
  flags.timeout_seconds = 0.5;
  flags.socket = "unix:/tmp/x.sock";
  absl::StatusOr<Invocation> inv = BuildInvocation(Args({"list"}), flags, "/");
  ASSERT_TRUE(inv.ok());
  EXPECT_TRUE(inv->json);
  EXPECT_EQ(inv->timeout, absl::Milliseconds(500));
  EXPECT_EQ(inv->socket, "unix:/tmp/x.sock");
}

// The table is complete: every row can be parsed, run and shown, and every flag a row takes is
// accepted on the command line and refused (naming its commands) elsewhere.
TEST(CommandTableTest, EveryRowIsCompleteAndItsFlagsAreKnown) {
  const std::vector<std::string> known = KnownFlags();
  EXPECT_EQ(std::vector<std::string>(known.begin(), known.begin() + 8),
            (std::vector<std::string>{"socket", "server", "tls_cert", "tls_key", "tls_ca",
                                      "insecure", "json", "timeout"}));
  const std::string usage = UsageText();
  for (const Command& c : Commands()) {
    SCOPED_TRACE(std::string(c.name));
    EXPECT_TRUE(c.prepare != nullptr);
    EXPECT_TRUE(c.run != nullptr);
    EXPECT_THAT(usage, ::testing::HasSubstr(absl::StrCat("  ", c.name, " ")));
    for (absl::string_view flag : c.flags) {
      EXPECT_NE(std::find(known.begin(), known.end(), std::string(flag)), known.end()) << flag;
    }
    for (absl::string_view flag : c.required) {
      EXPECT_NE(std::find(c.flags.begin(), c.flags.end(), flag), c.flags.end()) << flag;
    }
  }
  // A flag of one command given to another names every command that takes it.
  EXPECT_EQ(BuildInvocation(Args({"list"}, {"max_vcpus"}), Flags(), "/").status().message(),
            "list: --max_vcpus is only for create");
  EXPECT_EQ(BuildInvocation(Args({"events"}, {"vcpus"}), Flags(), "/").status().message(),
            "events: --vcpus is only for create and scale");
}

TEST(UsageTextTest, MentionsEveryCommand) {
  const std::string usage = UsageText();
  for (const char* word : {"create NAME", "start NAME", "stop NAME", "delete NAME", "get NAME",
                           "list", "cpus NAME", "--memory-mib=N", "--json", "--timeout"}) {
    EXPECT_THAT(usage, ::testing::HasSubstr(word));
  }
}

}  // namespace
}  // namespace vmmd::vmmctl

namespace vmmd::vmmctl {
namespace {

TEST(BuildInvocationScaleTest, DefaultsAndWaitValues) {
  FlagValues flags = Flags();
  flags.vcpus = 6;
  auto inv = BuildInvocation(Args({"scale", "vm1"}, {"vcpus"}), flags, "/");
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->target_vcpus, 6u);
  EXPECT_EQ(inv->wait, v1::SCALE_WAIT_ONLINE);
  EXPECT_EQ(inv->scale_timeout, absl::Seconds(60));
  EXPECT_EQ(inv->timeout, absl::Seconds(70));  // the call outlives the wait
  flags.wait = "enabled";
  flags.timeout_seconds = 5;
  flags.timeout_set = true;
  inv = BuildInvocation(Args({"scale", "vm1"}, {"vcpus", "wait", "timeout"}), flags, "/");
  ASSERT_TRUE(inv.ok());
  EXPECT_EQ(inv->wait, v1::SCALE_WAIT_ENABLED);
  EXPECT_EQ(inv->scale_timeout, absl::Seconds(5));
  flags.wait = "none";
  inv = BuildInvocation(Args({"scale", "vm1"}, {"vcpus", "wait"}), flags, "/");
  ASSERT_TRUE(inv.ok());
  EXPECT_EQ(inv->wait, v1::SCALE_WAIT_NONE);
}

// stop: --timeout is the guest's time to power off (the call gets 10 s more); --force does not
// wait, so it takes no --timeout.
TEST(BuildInvocationStopTest, TimeoutAndForce) {
  FlagValues flags = Flags();
  auto inv = BuildInvocation(Args({"stop", "vm1"}), flags, "/");
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_FALSE(inv->force);
  EXPECT_EQ(inv->stop_timeout, absl::Seconds(30));
  EXPECT_EQ(inv->timeout, absl::Seconds(40));  // the call outlives the wait
  flags.timeout_seconds = 90;
  flags.timeout_set = true;
  inv = BuildInvocation(Args({"stop", "vm1"}, {"timeout"}), flags, "/");
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->stop_timeout, absl::Seconds(90));
  EXPECT_EQ(inv->timeout, absl::Seconds(100));
  flags.timeout_seconds = 601;
  EXPECT_EQ(BuildInvocation(Args({"stop", "vm1"}, {"timeout"}), flags, "/").status().message(),
            "stop: --timeout must be at most 600");
  flags = Flags();
  flags.force = true;
  inv = BuildInvocation(Args({"stop", "vm1"}, {"force"}), flags, "/");
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_TRUE(inv->force);
  EXPECT_EQ(inv->timeout, absl::Seconds(30));  // the call's default deadline
  flags.timeout_set = true;
  EXPECT_EQ(
      BuildInvocation(Args({"stop", "vm1"}, {"force", "timeout"}), flags, "/").status().message(),
      "stop: --timeout is how long the guest may take to power off; --force does not wait "
      "for it: drop one");
  EXPECT_EQ(BuildInvocation(Args({"start", "vm1"}, {"force"}), Flags(), "/").status().message(),
            "start: --force is only for stop");
}

TEST(BuildInvocationScaleTest, UsageErrors) {
  FlagValues flags = Flags();
  EXPECT_EQ(BuildInvocation(Args({"scale", "vm1"}), flags, "/").status().message(),
            "scale: --vcpus is required");
  EXPECT_EQ(BuildInvocation(Args({"scale"}, {"vcpus"}), flags, "/").status().message(),
            "scale: missing NAME");
  flags.wait = "later";
  EXPECT_EQ(BuildInvocation(Args({"scale", "vm1"}, {"vcpus", "wait"}), flags, "/").status().message(),
            "scale: --wait must be online, enabled or none (got 'later')");
  flags = Flags();
  EXPECT_EQ(BuildInvocation(Args({"get", "vm1"}, {"wait"}), flags, "/").status().message(),
            "get: --wait is only for scale");
  EXPECT_EQ(BuildInvocation(Args({"start", "vm1"}, {"vcpus"}), flags, "/").status().message(),
            "start: --vcpus is only for create and scale");
  flags.timeout_seconds = 7200;
  flags.timeout_set = true;
  EXPECT_EQ(BuildInvocation(Args({"scale", "vm1"}, {"vcpus", "timeout"}), flags, "/").status().message(),
            "scale: --timeout must be at most 3600");
}

TEST(BuildInvocationAutoscaleTest, PolicyFromFlags) {
  FlagValues flags = Flags();
  flags.mode = "auto";
  flags.min = 1;
  flags.max = 4;
  flags.target_utilization = 0.6;
  flags.scale_down_stabilization = 20;
  flags.step_period = 2.5;
  auto inv = BuildInvocation(
      Args({"autoscale", "vm1"},
           {"mode", "min", "max", "target_utilization", "scale_down_stabilization", "step_period"}),
      flags, "/");
  ASSERT_TRUE(inv.ok()) << inv.status();
  ASSERT_TRUE(inv->has_policy);
  const v1::AutoscalePolicy& p = inv->policy;
  EXPECT_EQ(p.mode(), v1::AUTOSCALE_MODE_AUTO);
  EXPECT_EQ(p.min_vcpus(), 1u);
  EXPECT_EQ(p.max_vcpus(), 4u);
  EXPECT_EQ(p.target_utilization(), 0.6);
  EXPECT_FALSE(p.has_tolerance());               // not given: vmmd's default
  EXPECT_FALSE(p.has_scale_up_stabilization());  // not given
  EXPECT_EQ(p.scale_down_stabilization().seconds(), 20);
  EXPECT_EQ(p.step_period().seconds(), 2);
  EXPECT_EQ(p.step_period().nanos(), 500'000'000);
  // An explicit 0 is sent as 0.
  flags.tolerance = 0;
  flags.scale_up_stabilization = 0;
  inv = BuildInvocation(Args({"autoscale", "vm1"}, {"mode", "tolerance", "scale_up_stabilization"}),
                        flags, "/");
  ASSERT_TRUE(inv.ok());
  EXPECT_TRUE(inv->policy.has_tolerance());
  EXPECT_TRUE(inv->policy.has_scale_up_stabilization());
  EXPECT_EQ(inv->policy.scale_up_stabilization().seconds(), 0);
}

TEST(BuildInvocationAutoscaleTest, UsageErrors) {
  FlagValues flags = Flags();
  EXPECT_EQ(BuildInvocation(Args({"autoscale", "vm1"}), flags, "/").status().message(),
            "autoscale: --mode is required");
  flags.mode = "sometimes";
  EXPECT_EQ(BuildInvocation(Args({"autoscale", "vm1"}, {"mode"}), flags, "/").status().message(),
            "autoscale: --mode must be auto, recommend or off (got 'sometimes')");
  flags.mode = "auto";
  flags.step_period = -1;
  EXPECT_EQ(BuildInvocation(Args({"autoscale", "vm1"}, {"mode", "step_period"}), flags, "/")
                .status()
                .message(),
            "autoscale: --step_period must be a number of seconds in [0, 1000000]");
  EXPECT_EQ(BuildInvocation(Args({"get", "vm1"}, {"min"}), Flags(), "/").status().message(),
            "get: --min is only for create and autoscale");
  // create: the policy flags need --autoscale.
  FlagValues create = CreateFlags();
  absl::flat_hash_set<std::string> set = kCreateSet;
  set.insert("max");
  EXPECT_EQ(BuildInvocation(Args({"create", "vm1"}, set), create, "/").status().message(),
            "create: --max needs --autoscale");
  set.insert("autoscale");
  create.autoscale = "recommend";
  create.max = 3;
  auto inv = BuildInvocation(Args({"create", "vm1"}, set), create, "/");
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_TRUE(inv->has_policy);
  EXPECT_EQ(inv->policy.mode(), v1::AUTOSCALE_MODE_RECOMMEND);
  EXPECT_EQ(inv->policy.max_vcpus(), 3u);
  inv = BuildInvocation(Args({"create", "vm1"}, kCreateSet), CreateFlags(), "/");
  ASSERT_TRUE(inv.ok());
  EXPECT_FALSE(inv->has_policy);
}

TEST(BuildInvocationScaleTest, EventsNameIsOptional) {
  auto all = BuildInvocation(Args({"events"}), Flags(), "/");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->name, "");
  EXPECT_FALSE(all->events_deadline);
  auto one = BuildInvocation(Args({"events", "vm1"}), Flags(), "/");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->name, "vm1");
}

}  // namespace
}  // namespace vmmd::vmmctl
