#include "tests/integration/daemon_fixture.h"

#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

extern char** environ;

namespace vmmd::testing {

TempDir::TempDir() {
  char tmpl[] = "/tmp/vmmd-it-XXXXXX";
  if (::mkdtemp(tmpl) != nullptr) path_ = tmpl;
  EXPECT_FALSE(path_.empty()) << "mkdtemp failed";
}

TempDir::~TempDir() {
  std::error_code ignored;
  if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
}

std::string WriteFakeKernel(const std::string& dir) {
  std::string image(8192, '\0');
  auto put64 = [&](size_t offset, uint64_t value) {
    for (int i = 0; i < 8; ++i) image[offset + i] = static_cast<char>(value >> (8 * i));
  };
  put64(8, 0);          // text_offset
  put64(16, 2u << 20);  // image_size
  put64(24, 0x2);       // flags: little-endian, 4K pages
  image.replace(0x38, 4, "ARM\x64", 4);
  const std::string path = dir + "/Image";
  std::ofstream(path, std::ios::binary) << image;
  return path;
}

namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

}  // namespace

ProcessResult RunProcess(const std::vector<std::string>& argv, const std::string& cwd) {
  TempDir io;
  const std::string out_path = io.path() + "/out";
  const std::string err_path = io.path() + "/err";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  if (!cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  ProcessResult result;
  pid_t pid = 0;
  const int err = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (err != 0) {
    ADD_FAILURE() << "posix_spawn " << argv[0] << ": " << strerror(err);
    return result;
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  result.out = ReadFile(out_path);
  result.err = ReadFile(err_path);
  return result;
}

void DaemonTest::SetUp() {
  ASSERT_FALSE(tmp_.path().empty());
  socket_ = tmp_.path() + "/run/vmmd.sock";
  kernel_ = WriteFakeKernel(tmp_.path());
  initrd_ = tmp_.path() + "/initrd.cpio";
  std::ofstream(initrd_) << "070701 fake initrd";
  DaemonOptions options;
  options.socket_path = socket_;
  options.shutdown_grace = absl::Seconds(2);
  options.metrics_address = metrics_address_;
  options.image_dirs = {tmp_.path()};
  Configure(&options);
  absl::StatusOr<std::unique_ptr<Daemon>> daemon = Daemon::Start(&hv_, options);
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  daemon_ = std::move(*daemon);
  stub_ = NewStub();
}

void DaemonTest::TearDown() {
  stub_.reset();
  daemon_.reset();
}

std::unique_ptr<v1::Vmm::Stub> DaemonTest::NewStub() const {
  return v1::Vmm::NewStub(
      grpc::CreateChannel("unix:" + socket_, grpc::InsecureChannelCredentials()));
}

v1::VmSpec DaemonTest::Spec(const std::string& name, uint32_t boot_vcpus,
                            uint32_t max_vcpus) const {
  v1::VmSpec spec;
  spec.set_name(name);
  spec.set_kernel_path(kernel_);
  spec.set_initrd_path(initrd_);
  spec.set_cmdline("console=ttyAMA0");
  spec.set_memory_mib(128);
  spec.set_boot_vcpus(boot_vcpus);
  spec.set_max_vcpus(max_vcpus);
  return spec;
}

bool DaemonTest::WaitForVcpuThread(const std::string& name, uint32_t id) {
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    absl::StatusOr<std::vector<core::VcpuInfo>> cpus = daemon_->vms().GetCpuState(name);
    if (cpus.ok() && id < cpus->size() && (*cpus)[id].thread_id > 0) return true;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return false;
}

grpc::Status DaemonTest::Create(const std::string& name, uint32_t boot_vcpus, uint32_t max_vcpus) {
  grpc::ClientContext context;
  v1::CreateVmRequest request;
  *request.mutable_spec() = Spec(name, boot_vcpus, max_vcpus);
  v1::Vm vm;
  return stub_->CreateVm(&context, request, &vm);
}

}  // namespace vmmd::testing
