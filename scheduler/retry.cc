#include "scheduler/retry.h"

#include "common/errors.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <string_view>

namespace magic::scheduler {

absl::StatusOr<magic::v1::RetryPolicy> MakeRetryPolicy(uint32_t max_attempts, bool on_timeout,
                                                       bool on_error) {
  if (max_attempts > kMaxAttemptsLimit) {
    return MakeError(
        ErrorCode::kE1005,
        fmt::format("max_attempts is {}; the limit is {}", max_attempts, kMaxAttemptsLimit),
        {{"max_attempts", max_attempts}, {"limit", kMaxAttemptsLimit}});
  }
  magic::v1::RetryPolicy policy;
  policy.set_max_attempts(max_attempts == 0 ? kDefaultMaxAttempts : max_attempts);
  policy.set_on_timeout(on_timeout);
  policy.set_on_error(on_error);
  return policy;
}

bool ShouldRetry(const magic::v1::InvocationResult& result) {
  if (result.state() != magic::v1::FAILED) return false;
  const magic::v1::RetryPolicy& policy = result.retry();
  const uint32_t used = std::max<uint32_t>(result.attempt(), 1);
  if (used >= std::min(policy.max_attempts(), kMaxAttemptsLimit)) return false;
  const std::string_view code = result.error().code();
  if (code == "E3005") return true;  // a cancelled run is CANCELLED, never FAILED
  if (code == "E3001") return policy.on_timeout() && result.started_unix_ms() > 0;
  if (code == "E3002" || code == "E3003" || code == "E3004" || code == "E1004") {
    return policy.on_error();
  }
  return false;
}

absl::Duration Backoff(uint32_t next_attempt, const BackoffOptions& options, double unit_random) {
  const int exponent = static_cast<int>(std::clamp<uint32_t>(next_attempt, 2, 40)) - 2;
  const double base_s = absl::ToDoubleSeconds(options.base);
  const double cap_s = absl::ToDoubleSeconds(options.cap);
  const double ceiling = std::min(cap_s, base_s * std::ldexp(1.0, exponent));
  const double r = std::clamp(unit_random, 0.0, 1.0);
  return absl::Seconds(ceiling / 2 + r * ceiling / 2);
}

}  // namespace magic::scheduler
