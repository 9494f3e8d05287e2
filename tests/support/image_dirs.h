// Image directories for tests that create VMs from files in a temporary directory.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/common/confined_dir.h"
#include "gtest/gtest.h"

namespace vmmd::testing {

// `dirs` opened as vmmd's --image_dir would be; null (and a test failure) if one cannot be.
inline std::shared_ptr<const ConfinedDirs> ImageDirsFor(const std::vector<std::string>& dirs) {
  absl::StatusOr<ConfinedDirs> opened = ConfinedDirs::Open(dirs, "--image_dir");
  EXPECT_TRUE(opened.ok()) << opened.status();
  if (!opened.ok()) return nullptr;
  return std::make_shared<const ConfinedDirs>(std::move(*opened));
}

// VmManagerOptions (or any options struct with `state_dir` and `image_dirs`) with `dirs` as the
// image directories and `state_dir`, every other field at its default.
template <typename Options>
Options WithImageDirs(const std::vector<std::string>& dirs, std::string state_dir = "") {
  Options options;
  options.state_dir = std::move(state_dir);
  options.image_dirs = ImageDirsFor(dirs);
  return options;
}

}  // namespace vmmd::testing
