#include "common/check.h"
#include "common/status_macros.h"

#include <gtest/gtest.h>

namespace magic {
namespace {

absl::StatusOr<int> Half(int n) {
  if (n % 2 != 0) return absl::InvalidArgumentError("odd");
  return n / 2;
}

absl::StatusOr<int> Quarter(int n) {
  MAGIC_ASSIGN_OR_RETURN(int half, Half(n));
  MAGIC_ASSIGN_OR_RETURN(int quarter, Half(half));
  return quarter;
}

absl::Status CheckEven(int n) {
  MAGIC_RETURN_IF_ERROR(Half(n).status());
  return absl::OkStatus();
}

TEST(StatusMacrosTest, AssignOrReturnPropagates) {
  EXPECT_EQ(Quarter(8).value(), 2);
  EXPECT_EQ(Quarter(6).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Quarter(3).status().message(), "odd");
}

TEST(StatusMacrosTest, ReturnIfError) {
  EXPECT_TRUE(CheckEven(2).ok());
  EXPECT_EQ(CheckEven(1).code(), absl::StatusCode::kInvalidArgument);
}

TEST(CheckDeathTest, FailedCheckAbortsWithMessage) {
  EXPECT_DEATH({ MAGIC_CHECK(1 + 1 == 3) << "arithmetic " << 42; },
               "check failed: 1 \\+ 1 == 3 arithmetic 42");
}

TEST(CheckTest, PassingCheckDoesNothing) {
  int evaluated = 0;
  MAGIC_CHECK(++evaluated == 1) << "never printed";
  EXPECT_EQ(evaluated, 1);
}

}  // namespace
}  // namespace magic
