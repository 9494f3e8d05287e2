#include "core/common/errno_status.h"

#include <cerrno>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmmd {
namespace {

TEST(ErrnoStatusTest, MapsCodesAndNamesTheOperation) {
  absl::Status s = ErrnoStatus(EBUSY, "KVM_CREATE_VCPU 3");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(s.message()),
              ::testing::StartsWith("KVM_CREATE_VCPU 3: Device or resource busy (errno 16)"));
  EXPECT_EQ(ErrnoToCode(ENOMEM), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ErrnoToCode(EINVAL), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrnoToCode(EEXIST), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ErrnoToCode(ENOENT), absl::StatusCode::kNotFound);
  EXPECT_EQ(ErrnoToCode(EACCES), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ErrnoToCode(ENOSYS), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(ErrnoToCode(EIO), absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace vmmd
