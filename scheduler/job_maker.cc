#include "scheduler/job_maker.h"

#include "common/errors.h"
#include "common/status_macros.h"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace magic::scheduler {

absl::StatusOr<magic::v1::InvocationJob> MakeJob(const contracts::ControllerVersion& version,
                                                 const RunSpec& spec, absl::Time now,
                                                 const broker::GrantSigner* signer) {
  if (spec.timeout_ms < 0) return MakeError(ErrorCode::kE1005, "timeout must not be negative");
  const nlohmann::json input =
      nlohmann::json::parse(spec.input_json, nullptr, /*allow_exceptions=*/false);
  if (input.is_discarded()) return MakeError(ErrorCode::kE1005, "input is not valid JSON");
  MAGIC_RETURN_IF_ERROR(version.compiled->ValidateInput(input));

  const int64_t contract_ms = version.contract().resources.timeout_ms;
  const int64_t run_ms = spec.timeout_ms > 0 ? std::min(spec.timeout_ms, contract_ms) : contract_ms;
  const absl::Duration run = absl::Milliseconds(run_ms);
  const absl::Duration ttl = spec.sync ? run + spec.queue_grace : std::max(spec.ttl, run);

  magic::v1::InvocationJob job;
  job.set_request_id(spec.request_id);
  job.set_controller(version.name());
  job.set_version(version.version());
  job.set_contract_digest(version.digest);
  job.set_input_json(spec.input_json);
  job.set_enqueued_unix_ms(absl::ToUnixMillis(now));
  job.set_deadline_unix_ms(absl::ToUnixMillis(now + ttl));
  job.set_attempt(std::max<uint32_t>(spec.attempt, 1));
  job.set_idempotency_key(spec.idempotency_key);
  job.set_batch_id(spec.batch_id);
  job.set_reply_topic(spec.reply_topic);
  job.set_source(spec.source);
  job.set_timeout_ms(run_ms);
  *job.mutable_retry() = spec.retry;
  if (job.retry().max_attempts() == 0) job.mutable_retry()->set_max_attempts(1);
  if (signer != nullptr) job.set_grant(signer->Sign(job, now));
  return job;
}

}  // namespace magic::scheduler
