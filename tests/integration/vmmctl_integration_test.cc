// The built vmmctl binary against a live daemon: exact stdout, stderr and exit codes.
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/daemon_fixture.h"

#ifndef VMMCTL_PATH
#error "VMMCTL_PATH (the built vmmctl) must be defined by CMake"
#endif

namespace vmmd::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::StartsWith;

class VmmctlTest : public DaemonTest {
 protected:
  // vmmctl --socket <socket> ARGS..., run in the temp dir (relative paths resolve there).
  ProcessResult Vmmctl(std::vector<std::string> args) {
    args.insert(args.begin(), {VMMCTL_PATH, "--socket", socket_});
    return RunProcess(args, tmp_.path());
  }
  ProcessResult CreateVm1(const std::string& vcpus = "2", const std::string& max = "4") {
    // Relative --kernel/--initrd: vmmctl makes them absolute against its cwd (tmp_).
    return Vmmctl({"create", "vm1", "--kernel", "Image", "--initrd=initrd.cpio", "--cmdline",
                   "console=ttyAMA0 quiet", "--memory-mib", "128", "--vcpus", vcpus, "--max-vcpus",
                   max});
  }
  static std::vector<std::string> Lines(const std::string& text) {
    return absl::StrSplit(text, '\n', absl::SkipEmpty());
  }
  // Whitespace-separated fields of a table row (what awk sees).
  static std::vector<std::string> Fields(const std::string& row) {
    return absl::StrSplit(row, ' ', absl::SkipEmpty());
  }
};

TEST_F(VmmctlTest, FullLifecycleWithExactOutput) {
  ProcessResult r = CreateVm1();
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "vm1: CREATED\n");
  EXPECT_EQ(r.err, "");
  absl::StatusOr<vmm::VmInfo> info = daemon_->vms().GetVm("vm1");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->spec.kernel_path, kernel_);  // made absolute
  EXPECT_EQ(info->spec.initrd_path, initrd_);

  r = Vmmctl({"list"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out,
            "NAME  STATE    ONLINE/MAX  MEMORY_MIB\n"
            "vm1   CREATED  0/4         128\n");

  r = Vmmctl({"get", "vm1"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(
      Lines(r.out),
      ElementsAre("name: vm1", "state: CREATED", "reason: -", "vcpus: 2", "max_vcpus: 4",
                  "start_vcpus: 2", "online_vcpus: 0", "target_vcpus: 2", "memory_mib: 128",
                  "kernel: " + kernel_, "initrd: " + initrd_, "cmdline: console=ttyAMA0 quiet",
                  "firmware: -", "boot: dt", "console_log: -",
                  MatchesRegex("created: [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:"
                               "[0-9]{2}Z"),
                  "started: -", "stopped: -", "restarts: 0", "unmapped_mmio: 0",
                  "autoscale: off 2..4 vCPUs, target 0.70, tolerance 0.10, up: window "
                  "0s +4/15s, down: window 300s -1/15s"));

  r = Vmmctl({"cpus", "vm1"});  // not started: the vCPUs exist on paper only
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out,
            "VCPU  MPIDR  STATE    BOOT  ACPI  PSCI  TID  EXITS  BUSY_S  DELAY_S\n"
            "0     0x0    OFFLINE  yes   yes   off   0    0      0.00    0.00\n"
            "1     0x0    OFFLINE  yes   yes   off   0    0      0.00    0.00\n"
            "2     0x0    PARKED   no    no    off   0    0      0.00    0.00\n"
            "3     0x0    PARKED   no    no    off   0    0      0.00    0.00\n");

  r = Vmmctl({"start", "vm1"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "vm1: RUNNING\n");

  ASSERT_TRUE(WaitForVcpuThread("vm1", 0));
  r = Vmmctl({"cpus", "vm1"});
  EXPECT_EQ(r.exit_code, 0);
  std::vector<std::string> rows = Lines(r.out);
  ASSERT_EQ(rows.size(), 5u) << r.out;
  EXPECT_THAT(Fields(rows[0]), ElementsAre("VCPU", "MPIDR", "STATE", "BOOT", "ACPI", "PSCI", "TID",
                                           "EXITS", "BUSY_S", "DELAY_S"));
  // vCPU 0 runs on its own thread (TID, exit count and CPU time vary).
  EXPECT_THAT(Fields(rows[1]), ElementsAre("0", "0x80000000", "ONLINE", "yes", "yes", "on",
                                           MatchesRegex("[1-9][0-9]*"), MatchesRegex("[0-9]+"),
                                           MatchesRegex("[0-9]+\\.[0-9][0-9]"),
                                           MatchesRegex("[0-9]+\\.[0-9][0-9]")));
  EXPECT_THAT(Fields(rows[2]), ElementsAre("1", "0x80000001", "OFFLINE", "yes", "yes", "off", "0",
                                           MatchesRegex("[0-9]+"), "0.00", "0.00"));
  EXPECT_THAT(Fields(rows[3]), ElementsAre("2", "0x80000002", "PARKED", "no", "no", "off", "0", "0",
                                           "0.00", "0.00"));
  EXPECT_THAT(Fields(rows[4]), ElementsAre("3", "0x80000003", "PARKED", "no", "no", "off", "0", "0",
                                           "0.00", "0.00"));

  r = Vmmctl({"list"});
  EXPECT_EQ(r.out,
            "NAME  STATE    ONLINE/MAX  MEMORY_MIB\n"
            "vm1   RUNNING  1/4         128\n");

  r = Vmmctl({"get", "vm1"});
  EXPECT_THAT(r.out, HasSubstr("\nstate: RUNNING\n"));
  EXPECT_THAT(r.out, MatchesRegex("(.|\n)*\nstarted: [0-9]{4}-[0-9-]{5}T[0-9:]{8}Z\n(.|\n)*"));

  r = Vmmctl({"stop", "vm1"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "vm1: STOPPED\n");
  r = Vmmctl({"delete", "vm1"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "vm1: DELETED\n");
  r = Vmmctl({"list"});
  EXPECT_EQ(r.out, "NAME  STATE  ONLINE/MAX  MEMORY_MIB\n");
}

TEST_F(VmmctlTest, RpcErrorsAreCodeAndMessageOnStderrWithExit1) {
  ASSERT_EQ(CreateVm1().exit_code, 0);
  ProcessResult r = Vmmctl({"get", "nope"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "vmmctl: NOT_FOUND: no VM named \"nope\"\n");

  for (const char* verb : {"start", "stop", "delete", "cpus"}) {
    r = Vmmctl({verb, "nope"});
    EXPECT_EQ(r.exit_code, 1) << verb;
    EXPECT_THAT(r.err, StartsWith("vmmctl: NOT_FOUND: ")) << verb;
  }

  r = CreateVm1();
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "vmmctl: ALREADY_EXISTS: a VM named \"vm1\" already exists\n");

  r = Vmmctl({"create", "vm2", "--kernel", "Image", "--memory-mib", "128", "--vcpus", "3",
              "--max-vcpus", "2"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "vmmctl: INVALID_ARGUMENT: max_vcpus (2) must be >= vcpus (3)\n");

  // "--" ends the flags, so "-x" is sent as the name and refused by the daemon.
  r = Vmmctl({"create", "--kernel", "Image", "--memory-mib", "128", "--vcpus", "1", "--max-vcpus",
              "1", "--", "-x"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, StartsWith("vmmctl: INVALID_ARGUMENT: name \"-x\" is not valid"));

  r = Vmmctl({"create", "vm3", "--kernel", "no-such-Image", "--memory-mib", "128", "--vcpus", "1",
              "--max-vcpus", "1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, StartsWith("vmmctl: NOT_FOUND: kernel_path \"" + tmp_.path() +
                                "/no-such-Image\": no such file"));
  r = Vmmctl({"create", "vm3", "--kernel", "/etc/hostname", "--memory-mib", "128", "--vcpus", "1",
              "--max-vcpus", "1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, StartsWith("vmmctl: PERMISSION_DENIED: kernel_path \"/etc/hostname\" is not "
                                "under an image directory: vmmd opens only files under " +
                                tmp_.path() + " (its --image_dir flag)"));
  // This daemon has no state directory: no console log to print.
  r = Vmmctl({"console", "vm1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, StartsWith("vmmctl: FAILED_PRECONDITION: VM vm1 has no console log: vmmd "
                                "runs without --state_dir"));
  EXPECT_EQ(Vmmctl({"console", "no-such-vm"}).exit_code, 1);

  ASSERT_EQ(Vmmctl({"start", "vm1"}).exit_code, 0);
  r = Vmmctl({"start", "vm1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, StartsWith("vmmctl: FAILED_PRECONDITION: "));
}

TEST_F(VmmctlTest, UsageErrorsExit2WithUsage) {
  struct Case {
    std::vector<std::string> args;
    std::string first_line;
  };
  const Case cases[] = {
      {{"frob"}, "vmmctl: unknown command 'frob'"},
      {{}, "vmmctl: missing COMMAND"},
      {{"get"}, "vmmctl: get: missing NAME"},
      {{"get", "a", "b"}, "vmmctl: get: unexpected argument 'b'"},
      {{"list", "--bogus"}, "vmmctl: unknown flag --bogus"},
      {{"create", "vm9", "--memory-mib", "128", "--vcpus", "1", "--max-vcpus", "1"},
       "vmmctl: create: --kernel is required"},
      {{"create", "vm9", "--kernel", "Image", "--memory-mib", "lots"},
       "vmmctl: bad value 'lots' for --memory-mib: "},
      {{"get", "vm1", "--kernel", "Image"}, "vmmctl: get: --kernel is only for create"},
      {{"list", "--timeout", "-1"}, "vmmctl: --timeout must be"},
  };
  for (const Case& c : cases) {
    ProcessResult r = Vmmctl(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.first_line;
    EXPECT_EQ(r.out, "");
    EXPECT_THAT(r.err, StartsWith(c.first_line));
    EXPECT_THAT(r.err, HasSubstr("\nUsage: vmmctl "));
  }
  ProcessResult help = Vmmctl({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, StartsWith("Usage: vmmctl "));
}

TEST_F(VmmctlTest, UnreachableDaemon) {
  const std::string missing = tmp_.path() + "/none.sock";
  ProcessResult r = RunProcess({VMMCTL_PATH, "--socket", missing, "list"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "vmmctl: UNAVAILABLE: cannot reach vmmd at " + missing +
                       ": No such file or directory\n");
}

TEST_F(VmmctlTest, SilentDaemonHitsTheDeadline) {
  // A socket that accepts connections (backlog) but never speaks: a hung daemon.
  const std::string path = tmp_.path() + "/silent.sock";
  ScopedFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(fd.get(), 16), 0);
  const absl::Time start = absl::Now();
  ProcessResult r = RunProcess({VMMCTL_PATH, "--socket", path, "--timeout", "0.5", "list"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, StartsWith("vmmctl: DEADLINE_EXCEEDED: no answer from vmmd at " + path +
                                " within 500ms ("));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
}

TEST_F(VmmctlTest, JsonOutputKeepsProtoFieldNames) {
  ASSERT_EQ(CreateVm1().exit_code, 0);
  ProcessResult r = Vmmctl({"--json", "get", "vm1"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, StartsWith("{"));
  EXPECT_THAT(r.out, HasSubstr("\"name\": \"vm1\""));
  EXPECT_THAT(r.out, HasSubstr("\"kernel_path\": \"" + kernel_ + "\""));
  EXPECT_THAT(r.out, HasSubstr("\"state\": \"VM_STATE_CREATED\""));
  EXPECT_THAT(r.out, HasSubstr("\"memory_mib\": \"128\""));
  EXPECT_THAT(r.out, HasSubstr("\"online_vcpus\": 0"));  // defaults are printed

  r = Vmmctl({"cpus", "vm1", "--json"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("\"acpi_enabled\": true"));
  EXPECT_THAT(r.out, HasSubstr("\"state\": \"VCPU_STATE_PARKED\""));

  r = Vmmctl({"--json", "list"});
  EXPECT_THAT(r.out, HasSubstr("\"vms\": ["));

  r = Vmmctl({"--json", "delete", "vm1"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "{}\n");
}

}  // namespace
}  // namespace vmmd::testing
