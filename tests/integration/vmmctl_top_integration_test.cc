// `vmmctl top`, the built binary, against a live daemon over FakeHypervisor: exact columns, the
// rows of a created and of a running VM, the JSON frame (parsed), frame counts, SIGINT/SIGTERM
// (also in the middle of a call) and errors.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/common/scoped_fd.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/integration/daemon_fixture.h"

#ifndef VMMCTL_PATH
#error "VMMCTL_PATH (the built vmmctl) must be defined by CMake"
#endif

extern char** environ;

namespace vmmd::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::StartsWith;

constexpr char kTimeRegex[] = "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

// A vmmctl running in the background, stdout and stderr to files (stdout to the terminal
// `tty` when given).
class Background {
 public:
  Background(std::vector<std::string> argv, const std::string& dir, const std::string& tty = "")
      : out_(dir + "/bg.out"), err_(dir + "/bg.err") {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (tty.empty()) {
      posix_spawn_file_actions_addopen(&actions, 1, out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                       0600);
    } else {
      posix_spawn_file_actions_addopen(&actions, 1, tty.c_str(), O_WRONLY | O_NOCTTY, 0);
    }
    posix_spawn_file_actions_addopen(&actions, 2, err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    // Default SIGINT/SIGTERM in the child, whatever this process inherited (vmmctl keeps an
    // ignored signal ignored).
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t defaults;
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGTERM);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
    std::vector<char*> args;
    for (std::string& arg : argv) args.push_back(arg.data());
    args.push_back(nullptr);
    const int err = posix_spawn(&pid_, args[0], &actions, &attr, args.data(), environ);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
    if (err != 0) {
      ADD_FAILURE() << "posix_spawn: " << strerror(err);
      pid_ = -1;
    }
  }
  ~Background() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;

  // True once the process catches SIGINT and SIGTERM (its handlers are in place).
  bool WaitForHandlers() {
    const uint64_t both = (1u << (SIGINT - 1)) | (1u << (SIGTERM - 1));
    return Poll([&] {
      for (absl::string_view line :
           absl::StrSplit(ReadAll(absl::StrCat("/proc/", pid_, "/status")), '\n')) {
        uint64_t caught = 0;
        if (absl::ConsumePrefix(&line, "SigCgt:\t") && absl::SimpleHexAtoi(line, &caught)) {
          return (caught & both) == both;
        }
      }
      return false;
    });
  }
  bool WaitForOutput(absl::string_view text) {
    return Poll([&] { return absl::StrContains(ReadAll(out_), text); });
  }
  // The exit status after `signal`; -1 if it did not exit normally within 10 s.
  int StopWith(int signal) {
    ::kill(pid_, signal);
    int status = 0;
    const bool exited = Poll([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; });
    if (!exited) return -1;
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  // The exit status once it exited by itself; nullopt while it runs (-1: not a normal exit).
  std::optional<int> Exited() {
    int status = 0;
    if (pid_ <= 0 || ::waitpid(pid_, &status, WNOHANG) != pid_) return std::nullopt;
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  std::string out() const { return ReadAll(out_); }
  std::string err() const { return ReadAll(err_); }

 private:
  template <typename Fn>
  static bool Poll(Fn done) {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (absl::Now() < deadline) {
      if (done()) return true;
      absl::SleepFor(absl::Milliseconds(10));
    }
    return false;
  }

  std::string out_;
  std::string err_;
  pid_t pid_ = -1;
};

class VmmctlTopTest : public DaemonTest {
 protected:
  ProcessResult Vmmctl(std::vector<std::string> args) {
    args.insert(args.begin(), {VMMCTL_PATH, "--socket", socket_});
    return RunProcess(args, tmp_.path());
  }
  // "idle" created, "busy" running (vCPU 0 on its thread; 1 of 2 boot vCPUs online, max 4).
  void CreateFleet() {
    ASSERT_TRUE(Create("idle").ok());
    ASSERT_TRUE(Create("busy").ok());
    grpc::ClientContext context;
    v1::StartVmRequest start;
    start.set_name("busy");
    v1::Vm vm;
    ASSERT_TRUE(stub_->StartVm(&context, start, &vm).ok());
    ASSERT_TRUE(WaitForVcpuThread("busy", 0));
  }
  static std::vector<std::string> Lines(const std::string& text) {
    return absl::StrSplit(text, '\n', absl::SkipEmpty());
  }
};

TEST_F(VmmctlTopTest, OnceShowsACreatedAndARunningVm) {
  CreateFleet();
  const absl::Time start = absl::Now();
  ProcessResult r = Vmmctl({"top", "--once", "--interval=0.2"});
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(200));  // two samples, one interval apart
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("\x1b")));  // not a terminal: no clearing
  const std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 4u) << r.out;
  EXPECT_THAT(lines[0], MatchesRegex(absl::StrCat(kTimeRegex, "  VMs: 2  online vCPUs: 1")));
  EXPECT_EQ(lines[1], "NAME  STATE    VCPUS  UTIL  STEAL  MODE  REC  LAST_SCALE");
  // The rates of the running VM over the interval (the fake vCPU idles: a few %).
  EXPECT_THAT(lines[2],
              MatchesRegex("busy  RUNNING  1/2/4  [0-9]{1,3}% +[0-9]{1,3}% +off   -    -"));
  EXPECT_EQ(lines[3], "idle  CREATED  0/2/4  -     -      off   -    -");
}

TEST_F(VmmctlTopTest, JsonOnceIsOneParsableLineWithTheAutoscalerView) {
  CreateFleet();
  v1::Vm vm;
  {
    grpc::ClientContext context;
    v1::SetAutoscalePolicyRequest request;
    request.set_name("busy");
    request.mutable_policy()->set_mode(v1::AUTOSCALE_MODE_RECOMMEND);
    ASSERT_TRUE(stub_->SetAutoscalePolicy(&context, request, &vm).ok());
  }
  {
    grpc::ClientContext context;
    v1::ReportAutoscaleStatusRequest request;
    request.set_name("busy");
    v1::AutoscaleStatus* st = request.mutable_status();
    st->set_recommended_vcpus(3);
    st->mutable_last_scale_time()->set_seconds(absl::ToUnixSeconds(absl::Now()) - 14);
    st->set_last_scale_from(2);
    st->set_last_scale_to(3);
    st->set_last_scale_result("ok");
    ASSERT_TRUE(stub_->ReportAutoscaleStatus(&context, request, &vm).ok());
  }

  ProcessResult r = Vmmctl({"--json", "top", "--once", "--interval=0.2"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  ASSERT_EQ(Lines(r.out).size(), 1u) << r.out;
  ASSERT_TRUE(absl::EndsWith(r.out, "}\n")) << r.out;
  google::protobuf::Struct frame;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &frame).ok()) << r.out;
  EXPECT_THAT(frame.fields().at("time").string_value(),
              MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z"));
  const auto& vms = frame.fields().at("vms").list_value().values();
  ASSERT_EQ(vms.size(), 2);
  const auto& busy = vms[0].struct_value().fields();
  EXPECT_EQ(busy.at("name").string_value(), "busy");
  EXPECT_EQ(busy.at("state").string_value(), "RUNNING");
  EXPECT_EQ(busy.at("online").number_value(), 1);
  EXPECT_EQ(busy.at("target").number_value(), 2);
  EXPECT_EQ(busy.at("max").number_value(), 4);
  ASSERT_EQ(busy.at("utilization").kind_case(), google::protobuf::Value::kNumberValue);
  EXPECT_GE(busy.at("utilization").number_value(), 0);
  ASSERT_EQ(busy.at("steal").kind_case(), google::protobuf::Value::kNumberValue);
  EXPECT_EQ(busy.at("mode").string_value(), "recommend");
  EXPECT_EQ(busy.at("recommended").number_value(), 3);
  const auto& last = busy.at("last_scale").struct_value().fields();
  EXPECT_EQ(last.at("from").number_value(), 2);
  EXPECT_EQ(last.at("to").number_value(), 3);
  EXPECT_EQ(last.at("result").string_value(), "ok");
  EXPECT_THAT(last.at("time").string_value(), MatchesRegex(".*T.*:[0-9]{2}\\.000Z"));
  const auto& idle = vms[1].struct_value().fields();
  EXPECT_EQ(idle.at("name").string_value(), "idle");
  EXPECT_EQ(idle.at("state").string_value(), "CREATED");
  EXPECT_EQ(idle.at("online").number_value(), 0);
  for (const char* key : {"utilization", "steal", "recommended", "last_scale"}) {
    EXPECT_EQ(idle.at(key).kind_case(), google::protobuf::Value::kNullValue) << key;
  }
  EXPECT_EQ(idle.at("mode").string_value(), "off");

  // The same in the table, sorted by utilisation (the running VM first).
  r = Vmmctl({"top", "--once", "--interval=0.1", "--sort=util"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 4u) << r.out;
  EXPECT_EQ(lines[1], "NAME  STATE    VCPUS  UTIL  STEAL  MODE       REC  LAST_SCALE");
  EXPECT_THAT(lines[2], MatchesRegex("busy  RUNNING  1/2/4  [0-9]{1,3}% +[0-9]{1,3}% +recommend  "
                                     "3    2->3 ok (1[4-9]|[2-5][0-9])s ago"));
  EXPECT_EQ(lines[3], "idle  CREATED  0/2/4  -     -      off        -    -");
}

TEST_F(VmmctlTopTest, CountFramesArePrintedOneAfterTheOther) {
  CreateFleet();
  ProcessResult r = Vmmctl({"top", "--count=2", "--interval=0.1", "--sort=vcpus"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("\x1b")));
  const std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 8u) << r.out;  // 2 frames of 4 lines, sorted by online vCPUs
  for (size_t frame : {size_t{0}, size_t{4}}) {
    EXPECT_THAT(lines[frame], MatchesRegex(absl::StrCat(kTimeRegex, "  VMs: 2  online vCPUs: 1")));
    EXPECT_EQ(lines[frame + 1], "NAME  STATE    VCPUS  UTIL  STEAL  MODE  REC  LAST_SCALE");
    EXPECT_EQ(lines[frame + 3], "idle  CREATED  0/2/4  -     -      off   -    -");
  }
  // The first frame has no interval to measure; the second has.
  EXPECT_EQ(lines[2], "busy  RUNNING  1/2/4  -     -      off   -    -");
  EXPECT_THAT(lines[6],
              MatchesRegex("busy  RUNNING  1/2/4  [0-9]{1,3}% +[0-9]{1,3}% +off   -    -"));
}

// What vmmctl writes to a terminal until it exits: `args` with stdout on a pseudo-terminal.
std::string OnATerminal(std::vector<std::string> args, const std::string& dir, int* exit_code) {
  ScopedFd master(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!master.valid() || ::grantpt(master.get()) != 0 || ::unlockpt(master.get()) != 0 ||
      ::fcntl(master.get(), F_SETFL, O_NONBLOCK) != 0) {
    ADD_FAILURE() << "no pseudo-terminal: " << strerror(errno);
    return "";
  }
  Background top(std::move(args), dir, ::ptsname(master.get()));
  std::string out;
  std::optional<int> code;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    pollfd ready{master.get(), POLLIN, 0};
    ::poll(&ready, 1, 20);
    char buf[4096];
    const ssize_t n = ::read(master.get(), buf, sizeof(buf));
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (code.has_value()) break;  // exited, everything read
    code = top.Exited();
  }
  *exit_code = code.value_or(-2);
  return out;
}

TEST_F(VmmctlTopTest, OnATerminalEachFrameClearsTheScreen) {
  CreateFleet();
  const std::string vmmctl = VMMCTL_PATH;
  int code = 0;
  std::string out = OnATerminal({vmmctl, "--socket", socket_, "top", "--count=2", "--interval=0.1"},
                                tmp_.path(), &code);
  EXPECT_EQ(code, 0);
  EXPECT_THAT(out, StartsWith("\x1b[H\x1b[2J"));
  std::vector<std::string> frames = absl::StrSplit(out, "\x1b[H\x1b[2J", absl::SkipEmpty());
  ASSERT_EQ(frames.size(), 2u) << out;
  for (const std::string& frame : frames) {
    EXPECT_THAT(frame, HasSubstr("\nidle  CREATED  0/2/4  -     -      off   -    -\r\n"));
  }
  // --once (for scripts) and --json never clear.
  for (const std::vector<std::string>& flags :
       {std::vector<std::string>{"--once"}, std::vector<std::string>{"--json", "--count=1"}}) {
    std::vector<std::string> args = {vmmctl, "--socket", socket_, "top", "--interval=0.1"};
    args.insert(args.end(), flags.begin(), flags.end());
    out = OnATerminal(args, tmp_.path(), &code);
    EXPECT_EQ(code, 0) << flags[0];
    EXPECT_THAT(out, HasSubstr("idle")) << flags[0];
    EXPECT_THAT(out, ::testing::Not(HasSubstr("\x1b"))) << flags[0];
  }
}

TEST_F(VmmctlTopTest, SigintAndSigtermEndItWithExit0) {
  CreateFleet();
  for (int signal : {SIGINT, SIGTERM}) {
    SCOPED_TRACE(strsignal(signal));
    Background top({VMMCTL_PATH, "--socket", socket_, "top", "--interval=0.1"}, tmp_.path());
    ASSERT_TRUE(top.WaitForHandlers());
    ASSERT_TRUE(top.WaitForOutput("idle  CREATED")) << top.out();
    EXPECT_EQ(top.StopWith(signal), 0);
    EXPECT_EQ(top.err(), "");
    EXPECT_THAT(top.out(), MatchesRegex(absl::StrCat(kTimeRegex, "  VMs: 2(.|\n)*")));
  }
}

TEST_F(VmmctlTopTest, SignalCancelsACallThatHangs) {
  // A socket that accepts connections but never speaks: ListVms would wait for --timeout.
  const std::string path = tmp_.path() + "/silent.sock";
  ScopedFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(fd.get(), 16), 0);
  Background top({VMMCTL_PATH, "--socket", path, "--timeout=60", "top"}, tmp_.path());
  ASSERT_TRUE(top.WaitForHandlers());
  absl::SleepFor(absl::Milliseconds(300));  // the call is in flight
  const absl::Time start = absl::Now();
  EXPECT_EQ(top.StopWith(SIGINT), 0);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_EQ(top.out(), "");
  EXPECT_EQ(top.err(), "");
}

TEST_F(VmmctlTopTest, ErrorsAndUsage) {
  const std::string missing = tmp_.path() + "/none.sock";
  ProcessResult r = RunProcess({VMMCTL_PATH, "--socket", missing, "top", "--once"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "vmmctl: UNAVAILABLE: cannot reach vmmd at " + missing +
                       ": No such file or directory\n");

  struct Case {
    std::vector<std::string> args;
    std::string first_line;
  };
  const Case cases[] = {
      {{"top", "--interval=0"},
       "vmmctl: top: --interval must be a number of seconds in (0, 3600]\n"},
      {{"top", "--interval=3601"},
       "vmmctl: top: --interval must be a number of seconds in (0, 3600]\n"},
      {{"top", "--count=0"}, "vmmctl: top: --count must be at least 1\n"},
      {{"top", "--once", "--count=3"}, "vmmctl: top: --once and --count exclude each other\n"},
      {{"top", "--sort=memory"},
       "vmmctl: top: --sort must be name, util, steal or vcpus (got 'memory')\n"},
      {{"top", "vm1"}, "vmmctl: top: unexpected argument 'vm1'\n"},
      {{"list", "--once"}, "vmmctl: list: --once is only for top\n"},
  };
  for (const Case& c : cases) {
    r = Vmmctl(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.first_line;
    EXPECT_EQ(r.out, "");
    EXPECT_THAT(r.err, StartsWith(c.first_line + "Usage: vmmctl "));
  }
  r = Vmmctl({"--help"});
  EXPECT_THAT(r.out, HasSubstr("\n  top [--interval=SECONDS] [--count=N | --once] "
                               "[--sort=name|util|steal|vcpus]\n"));
}

}  // namespace
}  // namespace vmmd::testing
