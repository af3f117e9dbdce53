// ASSERT_OK / EXPECT_OK for absl::Status and absl::StatusOr<T> in tests:
// on failure they print the status. The expression is evaluated once.
//
//   ASSERT_OK(store.RecordQueued(job));
//   EXPECT_OK(pool->Acquire());
#pragma once

#include <absl/status/status.h>
#include <absl/status/statusor.h>
#include <gtest/gtest.h>

namespace magic::status_testing {

inline absl::Status StatusOf(const absl::Status& status) { return status; }
template <typename T>
absl::Status StatusOf(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

}  // namespace magic::status_testing

#define MAGIC_STATUS_CHECK_(fail, expr)                                               \
  switch (0)                                                                          \
  case 0:                                                                             \
  default:                                                                            \
    if (const ::absl::Status magic_status_ = ::magic::status_testing::StatusOf(expr); \
        magic_status_.ok()) {                                                         \
    } else                                                                            \
      fail() << #expr << " failed: " << magic_status_

#define ASSERT_OK(expr) MAGIC_STATUS_CHECK_(GTEST_FAIL, expr)
#define EXPECT_OK(expr) MAGIC_STATUS_CHECK_(ADD_FAILURE, expr)
