#include "hw/fw_cfg/fw_cfg_items.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_format.h"
#include "core/common/errno_status.h"
#include "core/common/scoped_fd.h"

namespace vmmd::hw {
namespace {

class BytesBlob final : public FwCfgBlob {
 public:
  explicit BytesBlob(std::vector<uint8_t> bytes) : bytes_(std::move(bytes)) {}
  uint64_t size() const override { return bytes_.size(); }
  absl::Status ReadAt(uint64_t offset, absl::Span<uint8_t> out) const override {
    if (offset > bytes_.size() || out.size() > bytes_.size() - offset) {
      return absl::OutOfRangeError("read past the end of an fw_cfg item");
    }
    if (!out.empty()) std::memcpy(out.data(), bytes_.data() + offset, out.size());
    return absl::OkStatus();
  }

 private:
  const std::vector<uint8_t> bytes_;
};

class FileBlob final : public FwCfgBlob {
 public:
  FileBlob(ScopedFd fd, uint64_t size, std::string path)
      : fd_(std::move(fd)), size_(size), path_(std::move(path)) {}
  uint64_t size() const override { return size_; }
  absl::Status ReadAt(uint64_t offset, absl::Span<uint8_t> out) const override {
    if (offset > size_ || out.size() > size_ - offset) {
      return absl::OutOfRangeError("read past the end of an fw_cfg item");
    }
    size_t done = 0;
    while (done < out.size()) {
      const ssize_t n = ::pread(fd_.get(), out.data() + done, out.size() - done,
                                static_cast<off_t>(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus(errno, absl::StrFormat("pread %s", path_));
      }
      if (n == 0) {
        return absl::DataLossError(
            absl::StrFormat("%s shrank below %u bytes while the VM runs", path_, size_));
      }
      done += static_cast<size_t>(n);
    }
    return absl::OkStatus();
  }

 private:
  const ScopedFd fd_;
  const uint64_t size_;
  const std::string path_;
};

std::vector<uint8_t> LeBytes(uint64_t value, size_t size) {
  std::vector<uint8_t> out(size);
  for (size_t i = 0; i < size; ++i) out[i] = static_cast<uint8_t>(value >> (8 * i));
  return out;
}

void PutBe(uint8_t* p, uint64_t value, size_t size) {
  for (size_t i = 0; i < size; ++i) p[i] = static_cast<uint8_t>(value >> (8 * (size - 1 - i)));
}

}  // namespace

std::shared_ptr<const FwCfgBlob> MakeBytesBlob(std::vector<uint8_t> bytes) {
  return std::make_shared<const BytesBlob>(std::move(bytes));
}

std::shared_ptr<const FwCfgBlob> MakeStringBlob(std::string_view text) {
  return MakeBytesBlob(std::vector<uint8_t>(text.begin(), text.end()));
}

absl::StatusOr<std::shared_ptr<const FwCfgBlob>> OpenFileBlob(const std::string& path) {
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus(errno, absl::StrFormat("open %s", path));
  return OpenFileBlob(std::move(fd), path);
}

absl::StatusOr<std::shared_ptr<const FwCfgBlob>> OpenFileBlob(ScopedFd fd,
                                                              const std::string& path) {
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus(errno, absl::StrFormat("fstat %s", path));
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrFormat("%s is not a regular file", path));
  }
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size > fw_cfg::kMaxItemSize) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s is %u bytes; fw_cfg items are limited to %u", path, size, fw_cfg::kMaxItemSize));
  }
  return std::shared_ptr<const FwCfgBlob>(
      std::make_shared<const FileBlob>(std::move(fd), size, path));
}

absl::Status ValidateFwCfgName(std::string_view name) {
  if (name.empty() || name.size() > fw_cfg::kMaxFileNameLength) {
    return absl::InvalidArgumentError(absl::StrFormat("fw_cfg name \"%s\" must be 1..%u bytes",
                                                      name, fw_cfg::kMaxFileNameLength));
  }
  if (name.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError("fw_cfg name contains a NUL byte");
  }
  return absl::OkStatus();
}

FwCfgItems::FwCfgItems() {
  fixed_[fw_cfg::kSignature] = MakeStringBlob("QEMU");
  SetU32(fw_cfg::kId, fw_cfg::kIdTraditional | fw_cfg::kIdDma);
  SetU32(fw_cfg::kKernelSize, 0);
  fixed_[fw_cfg::kKernelData] = MakeBytesBlob({});
  SetU32(fw_cfg::kInitrdSize, 0);
  fixed_[fw_cfg::kInitrdData] = MakeBytesBlob({});
  SetU32(fw_cfg::kCmdlineSize, 0);
  fixed_[fw_cfg::kCmdlineData] = MakeBytesBlob({});
  SetU32(fw_cfg::kSetupSize, 0);
  fixed_[fw_cfg::kSetupData] = MakeBytesBlob({});
  fixed_[fw_cfg::kBootMenu] = MakeBytesBlob(LeBytes(0, 2));
  RebuildDirectory();
}

void FwCfgItems::SetU32(uint16_t key, uint32_t value) {
  fixed_[key] = MakeBytesBlob(LeBytes(value, 4));
}

absl::Status FwCfgItems::CheckBlob(const FwCfgBlob* blob) const {
  if (blob == nullptr) return absl::InvalidArgumentError("fw_cfg item has no data source");
  if (blob->size() > fw_cfg::kMaxItemSize) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "fw_cfg item of %u bytes exceeds the %u-byte limit", blob->size(), fw_cfg::kMaxItemSize));
  }
  return absl::OkStatus();
}

absl::Status FwCfgItems::AddFile(std::string_view name, std::vector<uint8_t> bytes) {
  return AddFile(name, MakeBytesBlob(std::move(bytes)));
}

absl::Status FwCfgItems::AddFile(std::string_view name, std::shared_ptr<const FwCfgBlob> blob) {
  if (absl::Status s = ValidateFwCfgName(name); !s.ok()) return s;
  if (absl::Status s = CheckBlob(blob.get()); !s.ok()) return s;
  auto it = std::lower_bound(files_.begin(), files_.end(), name,
                             [](const auto& entry, std::string_view n) { return entry.first < n; });
  if (it != files_.end() && it->first == name) {
    return absl::AlreadyExistsError(absl::StrFormat("fw_cfg file \"%s\" already exists", name));
  }
  if (files_.size() >= fw_cfg::kMaxFiles) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("fw_cfg holds at most %u files", fw_cfg::kMaxFiles));
  }
  files_.emplace(it, std::string(name), std::move(blob));
  RebuildDirectory();
  return absl::OkStatus();
}

absl::Status FwCfgItems::SetKernel(std::shared_ptr<const FwCfgBlob> kernel) {
  if (absl::Status s = CheckBlob(kernel.get()); !s.ok()) return s;
  SetU32(fw_cfg::kKernelSize, static_cast<uint32_t>(kernel->size()));
  fixed_[fw_cfg::kKernelData] = std::move(kernel);
  return absl::OkStatus();
}

absl::Status FwCfgItems::SetInitrd(std::shared_ptr<const FwCfgBlob> initrd) {
  if (absl::Status s = CheckBlob(initrd.get()); !s.ok()) return s;
  SetU32(fw_cfg::kInitrdSize, static_cast<uint32_t>(initrd->size()));
  fixed_[fw_cfg::kInitrdData] = std::move(initrd);
  return absl::OkStatus();
}

absl::Status FwCfgItems::SetCmdline(std::string_view cmdline) {
  if (cmdline.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError("kernel command line contains a NUL byte");
  }
  if (cmdline.size() >= fw_cfg::kMaxItemSize) {
    return absl::InvalidArgumentError("kernel command line is too long");
  }
  std::vector<uint8_t> data(cmdline.begin(), cmdline.end());
  data.push_back(0);
  SetU32(fw_cfg::kCmdlineSize, static_cast<uint32_t>(data.size()));
  fixed_[fw_cfg::kCmdlineData] = MakeBytesBlob(std::move(data));
  return absl::OkStatus();
}

void FwCfgItems::RebuildDirectory() {
  std::vector<uint8_t> dir(4 + files_.size() * fw_cfg::kDirEntrySize, 0);
  PutBe(dir.data(), files_.size(), 4);
  for (size_t i = 0; i < files_.size(); ++i) {
    uint8_t* entry = dir.data() + 4 + i * fw_cfg::kDirEntrySize;
    PutBe(entry, files_[i].second->size(), 4);
    PutBe(entry + 4, fw_cfg::kFileFirst + i, 2);
    // entry[6..7] reserved (0); the name is NUL-padded to 56 bytes.
    std::memcpy(entry + 8, files_[i].first.data(), files_[i].first.size());
  }
  fixed_[fw_cfg::kFileDir] = MakeBytesBlob(std::move(dir));
}

const FwCfgBlob* FwCfgItems::Find(uint16_t key) const {
  key = static_cast<uint16_t>(key & ~fw_cfg::kWriteChannel);
  if (key >= fw_cfg::kFileFirst && size_t{key} - fw_cfg::kFileFirst < files_.size()) {
    return files_[key - fw_cfg::kFileFirst].second.get();
  }
  auto it = fixed_.find(key);
  return it == fixed_.end() ? nullptr : it->second.get();
}

std::optional<uint16_t> FwCfgItems::FindFile(std::string_view name) const {
  for (size_t i = 0; i < files_.size(); ++i) {
    if (files_[i].first == name) return static_cast<uint16_t>(fw_cfg::kFileFirst + i);
  }
  return std::nullopt;
}

}  // namespace vmmd::hw
