// ResourceTemplate and the resource descriptors vmmd needs (ACPI 6.5 section 6.4).
#include "absl/strings/str_format.h"
#include "acpi/aml.h"
#include "acpi/aml_node.h"

namespace vmmd::acpi::aml {
namespace {

constexpr uint8_t kMemory32FixedTag = 0x86;
constexpr uint8_t kExtendedInterruptTag = 0x89;
constexpr uint8_t kEndTag = 0x79;  // small item 0x0F, length 1

void PutLe(std::vector<uint8_t>& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

}  // namespace

AmlTerm ResourceTemplate(std::vector<AmlResource> descriptors) {
  std::vector<uint8_t> bytes;
  for (const AmlResource& d : descriptors) {
    if (!d.error().ok()) return internal::MakeError(d.error());
    bytes.insert(bytes.end(), d.bytes().begin(), d.bytes().end());
  }
  bytes.push_back(kEndTag);
  bytes.push_back(0);  // checksum 0: "treat as valid" (ACPI 6.5 6.4.2.9), as iasl emits it
  return Buffer(bytes);
}

AmlResource Memory32Fixed(uint32_t base, uint32_t length, bool read_write) {
  std::vector<uint8_t> out{kMemory32FixedTag};
  PutLe(out, 9, 2);  // information byte + base + length
  out.push_back(read_write ? 1 : 0);
  PutLe(out, base, 4);
  PutLe(out, length, 4);
  return AmlResource(std::move(out));
}

AmlResource Interrupt(InterruptFlags flags, std::vector<uint32_t> gsivs) {
  if (gsivs.empty() || gsivs.size() > 255) {
    return AmlResource(absl::InvalidArgumentError(
        absl::StrFormat("Interrupt descriptor with %u GSIVs (1..255)", gsivs.size())));
  }
  std::vector<uint8_t> out{kExtendedInterruptTag};
  PutLe(out, 2 + 4 * gsivs.size(), 2);  // vector flags + table length + the table
  out.push_back(static_cast<uint8_t>((flags.consumer ? 0x01 : 0) | (flags.edge ? 0x02 : 0) |
                                     (flags.active_low ? 0x04 : 0) | (flags.shared ? 0x08 : 0) |
                                     (flags.wake ? 0x10 : 0)));
  out.push_back(static_cast<uint8_t>(gsivs.size()));
  for (uint32_t gsiv : gsivs) PutLe(out, gsiv, 4);
  return AmlResource(std::move(out));
}

}  // namespace vmmd::acpi::aml
