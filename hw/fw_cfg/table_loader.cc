#include "hw/fw_cfg/table_loader.h"

#include <cstring>

#include "absl/strings/str_format.h"
#include "core/common/status_macros.h"

namespace vmmd::hw {
namespace {

using table_loader::kCmdAddChecksum;
using table_loader::kCmdAddPointer;
using table_loader::kCmdAllocate;

void PutLe(uint8_t* p, uint64_t value, size_t size) {
  for (size_t i = 0; i < size; ++i) p[i] = static_cast<uint8_t>(value >> (8 * i));
}

void PutName(uint8_t* p, const std::string& name) {
  std::memcpy(p, name.data(), name.size());  // the rest of the 56 bytes stays 0
}

// [offset, offset + size) inside a blob of `blob_size` bytes (overflow-safe).
bool Fits(uint64_t blob_size, uint64_t offset, uint64_t size) {
  return size <= blob_size && offset <= blob_size - size;
}

absl::StatusOr<const FwCfgBlob*> FindBlob(const FwCfgItems& items, const std::string& name) {
  std::optional<uint16_t> key = items.FindFile(name);
  if (!key) {
    return absl::FailedPreconditionError(
        absl::StrFormat("table-loader names \"%s\", which is not an fw_cfg file", name));
  }
  return items.Find(*key);
}

}  // namespace

bool TableLoader::IsAllocated(std::string_view file) const {
  for (const Command& c : commands_) {
    if (c.type == kCmdAllocate && c.file == file) return true;
  }
  return false;
}

absl::Status TableLoader::Allocate(std::string_view file, uint32_t alignment,
                                   table_loader::Zone zone) {
  VMMD_RETURN_IF_ERROR(ValidateFwCfgName(file));
  if (alignment == 0 || (alignment & (alignment - 1)) != 0 ||
      alignment > table_loader::kMaxAlignment) {
    return absl::InvalidArgumentError(
        absl::StrFormat("ALLOCATE alignment %u must be a power of two <= %u", alignment,
                        table_loader::kMaxAlignment));
  }
  if (zone != table_loader::Zone::kHigh && zone != table_loader::Zone::kFseg) {
    return absl::InvalidArgumentError("ALLOCATE zone must be HIGH (1) or FSEG (2)");
  }
  if (IsAllocated(file)) {
    return absl::AlreadyExistsError(absl::StrFormat("\"%s\" is already allocated", file));
  }
  commands_.push_back(
      Command{kCmdAllocate, std::string(file), "", alignment, static_cast<uint32_t>(zone), 0});
  return absl::OkStatus();
}

absl::Status TableLoader::AddPointer(std::string_view pointer_file, std::string_view pointee_file,
                                     uint32_t pointer_offset, uint8_t pointer_size) {
  VMMD_RETURN_IF_ERROR(ValidateFwCfgName(pointer_file));
  VMMD_RETURN_IF_ERROR(ValidateFwCfgName(pointee_file));
  if (pointer_size != 1 && pointer_size != 2 && pointer_size != 4 && pointer_size != 8) {
    return absl::InvalidArgumentError(
        absl::StrFormat("ADD_POINTER size %u is not 1, 2, 4 or 8", pointer_size));
  }
  if (!IsAllocated(pointer_file) || !IsAllocated(pointee_file)) {
    return absl::FailedPreconditionError(
        absl::StrFormat("ADD_POINTER \"%s\" -> \"%s\": both files must be allocated first",
                        pointer_file, pointee_file));
  }
  commands_.push_back(Command{kCmdAddPointer, std::string(pointer_file), std::string(pointee_file),
                              pointer_offset, pointer_size, 0});
  return absl::OkStatus();
}

absl::Status TableLoader::AddChecksum(std::string_view file, uint32_t result_offset, uint32_t start,
                                      uint32_t length) {
  VMMD_RETURN_IF_ERROR(ValidateFwCfgName(file));
  if (!IsAllocated(file)) {
    return absl::FailedPreconditionError(
        absl::StrFormat("ADD_CHECKSUM \"%s\": the file must be allocated first", file));
  }
  commands_.push_back(
      Command{kCmdAddChecksum, std::string(file), "", result_offset, start, length});
  return absl::OkStatus();
}

std::vector<uint8_t> TableLoader::Serialize() const {
  std::vector<uint8_t> out(commands_.size() * table_loader::kCommandSize, 0);
  for (size_t i = 0; i < commands_.size(); ++i) {
    const Command& c = commands_[i];
    uint8_t* p = out.data() + i * table_loader::kCommandSize;
    PutLe(p, c.type, 4);
    uint8_t* body = p + 4;
    const size_t name = fw_cfg::kFileNameSize;
    switch (c.type) {
      case kCmdAllocate:
        PutName(body, c.file);
        PutLe(body + name, c.a, 4);
        body[name + 4] = static_cast<uint8_t>(c.b);
        break;
      case kCmdAddPointer:
        PutName(body, c.file);
        PutName(body + name, c.pointee);
        PutLe(body + 2 * name, c.a, 4);
        body[2 * name + 4] = static_cast<uint8_t>(c.b);
        break;
      case kCmdAddChecksum:
        PutName(body, c.file);
        PutLe(body + name, c.a, 4);
        PutLe(body + name + 4, c.b, 4);
        PutLe(body + name + 8, c.c, 4);
        break;
    }
  }
  return out;
}

absl::Status TableLoader::Validate(const FwCfgItems& items) const {
  for (size_t i = 0; i < commands_.size(); ++i) {
    const Command& c = commands_[i];
    VMMD_ASSIGN_OR_RETURN(const FwCfgBlob* blob, FindBlob(items, c.file));
    if (c.type == kCmdAddPointer) {
      VMMD_ASSIGN_OR_RETURN(const FwCfgBlob* pointee, FindBlob(items, c.pointee));
      if (!Fits(blob->size(), c.a, c.b)) {
        return absl::OutOfRangeError(
            absl::StrFormat("command %u: pointer at 0x%x (size %u) is outside \"%s\" (%u bytes)", i,
                            c.a, c.b, c.file, blob->size()));
      }
      uint8_t raw[8] = {};
      VMMD_RETURN_IF_ERROR(blob->ReadAt(c.a, absl::MakeSpan(raw, c.b)));
      uint64_t value = 0;
      for (uint32_t k = 0; k < c.b; ++k) value |= static_cast<uint64_t>(raw[k]) << (8 * k);
      if (value >= pointee->size()) {
        return absl::OutOfRangeError(absl::StrFormat(
            "command %u: relative pointer 0x%x in \"%s\" is past the end of \"%s\" (%u bytes)", i,
            value, c.file, c.pointee, pointee->size()));
      }
    } else if (c.type == kCmdAddChecksum) {
      if (c.a >= blob->size() || !Fits(blob->size(), c.b, c.c)) {
        return absl::OutOfRangeError(absl::StrFormat(
            "command %u: checksum at 0x%x over [0x%x, +0x%x) is outside \"%s\" (%u bytes)", i, c.a,
            c.b, c.c, c.file, blob->size()));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace vmmd::hw
