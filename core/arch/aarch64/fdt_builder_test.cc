#include "core/arch/aarch64/fdt_builder.h"

#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace vmmd::core::aarch64 {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::vmmd::testing::IsOk;
using ::vmmd::testing::StatusIs;

// KVM's reset MPIDR for a vCPU id (bit 31 is RES1).
uint64_t KvmMpidr(uint32_t id) {
  return 0x8000'0000ULL | (id & 0xf) | (uint64_t{(id >> 4) & 0xff} << 8) |
         (uint64_t{(id >> 12) & 0xff} << 16);
}

BoardFdtConfig BaseConfig(uint32_t cpus) {
  BoardFdtConfig c;
  c.ram_base = kRamBase;
  c.ram_size = 256ULL << 20;
  for (uint32_t i = 0; i < cpus; ++i) c.cpu_mpidrs.push_back(KvmMpidr(i));
  c.gic_redist_regions = {{kGicRedistBase, kGicRedistRegion0Count}};
  c.cmdline = "console=ttyAMA0 earlycon";
  return c;
}

class Blob {
 public:
  explicit Blob(std::vector<uint8_t> bytes) : bytes_(std::move(bytes)) {}
  const void* fdt() const { return bytes_.data(); }
  int Node(const char* path) const { return fdt_path_offset(fdt(), path); }
  bool Has(const char* path, const char* prop) const {
    int node = Node(path);
    return node >= 0 && fdt_getprop(fdt(), node, prop, nullptr) != nullptr;
  }
  // The property's raw bytes as a string (string lists keep their NULs); "<missing>" if absent.
  std::string Raw(const char* path, const char* prop) const {
    int node = Node(path);
    if (node < 0) return "<no node>";
    int len = 0;
    const void* p = fdt_getprop(fdt(), node, prop, &len);
    if (p == nullptr) return "<missing>";
    return std::string(static_cast<const char*>(p), static_cast<size_t>(len));
  }
  std::vector<uint32_t> Cells(const char* path, const char* prop) const {
    std::string raw = Raw(path, prop);
    std::vector<uint32_t> out;
    for (size_t i = 0; i + 4 <= raw.size(); i += 4) {
      uint32_t be;
      std::memcpy(&be, raw.data() + i, 4);
      out.push_back(fdt32_to_cpu(be));
    }
    return out;
  }
  const std::vector<uint8_t>& bytes() const { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
};

Blob Build(const BoardFdtConfig& config) {
  absl::StatusOr<std::vector<uint8_t>> blob = BuildBoardFdt(config);
  EXPECT_THAT(blob, IsOk());
  if (!blob.ok()) return Blob({});
  EXPECT_EQ(fdt_check_full(blob->data(), blob->size()), 0);
  return Blob(*std::move(blob));
}

std::string S(const char* literal_with_nuls, size_t size_with_final_nul) {
  return std::string(literal_with_nuls, size_with_final_nul);
}
#define STR(lit) S(lit, sizeof(lit))

TEST(FdtBuilderTest, OneCpuBoardNodes) {
  Blob b = Build(BaseConfig(1));
  ASSERT_FALSE(b.bytes().empty());
  EXPECT_EQ(b.Raw("/", "compatible"), STR("linux,dummy-virt"));
  EXPECT_EQ(b.Raw("/", "model"), STR("vmmd KVM arm64 virtual machine"));
  EXPECT_THAT(b.Cells("/", "#address-cells"), ElementsAre(2));
  EXPECT_THAT(b.Cells("/", "#size-cells"), ElementsAre(2));
  EXPECT_THAT(b.Cells("/", "interrupt-parent"), ElementsAre(kPhandleGic));

  EXPECT_EQ(b.Raw("/memory@40000000", "device_type"), STR("memory"));
  EXPECT_THAT(b.Cells("/memory@40000000", "reg"), ElementsAre(0, 0x4000'0000, 0, 0x1000'0000));

  EXPECT_THAT(b.Cells("/cpus", "#address-cells"), ElementsAre(1));
  EXPECT_THAT(b.Cells("/cpus", "#size-cells"), ElementsAre(0));
  EXPECT_EQ(b.Raw("/cpus/cpu@0", "device_type"), STR("cpu"));
  EXPECT_EQ(b.Raw("/cpus/cpu@0", "compatible"), STR("arm,armv8"));
  EXPECT_EQ(b.Raw("/cpus/cpu@0", "enable-method"), STR("psci"));
  EXPECT_THAT(b.Cells("/cpus/cpu@0", "reg"), ElementsAre(0));
  EXPECT_LT(b.Node("/cpus/cpu@1"), 0);

  EXPECT_EQ(b.Raw("/psci", "compatible"), STR("arm,psci-1.0\0arm,psci-0.2\0arm,psci"));
  EXPECT_EQ(b.Raw("/psci", "method"), STR("hvc"));
  EXPECT_THAT(b.Cells("/psci", "cpu_on"), ElementsAre(0xC400'0003u));
  EXPECT_THAT(b.Cells("/psci", "cpu_off"), ElementsAre(0x8400'0002u));

  EXPECT_EQ(b.Raw("/intc@8000000", "compatible"), STR("arm,gic-v3"));
  EXPECT_THAT(b.Cells("/intc@8000000", "#interrupt-cells"), ElementsAre(3));
  EXPECT_EQ(b.Raw("/intc@8000000", "interrupt-controller"), "");
  EXPECT_THAT(b.Cells("/intc@8000000", "reg"),
              ElementsAre(0, 0x0800'0000, 0, 0x1'0000, 0, 0x080A'0000, 0, 0x00F6'0000));
  EXPECT_THAT(b.Cells("/intc@8000000", "#redistributor-regions"), ElementsAre(1));
  EXPECT_THAT(b.Cells("/intc@8000000", "phandle"), ElementsAre(kPhandleGic));
  EXPECT_FALSE(b.Has("/intc@8000000", "redistributor-stride"));
  EXPECT_LT(b.Node("/intc@8000000/its@8080000"), 0);

  EXPECT_EQ(b.Raw("/timer", "compatible"), STR("arm,armv8-timer"));
  // sec-phys PPI 13, phys PPI 14, virt PPI 11, hyp-phys PPI 10, hyp-virt PPI 12; level-high.
  EXPECT_THAT(b.Cells("/timer", "interrupts"),
              ElementsAre(1, 13, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4, 1, 12, 4));
  EXPECT_EQ(b.Raw("/timer", "always-on"), "");
  EXPECT_LT(b.Node("/pmu"), 0);

  EXPECT_EQ(b.Raw("/apb-pclk", "compatible"), STR("fixed-clock"));
  EXPECT_THAT(b.Cells("/apb-pclk", "#clock-cells"), ElementsAre(0));
  EXPECT_THAT(b.Cells("/apb-pclk", "clock-frequency"), ElementsAre(24'000'000));
  EXPECT_EQ(b.Raw("/apb-pclk", "clock-output-names"), STR("clk24mhz"));
  EXPECT_THAT(b.Cells("/apb-pclk", "phandle"), ElementsAre(kPhandleApbClock));

  EXPECT_EQ(b.Raw("/chosen", "bootargs"), STR("console=ttyAMA0 earlycon"));
  EXPECT_FALSE(b.Has("/chosen", "linux,initrd-start"));
  EXPECT_FALSE(b.Has("/chosen", "stdout-path"));
  EXPECT_FALSE(b.Has("/chosen", "rng-seed"));
  EXPECT_FALSE(b.Has("/chosen", "kaslr-seed"));
  EXPECT_EQ(fdt_boot_cpuid_phys(b.fdt()), 0u);
  EXPECT_LE(b.bytes().size(), kFdtMaxSize);
}

TEST(FdtBuilderTest, FourCpusAcrossAffinityLevelsAndTwoRedistributorRegions) {
  BoardFdtConfig c = BaseConfig(0);
  c.cpu_mpidrs = {KvmMpidr(17), KvmMpidr(0), KvmMpidr(1), KvmMpidr(16)};  // boot CPU first
  c.gic_redist_regions = {{kGicRedistBase, 2}, {kGicRedistHighBase, 3}};
  Blob b = Build(c);
  EXPECT_THAT(b.Cells("/cpus", "#address-cells"), ElementsAre(1));
  EXPECT_THAT(b.Cells("/cpus/cpu@0", "reg"), ElementsAre(0x0));
  EXPECT_THAT(b.Cells("/cpus/cpu@1", "reg"), ElementsAre(0x1));
  EXPECT_THAT(b.Cells("/cpus/cpu@100", "reg"), ElementsAre(0x100));
  EXPECT_THAT(b.Cells("/cpus/cpu@101", "reg"), ElementsAre(0x101));
  int count = 0;
  int cpus = b.Node("/cpus");
  for (int n = fdt_first_subnode(b.fdt(), cpus); n >= 0; n = fdt_next_subnode(b.fdt(), n)) ++count;
  EXPECT_EQ(count, 4);
  EXPECT_THAT(b.Cells("/intc@8000000", "reg"),
              ElementsAre(0, 0x0800'0000, 0, 0x1'0000,     // distributor
                          0, 0x080A'0000, 0, 0x4'0000,     // 2 x 128 KiB
                          0x40, 0x0000'0000, 0, 0x6'0000)); // 3 x 128 KiB at 256 GiB
  EXPECT_THAT(b.Cells("/intc@8000000", "#redistributor-regions"), ElementsAre(2));
  EXPECT_EQ(fdt_boot_cpuid_phys(b.fdt()), 0x101u);
}

TEST(FdtBuilderTest, Aff3UsesTwoAddressCells) {
  BoardFdtConfig c = BaseConfig(0);
  c.cpu_mpidrs = {0x8000'0000ULL, 0x2'8000'0003ULL};
  Blob b = Build(c);
  EXPECT_THAT(b.Cells("/cpus", "#address-cells"), ElementsAre(2));
  EXPECT_THAT(b.Cells("/cpus/cpu@0", "reg"), ElementsAre(0, 0));
  EXPECT_THAT(b.Cells("/cpus/cpu@200000003", "reg"), ElementsAre(2, 3));
  EXPECT_EQ(MpidrToCpuReg(0xFFFF'FFFF'FFFF'FFFFULL), 0xFF'00FF'FFFFULL);
}

TEST(FdtBuilderTest, PmuNode) {
  BoardFdtConfig c = BaseConfig(1);
  c.pmu = true;
  Blob b = Build(c);
  EXPECT_EQ(b.Raw("/pmu", "compatible"), STR("arm,armv8-pmuv3"));
  EXPECT_THAT(b.Cells("/pmu", "interrupts"), ElementsAre(1, 7, 4));
}

TEST(FdtBuilderTest, ChosenCarriesInitrdStdoutAndSeeds) {
  BoardFdtConfig c = BaseConfig(2);
  c.initrd = FdtInitrd{0x4F5F'0000, 0x80'0064};
  c.stdout_path = "/pl011@9000000";
  c.rng_seed = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  c.kaslr_seed = 0x1122'3344'5566'7788ULL;
  Blob b = Build(c);
  EXPECT_THAT(b.Cells("/chosen", "linux,initrd-start"), ElementsAre(0, 0x4F5F'0000));
  EXPECT_THAT(b.Cells("/chosen", "linux,initrd-end"), ElementsAre(0, 0x4FDF'0064));
  EXPECT_EQ(b.Raw("/chosen", "stdout-path"), STR("/pl011@9000000"));
  EXPECT_EQ(b.Raw("/chosen", "rng-seed"), std::string("\1\2\3\4\5\6\7\x8\x9", 9));
  EXPECT_THAT(b.Cells("/chosen", "kaslr-seed"), ElementsAre(0x1122'3344, 0x5566'7788));
}

class FakeDevice : public FdtDescribed {
 public:
  explicit FakeDevice(int mode = 0) : mode_(mode) {}
  absl::Status DescribeFdt(FdtWriter& fdt) const override {
    if (mode_ == 1) return absl::UnavailableError("fake failure");
    absl::Status s = fdt.BeginNode("fake@a000000");
    if (s.ok()) s = fdt.PropString("compatible", "vmmd,fake");
    const std::pair<uint64_t, uint64_t> reg[] = {{0xa000000, 0x200}};
    if (s.ok()) s = fdt.PropReg("reg", reg);
    if (s.ok()) s = fdt.PropCells("interrupts", {kFdtIrqTypeSpi, 16, kFdtIrqEdgeRising});
    if (s.ok() && mode_ == 3) s = fdt.PropBytes("huge", std::vector<uint8_t>(kFdtMaxSize));
    if (s.ok() && mode_ != 2) s = fdt.EndNode();
    return s;
  }

 private:
  int mode_;
};

TEST(FdtBuilderTest, DevicesDescribeThemselvesInTheRoot) {
  BoardFdtConfig c = BaseConfig(1);
  FakeDevice fake;
  c.devices = {&fake};
  Blob b = Build(c);
  EXPECT_EQ(b.Raw("/fake@a000000", "compatible"), STR("vmmd,fake"));
  EXPECT_THAT(b.Cells("/fake@a000000", "interrupts"), ElementsAre(0, 16, 1));
  EXPECT_GE(b.Node("/chosen"), 0);  // board nodes after the devices still land in the root
}

TEST(FdtBuilderTest, DeviceErrorsNameTheDevice) {
  BoardFdtConfig c = BaseConfig(1);
  FakeDevice ok, failing(1), unclosed(2), huge(3);
  c.devices = {&ok, &failing};
  EXPECT_THAT(BuildBoardFdt(c),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("device 1: fake failure")));
  c.devices = {&unclosed};
  EXPECT_THAT(BuildBoardFdt(c), StatusIs(absl::StatusCode::kFailedPrecondition,
                                         HasSubstr("device 0: left 1 node(s) open")));
  c.devices = {&huge};
  EXPECT_THAT(BuildBoardFdt(c), StatusIs(absl::StatusCode::kResourceExhausted,
                                         HasSubstr("device 0: fdt property huge")));
}

TEST(FdtBuilderTest, RejectsBadConfigs) {
  struct Case {
    const char* what;
    void (*mutate)(BoardFdtConfig&);
  };
  const Case cases[] = {
      {"no CPUs", [](BoardFdtConfig& c) { c.cpu_mpidrs.clear(); }},
      {"share the affinity 0x1",
       [](BoardFdtConfig& c) { c.cpu_mpidrs = {0x8000'0001, 0x1}; }},
      {"ram_size is 0", [](BoardFdtConfig& c) { c.ram_size = 0; }},
      {"wraps the address space", [](BoardFdtConfig& c) { c.ram_base = ~0ULL - 4096; }},
      {"no GIC redistributor regions", [](BoardFdtConfig& c) { c.gic_redist_regions.clear(); }},
      {"region 1 is empty",
       [](BoardFdtConfig& c) { c.gic_redist_regions.push_back({kGicRedistHighBase, 0}); }},
      {"region 0 at 0x80a1000",
       [](BoardFdtConfig& c) { c.gic_redist_regions = {{kGicRedistBase + 0x1000, 4}}; }},
      {"4 CPUs but only 3 GIC redistributors",
       [](BoardFdtConfig& c) { c.gic_redist_regions = {{kGicRedistBase, 3}}; }},
      {"distributor base 0x8000100",
       [](BoardFdtConfig& c) { c.gic_dist_base = kGicDistBase + 0x100; }},
      {"cmdline is 2048 bytes", [](BoardFdtConfig& c) { c.cmdline = std::string(2048, 'x'); }},
      {"cmdline contains a NUL", [](BoardFdtConfig& c) { c.cmdline = std::string("a\0b", 3); }},
      {"initrd is empty", [](BoardFdtConfig& c) { c.initrd = FdtInitrd{kRamBase, 0}; }},
      {"initrd [0x4ff00000, +0x200000) is not inside RAM",
       [](BoardFdtConfig& c) { c.initrd = FdtInitrd{0x4FF0'0000, 0x20'0000}; }},
      {"initrd [0x3ff00000",
       [](BoardFdtConfig& c) { c.initrd = FdtInitrd{0x3FF0'0000, 0x1000}; }},
      {"stdout_path \"pl011@9000000\"", [](BoardFdtConfig& c) { c.stdout_path = "pl011@9000000"; }},
      {"rng_seed is 4097 bytes", [](BoardFdtConfig& c) { c.rng_seed.resize(4097); }},
      {"device 0 is null", [](BoardFdtConfig& c) { c.devices = {nullptr}; }},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.what);
    BoardFdtConfig c = BaseConfig(4);
    k.mutate(c);
    EXPECT_THAT(BuildBoardFdt(c), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(k.what)));
  }
  BoardFdtConfig longest = BaseConfig(1);
  longest.cmdline = std::string(kMaxCmdlineLength, 'x');
  EXPECT_THAT(BuildBoardFdt(longest), IsOk());
}

// dtc (device-tree-compiler) decompiles the blob without complaint.
TEST(FdtBuilderTest, DtcDecompilesTheBlob) {
  if (std::system("command -v dtc >/dev/null 2>&1") != 0) GTEST_SKIP() << "dtc not installed";
  BoardFdtConfig c = BaseConfig(4);
  c.pmu = true;
  c.initrd = FdtInitrd{0x4800'0000, 0x1000};
  c.stdout_path = "/fake@a000000";
  FakeDevice fake;
  c.devices = {&fake};
  Blob b = Build(c);
  char path[] = "/tmp/fdt_builder_test_XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, b.bytes().data(), b.bytes().size()),
            static_cast<ssize_t>(b.bytes().size()));
  close(fd);
  std::string cmd = std::string("dtc -I dtb -O dts ") + path + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  int rc = pclose(p);
  unlink(path);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_THAT(out, HasSubstr("compatible = \"linux,dummy-virt\";"));
  EXPECT_THAT(out, HasSubstr("cpu@3 {"));
  EXPECT_THAT(out, HasSubstr("compatible = \"arm,psci-1.0\\0arm,psci-0.2\\0arm,psci\";"));
  EXPECT_THAT(out, HasSubstr("linux,initrd-start = <0x00 0x48000000>;"));
  EXPECT_THAT(out, ::testing::Not(HasSubstr("Warning")));
}

}  // namespace
}  // namespace vmmd::core::aarch64
