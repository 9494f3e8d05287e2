// AML builder: a tree of immutable nodes serialised to ACPI Machine Language bytes (ACPI 6.5
// chapter 20). Terms are cheap-to-copy handles, so trees read like the ASL they produce:
//
//   using namespace vmmd::acpi::aml;
//   AmlTerm ged = Device("GED", {
//       Name("_HID", String("ACPI0013")),
//       Method("_EVT", 1, kSerialized, {
//           Store(Path("ESEL"), Local(0)),
//           If(LEqual(And(Local(0), Int(8)), Int(8)), {Call("\\_SB.CPUS.CSCN")}),
//       }),
//   });
//
// Malformed input (a bad name, a Local index out of range, a too-long package...) does not fail
// at construction: the term carries the error and Encode()/AppendTo() returns it
// (INVALID_ARGUMENT, or OUT_OF_RANGE for sizes past the AML limits). Names are ASL-style paths:
// an optional leading '\' or any number of '^', then NameSegs separated by '.', each 1-4
// characters ([A-Z_] then [A-Z0-9_]) padded with '_' ("GED" is "GED_").
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace vmmd::acpi {

namespace internal {
class AmlNode;
}  // namespace internal

// One AML term: a named object, a data object, an expression or a statement.
class AmlTerm {
 public:
  explicit AmlTerm(std::shared_ptr<const internal::AmlNode> node) : node_(std::move(node)) {}

  // Appends this term's encoding to `out` (which is left unspecified on error).
  absl::Status AppendTo(std::vector<uint8_t>& out) const;
  absl::StatusOr<std::vector<uint8_t>> Encode() const;

 private:
  std::shared_ptr<const internal::AmlNode> node_;
};

// A term that can also be written to (an AML SuperName): LocalN, ArgN, a named object, or the
// result of Index/DerefOf.
class AmlTarget : public AmlTerm {
 public:
  explicit AmlTarget(std::shared_ptr<const internal::AmlNode> node) : AmlTerm(std::move(node)) {}
};

// One element of a Field's list (see aml::Field).
struct AmlFieldEntry {
  enum class Kind { kNamed, kReserved, kOffset };
  Kind kind;
  std::string name;   // kNamed only
  uint32_t bits = 0;  // kNamed/kReserved: width in bits; kOffset: absolute byte offset
};

// One resource descriptor inside a ResourceTemplate (already encoded, or an error).
class AmlResource {
 public:
  explicit AmlResource(std::vector<uint8_t> bytes) : bytes_(std::move(bytes)) {}
  explicit AmlResource(absl::Status error) : error_(std::move(error)) {}
  const std::vector<uint8_t>& bytes() const { return bytes_; }
  const absl::Status& error() const { return error_; }

 private:
  std::vector<uint8_t> bytes_;
  absl::Status error_;
};

namespace aml {

// ---- Names -------------------------------------------------------------------------------------
// A reference to a named object (field unit, device, mutex, ...).
AmlTarget Path(std::string_view path);
// Invokes the method at `path` with `args` (the count must match its declaration).
AmlTerm Call(std::string_view path, std::vector<AmlTerm> args = {});

// ---- Data --------------------------------------------------------------------------------------
AmlTerm Zero();
AmlTerm One();
AmlTerm Ones();
// The smallest encoding: Zero, One, then Byte/Word/DWord/QWord constants.
AmlTerm Int(uint64_t value);
AmlTerm String(std::string_view ascii);  // printable ASCII, no NUL
AmlTerm Buffer(absl::Span<const uint8_t> bytes);
AmlTerm Package(std::vector<AmlTerm> elements);  // at most 255 elements
// A compressed EISA id ("PNP0A06"): three letters A-Z and four hex digits, as a DWord.
AmlTerm EisaId(std::string_view id);

// ---- Locals and arguments ----------------------------------------------------------------------
AmlTarget Local(int n);  // 0..7
AmlTarget Arg(int n);    // 0..6

// ---- Named objects and scopes ------------------------------------------------------------------
AmlTerm Name(std::string_view name, AmlTerm value);
AmlTerm Scope(std::string_view name, std::vector<AmlTerm> body);
AmlTerm Device(std::string_view name, std::vector<AmlTerm> body);

enum MethodSerialize { kNotSerialized, kSerialized };
// `args` 0..7, `sync_level` 0..15.
AmlTerm Method(std::string_view name, int args, MethodSerialize serialize,
               std::vector<AmlTerm> body, int sync_level = 0);

AmlTerm Mutex(std::string_view name, int sync_level = 0);
// Acquire(mutex, timeout in ms; 0xFFFF waits forever). As a term it yields Ones on timeout.
AmlTerm Acquire(const AmlTarget& mutex, uint16_t timeout);
AmlTerm Release(const AmlTarget& mutex);

enum class RegionSpace : uint8_t { kSystemMemory = 0, kSystemIo = 1 };
AmlTerm OperationRegion(std::string_view name, RegionSpace space, AmlTerm offset, AmlTerm length);

enum class FieldAccess : uint8_t { kAny = 0, kByte = 1, kWord = 2, kDWord = 3, kQWord = 4 };
enum class FieldLock : uint8_t { kNoLock = 0, kLock = 1 };
enum class FieldUpdate : uint8_t { kPreserve = 0, kWriteAsOnes = 1, kWriteAsZeros = 2 };
AmlFieldEntry FieldUnit(std::string_view name, uint32_t bits);
AmlFieldEntry FieldReserved(uint32_t bits);
// Skips forward to an absolute byte offset (ASL "Offset (n)"); moving backwards is an error.
AmlFieldEntry FieldOffset(uint32_t byte_offset);
AmlTerm Field(std::string_view region, FieldAccess access, FieldLock lock, FieldUpdate update,
              std::vector<AmlFieldEntry> entries);

// ---- Statements --------------------------------------------------------------------------------
AmlTerm If(AmlTerm predicate, std::vector<AmlTerm> then_body);
AmlTerm IfElse(AmlTerm predicate, std::vector<AmlTerm> then_body, std::vector<AmlTerm> else_body);
AmlTerm While(AmlTerm predicate, std::vector<AmlTerm> body);
AmlTerm Break();
AmlTerm Return(AmlTerm value);
AmlTerm Store(AmlTerm value, const AmlTarget& target);
AmlTerm Notify(const AmlTarget& object, AmlTerm value);
AmlTerm Increment(const AmlTarget& target);
AmlTerm Decrement(const AmlTarget& target);

// ---- Expressions (the two-operand forms discard the result into no target) --------------------
AmlTerm Add(AmlTerm a, AmlTerm b);
AmlTerm Add(AmlTerm a, AmlTerm b, const AmlTarget& target);
AmlTerm Subtract(AmlTerm a, AmlTerm b);
AmlTerm Subtract(AmlTerm a, AmlTerm b, const AmlTarget& target);
AmlTerm And(AmlTerm a, AmlTerm b);
AmlTerm And(AmlTerm a, AmlTerm b, const AmlTarget& target);
AmlTerm Or(AmlTerm a, AmlTerm b);
AmlTerm Or(AmlTerm a, AmlTerm b, const AmlTarget& target);
AmlTerm ShiftLeft(AmlTerm a, AmlTerm count);
AmlTerm ShiftLeft(AmlTerm a, AmlTerm count, const AmlTarget& target);
AmlTerm ShiftRight(AmlTerm a, AmlTerm count);
AmlTerm ShiftRight(AmlTerm a, AmlTerm count, const AmlTarget& target);
AmlTerm LEqual(AmlTerm a, AmlTerm b);
AmlTerm LLess(AmlTerm a, AmlTerm b);
AmlTerm LGreater(AmlTerm a, AmlTerm b);
AmlTerm LAnd(AmlTerm a, AmlTerm b);
AmlTerm LOr(AmlTerm a, AmlTerm b);
AmlTerm LNot(AmlTerm a);
AmlTerm ToInteger(AmlTerm value);
AmlTerm SizeOf(const AmlTarget& object);
AmlTarget DerefOf(AmlTerm reference);
AmlTarget Index(AmlTerm source, AmlTerm index);

// ---- Resource templates ------------------------------------------------------------------------
// A Buffer holding `descriptors` followed by an End Tag (0x79) with checksum byte 0, which ACPI
// defines as "treat as valid" (6.4.2.9) and which iasl emits too.
AmlTerm ResourceTemplate(std::vector<AmlResource> descriptors);
// Memory32Fixed (large item 0x86).
AmlResource Memory32Fixed(uint32_t base, uint32_t length, bool read_write = true);
struct InterruptFlags {
  bool consumer = true;     // ResourceConsumer (else ResourceProducer)
  bool edge = false;        // Edge (else Level)
  bool active_low = false;  // ActiveLow (else ActiveHigh)
  bool shared = false;      // Shared (else Exclusive)
  bool wake = false;        // ExclusiveAndWake / SharedAndWake
};
// Extended Interrupt descriptor (large item 0x89), 1..255 GSIVs.
AmlResource Interrupt(InterruptFlags flags, std::vector<uint32_t> gsivs);

}  // namespace aml

// Byte-level encoders, exposed for tests and for table code.
// PkgLength for a package whose contents (after the PkgLength) are `payload` bytes; the encoded
// value counts the PkgLength bytes themselves. OUT_OF_RANGE past 2^28 - 1.
absl::Status AppendPkgLength(size_t payload, std::vector<uint8_t>& out);
// A field-list width: the same 1-4 byte format, but the value does not count itself.
absl::Status AppendFieldLength(uint64_t value, std::vector<uint8_t>& out);
absl::StatusOr<std::vector<uint8_t>> EncodeNameString(std::string_view path);
// The 4-byte NameSeg for a 1-4 character name ("GED" -> "GED_").
absl::StatusOr<std::string> NormalizeNameSeg(std::string_view seg);

}  // namespace vmmd::acpi
