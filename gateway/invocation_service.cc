#include "gateway/invocation_service.h"

#include "common/errors.h"
#include "common/ids.h"
#include "common/status_macros.h"
#include "proto/wire_errors.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace magic::gateway {
namespace {

constexpr size_t kMaxRecent = 100'000;

absl::Status ResultToStatus(const magic::v1::InvocationResult& result) {
  return StatusFromWireError(result.error());
}

}  // namespace

InvocationService::InvocationService(GatewayOptions options, const contracts::Registry& registry,
                                     JobSink& sink, ReplyRouter& router, InvocationReader& reader,
                                     Clock& clock)
    : options_(std::move(options)),
      registry_(registry),
      sink_(sink),
      router_(router),
      reader_(reader),
      clock_(clock) {}

absl::Status InvocationService::Prepare(const InvokeCall& call, bool sync,
                                        magic::v1::InvocationJob& job) {
  if (static_cast<int64_t>(call.input_json.size()) > options_.max_input_bytes) {
    return MakeError(ErrorCode::kE1005,
                     fmt::format("input is {} bytes; the limit is {}", call.input_json.size(),
                                 options_.max_input_bytes),
                     {{"limit_bytes", options_.max_input_bytes}});
  }
  if (call.timeout_ms < 0) return MakeError(ErrorCode::kE1005, "timeout must not be negative");
  MAGIC_ASSIGN_OR_RETURN(auto version, registry_.Active(call.controller));
  nlohmann::json input =
      nlohmann::json::parse(call.input_json, nullptr, /*allow_exceptions=*/false);
  if (input.is_discarded()) return MakeError(ErrorCode::kE1005, "input is not valid JSON");
  MAGIC_RETURN_IF_ERROR(version->compiled->ValidateInput(input));

  const int64_t contract_ms = version->contract().resources.timeout_ms;
  const int64_t run_ms = call.timeout_ms > 0 ? std::min(call.timeout_ms, contract_ms) : contract_ms;
  const absl::Time now = clock_.Now();
  const absl::Duration ttl = sync ? absl::Milliseconds(run_ms) + options_.queue_grace
                                  : std::max(options_.submit_ttl, absl::Milliseconds(run_ms));
  job.set_request_id(call.request_id);
  job.set_controller(version->name());
  job.set_version(version->version());
  job.set_contract_digest(version->digest);
  job.set_input_json(call.input_json);
  job.set_enqueued_unix_ms(absl::ToUnixMillis(now));
  job.set_deadline_unix_ms(absl::ToUnixMillis(now + ttl));
  job.set_attempt(1);
  job.set_idempotency_key(call.idempotency_key);
  if (options_.grant_signer != nullptr) job.set_grant(options_.grant_signer->Sign(job, now));
  return absl::OkStatus();
}

std::string InvocationService::Invoke(InvokeCall call, InvokeDone done) {
  if (call.request_id.empty()) call.request_id = NewRequestId();
  const std::string id = call.request_id;
  magic::v1::InvocationJob job;
  if (absl::Status s = Prepare(call, /*sync=*/true, job); !s.ok()) {
    done(s);
    return id;
  }
  job.set_reply_topic(options_.reply_topic);
  router_.Expect(id, absl::FromUnixMillis(job.deadline_unix_ms()),
                 [done](absl::StatusOr<magic::v1::InvocationResult> result) {
                   if (!result.ok()) return done(result.status());
                   if (result->state() != magic::v1::SUCCEEDED)
                     return done(ResultToStatus(*result));
                   magic::v1::InvokeResponse response;
                   response.set_request_id(result->request_id());
                   response.set_controller(result->controller());
                   response.set_version(result->version());
                   response.set_output_json(result->output_json());
                   *response.mutable_timings() = result->timings();
                   done(std::move(response));
                 });
  sink_.Send(job, [this, id](absl::Status sent) {
    if (!sent.ok()) router_.Fail(id, sent);
  });
  return id;
}

std::string InvocationService::Submit(InvokeCall call, SubmitDone done) {
  if (call.request_id.empty()) call.request_id = NewRequestId();
  const std::string id = call.request_id;
  magic::v1::InvocationJob job;
  if (absl::Status s = Prepare(call, /*sync=*/false, job); !s.ok()) {
    done(s);
    return id;
  }
  RememberSubmitted(job);
  sink_.Send(job, [this, id, done](absl::Status sent) {
    if (!sent.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      recent_.erase(id);
      return done(sent);
    }
    done(id);
  });
  return id;
}

void InvocationService::RememberSubmitted(const magic::v1::InvocationJob& job) {
  magic::v1::Invocation queued;
  queued.set_request_id(job.request_id());
  queued.set_controller(job.controller());
  queued.set_version(job.version());
  queued.set_state(magic::v1::QUEUED);
  queued.set_created_unix_ms(job.enqueued_unix_ms());
  std::lock_guard<std::mutex> lock(mu_);
  if (recent_.size() >= kMaxRecent) recent_.clear();  // the store has them by now
  recent_[job.request_id()] = std::move(queued);
}

absl::StatusOr<magic::v1::Invocation> InvocationService::Get(const std::string& request_id) {
  absl::StatusOr<magic::v1::Invocation> stored = reader_.Get(request_id);
  if (stored.ok() || stored.status().code() != absl::StatusCode::kNotFound) {
    if (stored.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      if (stored->state() == magic::v1::SUCCEEDED || stored->state() == magic::v1::FAILED) {
        recent_.erase(request_id);
      }
    }
    return stored;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = recent_.find(request_id); it != recent_.end()) return it->second;
  }
  return MakeError(ErrorCode::kE4003, fmt::format("no invocation {}", request_id),
                   {{"request_id", request_id}});
}

absl::StatusOr<magic::v1::Invocation> InvocationService::Cancel(const std::string& request_id) {
  absl::StatusOr<magic::v1::Invocation> current = Get(request_id);
  const bool waiting_here = router_.Has(request_id);
  if (!current.ok() && !waiting_here) return current.status();
  magic::v1::Invocation state = current.ok() ? *current : magic::v1::Invocation();
  if (current.ok() &&
      (state.state() == magic::v1::SUCCEEDED || state.state() == magic::v1::FAILED ||
       state.state() == magic::v1::CANCELLED)) {
    return state;
  }
  sink_.SendCancel(request_id, [](absl::Status) {});
  router_.Fail(request_id, MakeError(ErrorCode::kE3005, "cancelled by the caller",
                                     {{"request_id", request_id}, {"cancelled", true}}));
  {
    std::lock_guard<std::mutex> lock(mu_);
    recent_.erase(request_id);
  }
  state.set_request_id(request_id);
  state.set_state(magic::v1::CANCELLED);
  return state;
}

int HttpStatusFor(const absl::Status& status) {
  if (status.ok()) return 200;
  return Describe(ErrorFromStatus(status).code).http_status;
}

}  // namespace magic::gateway
