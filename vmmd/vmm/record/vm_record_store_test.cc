#include "vmmd/vmm/record/vm_record_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace vmmd::vmm {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;
using ::vmmd::testing::IsOk;
using ::vmmd::testing::StatusIs;

VmRecord Sample(const std::string& name) {
  VmRecord r;
  r.spec.name = name;
  r.spec.kernel_path = "/var/lib/vmmd/images/Image";
  r.spec.initrd_path = "/var/lib/vmmd/images/initrd.cpio";
  r.spec.cmdline = "console=ttyAMA0 quiet";
  r.spec.firmware_path = "/var/lib/vmmd/images/QEMU_EFI.fd";
  r.spec.memory_mib = 512;
  r.spec.disks = {{.path = "/var/lib/vmmd/images/root.img", .read_only = false, .serial = "root"},
                  {.path = "/var/lib/vmmd/images/data.img", .read_only = true, .serial = ""}};
  r.spec.nics = {{.tap = "tap-a", .mac = "02:00:5e:10:00:01"}, {.tap = "tap-b", .mac = ""}};
  r.spec.entropy = true;
  r.spec.boot_vcpus = 2;
  r.spec.max_vcpus = 8;
  r.spec.start_vcpus = 3;
  r.desired_vcpus = 5;
  r.running = true;
  r.autoscale.mode = AutoscaleMode::kAuto;
  r.autoscale.min_vcpus = 2;
  r.autoscale.target_utilization = 0.6;
  r.autoscale.tolerance = 0.05;
  r.autoscale.scale_down_stabilization = absl::Seconds(42);
  r.autoscale.scale_up_max_step = 3;
  r.autoscale.step_period = absl::Milliseconds(1500);
  r.created_at = absl::FromUnixNanos(1764513600123456789);
  return r;
}

class VmRecordStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vm_record_store_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    dir_ = root_ + "/state/nested";
  }
  void TearDown() override { std::system(("rm -rf " + root_).c_str()); }

  static std::string Read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  static void Write(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  }

  std::string root_;
  std::string dir_;
};

TEST(VmRecordTest, RoundTripsEveryField) {
  const VmRecord r = Sample("web-1");
  absl::StatusOr<VmRecord> back = ParseVmRecord(SerializeVmRecord(r));
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(*back, r);

  VmRecord defaults;  // unset optionals stay unset, no created_at
  defaults.spec.name = "a";
  back = ParseVmRecord(SerializeVmRecord(defaults));
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(*back, defaults);
}

TEST(VmRecordTest, RefusesWhatIsNotARecord) {
  EXPECT_THAT(ParseVmRecord("\xff\xff\xff"),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("does not parse")));
  EXPECT_THAT(ParseVmRecord(""), StatusIs(absl::StatusCode::kDataLoss, HasSubstr("format 0")));
  EXPECT_THAT(ParseVmRecord(std::string(kMaxVmRecordBytes + 1, '\0')),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("at most 65536")));
  std::string bytes = SerializeVmRecord(Sample("x"));
  // format = 2 (field 1, varint): a newer vmmd's record.
  EXPECT_THAT(ParseVmRecord(std::string("\x08\x02", 2) + bytes.substr(2)),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("format 2 is not 1")));
  VmRecord bad_name = Sample("../x");
  EXPECT_THAT(ParseVmRecord(SerializeVmRecord(bad_name)),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("no valid VM name")));
  VmRecord bad_mode = Sample("m");
  bad_mode.autoscale.mode = static_cast<AutoscaleMode>(7);
  EXPECT_THAT(ParseVmRecord(SerializeVmRecord(bad_mode)),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("autoscale mode 7")));
}

TEST_F(VmRecordStoreTest, SavesLoadsAndRemoves) {
  absl::StatusOr<std::unique_ptr<VmRecordStore>> store = VmRecordStore::Open(dir_);
  ASSERT_THAT(store, IsOk());
  struct stat st {};
  ASSERT_EQ(stat(dir_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_THAT((*store)->LoadAll(), SizeIs(0));

  VmRecord b = Sample("b");
  ASSERT_THAT((*store)->Save(Sample("a")), IsOk());
  ASSERT_THAT((*store)->Save(b), IsOk());
  b.desired_vcpus = 7;  // a second save replaces the first
  ASSERT_THAT((*store)->Save(b), IsOk());
  ASSERT_EQ(stat((dir_ + "/b/vm.pb").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_NE(access((dir_ + "/b/vm.pb.tmp").c_str(), F_OK), 0);

  // A fresh store (a restarted vmmd) sees both, sorted.
  store = VmRecordStore::Open(dir_);
  ASSERT_THAT(store, IsOk());
  std::vector<VmRecordStore::Loaded> all = (*store)->LoadAll();
  ASSERT_THAT(all, SizeIs(2));
  EXPECT_EQ(all[0].name, "a");
  ASSERT_THAT(all[0].record, IsOk());
  EXPECT_EQ(*all[0].record, Sample("a"));
  ASSERT_THAT(all[1].record, IsOk());
  EXPECT_EQ(all[1].record->desired_vcpus, 7u);

  ASSERT_THAT((*store)->Remove("a"), IsOk());
  EXPECT_THAT((*store)->Remove("a"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT((*store)->Remove("never"), StatusIs(absl::StatusCode::kNotFound));
  all = (*store)->LoadAll();
  ASSERT_THAT(all, SizeIs(1));
  EXPECT_EQ(all[0].name, "b");
}

TEST_F(VmRecordStoreTest, ACorruptRecordFailsThatVmAlone) {
  absl::StatusOr<std::unique_ptr<VmRecordStore>> store = VmRecordStore::Open(dir_);
  ASSERT_THAT(store, IsOk());
  for (const char* name : {"bad", "good", "other", "swapped", "big"}) {
    ASSERT_THAT((*store)->Save(Sample(name)), IsOk());
  }
  Write(dir_ + "/bad/vm.pb", "not a record at all \xff\xff");
  Write(dir_ + "/other/vm.pb", Read(dir_ + "/good/vm.pb"));  // names "good", lives in other/
  ASSERT_EQ(unlink((dir_ + "/swapped/vm.pb").c_str()), 0);
  ASSERT_EQ(symlink("/etc/passwd", (dir_ + "/swapped/vm.pb").c_str()), 0);
  Write(dir_ + "/big/vm.pb", std::string(kMaxVmRecordBytes + 1, 'x'));
  // Not VM directories: skipped without a word.
  ASSERT_EQ(mkdir((dir_ + "/empty").c_str(), 0700), 0);
  ASSERT_EQ(mkdir((dir_ + "/.hidden").c_str(), 0700), 0);
  Write(dir_ + "/plain-file", "x");
  ASSERT_EQ(symlink((dir_ + "/good").c_str(), (dir_ + "/link").c_str()), 0);

  std::vector<VmRecordStore::Loaded> all = (*store)->LoadAll();
  ASSERT_THAT(all, SizeIs(5));
  EXPECT_EQ(all[0].name, "bad");
  EXPECT_THAT(all[0].record, StatusIs(absl::StatusCode::kDataLoss, HasSubstr("does not parse")));
  EXPECT_EQ(all[1].name, "big");
  EXPECT_THAT(all[1].record, StatusIs(absl::StatusCode::kDataLoss, HasSubstr("at most 65536")));
  EXPECT_EQ(all[2].name, "good");
  EXPECT_THAT(all[2].record, IsOk());
  EXPECT_EQ(all[3].name, "other");
  EXPECT_THAT(all[3].record, StatusIs(absl::StatusCode::kDataLoss,
                                      HasSubstr("names VM \"good\", not its directory")));
  EXPECT_EQ(all[4].name, "swapped");
  EXPECT_THAT(all[4].record, StatusIs(absl::StatusCode::kDataLoss, HasSubstr("is a symlink")));
}

TEST_F(VmRecordStoreTest, NeverFollowsASymlink) {
  ASSERT_EQ(mkdir((root_ + "/elsewhere").c_str(), 0700), 0);
  ASSERT_EQ(mkdir((root_ + "/state").c_str(), 0700), 0);
  ASSERT_EQ(symlink((root_ + "/elsewhere").c_str(), dir_.c_str()), 0);
  EXPECT_THAT(VmRecordStore::Open(dir_),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("symlink")));
  ASSERT_EQ(unlink(dir_.c_str()), 0);

  absl::StatusOr<std::unique_ptr<VmRecordStore>> store = VmRecordStore::Open(dir_);
  ASSERT_THAT(store, IsOk());
  // A per-VM directory replaced by a symlink: Save refuses to write through it.
  ASSERT_EQ(symlink((root_ + "/elsewhere").c_str(), (dir_ + "/evil").c_str()), 0);
  EXPECT_THAT((*store)->Save(Sample("evil")),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("symlink")));
  EXPECT_NE(access((root_ + "/elsewhere/vm.pb.tmp").c_str(), F_OK), 0);
  EXPECT_NE(access((root_ + "/elsewhere/vm.pb").c_str(), F_OK), 0);
  // A temporary file planted as a symlink is replaced, never written through.
  ASSERT_EQ(mkdir((dir_ + "/vm1").c_str(), 0700), 0);
  ASSERT_EQ(symlink((root_ + "/elsewhere/target").c_str(), (dir_ + "/vm1/vm.pb.tmp").c_str()), 0);
  EXPECT_THAT((*store)->Save(Sample("vm1")), IsOk());
  EXPECT_NE(access((root_ + "/elsewhere/target").c_str(), F_OK), 0);
  std::vector<VmRecordStore::Loaded> all = (*store)->LoadAll();
  ASSERT_THAT(all, SizeIs(1));
  EXPECT_EQ(all[0].name, "vm1");
  EXPECT_THAT(all[0].record, IsOk());
  EXPECT_THAT(VmRecordStore::Open("relative/dir"), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace vmmd::vmm
