// The gateway's transport-independent core: what Invoke, Submit, Get and
// Cancel do, whether the call came over gRPC or HTTP/JSON.
//
//   Invoke: check size (E1005) and JSON, look up the active version (E4003),
//           validate the input (E1003), stamp a deadline, produce the job,
//           wait for the reply (deadline → E3001).
//   Submit: the same checks, record the QUEUED run in the store (the same
//           idempotency key answers with the earlier run, producing
//           nothing), produce, answer with the request id once Kafka has
//           acknowledged the job (an id is never given for a lost job).
//   Get:    read the result store; for a job this gateway just submitted and
//           the store has not seen yet, answer QUEUED.
//   SubmitBatch: validate every input first (one bad item rejects the batch,
//           naming its index), record the batch and its QUEUED runs in the
//           store, then produce one job per item (ids "<batch_id>-<index>").
//
// No call blocks: completions arrive through callbacks, on the producer's or
// the reply consumer's thread. Thread-safe. Borrows everything it is given;
// all of it must outlive the service.
#pragma once

#include "broker/grant.h"
#include "common/clock.h"
#include "contracts/registry.h"
#include "gateway/reply_router.h"
#include "magic/v1/gateway.pb.h"
#include "magic/v1/invocation.pb.h"
#include "scheduler/job_maker.h"

#include <absl/status/statusor.h>
#include <absl/time/time.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace magic::gateway {

// Where jobs go (Kafka in production). `done` is called once the job is
// durable or has failed; it may run on another thread.
class JobSink {
 public:
  virtual ~JobSink() = default;
  virtual void Send(const magic::v1::InvocationJob& job,
                    std::function<void(absl::Status)> done) = 0;
  // Announces that `request_id` is cancelled (workers skip or kill it).
  virtual void SendCancel(const std::string& request_id,
                          std::function<void(absl::Status)> done) = 0;
};

// The read side of the result store.
class InvocationReader {
 public:
  virtual ~InvocationReader() = default;
  // NotFound if the store has no record of `request_id`.
  virtual absl::StatusOr<magic::v1::Invocation> Get(const std::string& request_id) = 0;

  // Records a submitted run as QUEUED (with its input and retry policy, so
  // the scheduler can retry it and its watchdog can tell it was lost), then
  // calls `done` once, possibly on another thread, with the id of the run
  // that holds job.idempotency_key: the job's own, or an earlier run's
  // (nothing is written then). Never blocks the caller on a round trip it
  // can hand to another thread. The default (no store) records nothing,
  // answers at once and refuses idempotency keys (E3005).
  using RecordedFn = std::function<void(absl::StatusOr<std::string> holder)>;
  virtual void RecordSubmitted(const magic::v1::InvocationJob& job, RecordedFn done);

  // Batches (scheduler::ResultStore semantics). The defaults refuse (E3005):
  // a gateway without a store cannot take batches.
  // Records the batch and its QUEUED runs; returns the id of the batch that
  // holds `idempotency_key` (batch_id unless an earlier batch took it).
  virtual absl::StatusOr<std::string> RecordBatch(
      const magic::v1::Batch& batch, const std::string& idempotency_key,
      const std::vector<magic::v1::InvocationJob>& jobs);
  virtual absl::StatusOr<magic::v1::Batch> GetBatch(const std::string& batch_id);
  virtual absl::StatusOr<magic::v1::ListBatchItemsResponse> ListBatchItems(
      const magic::v1::ListBatchItemsRequest& request);
};

struct GatewayOptions {
  std::string gateway_id;   // "gw_..."
  std::string reply_topic;  // "magic.replies.<gateway_id>"
  std::string jobs_topic = "magic.invocations";
  std::string cancellations_topic = "magic.cancellations";
  int64_t max_input_bytes = int64_t{1} << 20;     // larger inputs are E1005
  absl::Duration queue_grace = absl::Seconds(5);  // sync: waiting beyond the run timeout
  absl::Duration submit_ttl = absl::Minutes(15);  // async: dropped (E3001) if not run by then
  int64_t max_batch_items = 10'000;               // larger batches are E1005
  int64_t max_batch_bytes = int64_t{12} << 20;    // sum of a batch's inputs; above: E1005
  // Signs each job's grant (not owned; must outlive the service). Null: jobs
  // carry no grant and the broker refuses their capability calls (E2005).
  const broker::GrantSigner* grant_signer = nullptr;
};

struct InvokeCall {
  std::string controller;
  std::string input_json;
  std::string request_id;       // empty: a new one is generated
  int64_t timeout_ms = 0;       // 0: the contract's timeout; larger values are capped to it
  std::string idempotency_key;  // Submit: the same key returns the same run
  uint32_t max_attempts = 0;    // Submit: 0 = 3 (scheduler/retry.h); above 10: E1005
  bool retry_on_timeout = false;
};

struct BatchCall {
  std::string controller;
  std::vector<std::string> inputs_json;
  int64_t timeout_ms = 0;  // per run, as in InvokeCall
  std::string idempotency_key;
  uint32_t max_attempts = 0;  // per run, as in InvokeCall
  bool retry_on_timeout = false;
};

class InvocationService {
 public:
  using InvokeDone = std::function<void(absl::StatusOr<magic::v1::InvokeResponse>)>;
  using SubmitDone = std::function<void(absl::StatusOr<std::string>)>;
  using SubmitBatchDone = std::function<void(absl::StatusOr<magic::v1::SubmitBatchResponse>)>;

  InvocationService(GatewayOptions options, const contracts::Registry& registry, JobSink& sink,
                    ReplyRouter& router, InvocationReader& reader, Clock& clock);

  // Returns the request id at once (callers echo it as X-Request-ID) and
  // calls `done` exactly once with the output or an E-coded error.
  std::string Invoke(InvokeCall call, InvokeDone done);
  // Returns the request id at once; `done` gets it back once the run is
  // recorded and the job durable on Kafka (with an idempotency key already
  // taken: the earlier run's id, and nothing is produced), or an E-coded
  // error. `done` may run on another thread.
  std::string Submit(InvokeCall call, SubmitDone done);
  absl::StatusOr<magic::v1::Invocation> Get(const std::string& request_id);
  // Cancels a run that has not finished: a waiting Invoke on this gateway
  // fails at once (CANCELLED), and workers are told to skip or kill it.
  // A finished run is returned unchanged (FAILED_PRECONDITION is not an
  // error here: cancelling twice is harmless). E4003 for unknown ids.
  absl::StatusOr<magic::v1::Invocation> Cancel(const std::string& request_id);

  // Validates every input, records the batch, produces its jobs; `done` gets
  // the batch id and request ids once every job is durable, or an E-coded
  // error (E1003/E1005 with details.item for a bad item; nothing produced).
  // The same idempotency key answers with the earlier batch, producing nothing.
  void SubmitBatch(BatchCall call, SubmitBatchDone done);
  // E4003 for an unknown batch id.
  absl::StatusOr<magic::v1::Batch> GetBatch(const std::string& batch_id);
  // E4003 for an unknown batch, E1005 for a bad page size.
  absl::StatusOr<magic::v1::ListBatchItemsResponse> ListBatchItems(
      const magic::v1::ListBatchItemsRequest& request);

  const GatewayOptions& options() const { return options_; }

 private:
  // Checks shared by Invoke and Submit; fills `job` except reply topic.
  absl::Status Prepare(const InvokeCall& call, bool sync, magic::v1::InvocationJob& job);
  // Prepare() once the version is known (a batch looks it up once).
  absl::Status PrepareFor(const contracts::ControllerVersion& version, const InvokeCall& call,
                          bool sync, absl::Time now, magic::v1::InvocationJob& job) const;
  // The jobs of a batch (every input validated), or the first item's error.
  absl::StatusOr<std::vector<magic::v1::InvocationJob>> PrepareBatch(const BatchCall& call,
                                                                     const std::string& batch_id);
  void ProduceBatch(std::vector<magic::v1::InvocationJob> jobs,
                    magic::v1::SubmitBatchResponse response, SubmitBatchDone done);
  void RememberSubmitted(const magic::v1::InvocationJob& job);

  const GatewayOptions options_;
  const contracts::Registry& registry_;
  JobSink& sink_;
  ReplyRouter& router_;
  InvocationReader& reader_;
  Clock& clock_;

  std::mutex mu_;
  // Jobs submitted here that the store may not have seen yet (bounded).
  std::unordered_map<std::string, magic::v1::Invocation> recent_;
};

// The HTTP status for an error status (catalog row; 500 for unknown).
int HttpStatusFor(const absl::Status& status);

}  // namespace magic::gateway
