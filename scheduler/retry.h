// Retry rules (docs/scheduler.md): which failures are retried, how long to
// wait before the next attempt, and how a request's retry options become a
// job's RetryPolicy. Pure functions, no I/O: the gateway, the scheduler's
// result recorder and its watchdog share them.
//
//   E3005 (infrastructure: worker lost, sandbox failed) is always retryable.
//   E3001 (timeout) only with on_timeout, and only for a run that started:
//         a job whose deadline passed before it ran is never run late.
//   E3002 E3003 E3004 E1004 (the controller's failures) only with on_error.
//   Anything else (E1xxx input, E2xxx capability refusals, cancellations)
//   is final.
#pragma once

#include "magic/v1/invocation.pb.h"

#include <absl/status/statusor.h>
#include <absl/time/time.h>

#include <cstdint>

namespace magic::scheduler {

inline constexpr uint32_t kDefaultMaxAttempts = 3;
inline constexpr uint32_t kMaxAttemptsLimit = 10;

struct BackoffOptions {
  absl::Duration base = absl::Seconds(1);  // before the 2nd attempt (before jitter)
  absl::Duration cap = absl::Minutes(2);   // no wait is longer
};

// A request's retry options as a job policy: max_attempts 0 means the
// default (3); above 10 is E1005.
absl::StatusOr<magic::v1::RetryPolicy> MakeRetryPolicy(uint32_t max_attempts, bool on_timeout,
                                                       bool on_error);

// Whether `result` (FAILED) may be run again under its echoed policy, given
// the attempts it has used (result.attempt()).
bool ShouldRetry(const magic::v1::InvocationResult& result);

// The wait before attempt `next_attempt` (2, 3, ...): "equal jitter", i.e.
// half of min(cap, base * 2^(next_attempt-2)) plus a uniform random share of
// the other half. `unit_random` in [0, 1).
absl::Duration Backoff(uint32_t next_attempt, const BackoffOptions& options, double unit_random);

}  // namespace magic::scheduler
