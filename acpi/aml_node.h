// Internal representation behind AmlTerm: every term is an opcode, an optional PkgLength and a
// sequence of parts (raw bytes or child terms), or an error that surfaces at encoding time.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "acpi/aml.h"

namespace vmmd::acpi::internal {

class AmlNode {
 public:
  virtual ~AmlNode() = default;
  virtual absl::Status Encode(std::vector<uint8_t>& out) const = 0;
};

// opcode [PkgLength] parts...
class AmlOpNode final : public AmlNode {
 public:
  using Part = std::variant<std::vector<uint8_t>, AmlTerm>;

  AmlOpNode(std::vector<uint8_t> opcode, bool pkg_length, std::vector<Part> parts)
      : opcode_(std::move(opcode)), pkg_length_(pkg_length), parts_(std::move(parts)) {}

  absl::Status Encode(std::vector<uint8_t>& out) const override;

 private:
  absl::Status EncodeParts(std::vector<uint8_t>& out) const;

  std::vector<uint8_t> opcode_;
  bool pkg_length_;
  std::vector<Part> parts_;
};

class AmlErrorNode final : public AmlNode {
 public:
  explicit AmlErrorNode(absl::Status status) : status_(std::move(status)) {}
  absl::Status Encode(std::vector<uint8_t>&) const override { return status_; }

 private:
  absl::Status status_;
};

// Factories for the two node kinds.
AmlTerm MakeOp(std::vector<uint8_t> opcode, bool pkg_length, std::vector<AmlOpNode::Part> parts);
AmlTarget MakeTargetOp(std::vector<uint8_t> opcode, std::vector<AmlOpNode::Part> parts);
AmlTerm MakeError(absl::Status status);
AmlTarget MakeTargetError(absl::Status status);

// Appends `terms` as parts.
void AppendTerms(std::vector<AmlOpNode::Part>& parts, std::vector<AmlTerm> terms);

}  // namespace vmmd::acpi::internal
