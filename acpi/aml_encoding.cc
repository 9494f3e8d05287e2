// Byte-level AML encoding: PkgLength, NameString, and the generic op node.
#include <string>

#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "acpi/aml.h"
#include "acpi/aml_node.h"
#include "core/common/status_macros.h"

namespace vmmd::acpi {
namespace {

constexpr uint64_t kMaxPkgLength = (uint64_t{1} << 28) - 1;
constexpr uint8_t kRootChar = 0x5C;          // '\'
constexpr uint8_t kParentPrefixChar = 0x5E;  // '^'
constexpr uint8_t kDualNamePrefix = 0x2E;
constexpr uint8_t kMultiNamePrefix = 0x2F;
constexpr uint8_t kNullName = 0x00;

bool IsLeadNameChar(char c) { return (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsNameChar(char c) { return IsLeadNameChar(c) || (c >= '0' && c <= '9'); }

// Encodes `value` in `count` PkgLength bytes (count 1: value < 64; else the low nibble goes in
// the lead byte and the rest in the following bytes).
void AppendPkgLengthBytes(uint64_t value, int count, std::vector<uint8_t>& out) {
  if (count == 1) {
    out.push_back(static_cast<uint8_t>(value));
    return;
  }
  out.push_back(static_cast<uint8_t>(((count - 1) << 6) | (value & 0x0F)));
  for (int i = 1; i < count; ++i) out.push_back(static_cast<uint8_t>(value >> (4 + 8 * (i - 1))));
}

// The number of bytes a PkgLength-format value needs, or 0 if it does not fit.
int PkgLengthBytesFor(uint64_t value) {
  if (value < 0x40) return 1;
  if (value < (uint64_t{1} << 12)) return 2;
  if (value < (uint64_t{1} << 20)) return 3;
  if (value <= kMaxPkgLength) return 4;
  return 0;
}

}  // namespace

absl::Status AmlTerm::AppendTo(std::vector<uint8_t>& out) const {
  if (node_ == nullptr) return absl::InvalidArgumentError("empty AML term");
  return node_->Encode(out);
}

absl::StatusOr<std::vector<uint8_t>> AmlTerm::Encode() const {
  std::vector<uint8_t> out;
  VMMD_RETURN_IF_ERROR(AppendTo(out));
  return out;
}

absl::Status AppendPkgLength(size_t payload, std::vector<uint8_t>& out) {
  // The encoded length includes the PkgLength bytes: pick the smallest count that can hold
  // payload + count.
  for (int count = 1; count <= 4; ++count) {
    const uint64_t total = static_cast<uint64_t>(payload) + static_cast<uint64_t>(count);
    if (PkgLengthBytesFor(total) != 0 && PkgLengthBytesFor(total) <= count) {
      AppendPkgLengthBytes(total, count, out);
      return absl::OkStatus();
    }
  }
  return absl::OutOfRangeError(absl::StrFormat(
      "AML package of %u bytes exceeds the PkgLength limit of %u bytes", payload, kMaxPkgLength));
}

absl::Status AppendFieldLength(uint64_t value, std::vector<uint8_t>& out) {
  const int count = PkgLengthBytesFor(value);
  if (count == 0) {
    return absl::OutOfRangeError(absl::StrFormat("AML field width %u is too large", value));
  }
  AppendPkgLengthBytes(value, count, out);
  return absl::OkStatus();
}

absl::StatusOr<std::string> NormalizeNameSeg(std::string_view seg) {
  if (seg.empty() || seg.size() > 4) {
    return absl::InvalidArgumentError(
        absl::StrFormat("AML NameSeg '%s' must have 1 to 4 characters", seg));
  }
  if (!IsLeadNameChar(seg[0])) {
    return absl::InvalidArgumentError(
        absl::StrFormat("AML NameSeg '%s' must start with A-Z or '_'", seg));
  }
  for (char c : seg) {
    if (!IsNameChar(c)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("AML NameSeg '%s' may only hold A-Z, 0-9 and '_'", seg));
    }
  }
  std::string out(seg);
  out.resize(4, '_');
  return out;
}

absl::StatusOr<std::vector<uint8_t>> EncodeNameString(std::string_view path) {
  std::vector<uint8_t> out;
  std::string_view rest = path;
  if (!rest.empty() && rest.front() == '\\') {
    out.push_back(kRootChar);
    rest.remove_prefix(1);
  } else {
    while (!rest.empty() && rest.front() == '^') {
      out.push_back(kParentPrefixChar);
      rest.remove_prefix(1);
    }
  }
  if (rest.empty()) {
    if (out.empty()) return absl::InvalidArgumentError("empty AML name");
    out.push_back(kNullName);
    return out;
  }
  std::vector<std::string> segs;
  for (absl::string_view seg : absl::StrSplit(absl::string_view(rest.data(), rest.size()), '.')) {
    VMMD_ASSIGN_OR_RETURN(std::string normalized,
                          NormalizeNameSeg(std::string_view(seg.data(), seg.size())));
    segs.push_back(std::move(normalized));
  }
  if (segs.size() > 255) {
    return absl::InvalidArgumentError(
        absl::StrFormat("AML name '%s' has more than 255 segments", path));
  }
  if (segs.size() == 2) {
    out.push_back(kDualNamePrefix);
  } else if (segs.size() > 2) {
    out.push_back(kMultiNamePrefix);
    out.push_back(static_cast<uint8_t>(segs.size()));
  }
  for (const std::string& seg : segs) out.insert(out.end(), seg.begin(), seg.end());
  return out;
}

namespace internal {

absl::Status AmlOpNode::EncodeParts(std::vector<uint8_t>& out) const {
  for (const Part& part : parts_) {
    if (const auto* raw = std::get_if<std::vector<uint8_t>>(&part)) {
      out.insert(out.end(), raw->begin(), raw->end());
    } else {
      VMMD_RETURN_IF_ERROR(std::get<AmlTerm>(part).AppendTo(out));
    }
  }
  return absl::OkStatus();
}

absl::Status AmlOpNode::Encode(std::vector<uint8_t>& out) const {
  out.insert(out.end(), opcode_.begin(), opcode_.end());
  if (!pkg_length_) return EncodeParts(out);
  std::vector<uint8_t> body;
  VMMD_RETURN_IF_ERROR(EncodeParts(body));
  VMMD_RETURN_IF_ERROR(AppendPkgLength(body.size(), out));
  out.insert(out.end(), body.begin(), body.end());
  return absl::OkStatus();
}

AmlTerm MakeOp(std::vector<uint8_t> opcode, bool pkg_length, std::vector<AmlOpNode::Part> parts) {
  return AmlTerm(std::make_shared<AmlOpNode>(std::move(opcode), pkg_length, std::move(parts)));
}

AmlTarget MakeTargetOp(std::vector<uint8_t> opcode, std::vector<AmlOpNode::Part> parts) {
  return AmlTarget(std::make_shared<AmlOpNode>(std::move(opcode), false, std::move(parts)));
}

AmlTerm MakeError(absl::Status status) {
  return AmlTerm(std::make_shared<AmlErrorNode>(std::move(status)));
}

AmlTarget MakeTargetError(absl::Status status) {
  return AmlTarget(std::make_shared<AmlErrorNode>(std::move(status)));
}

void AppendTerms(std::vector<AmlOpNode::Part>& parts, std::vector<AmlTerm> terms) {
  for (AmlTerm& term : terms) parts.emplace_back(std::move(term));
}

}  // namespace internal
}  // namespace vmmd::acpi
