#include "scheduler/retry.h"

#include "common/errors.h"
#include "common/testing/status_testing.h"

#include <gtest/gtest.h>

namespace magic::scheduler {
namespace {

magic::v1::InvocationResult Failed(std::string code, uint32_t attempt, uint32_t max_attempts,
                                   bool on_timeout = false, bool on_error = false) {
  magic::v1::InvocationResult r;
  r.set_request_id("req_1");
  r.set_state(magic::v1::FAILED);
  r.mutable_error()->set_code(std::move(code));
  r.set_attempt(attempt);
  r.set_started_unix_ms(1000);
  r.mutable_retry()->set_max_attempts(max_attempts);
  r.mutable_retry()->set_on_timeout(on_timeout);
  r.mutable_retry()->set_on_error(on_error);
  return r;
}

TEST(RetryPolicyTest, DefaultsAndLimits) {
  absl::StatusOr<magic::v1::RetryPolicy> p = MakeRetryPolicy(0, false, false);
  ASSERT_OK(p.status());
  EXPECT_EQ(p->max_attempts(), kDefaultMaxAttempts);
  p = MakeRetryPolicy(1, true, true);
  ASSERT_OK(p.status());
  EXPECT_EQ(p->max_attempts(), 1u);
  EXPECT_TRUE(p->on_timeout());
  EXPECT_TRUE(p->on_error());
  p = MakeRetryPolicy(10, false, false);
  ASSERT_OK(p.status());
  EXPECT_EQ(p->max_attempts(), 10u);
  absl::StatusOr<magic::v1::RetryPolicy> bad = MakeRetryPolicy(11, false, false);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(ErrorCodeOf(bad.status()), ErrorCode::kE1005);
}

TEST(ShouldRetryTest, InfrastructureFailuresAreAlwaysRetryable) {
  EXPECT_TRUE(ShouldRetry(Failed("E3005", 1, 3)));
  EXPECT_TRUE(ShouldRetry(Failed("E3005", 2, 3)));
  EXPECT_FALSE(ShouldRetry(Failed("E3005", 3, 3)));  // attempts used up
  EXPECT_FALSE(ShouldRetry(Failed("E3005", 1, 1)));  // no retry asked
  EXPECT_FALSE(ShouldRetry(Failed("E3005", 1, 0)));  // no policy
}

TEST(ShouldRetryTest, TimeoutsOnlyWhenOptedInAndStarted) {
  EXPECT_FALSE(ShouldRetry(Failed("E3001", 1, 3)));
  EXPECT_TRUE(ShouldRetry(Failed("E3001", 1, 3, /*on_timeout=*/true)));
  magic::v1::InvocationResult never_ran = Failed("E3001", 1, 3, /*on_timeout=*/true);
  never_ran.set_started_unix_ms(0);  // dropped at its deadline: never run late
  EXPECT_FALSE(ShouldRetry(never_ran));
}

TEST(ShouldRetryTest, ControllerFailuresOnlyWithOnError) {
  for (const char* code : {"E3002", "E3003", "E3004", "E1004"}) {
    EXPECT_FALSE(ShouldRetry(Failed(code, 1, 3))) << code;
    EXPECT_TRUE(ShouldRetry(Failed(code, 1, 3, false, /*on_error=*/true))) << code;
  }
}

TEST(ShouldRetryTest, RefusalsAndSuccessesAreFinal) {
  for (const char* code : {"E1003", "E1005", "E2001", "E2002", "E2005", "E4003", ""}) {
    EXPECT_FALSE(ShouldRetry(Failed(code, 1, 10, true, true))) << code;
  }
  magic::v1::InvocationResult ok = Failed("E3005", 1, 3);
  ok.set_state(magic::v1::SUCCEEDED);
  EXPECT_FALSE(ShouldRetry(ok));
  ok.set_state(magic::v1::CANCELLED);
  EXPECT_FALSE(ShouldRetry(ok));
}

TEST(ShouldRetryTest, AHostilePolicyIsBoundedByTheLimit) {
  EXPECT_TRUE(ShouldRetry(Failed("E3005", kMaxAttemptsLimit - 1, 1'000'000)));
  EXPECT_FALSE(ShouldRetry(Failed("E3005", kMaxAttemptsLimit, 1'000'000)));
}

TEST(BackoffTest, EqualJitterWithinBoundsAndCapped) {
  const BackoffOptions o{.base = absl::Seconds(1), .cap = absl::Seconds(10)};
  EXPECT_EQ(Backoff(2, o, 0.0), absl::Milliseconds(500));
  EXPECT_LT(Backoff(2, o, 0.999999), absl::Seconds(1));
  EXPECT_EQ(Backoff(3, o, 0.0), absl::Seconds(1));
  EXPECT_EQ(Backoff(4, o, 0.0), absl::Seconds(2));
  EXPECT_EQ(Backoff(10, o, 0.0), absl::Seconds(5));  // capped at 10 s, half of it fixed
  EXPECT_EQ(Backoff(10, o, 1.0), absl::Seconds(10));
  EXPECT_EQ(Backoff(4'000'000'000u, o, 0.5), absl::Milliseconds(7500));  // no overflow
  EXPECT_EQ(Backoff(0, o, 0.0), absl::Milliseconds(500));                // treated as 2
  EXPECT_EQ(Backoff(2, o, -3.0), absl::Milliseconds(500));               // random clamped
  for (uint32_t attempt = 2; attempt < 12; ++attempt) {
    for (double r : {0.0, 0.25, 0.5, 0.75, 0.99}) {
      const absl::Duration d = Backoff(attempt, o, r);
      EXPECT_GT(d, absl::ZeroDuration());
      EXPECT_LE(d, o.cap);
      EXPECT_LE(Backoff(attempt, o, 0.0), Backoff(attempt + 1, o, 0.0));
    }
  }
}

}  // namespace
}  // namespace magic::scheduler
