// One place that turns "run this controller version on this input" into a
// signed InvocationJob: the gateway (Invoke, Submit, batches) and the
// scheduler (timers, retries, queue triggers) all build their jobs here, so
// a job means the same whoever produced it.
//
//   - the input is parsed (E1005) and validated against the version's input
//     schema (E1003);
//   - the run's timeout is the contract's, or less when asked (E1005 when
//     negative);
//   - the deadline: sync runs get timeout + queue grace (the caller waits),
//     async runs max(ttl, timeout): past it the job is dropped with E3001,
//     never run late;
//   - the grant is signed last, over the finished job (null signer: no
//     grant, and the broker refuses the run's capability calls).
#pragma once

#include "broker/grant.h"
#include "contracts/registry.h"
#include "magic/v1/invocation.pb.h"

#include <absl/status/statusor.h>
#include <absl/time/time.h>

#include <cstdint>
#include <string>

namespace magic::scheduler {

struct RunSpec {
  std::string request_id;
  std::string input_json;
  int64_t timeout_ms = 0;                  // 0: the contract's; larger values are capped to it
  bool sync = false;                       // a caller waits on reply_topic
  absl::Duration ttl = absl::Minutes(15);  // async: how long it may wait to run
  absl::Duration queue_grace = absl::Seconds(5);  // sync: waiting beyond the timeout
  uint32_t attempt = 1;
  magic::v1::RetryPolicy retry;  // max_attempts 0 is stored as 1 (no retry)
  std::string source;            // "invoke", "submit", "batch", "timer", "trigger", "retry"
  std::string batch_id;
  std::string idempotency_key;
  std::string reply_topic;
};

// A job for `version`, or the E-coded reason there can be none.
absl::StatusOr<magic::v1::InvocationJob> MakeJob(const contracts::ControllerVersion& version,
                                                 const RunSpec& spec, absl::Time now,
                                                 const broker::GrantSigner* signer);

}  // namespace magic::scheduler
