// AML named objects: Name, Scope, Device, Method, Mutex, OperationRegion, Field.
#include "absl/strings/str_format.h"
#include "acpi/aml.h"
#include "acpi/aml_node.h"
#include "core/common/status_macros.h"

namespace vmmd::acpi::aml {
namespace {

using internal::MakeError;
using internal::MakeOp;
using Part = internal::AmlOpNode::Part;

constexpr uint8_t kNameOp = 0x08;
constexpr uint8_t kScopeOp = 0x10;
constexpr uint8_t kMethodOp = 0x14;
constexpr uint8_t kExtOpPrefix = 0x5B;
constexpr uint8_t kMutexOp = 0x01;
constexpr uint8_t kAcquireOp = 0x23;
constexpr uint8_t kReleaseOp = 0x27;
constexpr uint8_t kOpRegionOp = 0x80;
constexpr uint8_t kFieldOp = 0x81;
constexpr uint8_t kDeviceOp = 0x82;
constexpr uint8_t kReservedFieldOp = 0x00;

// opcode [PkgLength] NameString body...
AmlTerm NamedBlock(std::vector<uint8_t> opcode, std::string_view name, std::vector<Part> head,
                   std::vector<AmlTerm> body) {
  absl::StatusOr<std::vector<uint8_t>> encoded = EncodeNameString(name);
  if (!encoded.ok()) return MakeError(encoded.status());
  std::vector<Part> parts{std::move(*encoded)};
  for (Part& part : head) parts.push_back(std::move(part));
  internal::AppendTerms(parts, std::move(body));
  return MakeOp(std::move(opcode), true, std::move(parts));
}

absl::StatusOr<std::vector<uint8_t>> EncodeFieldList(const std::vector<AmlFieldEntry>& entries) {
  std::vector<uint8_t> out;
  uint64_t position = 0;  // in bits
  auto reserve = [&](uint64_t bits) -> absl::Status {
    if (bits == 0) return absl::OkStatus();
    out.push_back(kReservedFieldOp);
    VMMD_RETURN_IF_ERROR(AppendFieldLength(bits, out));
    position += bits;
    return absl::OkStatus();
  };
  for (const AmlFieldEntry& entry : entries) {
    switch (entry.kind) {
      case AmlFieldEntry::Kind::kNamed: {
        if (entry.bits == 0) {
          return absl::InvalidArgumentError(
              absl::StrFormat("field unit %s has a width of 0 bits", entry.name));
        }
        VMMD_ASSIGN_OR_RETURN(std::string seg, NormalizeNameSeg(entry.name));
        out.insert(out.end(), seg.begin(), seg.end());
        VMMD_RETURN_IF_ERROR(AppendFieldLength(entry.bits, out));
        position += entry.bits;
        break;
      }
      case AmlFieldEntry::Kind::kReserved:
        VMMD_RETURN_IF_ERROR(reserve(entry.bits));
        break;
      case AmlFieldEntry::Kind::kOffset: {
        const uint64_t target = uint64_t{entry.bits} * 8;
        if (target < position) {
          return absl::InvalidArgumentError(absl::StrFormat(
              "field Offset (%u) lies before the current bit position %u", entry.bits, position));
        }
        VMMD_RETURN_IF_ERROR(reserve(target - position));
        break;
      }
    }
  }
  return out;
}

}  // namespace

AmlTerm Name(std::string_view name, AmlTerm value) {
  absl::StatusOr<std::vector<uint8_t>> encoded = EncodeNameString(name);
  if (!encoded.ok()) return MakeError(encoded.status());
  return MakeOp({kNameOp}, false, {std::move(*encoded), std::move(value)});
}

AmlTerm Scope(std::string_view name, std::vector<AmlTerm> body) {
  return NamedBlock({kScopeOp}, name, {}, std::move(body));
}

AmlTerm Device(std::string_view name, std::vector<AmlTerm> body) {
  return NamedBlock({kExtOpPrefix, kDeviceOp}, name, {}, std::move(body));
}

AmlTerm Method(std::string_view name, int args, MethodSerialize serialize,
               std::vector<AmlTerm> body, int sync_level) {
  if (args < 0 || args > 7 || sync_level < 0 || sync_level > 15) {
    return MakeError(absl::InvalidArgumentError(absl::StrFormat(
        "Method %s: %d arguments (0..7), sync level %d (0..15)", name, args, sync_level)));
  }
  const auto flags =
      static_cast<uint8_t>(args | (serialize == kSerialized ? 0x08 : 0x00) | (sync_level << 4));
  return NamedBlock({kMethodOp}, name, {std::vector<uint8_t>{flags}}, std::move(body));
}

AmlTerm Mutex(std::string_view name, int sync_level) {
  if (sync_level < 0 || sync_level > 15) {
    return MakeError(absl::InvalidArgumentError(
        absl::StrFormat("Mutex %s: sync level %d (0..15)", name, sync_level)));
  }
  absl::StatusOr<std::vector<uint8_t>> encoded = EncodeNameString(name);
  if (!encoded.ok()) return MakeError(encoded.status());
  return MakeOp({kExtOpPrefix, kMutexOp}, false,
                {std::move(*encoded), std::vector<uint8_t>{static_cast<uint8_t>(sync_level)}});
}

AmlTerm Acquire(const AmlTarget& mutex, uint16_t timeout) {
  return MakeOp({kExtOpPrefix, kAcquireOp}, false,
                {mutex, std::vector<uint8_t>{static_cast<uint8_t>(timeout),
                                             static_cast<uint8_t>(timeout >> 8)}});
}

AmlTerm Release(const AmlTarget& mutex) {
  return MakeOp({kExtOpPrefix, kReleaseOp}, false, {mutex});
}

AmlTerm OperationRegion(std::string_view name, RegionSpace space, AmlTerm offset, AmlTerm length) {
  absl::StatusOr<std::vector<uint8_t>> encoded = EncodeNameString(name);
  if (!encoded.ok()) return MakeError(encoded.status());
  return MakeOp({kExtOpPrefix, kOpRegionOp}, false,
                {std::move(*encoded), std::vector<uint8_t>{static_cast<uint8_t>(space)},
                 std::move(offset), std::move(length)});
}

AmlFieldEntry FieldUnit(std::string_view name, uint32_t bits) {
  return {AmlFieldEntry::Kind::kNamed, std::string(name), bits};
}

AmlFieldEntry FieldReserved(uint32_t bits) { return {AmlFieldEntry::Kind::kReserved, "", bits}; }

AmlFieldEntry FieldOffset(uint32_t byte_offset) {
  return {AmlFieldEntry::Kind::kOffset, "", byte_offset};
}

AmlTerm Field(std::string_view region, FieldAccess access, FieldLock lock, FieldUpdate update,
              std::vector<AmlFieldEntry> entries) {
  absl::StatusOr<std::vector<uint8_t>> list = EncodeFieldList(entries);
  if (!list.ok()) return MakeError(list.status());
  const auto flags =
      static_cast<uint8_t>(static_cast<uint8_t>(access) | static_cast<uint8_t>(lock) << 4 |
                           static_cast<uint8_t>(update) << 5);
  return NamedBlock({kExtOpPrefix, kFieldOp}, region,
                    {std::vector<uint8_t>{flags}, std::move(*list)}, {});
}

}  // namespace vmmd::acpi::aml
