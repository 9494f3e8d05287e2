// A hostile client against the API: long-lived calls (WatchEvents streams, ScaleVCPUs calls
// waiting for a guest that never answers) must not starve other clients or hang the shutdown;
// caps answer RESOURCE_EXHAUSTED naming themselves; bad enums and oversized requests are refused.
#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/common/log.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/integration/daemon_fixture.h"

namespace vmmd::testing {
namespace {

using ::testing::HasSubstr;

constexpr int kVms = 8;

class LongCallsTest : public DaemonTest {
 protected:
  void Configure(DaemonOptions* options) override {
    options->api.max_streams = 100;
    options->shutdown_grace = absl::Seconds(20);  // a hanging shutdown would take this long
  }

  // kVms firmware-booted RUNNING VMs ("vm0".."vm7"): their fake guest never takes a hot-add,
  // so a waiting ScaleVCPUs on each waits until its timeout.
  void StartVms() {
    const std::string firmware = tmp_.path() + "/QEMU_EFI.fd";
    std::ofstream(firmware, std::ios::binary) << std::string(4096, '\xAA');
    for (int i = 0; i < kVms; ++i) {
      v1::CreateVmRequest create;
      *create.mutable_spec() = Spec(absl::StrCat("vm", i), 1, 2);
      create.mutable_spec()->set_firmware_path(firmware);
      v1::Vm vm;
      grpc::ClientContext c1;
      ASSERT_TRUE(stub_->CreateVm(&c1, create, &vm).ok());
      v1::StartVmRequest start;
      start.set_name(create.spec().name());
      grpc::ClientContext c2;
      ASSERT_TRUE(stub_->StartVm(&c2, start, &vm).ok());
    }
  }

  struct Stream {
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientReader<v1::Event>> reader;
    v1::Event first;
  };
  // A WatchEvents stream of every VM, its first message read (false if there was none).
  bool OpenStream(Stream* s) {
    s->reader = stub_->WatchEvents(&s->context, v1::WatchEventsRequest());
    return s->reader->Read(&s->first);
  }

  struct Scale {
    grpc::ClientContext context;
    v1::ScaleVCPUsRequest request;
    v1::ScaleVCPUsResponse response;
    grpc::Status status;
    bool done = false;
    absl::Mutex mu;
  };
  // A ScaleVCPUs of `vm` to 2 vCPUs waiting for ONLINE (30 s), started asynchronously.
  void StartScale(Scale* s, const std::string& vm) {
    s->request.set_name(vm);
    s->request.set_target_vcpus(2);
    s->request.set_wait(v1::SCALE_WAIT_ONLINE);
    s->request.mutable_timeout()->set_seconds(30);
    stub_->async()->ScaleVCPUs(&s->context, &s->request, &s->response, [s](grpc::Status st) {
      absl::MutexLock lock(&s->mu);
      s->status = std::move(st);
      s->done = true;
    });
  }
  static grpc::Status AwaitScale(Scale* s) {
    absl::MutexLock lock(&s->mu);
    s->mu.AwaitWithTimeout(absl::Condition(&s->done), absl::Seconds(20));
    return s->done ? s->status : grpc::Status(grpc::StatusCode::UNKNOWN, "still waiting");
  }

  bool WaitForLongCalls(int n) {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (daemon_->service().open_long_calls() != n) {
      if (absl::Now() > deadline) return false;
      absl::SleepFor(absl::Milliseconds(10));
    }
    return true;
  }
};

TEST_F(LongCallsTest, StreamsAndWaitingScalesHoldNoServerThread) {
  StartVms();
  // More than the server's 64 threads: 90 streams and 8 waiting calls.
  std::vector<std::unique_ptr<Stream>> streams;
  for (int i = 0; i < 90; ++i) {
    streams.push_back(std::make_unique<Stream>());
    ASSERT_TRUE(OpenStream(streams.back().get())) << "stream " << i;
    EXPECT_TRUE(streams.back()->first.snapshot());
  }
  std::vector<std::unique_ptr<Scale>> scales;
  for (int i = 0; i < kVms; ++i) {
    scales.push_back(std::make_unique<Scale>());
    StartScale(scales.back().get(), absl::StrCat("vm", i));
  }
  ASSERT_TRUE(WaitForLongCalls(98));

  // Every other client is still served at once.
  const absl::Time start = absl::Now();
  v1::GetVmRequest get;
  get.set_name("vm0");
  v1::Vm vm;
  grpc::ClientContext get_context;
  get_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  const grpc::Status got = stub_->GetVm(&get_context, get, &vm);
  ASSERT_TRUE(got.ok()) << got.error_code() << " " << got.error_message();
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  EXPECT_EQ(vm.state(), v1::VM_STATE_RUNNING);

  // An event still reaches the streams (the pump feeds them): vm7 stops.
  v1::StopVmRequest stop;
  stop.set_name("vm7");
  stop.set_force(true);  // the fake guest would never answer the power button
  grpc::ClientContext stop_context;
  ASSERT_TRUE(stub_->StopVm(&stop_context, stop, &vm).ok());
  EXPECT_EQ(AwaitScale(scales[7].get()).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  for (int i = 0; i < 3; ++i) {
    v1::Event event;
    bool stopped = false;
    while (!stopped && streams[i]->reader->Read(&event)) {
      stopped = event.vm() == "vm7" && event.has_vm_state() &&
                event.vm_state().state() == v1::VM_STATE_STOPPED;
    }
    EXPECT_TRUE(stopped) << "stream " << i;
  }
  ASSERT_TRUE(WaitForLongCalls(97));

  // Up to the cap (100), then the exact refusal, for a stream and for a waiting call alike.
  for (int i = 0; i < 3; ++i) {
    streams.push_back(std::make_unique<Stream>());
    ASSERT_TRUE(OpenStream(streams.back().get()));
  }
  Stream refused;
  EXPECT_FALSE(OpenStream(&refused));
  grpc::Status status = refused.reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(status.error_message(),
            "too many long-lived calls (WatchEvents streams and waiting ScaleVCPUs calls): 100 "
            "open, the cap is 100 (vmmd --max_streams); close one or raise the cap");
  Scale over;
  StartScale(&over, "vm0");
  status = AwaitScale(&over);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(status.error_message(), HasSubstr("the cap is 100 (vmmd --max_streams)"));

  // A closed stream frees its place.
  streams.back()->context.TryCancel();
  streams.back()->reader->Finish();
  streams.pop_back();
  ASSERT_TRUE(WaitForLongCalls(99));
  Stream again;
  EXPECT_TRUE(OpenStream(&again));
  again.context.TryCancel();
  again.reader->Finish();
  for (auto& s : streams) s->context.TryCancel();
  for (auto& s : scales) s->context.TryCancel();
  for (auto& s : streams) s->reader->Finish();
}

TEST_F(LongCallsTest, ShutdownEndsEveryStreamAndReturnsInBoundedTime) {
  StartVms();
  std::vector<std::unique_ptr<Stream>> streams;
  for (int i = 0; i < 100 - kVms; ++i) {
    streams.push_back(std::make_unique<Stream>());
    ASSERT_TRUE(OpenStream(streams.back().get()));
  }
  std::vector<std::unique_ptr<Scale>> scales;
  for (int i = 0; i < kVms; ++i) {
    scales.push_back(std::make_unique<Scale>());
    StartScale(scales.back().get(), absl::StrCat("vm", i));
  }
  ASSERT_TRUE(WaitForLongCalls(100));

  const absl::Time start = absl::Now();
  daemon_->Shutdown();
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));  // the grace is 20 s

  for (auto& s : streams) {
    v1::Event event;
    while (s->reader->Read(&event)) {
    }
    const grpc::Status status = s->reader->Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_EQ(status.error_message(), "vmmd is shutting down");
  }
  for (auto& s : scales) {
    const grpc::Status status = AwaitScale(s.get());
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_EQ(status.error_message(), "vmmd is shutting down");
  }
}

TEST_F(LongCallsTest, UnknownScaleWaitIsRefusedNamingTheField) {
  StartVms();
  v1::ScaleVCPUsRequest request;
  request.set_name("vm0");
  request.set_target_vcpus(2);
  request.set_wait(static_cast<v1::ScaleWait>(99));
  v1::ScaleVCPUsResponse response;
  grpc::ClientContext context;
  const grpc::Status status = stub_->ScaleVCPUs(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "wait 99 is not a ScaleWait: use SCALE_WAIT_NONE (1, or 0 = unspecified), "
            "SCALE_WAIT_ENABLED (2) or SCALE_WAIT_ONLINE (3)");
  // Nothing changed.
  v1::GetVmRequest get;
  get.set_name("vm0");
  v1::Vm vm;
  grpc::ClientContext get_context;
  ASSERT_TRUE(stub_->GetVm(&get_context, get, &vm).ok());
  EXPECT_EQ(vm.target_vcpus(), 1u);
}

TEST_F(LongCallsTest, OversizedRequestsAndEchoedPathsAreBounded) {
  ScopedLogCapture log;
  // Just under the 1 MiB receive cap: the refusal quotes the path; its log line is bounded.
  v1::CreateVmRequest create;
  *create.mutable_spec() = Spec("vm-big");
  create.mutable_spec()->set_kernel_path("/" + std::string(1000 * 1000, 'a'));
  v1::Vm vm;
  grpc::ClientContext c1;
  grpc::Status status = stub_->CreateVm(&c1, create, &vm);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  bool logged = false;
  for (const std::string& line : log.lines()) {
    if (line.find("CreateVm(\"vm-big\")") == std::string::npos) continue;
    logged = true;
    EXPECT_LT(line.size(), 1000u) << line.substr(0, 200);
  }
  EXPECT_TRUE(logged);

  // Beyond it gRPC itself refuses the message.
  create.mutable_spec()->set_kernel_path("/" + std::string(3 << 20, 'a'));
  grpc::ClientContext c2;
  status = stub_->CreateVm(&c2, create, &vm);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(status.error_message(), HasSubstr("larger than max"));
}

class CapsTest : public DaemonTest {
 protected:
  void Configure(DaemonOptions* options) override {
    options->api.max_vms = 3;
    options->api.memory_budget_mib = 300;
    options->api.memory_overcommit = 1.5;  // 450 MiB for guests
  }
};

TEST_F(CapsTest, VmCountAndMemoryBudget) {
  ASSERT_TRUE(Create("a").ok());  // 128 MiB each
  ASSERT_TRUE(Create("b").ok());
  ASSERT_TRUE(Create("c").ok());
  v1::CreateVmRequest create;
  *create.mutable_spec() = Spec("d");
  v1::Vm vm;
  grpc::ClientContext c1;
  grpc::Status status = stub_->CreateVm(&c1, create, &vm);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(status.error_message(),
            "this vmmd holds 3 VMs, its cap (vmmd --max_vms=3); delete one first");

  v1::DeleteVmRequest del;
  del.set_name("c");
  v1::DeleteVmResponse deleted;
  grpc::ClientContext c2;
  ASSERT_TRUE(stub_->DeleteVm(&c2, del, &deleted).ok());
  create.mutable_spec()->set_memory_mib(256);
  grpc::ClientContext c3;
  status = stub_->CreateVm(&c3, create, &vm);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(status.error_message(),
            "guest memory budget: the VM asks 256 MiB but only 194 MiB of 450 MiB are free (256 "
            "MiB used by 2 VMs; budget vmmd --memory_budget_mib=300 x --memory_overcommit=1.5)");
  create.mutable_spec()->set_memory_mib(194);
  grpc::ClientContext c4;
  EXPECT_TRUE(stub_->CreateVm(&c4, create, &vm).ok());
}

}  // namespace
}  // namespace vmmd::testing
