// API request validation (vmmd/api, vmmd/vmm): random protobuf bytes parsed as each vmmd.v1
// request and served by the real VmmService on a VmManager over the fake hypervisor, with no
// socket. Input: up to 8 requests, each 1 byte of method, 2 bytes of length, then that many bytes
// of the serialized request. Client paths that start with "/images/" name files of a temporary
// image directory the manager is confined to (a valid arm64 Image "kernel", an "initrd"); any
// other path stays as the client wrote it (and is refused by the confinement). ScaleVCPUs (a
// callback method, which needs a server) runs as its handler does: the service's shape checks,
// then the manager, its wait cut to 20 ms as nothing plays the guest. Invariants:
//  - an error carries a message and one of the codes the API documents (never UNKNOWN or
//    INTERNAL: a client cannot make the daemon fail);
//  - VmSpec conversion round-trips (VmSpecToProto(VmSpecFromProto(s)) == s);
//  - a created VM is then found under its name with the spec's name.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "core/common/confined_dir.h"
#include "tests/fakes/fake_hypervisor.h"
#include "tests/fuzz/fuzz_input.h"
#include "vmmd/api/grpc_service.h"
#include "vmmd/api/status_to_grpc.h"
#include "vmmd/api/vm_convert.h"
#include "vmmd/vmm/vm_manager.h"

namespace vmmd::fuzz {
namespace {

constexpr size_t kMaxRequests = 8;
constexpr absl::Duration kScaleWait = absl::Milliseconds(20);

// The image directory and the state directory, made once per process.
struct Dirs {
  Dirs() {
    char tmpl[] = "/tmp/vmmd-api-fuzz-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) Fail(__FILE__, __LINE__, "mkdtemp");
    root = tmpl;
    std::filesystem::create_directories(root + "/images");
    std::filesystem::create_directories(root + "/state");
    std::string image(8192, '\0');
    image[18] = 0x20;  // image_size 2 MiB
    image[24] = 0x2;   // little-endian, 4 KiB pages
    image.replace(0x38, 4, "ARM\x64", 4);
    std::ofstream(root + "/images/kernel", std::ios::binary) << image;
    std::ofstream(root + "/images/initrd", std::ios::binary) << std::string(4096, 'i');
    absl::StatusOr<ConfinedDirs> dirs = ConfinedDirs::Open({root + "/images"}, "--image_dir");
    if (!dirs.ok()) Fail(__FILE__, __LINE__, dirs.status().ToString());
    images = std::make_shared<const ConfinedDirs>(std::move(*dirs));
  }
  ~Dirs() {
    std::error_code ignored;
    std::filesystem::remove_all(root, ignored);
  }
  std::string root;
  std::shared_ptr<const ConfinedDirs> images;
};

Dirs& GetDirs() {
  static Dirs* dirs = new Dirs();  // lives for the process; removed at exit below
  static const int registered = std::atexit([] { delete dirs; });
  (void)registered;
  return *dirs;
}

void MapPath(std::string* path) {
  if (absl::StartsWith(*path, "/images/")) *path = GetDirs().root + *path;
}

void MapSpec(v1::VmSpec* spec) {
  MapPath(spec->mutable_kernel_path());
  MapPath(spec->mutable_initrd_path());
  MapPath(spec->mutable_firmware_path());
}

void CheckStatus(const grpc::Status& s, const char* method) {
  if (s.ok()) return;
  FUZZ_CHECK(!s.error_message().empty(), absl::StrFormat("%s: an error without a message", method));
  FUZZ_CHECK(
      s.error_code() != grpc::StatusCode::UNKNOWN && s.error_code() != grpc::StatusCode::INTERNAL,
      absl::StrFormat("%s: code %d: %s", method, s.error_code(), s.error_message()));
}

template <typename Request>
bool Parse(absl::Span<const uint8_t> bytes, Request* request) {
  return request->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
}

void CheckRoundTrip(const v1::VmSpec& spec) {
  v1::VmSpec known = spec;
  known.DiscardUnknownFields();
  const v1::VmSpec back = api::VmSpecToProto(api::VmSpecFromProto(known));
  FUZZ_CHECK(back.SerializeAsString() == known.SerializeAsString(),
             "VmSpec round trip: " + known.ShortDebugString() + " -> " + back.ShortDebugString());
}

void Run(const uint8_t* data, size_t size) {
  FuzzReader in(data, size);
  testing::FakeHypervisor hv;
  vmm::VmManager vms(&hv, vmm::VmManagerOptions{.state_dir = GetDirs().root + "/state",
                                                .image_dirs = GetDirs().images});
  api::VmmService service(&vms, api::ServiceOptions{.max_vms = 4, .memory_budget_mib = 1 << 16});
  for (size_t n = 0; n < kMaxRequests && !in.empty(); ++n) {
    const uint8_t method = in.U8();
    const absl::Span<const uint8_t> bytes = in.Take(in.U16() % 1024);
    grpc::ServerContext context;
    switch (method % 10) {
      case 0: {
        v1::CreateVmRequest request;
        if (!Parse(bytes, &request)) break;
        CheckRoundTrip(request.spec());
        MapSpec(request.mutable_spec());
        v1::Vm vm;
        const grpc::Status s = service.CreateVm(&context, &request, &vm);
        CheckStatus(s, "CreateVm");
        if (s.ok()) {
          FUZZ_CHECK(vm.spec().name() == request.spec().name(), "the created VM's name");
          v1::GetVmRequest get;
          get.set_name(request.spec().name());
          v1::Vm found;
          grpc::ServerContext get_context;
          FUZZ_CHECK(service.GetVm(&get_context, &get, &found).ok(), "a created VM is found");
        }
        break;
      }
      case 1: {
        v1::StartVmRequest request;
        v1::Vm vm;
        if (Parse(bytes, &request))
          CheckStatus(service.StartVm(&context, &request, &vm), "StartVm");
        break;
      }
      case 2: {
        v1::StopVmRequest request;
        v1::Vm vm;
        if (Parse(bytes, &request)) {
          // The fake guest never powers off, so a graceful stop would wait out its timeout (up
          // to 10 minutes): the options are checked here, then the VM is stopped at once.
          const absl::StatusOr<vmm::StopOptions> options = api::StopOptionsFromRequest(request);
          FUZZ_CHECK(options.ok() || options.status().code() == absl::StatusCode::kInvalidArgument,
                     "StopVm options: " + options.status().ToString());
          request.set_force(true);
          request.clear_timeout();
          CheckStatus(service.StopVm(&context, &request, &vm), "StopVm");
        }
        break;
      }
      case 3: {
        v1::DeleteVmRequest request;
        v1::DeleteVmResponse response;
        if (Parse(bytes, &request)) {
          CheckStatus(service.DeleteVm(&context, &request, &response), "DeleteVm");
        }
        break;
      }
      case 4: {
        v1::GetVmRequest request;
        v1::Vm vm;
        if (Parse(bytes, &request)) CheckStatus(service.GetVm(&context, &request, &vm), "GetVm");
        break;
      }
      case 5: {
        v1::ListVmsRequest request;
        v1::ListVmsResponse response;
        if (Parse(bytes, &request)) {
          CheckStatus(service.ListVms(&context, &request, &response), "ListVms");
        }
        break;
      }
      case 6: {
        v1::GetCPUStateRequest request;
        v1::GetCPUStateResponse response;
        if (Parse(bytes, &request)) {
          CheckStatus(service.GetCPUState(&context, &request, &response), "GetCPUState");
        }
        break;
      }
      case 7: {
        // ScaleVCPUs is a callback method (it may wait without holding a thread), which needs a
        // server: the same steps as its handler instead, the service's shape checks then the
        // manager. Nothing plays the guest, so a wait ends after 20 ms.
        v1::ScaleVCPUsRequest request;
        if (!Parse(bytes, &request)) break;
        const absl::Time now = absl::Now();
        absl::Status s = api::ValidateVmName(request.name(), "name");
        if (s.ok()) s = api::ValidateScaleWait(request.wait());
        absl::StatusOr<absl::Time> deadline = api::ScaleDeadline(request, now, now + kScaleWait);
        if (s.ok()) s = deadline.status();
        if (s.ok()) {
          FUZZ_CHECK(*deadline <= now + kScaleWait, "the call's deadline caps the wait");
          s = vms.ScaleVcpus(request.name(), request.target_vcpus(),
                             api::ScaleWaitFromProto(request.wait()), *deadline)
                  .status();
        }
        CheckStatus(api::ToGrpcStatus(s), "ScaleVCPUs");
        break;
      }
      case 8: {
        v1::SetAutoscalePolicyRequest request;
        v1::Vm vm;
        if (Parse(bytes, &request)) {
          CheckStatus(service.SetAutoscalePolicy(&context, &request, &vm), "SetAutoscalePolicy");
        }
        break;
      }
      case 9: {
        v1::ReportAutoscaleStatusRequest request;
        v1::Vm vm;
        if (Parse(bytes, &request)) {
          CheckStatus(service.ReportAutoscaleStatus(&context, &request, &vm),
                      "ReportAutoscaleStatus");
        }
        break;
      }
    }
  }
}

}  // namespace
}  // namespace vmmd::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vmmd::fuzz::Run(data, size);
  return 0;
}
