#include "gateway/invocation_service.h"

#include "common/errors.h"
#include "common/ids.h"
#include "common/status_macros.h"
#include "proto/wire_errors.h"
#include "scheduler/retry.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <memory>

namespace magic::gateway {
namespace {

constexpr size_t kMaxRecent = 100'000;

absl::Status ResultToStatus(const magic::v1::InvocationResult& result) {
  return StatusFromWireError(result.error());
}

absl::Status CheckInputSize(const std::string& input, int64_t limit) {
  if (static_cast<int64_t>(input.size()) <= limit) return absl::OkStatus();
  return MakeError(ErrorCode::kE1005,
                   fmt::format("input is {} bytes; the limit is {}", input.size(), limit),
                   {{"limit_bytes", limit}});
}

// `error` (an item's E-coded error) with details.item = `index`, so the
// caller knows which line of its batch to fix.
absl::Status ForItem(const absl::Status& error, size_t index) {
  Error e = ErrorFromStatus(error);
  if (!e.details.is_object()) e.details = nlohmann::json::object();
  e.details["item"] = index;
  return MakeError(e.code, fmt::format("item {}: {}", index, e.message), e.details);
}

// "<batch_id>-00042": sorts in item order (ListBatchItems pages by id).
std::string ItemRequestId(const std::string& batch_id, size_t index) {
  std::string id = fmt::format("{}-{:05d}", batch_id, index);
  return IsValidRequestId(id) ? id : NewRequestId();
}

// Shared by the produce callbacks of one batch: the last one answers.
struct BatchProgress {
  std::mutex mu;
  size_t pending = 0;
  absl::Status first_error;
  magic::v1::SubmitBatchResponse response;
  InvocationService::SubmitBatchDone done;
};

}  // namespace

void InvocationReader::RecordSubmitted(const magic::v1::InvocationJob& job, RecordedFn done) {
  if (!job.idempotency_key().empty()) {
    return done(
        MakeError(ErrorCode::kE3005, "this gateway has no result store for idempotency keys"));
  }
  done(job.request_id());
}

absl::StatusOr<std::string> InvocationReader::RecordBatch(
    const magic::v1::Batch&, const std::string&, const std::vector<magic::v1::InvocationJob>&) {
  return MakeError(ErrorCode::kE3005, "this gateway has no result store for batches");
}

absl::StatusOr<magic::v1::Batch> InvocationReader::GetBatch(const std::string&) {
  return MakeError(ErrorCode::kE3005, "this gateway has no result store for batches");
}

absl::StatusOr<magic::v1::ListBatchItemsResponse> InvocationReader::ListBatchItems(
    const magic::v1::ListBatchItemsRequest&) {
  return MakeError(ErrorCode::kE3005, "this gateway has no result store for batches");
}

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
  MAGIC_RETURN_IF_ERROR(CheckInputSize(call.input_json, options_.max_input_bytes));
  if (call.timeout_ms < 0) return MakeError(ErrorCode::kE1005, "timeout must not be negative");
  MAGIC_ASSIGN_OR_RETURN(auto version, registry_.Active(call.controller));
  return PrepareFor(*version, call, sync, clock_.Now(), job);
}

absl::Status InvocationService::PrepareFor(const contracts::ControllerVersion& version,
                                           const InvokeCall& call, bool sync, absl::Time now,
                                           magic::v1::InvocationJob& job) const {
  scheduler::RunSpec spec{.request_id = call.request_id,
                          .input_json = call.input_json,
                          .timeout_ms = call.timeout_ms,
                          .sync = sync,
                          .ttl = options_.submit_ttl,
                          .queue_grace = options_.queue_grace,
                          .source = sync ? "invoke" : "submit",
                          .idempotency_key = call.idempotency_key};
  // A caller waiting on Invoke gets the failure and decides; async runs
  // are retried by the scheduler under this policy.
  if (!sync) {
    MAGIC_ASSIGN_OR_RETURN(spec.retry,
                           scheduler::MakeRetryPolicy(call.max_attempts, call.retry_on_timeout,
                                                      /*on_error=*/false));
  }
  MAGIC_ASSIGN_OR_RETURN(job, scheduler::MakeJob(version, spec, now, options_.grant_signer));
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
  // The job outlives this call: the store answers on its own thread.
  auto recorded = std::make_shared<const magic::v1::InvocationJob>(std::move(job));
  reader_.RecordSubmitted(
      *recorded, [this, id, recorded, done = std::move(done)](absl::StatusOr<std::string> holder) {
        if (!holder.ok()) return done(holder.status());
        if (*holder != id) return done(*holder);  // the key's earlier run; produce nothing
        RememberSubmitted(*recorded);
        sink_.Send(*recorded, [this, id, done](absl::Status sent) {
          if (!sent.ok()) {
            {
              std::lock_guard<std::mutex> lock(mu_);
              recent_.erase(id);
            }
            return done(sent);
          }
          done(id);
        });
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

absl::StatusOr<std::vector<magic::v1::InvocationJob>> InvocationService::PrepareBatch(
    const BatchCall& call, const std::string& batch_id) {
  const int64_t n = static_cast<int64_t>(call.inputs_json.size());
  if (n == 0) return MakeError(ErrorCode::kE1005, "a batch needs at least one input");
  if (n > options_.max_batch_items) {
    return MakeError(
        ErrorCode::kE1005,
        fmt::format("batch has {} items; the limit is {}", n, options_.max_batch_items),
        {{"limit_items", options_.max_batch_items}});
  }
  int64_t bytes = 0;
  for (const std::string& input : call.inputs_json) bytes += static_cast<int64_t>(input.size());
  if (bytes > options_.max_batch_bytes) {
    return MakeError(
        ErrorCode::kE1005,
        fmt::format("batch inputs are {} bytes; the limit is {}", bytes, options_.max_batch_bytes),
        {{"limit_bytes", options_.max_batch_bytes}});
  }
  if (call.timeout_ms < 0) return MakeError(ErrorCode::kE1005, "timeout must not be negative");
  // One version for the whole batch, even if a deploy lands meanwhile.
  MAGIC_ASSIGN_OR_RETURN(auto version, registry_.Active(call.controller));
  const absl::Time now = clock_.Now();
  std::vector<magic::v1::InvocationJob> jobs(call.inputs_json.size());
  InvokeCall item{.controller = call.controller,
                  .timeout_ms = call.timeout_ms,
                  .max_attempts = call.max_attempts,
                  .retry_on_timeout = call.retry_on_timeout};
  for (size_t i = 0; i < jobs.size(); ++i) {
    item.input_json = call.inputs_json[i];
    item.request_id = ItemRequestId(batch_id, i);
    absl::Status s = CheckInputSize(item.input_json, options_.max_input_bytes);
    if (s.ok()) s = PrepareFor(*version, item, /*sync=*/false, now, jobs[i]);
    if (!s.ok()) return ForItem(s, i);
    jobs[i].set_batch_id(batch_id);
    jobs[i].set_source("batch");
  }
  return jobs;
}

void InvocationService::SubmitBatch(BatchCall call, SubmitBatchDone done) {
  const std::string batch_id = NewId("batch_");
  absl::StatusOr<std::vector<magic::v1::InvocationJob>> jobs = PrepareBatch(call, batch_id);
  if (!jobs.ok()) return done(jobs.status());
  magic::v1::Batch batch;
  batch.set_batch_id(batch_id);
  batch.set_controller(jobs->front().controller());
  batch.set_total(static_cast<uint32_t>(jobs->size()));
  batch.set_created_unix_ms(jobs->front().enqueued_unix_ms());
  // The store knows the batch before any of its jobs can finish, so
  // progress never counts a result the batch does not know.
  absl::StatusOr<std::string> holder = reader_.RecordBatch(batch, call.idempotency_key, *jobs);
  if (!holder.ok()) return done(holder.status());
  magic::v1::SubmitBatchResponse response;
  response.set_batch_id(*holder);
  if (*holder != batch_id) {  // the key's earlier batch: answer with it, produce nothing
    absl::StatusOr<magic::v1::Batch> earlier = GetBatch(*holder);
    if (!earlier.ok()) return done(earlier.status());
    for (uint32_t i = 0; i < earlier->total(); ++i) {
      response.add_request_ids(ItemRequestId(*holder, i));
    }
    return done(std::move(response));
  }
  for (const auto& job : *jobs) response.add_request_ids(job.request_id());
  ProduceBatch(*std::move(jobs), std::move(response), std::move(done));
}

void InvocationService::ProduceBatch(std::vector<magic::v1::InvocationJob> jobs,
                                     magic::v1::SubmitBatchResponse response,
                                     SubmitBatchDone done) {
  auto progress = std::make_shared<BatchProgress>();
  progress->pending = jobs.size();
  progress->response = std::move(response);
  progress->done = std::move(done);
  for (const auto& job : jobs) {
    sink_.Send(job, [progress](absl::Status sent) {
      std::unique_lock<std::mutex> lock(progress->mu);
      if (!sent.ok() && progress->first_error.ok()) progress->first_error = sent;
      if (--progress->pending > 0) return;
      lock.unlock();
      if (!progress->first_error.ok()) return progress->done(progress->first_error);
      progress->done(std::move(progress->response));
    });
  }
}

absl::StatusOr<magic::v1::Batch> InvocationService::GetBatch(const std::string& batch_id) {
  absl::StatusOr<magic::v1::Batch> batch = reader_.GetBatch(batch_id);
  if (batch.status().code() == absl::StatusCode::kNotFound) {
    return MakeError(ErrorCode::kE4003, fmt::format("no batch {}", batch_id),
                     {{"batch_id", batch_id}});
  }
  return batch;
}

absl::StatusOr<magic::v1::ListBatchItemsResponse> InvocationService::ListBatchItems(
    const magic::v1::ListBatchItemsRequest& request) {
  absl::StatusOr<magic::v1::ListBatchItemsResponse> page = reader_.ListBatchItems(request);
  if (page.status().code() == absl::StatusCode::kNotFound) {
    return MakeError(ErrorCode::kE4003, fmt::format("no batch {}", request.batch_id()),
                     {{"batch_id", request.batch_id()}});
  }
  if (page.status().code() == absl::StatusCode::kInvalidArgument) {
    return MakeError(ErrorCode::kE1005, std::string(page.status().message()));
  }
  return page;
}

int HttpStatusFor(const absl::Status& status) {
  if (status.ok()) return 200;
  return Describe(ErrorFromStatus(status).code).http_status;
}

}  // namespace magic::gateway
