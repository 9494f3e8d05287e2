// A thin, status-returning wrapper over libfdt's sequential-write API. Devices describe
// themselves by appending their node through this (FdtDescribed); the board FDT builder
// (fdt_builder.h) owns the root, memory, cpus, psci, chosen, timer and GIC nodes.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace vmmd::core::aarch64 {

// Errors: RESOURCE_EXHAUSTED when the buffer is full, FAILED_PRECONDITION for misuse (unbalanced
// nodes, use after a failure or after Finish), INTERNAL for any other libfdt error.
class FdtWriter {
 public:
  explicit FdtWriter(size_t capacity = 64 * 1024);

  absl::Status BeginNode(std::string_view name);
  absl::Status EndNode();
  absl::Status PropEmpty(std::string_view name);
  absl::Status PropU32(std::string_view name, uint32_t value);
  absl::Status PropU64(std::string_view name, uint64_t value);
  // Big-endian u32 cells.
  absl::Status PropCells(std::string_view name, absl::Span<const uint32_t> cells);
  absl::Status PropCells(std::string_view name, std::initializer_list<uint32_t> cells) {
    return PropCells(name, absl::MakeConstSpan(cells.begin(), cells.size()));
  }
  // (address, size) pairs with #address-cells = #size-cells = 2.
  absl::Status PropReg(std::string_view name, absl::Span<const std::pair<uint64_t, uint64_t>> regs);
  absl::Status PropString(std::string_view name, std::string_view value);
  // NUL-separated string list ("arm,pl011\0arm,primecell").
  absl::Status PropStrings(std::string_view name, std::initializer_list<std::string_view> values);
  absl::Status PropBytes(std::string_view name, absl::Span<const uint8_t> bytes);

  // Closes the tree (all nodes must be ended) and returns the packed blob.
  absl::StatusOr<std::vector<uint8_t>> Finish();

  // Nodes begun and not yet ended, not counting the root (0 = at the root's level).
  int depth() const { return depth_; }

 private:
  absl::Status Check(int err, std::string_view what);
  std::vector<uint8_t> buf_;
  int depth_ = 0;
  bool failed_ = false;
};

// Interrupt specifier cells for arm,gic-v3 (#interrupt-cells = 3).
inline constexpr uint32_t kFdtIrqTypeSpi = 0;
inline constexpr uint32_t kFdtIrqTypePpi = 1;
inline constexpr uint32_t kFdtIrqEdgeRising = 1;
inline constexpr uint32_t kFdtIrqLevelHigh = 4;

// Phandles the board assigns; devices refer to them.
inline constexpr uint32_t kPhandleGic = 1;
inline constexpr uint32_t kPhandleApbClock = 2;

class FdtDescribed {
 public:
  virtual ~FdtDescribed() = default;
  virtual absl::Status DescribeFdt(FdtWriter& fdt) const = 0;
};

}  // namespace vmmd::core::aarch64
