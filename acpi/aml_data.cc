// AML data objects, names, locals and arguments.
#include "absl/strings/str_format.h"
#include "acpi/aml.h"
#include "acpi/aml_node.h"

namespace vmmd::acpi::aml {
namespace {

using internal::MakeError;
using internal::MakeOp;
using internal::MakeTargetError;
using internal::MakeTargetOp;
using Part = internal::AmlOpNode::Part;

constexpr uint8_t kZeroOp = 0x00;
constexpr uint8_t kOneOp = 0x01;
constexpr uint8_t kOnesOp = 0xFF;
constexpr uint8_t kBytePrefix = 0x0A;
constexpr uint8_t kWordPrefix = 0x0B;
constexpr uint8_t kDWordPrefix = 0x0C;
constexpr uint8_t kStringPrefix = 0x0D;
constexpr uint8_t kQWordPrefix = 0x0E;
constexpr uint8_t kBufferOp = 0x11;
constexpr uint8_t kPackageOp = 0x12;
constexpr uint8_t kLocal0Op = 0x60;
constexpr uint8_t kArg0Op = 0x68;

std::vector<uint8_t> LittleEndian(uint8_t prefix, uint64_t value, int bytes) {
  std::vector<uint8_t> out{prefix};
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
  return out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

AmlTarget Path(std::string_view path) {
  absl::StatusOr<std::vector<uint8_t>> name = EncodeNameString(path);
  if (!name.ok()) return MakeTargetError(name.status());
  return MakeTargetOp({}, {std::move(*name)});
}

AmlTerm Call(std::string_view path, std::vector<AmlTerm> args) {
  if (args.size() > 7) {
    return MakeError(absl::InvalidArgumentError(
        absl::StrFormat("call of %s passes %u arguments (at most 7)", path, args.size())));
  }
  absl::StatusOr<std::vector<uint8_t>> name = EncodeNameString(path);
  if (!name.ok()) return MakeError(name.status());
  std::vector<Part> parts{std::move(*name)};
  internal::AppendTerms(parts, std::move(args));
  return MakeOp({}, false, std::move(parts));
}

AmlTerm Zero() { return MakeOp({kZeroOp}, false, {}); }
AmlTerm One() { return MakeOp({kOneOp}, false, {}); }
AmlTerm Ones() { return MakeOp({kOnesOp}, false, {}); }

AmlTerm Int(uint64_t value) {
  if (value == 0) return Zero();
  if (value == 1) return One();
  if (value <= 0xFF) return MakeOp(LittleEndian(kBytePrefix, value, 1), false, {});
  if (value <= 0xFFFF) return MakeOp(LittleEndian(kWordPrefix, value, 2), false, {});
  if (value <= 0xFFFF'FFFF) return MakeOp(LittleEndian(kDWordPrefix, value, 4), false, {});
  return MakeOp(LittleEndian(kQWordPrefix, value, 8), false, {});
}

AmlTerm String(std::string_view ascii) {
  std::vector<uint8_t> bytes{kStringPrefix};
  for (char c : ascii) {
    if (c < 0x20 || c > 0x7E) {
      return MakeError(absl::InvalidArgumentError(absl::StrFormat(
          "AML string holds a non-printable byte 0x%02x", static_cast<uint8_t>(c))));
    }
    bytes.push_back(static_cast<uint8_t>(c));
  }
  bytes.push_back(0);
  return MakeOp(std::move(bytes), false, {});
}

AmlTerm Buffer(absl::Span<const uint8_t> bytes) {
  return MakeOp({kBufferOp}, true,
                {Int(bytes.size()), std::vector<uint8_t>(bytes.begin(), bytes.end())});
}

AmlTerm Package(std::vector<AmlTerm> elements) {
  if (elements.size() > 255) {
    return MakeError(absl::OutOfRangeError(
        absl::StrFormat("AML Package of %u elements (at most 255)", elements.size())));
  }
  std::vector<Part> parts{std::vector<uint8_t>{static_cast<uint8_t>(elements.size())}};
  internal::AppendTerms(parts, std::move(elements));
  return MakeOp({kPackageOp}, true, std::move(parts));
}

AmlTerm EisaId(std::string_view id) {
  bool ok = id.size() == 7;
  for (size_t i = 0; ok && i < 3; ++i) ok = id[i] >= 'A' && id[i] <= 'Z';
  for (size_t i = 3; ok && i < 7; ++i) ok = HexValue(id[i]) >= 0;
  if (!ok) {
    return MakeError(absl::InvalidArgumentError(
        absl::StrFormat("EISA id '%s' must be 3 letters A-Z and 4 hex digits 0-9A-F", id)));
  }
  // Big-endian 16-bit vendor (three 5-bit letters, 'A' = 1) then 16-bit product number.
  const uint32_t vendor =
      static_cast<uint32_t>((id[0] - '@') << 10 | (id[1] - '@') << 5 | (id[2] - '@'));
  uint32_t product = 0;
  for (size_t i = 3; i < 7; ++i) product = product << 4 | static_cast<uint32_t>(HexValue(id[i]));
  const std::vector<uint8_t> bytes{kDWordPrefix, static_cast<uint8_t>(vendor >> 8),
                                   static_cast<uint8_t>(vendor), static_cast<uint8_t>(product >> 8),
                                   static_cast<uint8_t>(product)};
  return MakeOp(bytes, false, {});
}

AmlTarget Local(int n) {
  if (n < 0 || n > 7) {
    return MakeTargetError(
        absl::InvalidArgumentError(absl::StrFormat("Local%d does not exist", n)));
  }
  return MakeTargetOp({static_cast<uint8_t>(kLocal0Op + n)}, {});
}

AmlTarget Arg(int n) {
  if (n < 0 || n > 6) {
    return MakeTargetError(absl::InvalidArgumentError(absl::StrFormat("Arg%d does not exist", n)));
  }
  return MakeTargetOp({static_cast<uint8_t>(kArg0Op + n)}, {});
}

}  // namespace vmmd::acpi::aml
