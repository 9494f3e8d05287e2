#include "vmmd/vmm/vm_spec_validation.h"

#include "gtest/gtest.h"
#include "tests/fakes/fake_hypervisor.h"
#include "tests/support/status_matchers.h"

namespace vmmd::vmm {
namespace {

using ::testing::HasSubstr;
using ::vmmd::testing::FakeHypervisor;
using ::vmmd::testing::IsOk;
using ::vmmd::testing::StatusIs;

constexpr uint64_t kHostMemory = uint64_t{3} << 30;  // 3 GiB, like the nested L1

VmSpec Good() {
  VmSpec s;
  s.name = "vm-1";
  s.kernel_path = "/guest/Image";
  s.memory_mib = 256;
  s.boot_vcpus = 2;
  s.max_vcpus = 4;
  return s;
}

absl::Status Check(const VmSpec& s) {
  return ValidateVmSpecFields(s, FakeHypervisor::DefaultCapabilities(), kHostMemory);
}

TEST(VmSpecValidationTest, AcceptsAGoodSpec) { EXPECT_THAT(Check(Good()), IsOk()); }

TEST(VmSpecValidationTest, Names) {
  for (const char* bad : {"", "Bad_Name", "-x", "x-", "UPPER", "a.b", "a b"}) {
    VmSpec s = Good();
    s.name = bad;
    EXPECT_THAT(Check(s), StatusIs(absl::StatusCode::kInvalidArgument)) << bad;
  }
  VmSpec s = Good();
  s.name = std::string(64, 'a');
  EXPECT_THAT(Check(s), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("1-63")));
  s.name = std::string(63, 'a');
  EXPECT_THAT(Check(s), IsOk());
  s.name = "0";
  EXPECT_THAT(Check(s), IsOk());
}

TEST(VmSpecValidationTest, VcpuCounts) {
  VmSpec s = Good();
  s.boot_vcpus = 0;
  EXPECT_THAT(Check(s), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("at least 1")));
  s = Good();
  s.boot_vcpus = 2;
  s.max_vcpus = 1;
  EXPECT_THAT(Check(s), StatusIs(absl::StatusCode::kInvalidArgument,
                                 HasSubstr("max_vcpus (1) must be >= vcpus (2)")));
  s.max_vcpus = 100000;
  EXPECT_THAT(Check(s), StatusIs(absl::StatusCode::kInvalidArgument,
                                 HasSubstr("max_vcpus (100000) exceeds the 512 vCPUs")));
  s.max_vcpus = 512;
  EXPECT_THAT(Check(s), IsOk());
  s.max_vcpus = 0;  // defaults to boot_vcpus
  EXPECT_THAT(Check(s), IsOk());
  EXPECT_EQ(EffectiveMaxVcpus(s), 2u);
  // A host whose KVM allows fewer.
  core::HostCapabilities small = FakeHypervisor::DefaultCapabilities();
  small.max_vcpus = 8;
  s.max_vcpus = 9;
  EXPECT_THAT(ValidateVmSpecFields(s, small, kHostMemory),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("exceeds the 8 vCPUs")));
}

TEST(VmSpecValidationTest, Memory) {
  VmSpec s = Good();
  s.memory_mib = 0;
  EXPECT_THAT(Check(s), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("at least 64")));
  s.memory_mib = 999999999;
  EXPECT_THAT(Check(s), StatusIs(absl::StatusCode::kInvalidArgument,
                                 HasSubstr("exceeds the guest RAM limit of 261120 MiB")));
  s.memory_mib = 8192;
  EXPECT_THAT(Check(s), StatusIs(absl::StatusCode::kResourceExhausted,
                                 HasSubstr("exceeds this host's physical memory (3072 MiB)")));
  s.memory_mib = 3072;
  EXPECT_THAT(Check(s), IsOk());
}

TEST(VmSpecValidationTest, PathsAndCmdline) {
  VmSpec s = Good();
  s.kernel_path = "";
  EXPECT_THAT(Check(s), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("kernel_path is required")));
  s.kernel_path = "guest/Image";
  EXPECT_THAT(Check(s), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("absolute path")));
  s = Good();
  s.initrd_path = "relative.cpio";
  EXPECT_THAT(Check(s), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("initrd_path")));
  s = Good();
  s.cmdline = std::string(2048, 'x');
  EXPECT_THAT(Check(s), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("2048 bytes")));
  s.cmdline = std::string(2047, 'x');
  EXPECT_THAT(Check(s), IsOk());
  s.cmdline = std::string("a\0b", 3);
  EXPECT_THAT(Check(s), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("NUL")));
  s = Good();
  s.firmware_path = "QEMU_EFI.fd";
  EXPECT_THAT(Check(s), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("firmware_path")));
  s.firmware_path = "/usr/share/qemu-efi-core::aarch64/QEMU_EFI.fd";
  EXPECT_THAT(Check(s), IsOk());
}

TEST(VmSpecValidationTest, Files) {
  VmSpec s = Good();
  s.kernel_path = "/nonexistent/Image";
  EXPECT_THAT(CheckVmSpecFiles(s), StatusIs(absl::StatusCode::kNotFound, HasSubstr("/nonexistent/Image")));
  s.kernel_path = "/";
  EXPECT_THAT(CheckVmSpecFiles(s), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a regular file")));
  s.kernel_path = "/proc/self/exe";
  s.console_log_path = "/nonexistent-dir/c.log";
  EXPECT_THAT(CheckVmSpecFiles(s), StatusIs(absl::StatusCode::kNotFound, HasSubstr("/nonexistent-dir")));
  s.console_log_path = "/tmp/c.log";
  EXPECT_THAT(CheckVmSpecFiles(s), IsOk());
  s.firmware_path = "/nonexistent/QEMU_EFI.fd";
  EXPECT_THAT(CheckVmSpecFiles(s), StatusIs(absl::StatusCode::kNotFound, HasSubstr("firmware_path")));
}

}  // namespace
}  // namespace vmmd::vmm
