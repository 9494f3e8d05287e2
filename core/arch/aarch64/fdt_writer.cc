#include "core/arch/aarch64/fdt_writer.h"

#include <libfdt.h>

#include <string>

#include "absl/strings/str_format.h"

namespace vmmd::core::aarch64 {

FdtWriter::FdtWriter(size_t capacity) : buf_(capacity) {
  int err = fdt_create(buf_.data(), static_cast<int>(buf_.size()));
  if (err == 0) err = fdt_finish_reservemap(buf_.data());
  if (err == 0) err = fdt_begin_node(buf_.data(), "");
  failed_ = err != 0;
}

absl::Status FdtWriter::Check(int err, std::string_view what) {
  if (err == 0) return absl::OkStatus();
  failed_ = true;
  std::string message = absl::StrFormat("fdt %s: %s", what, fdt_strerror(err));
  if (err == -FDT_ERR_NOSPACE) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("%s (the %d-byte buffer is full)", message, buf_.size()));
  }
  return absl::InternalError(message);
}

absl::Status FdtWriter::BeginNode(std::string_view name) {
  if (failed_) return absl::FailedPreconditionError("fdt writer already failed");
  ++depth_;
  return Check(fdt_begin_node(buf_.data(), std::string(name).c_str()),
               absl::StrFormat("begin node %s", name));
}

absl::Status FdtWriter::EndNode() {
  if (failed_) return absl::FailedPreconditionError("fdt writer already failed");
  if (depth_ == 0) {
    failed_ = true;
    return absl::FailedPreconditionError("fdt EndNode without a matching BeginNode");
  }
  --depth_;
  return Check(fdt_end_node(buf_.data()), "end node");
}

absl::Status FdtWriter::PropBytes(std::string_view name, absl::Span<const uint8_t> bytes) {
  if (failed_) return absl::FailedPreconditionError("fdt writer already failed");
  return Check(fdt_property(buf_.data(), std::string(name).c_str(), bytes.data(),
                            static_cast<int>(bytes.size())),
               absl::StrFormat("property %s", name));
}

absl::Status FdtWriter::PropEmpty(std::string_view name) { return PropBytes(name, {}); }

absl::Status FdtWriter::PropU32(std::string_view name, uint32_t value) {
  return PropCells(name, {value});
}

absl::Status FdtWriter::PropU64(std::string_view name, uint64_t value) {
  return PropCells(name, {static_cast<uint32_t>(value >> 32), static_cast<uint32_t>(value)});
}

absl::Status FdtWriter::PropCells(std::string_view name, absl::Span<const uint32_t> cells) {
  std::vector<uint8_t> bytes;
  bytes.reserve(cells.size() * 4);
  for (uint32_t c : cells) {
    bytes.push_back(static_cast<uint8_t>(c >> 24));
    bytes.push_back(static_cast<uint8_t>(c >> 16));
    bytes.push_back(static_cast<uint8_t>(c >> 8));
    bytes.push_back(static_cast<uint8_t>(c));
  }
  return PropBytes(name, bytes);
}

absl::Status FdtWriter::PropReg(std::string_view name,
                                absl::Span<const std::pair<uint64_t, uint64_t>> regs) {
  std::vector<uint32_t> cells;
  cells.reserve(regs.size() * 4);
  for (const auto& [addr, size] : regs) {
    cells.push_back(static_cast<uint32_t>(addr >> 32));
    cells.push_back(static_cast<uint32_t>(addr));
    cells.push_back(static_cast<uint32_t>(size >> 32));
    cells.push_back(static_cast<uint32_t>(size));
  }
  return PropCells(name, cells);
}

absl::Status FdtWriter::PropString(std::string_view name, std::string_view value) {
  std::vector<uint8_t> bytes(value.begin(), value.end());
  bytes.push_back(0);
  return PropBytes(name, bytes);
}

absl::Status FdtWriter::PropStrings(std::string_view name,
                                    std::initializer_list<std::string_view> values) {
  std::vector<uint8_t> bytes;
  for (std::string_view v : values) {
    bytes.insert(bytes.end(), v.begin(), v.end());
    bytes.push_back(0);
  }
  return PropBytes(name, bytes);
}

absl::StatusOr<std::vector<uint8_t>> FdtWriter::Finish() {
  if (failed_) return absl::FailedPreconditionError("fdt writer already failed");
  if (depth_ != 0) {
    return absl::FailedPreconditionError(
        absl::StrFormat("fdt Finish with %d node(s) still open", depth_));
  }
  absl::Status s = Check(fdt_end_node(buf_.data()), "end root");
  if (s.ok()) s = Check(fdt_finish(buf_.data()), "finish");
  if (s.ok()) s = Check(fdt_pack(buf_.data()), "pack");
  if (!s.ok()) return s;
  buf_.resize(fdt_totalsize(buf_.data()));
  failed_ = true;  // single use
  return std::move(buf_);
}

}  // namespace vmmd::core::aarch64
