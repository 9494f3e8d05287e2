// AML statements (If/Else, While, Store, Notify, ...) and expressions (Add, LEqual, ...).
#include "acpi/aml.h"
#include "acpi/aml_node.h"

namespace vmmd::acpi::aml {
namespace {

using internal::MakeOp;
using internal::MakeTargetOp;
using Part = internal::AmlOpNode::Part;

constexpr uint8_t kStoreOp = 0x70;
constexpr uint8_t kAddOp = 0x72;
constexpr uint8_t kSubtractOp = 0x74;
constexpr uint8_t kIncrementOp = 0x75;
constexpr uint8_t kDecrementOp = 0x76;
constexpr uint8_t kShiftLeftOp = 0x79;
constexpr uint8_t kShiftRightOp = 0x7A;
constexpr uint8_t kAndOp = 0x7B;
constexpr uint8_t kOrOp = 0x7D;
constexpr uint8_t kDerefOfOp = 0x83;
constexpr uint8_t kNotifyOp = 0x86;
constexpr uint8_t kSizeOfOp = 0x87;
constexpr uint8_t kIndexOp = 0x88;
constexpr uint8_t kLAndOp = 0x90;
constexpr uint8_t kLOrOp = 0x91;
constexpr uint8_t kLNotOp = 0x92;
constexpr uint8_t kLEqualOp = 0x93;
constexpr uint8_t kLGreaterOp = 0x94;
constexpr uint8_t kLLessOp = 0x95;
constexpr uint8_t kToIntegerOp = 0x99;
constexpr uint8_t kIfOp = 0xA0;
constexpr uint8_t kElseOp = 0xA1;
constexpr uint8_t kWhileOp = 0xA2;
constexpr uint8_t kReturnOp = 0xA4;
constexpr uint8_t kBreakOp = 0xA5;
constexpr uint8_t kNullName = 0x00;

// A Target that discards the result.
Part NoTarget() { return std::vector<uint8_t>{kNullName}; }

AmlTerm Block(uint8_t opcode, std::vector<Part> head, std::vector<AmlTerm> body) {
  internal::AppendTerms(head, std::move(body));
  return MakeOp({opcode}, true, std::move(head));
}

AmlTerm Binary(uint8_t opcode, AmlTerm a, AmlTerm b, Part target) {
  return MakeOp({opcode}, false, {std::move(a), std::move(b), std::move(target)});
}

AmlTerm Logical(uint8_t opcode, AmlTerm a, AmlTerm b) {
  return MakeOp({opcode}, false, {std::move(a), std::move(b)});
}

}  // namespace

AmlTerm If(AmlTerm predicate, std::vector<AmlTerm> then_body) {
  return Block(kIfOp, {std::move(predicate)}, std::move(then_body));
}

AmlTerm IfElse(AmlTerm predicate, std::vector<AmlTerm> then_body, std::vector<AmlTerm> else_body) {
  // DefIfElse := IfOp PkgLength Predicate TermList DefElse; DefElse := ElseOp PkgLength TermList.
  return MakeOp(
      {}, false,
      {If(std::move(predicate), std::move(then_body)), Block(kElseOp, {}, std::move(else_body))});
}

AmlTerm While(AmlTerm predicate, std::vector<AmlTerm> body) {
  return Block(kWhileOp, {std::move(predicate)}, std::move(body));
}

AmlTerm Break() { return MakeOp({kBreakOp}, false, {}); }

AmlTerm Return(AmlTerm value) { return MakeOp({kReturnOp}, false, {std::move(value)}); }

AmlTerm Store(AmlTerm value, const AmlTarget& target) {
  return MakeOp({kStoreOp}, false, {std::move(value), target});
}

AmlTerm Notify(const AmlTarget& object, AmlTerm value) {
  return MakeOp({kNotifyOp}, false, {object, std::move(value)});
}

AmlTerm Increment(const AmlTarget& target) { return MakeOp({kIncrementOp}, false, {target}); }
AmlTerm Decrement(const AmlTarget& target) { return MakeOp({kDecrementOp}, false, {target}); }

AmlTerm Add(AmlTerm a, AmlTerm b) { return Binary(kAddOp, std::move(a), std::move(b), NoTarget()); }
AmlTerm Add(AmlTerm a, AmlTerm b, const AmlTarget& t) {
  return Binary(kAddOp, std::move(a), std::move(b), t);
}
AmlTerm Subtract(AmlTerm a, AmlTerm b) {
  return Binary(kSubtractOp, std::move(a), std::move(b), NoTarget());
}
AmlTerm Subtract(AmlTerm a, AmlTerm b, const AmlTarget& t) {
  return Binary(kSubtractOp, std::move(a), std::move(b), t);
}
AmlTerm And(AmlTerm a, AmlTerm b) { return Binary(kAndOp, std::move(a), std::move(b), NoTarget()); }
AmlTerm And(AmlTerm a, AmlTerm b, const AmlTarget& t) {
  return Binary(kAndOp, std::move(a), std::move(b), t);
}
AmlTerm Or(AmlTerm a, AmlTerm b) { return Binary(kOrOp, std::move(a), std::move(b), NoTarget()); }
AmlTerm Or(AmlTerm a, AmlTerm b, const AmlTarget& t) {
  return Binary(kOrOp, std::move(a), std::move(b), t);
}
AmlTerm ShiftLeft(AmlTerm a, AmlTerm count) {
  return Binary(kShiftLeftOp, std::move(a), std::move(count), NoTarget());
}
AmlTerm ShiftLeft(AmlTerm a, AmlTerm count, const AmlTarget& t) {
  return Binary(kShiftLeftOp, std::move(a), std::move(count), t);
}
AmlTerm ShiftRight(AmlTerm a, AmlTerm count) {
  return Binary(kShiftRightOp, std::move(a), std::move(count), NoTarget());
}
AmlTerm ShiftRight(AmlTerm a, AmlTerm count, const AmlTarget& t) {
  return Binary(kShiftRightOp, std::move(a), std::move(count), t);
}

AmlTerm LEqual(AmlTerm a, AmlTerm b) { return Logical(kLEqualOp, std::move(a), std::move(b)); }
AmlTerm LLess(AmlTerm a, AmlTerm b) { return Logical(kLLessOp, std::move(a), std::move(b)); }
AmlTerm LGreater(AmlTerm a, AmlTerm b) { return Logical(kLGreaterOp, std::move(a), std::move(b)); }
AmlTerm LAnd(AmlTerm a, AmlTerm b) { return Logical(kLAndOp, std::move(a), std::move(b)); }
AmlTerm LOr(AmlTerm a, AmlTerm b) { return Logical(kLOrOp, std::move(a), std::move(b)); }
AmlTerm LNot(AmlTerm a) { return MakeOp({kLNotOp}, false, {std::move(a)}); }

AmlTerm ToInteger(AmlTerm value) {
  return MakeOp({kToIntegerOp}, false, {std::move(value), NoTarget()});
}

AmlTerm SizeOf(const AmlTarget& object) { return MakeOp({kSizeOfOp}, false, {object}); }

AmlTarget DerefOf(AmlTerm reference) { return MakeTargetOp({kDerefOfOp}, {std::move(reference)}); }

AmlTarget Index(AmlTerm source, AmlTerm index) {
  return MakeTargetOp({kIndexOp}, {std::move(source), std::move(index), NoTarget()});
}

}  // namespace vmmd::acpi::aml
