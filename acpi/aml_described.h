// Devices describe themselves in the DSDT: each AmlDescribed device appends its objects to the
// `\_SB` scope the DSDT builder hands it, so a device's registers and its AML live together.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "acpi/aml.h"

namespace vmmd::acpi {

// The body of one AML scope under construction (for the DSDT: `\_SB`).
class AmlScope {
 public:
  explicit AmlScope(std::string path) : path_(std::move(path)) {}

  const std::string& path() const { return path_; }
  void Add(AmlTerm term) { terms_.push_back(std::move(term)); }
  const std::vector<AmlTerm>& terms() const { return terms_; }
  // Scope (path) { terms... }
  AmlTerm ToTerm() const { return aml::Scope(path_, terms_); }

 private:
  std::string path_;
  std::vector<AmlTerm> terms_;
};

class AmlDescribed {
 public:
  virtual ~AmlDescribed() = default;
  // Appends this device's objects to `sb`, the `\_SB` scope: relative names are resolved from
  // there (Device ("GED") declares \_SB.GED).
  virtual absl::Status DescribeAml(AmlScope& sb) const = 0;
};

}  // namespace vmmd::acpi
