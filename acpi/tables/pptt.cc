#include "acpi/tables/pptt.h"

#include "acpi/tables/table_writer.h"

namespace vmmd::acpi {
namespace {

constexpr uint8_t kTypeProcessorHierarchy = 0;

void Node(TableWriter& w, uint32_t flags, uint32_t parent, uint32_t processor_id) {
  w.U8(kTypeProcessorHierarchy);
  w.U8(kPpttNodeSize);
  w.U16(0);  // reserved
  w.U32(flags);
  w.U32(parent);  // byte offset of the parent node from the start of the table; 0 = none
  w.U32(processor_id);
  w.U32(0);  // Number of Private Resources
}

}  // namespace

absl::StatusOr<std::vector<uint8_t>> BuildPptt(uint32_t cpu_count) {
  TableWriter w("PPTT", kPpttRevision);
  const auto package_offset = static_cast<uint32_t>(w.size());
  Node(w, kPpttPhysicalPackage, 0, 0);
  for (uint32_t uid = 0; uid < cpu_count; ++uid) {
    Node(w, kPpttProcessorIdValid | kPpttLeaf, package_offset, uid);
  }
  return std::move(w).Finish();
}

}  // namespace vmmd::acpi
