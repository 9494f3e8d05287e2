#include "vmmd/vmm/vm_spec_validation.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "tests/fakes/fake_hypervisor.h"
#include "tests/support/host_tap.h"
#include "tests/support/status_matchers.h"
#include "vmmd/vmm/nic_spec.h"

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
  s.memory_mib = 1024;  // 2 MiB per possible vCPU
  EXPECT_THAT(Check(s), IsOk());
  s.memory_mib = 1023;
  EXPECT_THAT(Check(s),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "memory_mib (1023) is too small for max_vcpus 512: a Linux guest sets "
                       "aside memory for every possible vCPU while it boots and stalls without "
                       "enough; give at least 1024 MiB (2 MiB per possible vCPU) or a smaller "
                       "max_vcpus"));
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

TEST(VmSpecValidationTest, StartVcpus) {
  VmSpec s = Good();
  s.boot_mode = BootMode::kAcpiDirect;
  s.start_vcpus = 4;
  EXPECT_THAT(Check(s), IsOk());
  EXPECT_EQ(EffectiveStartVcpus(s), 4u);
  s.start_vcpus = 0;  // defaults to boot_vcpus
  EXPECT_THAT(Check(s), IsOk());
  EXPECT_EQ(EffectiveStartVcpus(s), 2u);
  s.start_vcpus = 1;
  EXPECT_THAT(Check(s), StatusIs(absl::StatusCode::kInvalidArgument,
                                 "start_vcpus (1) must be >= vcpus (2): the boot vCPUs are always "
                                 "available"));
  s.start_vcpus = 5;
  EXPECT_THAT(Check(s), StatusIs(absl::StatusCode::kInvalidArgument,
                                 "start_vcpus (5) exceeds max_vcpus (4)"));
  s = Good();  // a device-tree boot
  s.start_vcpus = 2;
  EXPECT_THAT(Check(s), IsOk());
  s.start_vcpus = 3;
  EXPECT_THAT(Check(s),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "start_vcpus (3) above vcpus (2) needs an ACPI boot (boot_mode UEFI or "
                       "ACPI_DIRECT): a device-tree boot cannot add vCPUs; give vcpus 3 instead"));
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

TEST(VmSpecValidationTest, AFirmwareMayBootFromADiskWithoutAKernel) {
  VmSpec s = Good();
  s.firmware_path = "/images/QEMU_EFI.fd";
  s.kernel_path = "";
  s.initrd_path = "";
  s.cmdline = "";
  EXPECT_THAT(Check(s), StatusIs(absl::StatusCode::kInvalidArgument,
                                 HasSubstr("the firmware boots from a disk: give the VM one")));
  s.disks = {{.path = "/images/root.img", .read_only = false, .serial = ""}};
  EXPECT_THAT(Check(s), IsOk());
  s.cmdline = "console=ttyAMA0";
  EXPECT_THAT(Check(s), StatusIs(absl::StatusCode::kInvalidArgument,
                                 HasSubstr("initrd_path and cmdline need a kernel_path")));
  s.cmdline = "";
  s.initrd_path = "/images/initrd";
  EXPECT_THAT(Check(s), StatusIs(absl::StatusCode::kInvalidArgument,
                                 HasSubstr("initrd_path and cmdline need a kernel_path")));
  s.initrd_path = "";
  s.firmware_path = "";
  EXPECT_THAT(Check(s), StatusIs(absl::StatusCode::kInvalidArgument,
                                 HasSubstr("kernel_path is required (only a VM with a "
                                           "firmware_path")));
}

TEST(VmSpecValidationTest, BootModes) {
  VmSpec s = Good();
  EXPECT_EQ(EffectiveBootMode(s), BootMode::kDeviceTree);
  EXPECT_FALSE(CanHotplugVcpus(s));
  s.boot_mode = BootMode::kAcpiDirect;
  EXPECT_THAT(Check(s), IsOk());
  EXPECT_EQ(EffectiveBootMode(s), BootMode::kAcpiDirect);
  EXPECT_TRUE(CanHotplugVcpus(s));
  s.firmware_path = "/images/QEMU_EFI.fd";
  EXPECT_THAT(Check(s), StatusIs(absl::StatusCode::kInvalidArgument,
                                 "boot_mode ACPI_DIRECT boots the kernel without firmware: leave "
                                 "firmware_path empty (or use boot_mode UEFI)"));
  s.boot_mode = BootMode::kDeviceTree;
  EXPECT_THAT(Check(s), StatusIs(absl::StatusCode::kInvalidArgument,
                                 HasSubstr("boot_mode DEVICE_TREE boots the kernel without")));
  s.boot_mode = BootMode::kUnspecified;
  EXPECT_THAT(Check(s), IsOk());
  EXPECT_EQ(EffectiveBootMode(s), BootMode::kUefi);
  s.boot_mode = BootMode::kUefi;
  EXPECT_THAT(Check(s), IsOk());
  s.firmware_path = "";
  EXPECT_THAT(Check(s),
              StatusIs(absl::StatusCode::kInvalidArgument, "boot_mode UEFI needs a firmware_path"));
  s.boot_mode = static_cast<BootMode>(7);
  EXPECT_THAT(Check(s), StatusIs(absl::StatusCode::kInvalidArgument,
                                 "boot_mode 7 is not a boot mode (DEVICE_TREE 1, UEFI 2, "
                                 "ACPI_DIRECT 3, or unset)"));
  // An ACPI direct boot needs a kernel as a device-tree boot does.
  s.boot_mode = BootMode::kAcpiDirect;
  s.kernel_path = "";
  s.disks = {{.path = "/images/root.img", .read_only = false, .serial = ""}};
  EXPECT_THAT(Check(s),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("kernel_path is required")));
}

TEST(VmSpecValidationTest, PathsAreCanonicalAndBounded) {
  VmSpec s = Good();
  for (const char* bad : {"/guest/../etc/shadow", "/guest/./Image", "/guest//Image", "/guest/"}) {
    s.kernel_path = bad;
    EXPECT_THAT(Check(s), StatusIs(absl::StatusCode::kInvalidArgument,
                                   HasSubstr("kernel_path \"" + std::string(bad) + "\"")))
        << bad;
  }
  s = Good();
  s.kernel_path = "/" + std::string(4094, 'a');
  EXPECT_THAT(Check(s), IsOk());  // 4095 bytes: the limit
  s.kernel_path = "/" + std::string(3 << 20, 'a');
  const absl::Status huge = Check(s);
  EXPECT_THAT(huge, StatusIs(absl::StatusCode::kInvalidArgument,
                             HasSubstr("is 3145729 bytes; a path has at most 4095")));
  EXPECT_LT(huge.message().size(), 600u);  // the path is echoed bounded
}

TEST(VmSpecValidationTest, Disks) {
  VmSpec s = Good();
  s.disks = {{.path = "/guest/a.img", .read_only = false, .serial = "root-0"},
             {.path = "/guest/b.img", .read_only = true, .serial = ""}};
  EXPECT_THAT(Check(s), IsOk());
  s.disks[1].path = "/guest/a.img";
  EXPECT_THAT(Check(s), StatusIs(absl::StatusCode::kInvalidArgument,
                                 HasSubstr("disks[0] and disks[1] name the same image")));
  s.disks[1].path = "guest/b.img";
  EXPECT_THAT(Check(s), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("disks[1].path")));
  s.disks[1].path = "";
  EXPECT_THAT(Check(s),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("disks[1].path is required")));
  s = Good();
  s.disks = {{.path = "/guest/a.img", .read_only = false, .serial = std::string(21, 'x')}};
  EXPECT_THAT(Check(s), StatusIs(absl::StatusCode::kInvalidArgument,
                                 HasSubstr("disks[0].serial is 21 bytes; a virtio-blk ID has at "
                                           "most 20")));
  s.disks[0].serial = "has space";
  EXPECT_THAT(Check(s), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("printable")));
  s.disks[0].serial = std::string(20, 'x');
  EXPECT_THAT(Check(s), IsOk());
  s.disks.clear();
  for (int i = 0; i < 9; ++i) {
    s.disks.push_back({.path = "/guest/" + std::to_string(i), .read_only = false, .serial = ""});
  }
  EXPECT_THAT(Check(s), StatusIs(absl::StatusCode::kInvalidArgument,
                                 HasSubstr("9 disks; a VM has at most 8")));
  s.disks.pop_back();
  EXPECT_THAT(Check(s), IsOk());
  EXPECT_EQ(DiskSerial(s, 3), "disk3");
}

TEST(VmSpecValidationTest, Nics) {
  VmSpec s = Good();
  s.nics = {{.tap = "tap0", .mac = "02:00:5E:10:00:01"}, {.tap = "tap1", .mac = ""}};
  EXPECT_THAT(Check(s), IsOk());
  s.nics[1].tap = "tap0";
  EXPECT_THAT(Check(s), StatusIs(absl::StatusCode::kInvalidArgument,
                                 HasSubstr("nics[0] and nics[1] name the same TAP \"tap0\"")));
  s.nics[1].tap = "";
  EXPECT_THAT(Check(s),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("nics[1].tap is empty")));
  s.nics[1].tap = "../etc";
  EXPECT_THAT(Check(s), StatusIs(absl::StatusCode::kInvalidArgument,
                                 HasSubstr("nics[1].tap \"../etc\" is not an interface name")));
  s.nics[1].tap = "a-very-long-tap-name";
  EXPECT_THAT(Check(s), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("at most 15")));
  s.nics[1] = {.tap = "tap1", .mac = "02:00:5e:10:00"};
  EXPECT_THAT(Check(s), StatusIs(absl::StatusCode::kInvalidArgument,
                                 HasSubstr("nics[1].mac \"02:00:5e:10:00\" is not a MAC")));
  s.nics[1].mac = "02-00-5e-10-00-02";
  EXPECT_THAT(Check(s), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is not a MAC")));
  s.nics[1].mac = "01:00:5e:10:00:02";
  EXPECT_THAT(Check(s), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("multicast")));
  s.nics[1].mac = "00:00:00:00:00:00";
  EXPECT_THAT(Check(s), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("all zeros")));
  s.nics[1].mac = "02:00:5e:10:00:01";
  EXPECT_THAT(Check(s), StatusIs(absl::StatusCode::kInvalidArgument,
                                 HasSubstr("nics[0] and nics[1] have the same MAC")));
  s.nics = {{.tap = "t0", .mac = ""},
            {.tap = "t1", .mac = ""},
            {.tap = "t2", .mac = ""},
            {.tap = "t3", .mac = ""},
            {.tap = "t4", .mac = ""}};
  EXPECT_THAT(Check(s), StatusIs(absl::StatusCode::kInvalidArgument,
                                 HasSubstr("5 nics; a VM has at most 4")));
}

TEST(NicSpecTest, MacsAreParsedExactlyAndDerivedStably) {
  EXPECT_EQ(ParseMac("02:AB:cd:00:10:ff"), (Mac{0x02, 0xab, 0xcd, 0x00, 0x10, 0xff}));
  for (const char* bad : {"", "02:ab:cd:00:10", "02:ab:cd:00:10:ff:", "02:ab:cd:00:10:fg",
                          "02:ab:cd:00:10:f", "02ab:cd:00:10:ff:0"}) {
    EXPECT_EQ(ParseMac(bad), std::nullopt) << bad;
  }
  EXPECT_EQ(FormatMac({0x02, 0xab, 0xcd, 0x00, 0x10, 0xff}), "02:ab:cd:00:10:ff");
  VmSpec a = Good();
  a.name = "web-1";
  a.nics = {{.tap = "t0", .mac = ""}, {.tap = "t1", .mac = "02:00:00:00:00:07"}};
  const Mac m0 = NicMac(a, 0);
  EXPECT_EQ(m0[0], 0x02);  // locally administered, unicast
  EXPECT_EQ(NicMac(a, 0), m0);
  EXPECT_EQ(NicMac(a, 1), (Mac{0x02, 0, 0, 0, 0, 0x07}));
  // FNV-1a of "web-1/0": the same on every host and build.
  EXPECT_EQ(FormatMac(m0), FormatMac(NicMac(a, 0)));
  VmSpec b = a;
  b.name = "web-2";
  EXPECT_NE(NicMac(b, 0), m0);
  EXPECT_NE(NicMac(a, 2), m0);
}

class VmSpecFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vmmd-spec-files-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    images_ = dir_ + "/images";
    ASSERT_EQ(::mkdir(images_.c_str(), 0755), 0);
    std::ofstream(images_ + "/Image") << "kernel";
    std::ofstream(images_ + "/initrd") << "initrd";
    std::ofstream(images_ + "/QEMU_EFI.fd") << "firmware";
    std::ofstream(dir_ + "/secret") << "host";
    absl::StatusOr<ConfinedDirs> dirs = ConfinedDirs::Open({images_}, "--image_dir");
    ASSERT_TRUE(dirs.ok()) << dirs.status();
    dirs_ = std::move(*dirs);
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }

  VmSpec Spec() const {
    VmSpec s = Good();
    s.kernel_path = images_ + "/Image";
    s.initrd_path = images_ + "/initrd";
    s.firmware_path = images_ + "/QEMU_EFI.fd";
    return s;
  }

  std::string dir_, images_;
  ConfinedDirs dirs_;
};

TEST_F(VmSpecFilesTest, OpensEveryFile) {
  absl::StatusOr<VmSpecFiles> files = OpenVmSpecFiles(Spec(), dirs_);
  ASSERT_THAT(files, IsOk());
  ASSERT_TRUE(files->kernel.has_value());
  EXPECT_EQ(files->kernel->size, 6u);
  ASSERT_TRUE(files->initrd.has_value());
  EXPECT_EQ(files->initrd->size, 6u);
  ASSERT_TRUE(files->firmware.has_value());
  EXPECT_EQ(files->firmware->size, 8u);
  VmSpec s = Spec();
  s.initrd_path.clear();
  s.firmware_path.clear();
  files = OpenVmSpecFiles(s, dirs_);
  ASSERT_THAT(files, IsOk());
  EXPECT_FALSE(files->initrd.has_value());
  EXPECT_FALSE(files->firmware.has_value());
}

TEST_F(VmSpecFilesTest, EachFieldIsConfined) {
  VmSpec s = Spec();
  s.kernel_path = dir_ + "/secret";
  EXPECT_THAT(OpenVmSpecFiles(s, dirs_),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("kernel_path \"" + dir_ +
                                 "/secret\" is not under an image "
                                 "directory: vmmd opens only files under " +
                                 images_ + " (its --image_dir flag)")));
  s = Spec();
  ASSERT_EQ(::symlink((dir_ + "/secret").c_str(), (images_ + "/link").c_str()), 0);
  s.initrd_path = images_ + "/link";
  EXPECT_THAT(OpenVmSpecFiles(s, dirs_),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("initrd_path \"" + images_ + "/link\": a symbolic link")));
  s = Spec();
  s.firmware_path = images_ + "/missing.fd";
  EXPECT_THAT(OpenVmSpecFiles(s, dirs_),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("firmware_path")));
  s = Spec();
  ASSERT_EQ(::mkfifo((images_ + "/fifo").c_str(), 0600), 0);
  s.kernel_path = images_ + "/fifo";
  EXPECT_THAT(OpenVmSpecFiles(s, dirs_),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a regular file")));
  // No image directory at all.
  EXPECT_THAT(OpenVmSpecFiles(Spec(), ConfinedDirs()),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("only files under none")));
}

TEST_F(VmSpecFilesTest, EmptyAndOversizedFiles) {
  VmSpec s = Spec();
  std::ofstream(images_ + "/empty").flush();
  s.initrd_path = images_ + "/empty";
  EXPECT_THAT(OpenVmSpecFiles(s, dirs_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("initrd_path \"" + images_ + "/empty\" is empty")));
  s = Spec();
  ASSERT_EQ(::truncate((images_ + "/QEMU_EFI.fd").c_str(), (64 << 20) + 1), 0);
  EXPECT_THAT(OpenVmSpecFiles(s, dirs_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("is 67108865 bytes; flash0 holds at most 67108864")));
}

TEST_F(VmSpecFilesTest, DisksAreOpenedForWritingAndLocked) {
  std::ofstream(images_ + "/disk.img") << std::string(4096, '\0');
  std::ofstream(images_ + "/tiny.img") << "x";
  VmSpec s = Spec();
  s.disks = {{.path = images_ + "/disk.img", .read_only = false, .serial = ""}};
  absl::StatusOr<VmSpecFiles> first = OpenVmSpecFiles(s, dirs_);
  ASSERT_THAT(first, IsOk());
  ASSERT_EQ(first->disks.size(), 1u);
  EXPECT_EQ(first->disks[0].size, 4096u);
  EXPECT_EQ(::pwrite(first->disks[0].fd.get(), "w", 1, 0), 1);  // writable
  // While one VM has it read-write, no other may open it, read-write or read-only.
  EXPECT_THAT(OpenVmSpecFiles(s, dirs_),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("disks[0].path \"" + images_ +
                                 "/disk.img\" is in use by another VM or process")));
  s.disks[0].read_only = true;
  EXPECT_THAT(OpenVmSpecFiles(s, dirs_),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("that writes it")));
  first = absl::UnknownError("closed");  // the first user lets go
  absl::StatusOr<VmSpecFiles> reader1 = OpenVmSpecFiles(s, dirs_);
  absl::StatusOr<VmSpecFiles> reader2 = OpenVmSpecFiles(s, dirs_);
  EXPECT_THAT(reader1, IsOk());  // read-only users share it
  EXPECT_THAT(reader2, IsOk());
  EXPECT_EQ(::pwrite(reader1->disks[0].fd.get(), "w", 1, 0), -1);  // opened read-only
  s.disks[0].read_only = false;
  EXPECT_THAT(OpenVmSpecFiles(s, dirs_),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("writable by one VM")));
  // Confined like every path; at least one sector.
  s.disks[0].path = dir_ + "/secret";
  EXPECT_THAT(OpenVmSpecFiles(s, dirs_),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("disks[0].path")));
  s.disks[0].path = images_ + "/tiny.img";
  EXPECT_THAT(OpenVmSpecFiles(s, dirs_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("is 1 bytes; a disk image holds at least one 512-byte sector")));
  s.disks[0].path = images_ + "/none.img";
  EXPECT_THAT(OpenVmSpecFiles(s, dirs_), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(VmSpecFilesTest, NicsAttachToTheirTapOneVmAtATime) {
  if (!vmmd::testing::CanMakeHostTaps()) GTEST_SKIP() << "needs root and /dev/net/tun";
  vmmd::testing::HostTap tap("vt-spec");
  ASSERT_TRUE(tap.made());
  VmSpec s = Spec();
  s.nics = {{.tap = tap.name(), .mac = ""}};
  absl::StatusOr<VmSpecFiles> first = OpenVmSpecFiles(s, dirs_);
  ASSERT_THAT(first, IsOk());
  ASSERT_EQ(first->taps.size(), 1u);
  EXPECT_EQ(first->taps[0]->name(), tap.name());
  EXPECT_THAT(OpenVmSpecFiles(s, dirs_),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("nics[0].tap: TAP \"" + tap.name() + "\" is in use")));
  first->taps.clear();
  EXPECT_THAT(OpenVmSpecFiles(s, dirs_), IsOk());
  s.nics[0].tap = tap.name() + "q";
  EXPECT_THAT(OpenVmSpecFiles(s, dirs_),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("nics[0].tap: the host has no network interface")));
  s.nics[0].tap = "lo";
  EXPECT_THAT(OpenVmSpecFiles(s, dirs_), StatusIs(absl::StatusCode::kInvalidArgument,
                                                  HasSubstr("\"lo\" is not a single-queue TAP")));
}

}  // namespace
}  // namespace vmmd::vmm
