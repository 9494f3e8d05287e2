// Shared setup of the integration tests: a vmmd Daemon (the real gRPC server and service) on a
// temporary Unix socket, over vmm::VmManager and FakeHypervisor; guest files it accepts; a
// subprocess runner for vmmctl.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/fakes/fake_hypervisor.h"
#include "vmmd/daemon.h"
#include "vmmd/v1/vmm.grpc.pb.h"

namespace vmmd::testing {

// A fresh directory under /tmp, removed with its content.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A minimal arm64 Image (valid header, 8 KiB) at dir/Image; returns its path.
std::string WriteFakeKernel(const std::string& dir);

struct ProcessResult {
  int exit_code = -1;  // -1: did not exit normally
  std::string out;
  std::string err;
};
// Runs argv[0] (a path) with `argv`, in `cwd` if not empty; captures stdout and stderr.
ProcessResult RunProcess(const std::vector<std::string>& argv, const std::string& cwd = "");

class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Called by SetUp before the daemon starts: a test's own options.
  virtual void Configure(DaemonOptions*) {}
  // A channel/stub to the daemon's socket.
  std::unique_ptr<v1::Vmm::Stub> NewStub() const;
  // A spec that CreateVm accepts: the fake kernel and initrd, 128 MiB.
  v1::VmSpec Spec(const std::string& name, uint32_t boot_vcpus = 2, uint32_t max_vcpus = 4) const;
  // Polls GetCpuState until vCPU `id` reports its thread (a just-started vCPU thread publishes
  // its TID shortly after StartVm returns). False after 10 s.
  bool WaitForVcpuThread(const std::string& name, uint32_t id);
  // CreateVm(Spec(...)) through the stub.
  grpc::Status Create(const std::string& name, uint32_t boot_vcpus = 2, uint32_t max_vcpus = 4);

  TempDir tmp_;
  std::string metrics_address_;  // set it before SetUp to serve /metrics
  std::string socket_;  // <tmp>/run/vmmd.sock (the daemon creates <tmp>/run)
  std::string kernel_;
  std::string initrd_;
  FakeHypervisor hv_;
  std::unique_ptr<Daemon> daemon_;
  std::unique_ptr<v1::Vmm::Stub> stub_;
};

}  // namespace vmmd::testing
