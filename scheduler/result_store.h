// The result store: one row per request id in PostgreSQL (schema `magic`,
// table `invocations`), written when a job is queued and when its result
// arrives, read by the gateway's Get/Watch and by workers that want to know
// whether a redelivered job already ran. ResultRecorder is the thread that
// moves results from Kafka (`magic.results`) into the store.
//
// Exactly one result per request id: the first SUCCEEDED/FAILED result
// recorded wins; later ones (redeliveries, retries that raced) are ignored.
// A CANCELLED run keeps that state.
//
// Thread-safety: ResultStore implementations are thread-safe. ResultRecorder
// owns one thread; Start()/Stop() from one thread.
#pragma once

#include "common/kafka.h"
#include "common/postgres.h"
#include "magic/v1/gateway.pb.h"
#include "magic/v1/invocation.pb.h"

#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <vector>

namespace magic::scheduler {

// A batch of runs submitted together (gateway SubmitBatch): one row in
// magic.batches; its runs are the magic.invocations rows with its batch_id.
struct BatchRecord {
  std::string batch_id;
  std::string controller;
  std::string version;
  int64_t total = 0;
  int64_t created_unix_ms = 0;  // 0: now()
  std::string idempotency_key;  // "": none
};

class ResultStore {
 public:
  virtual ~ResultStore() = default;

  // Creates the QUEUED row for `job` with its input, deadline and retry
  // policy (no-op if the row exists). ALREADY_EXISTS when another request
  // id holds job.idempotency_key.
  virtual absl::Status RecordQueued(const magic::v1::InvocationJob& job) = 0;

  // RecordQueued for a Submit: returns the id of the run holding
  // job.idempotency_key: job.request_id(), or the earlier run that took the
  // key (nothing is written then).
  virtual absl::StatusOr<std::string> RecordSubmitted(const magic::v1::InvocationJob& job) = 0;

  // Records a batch of results in one round trip (upsert). A result for a
  // request id already finished or cancelled is ignored, as is every result
  // after the first for the same id in `results`. RUNNING events (a worker
  // started an async run) move a QUEUED row to RUNNING with its lease.
  virtual absl::Status RecordResults(const std::vector<magic::v1::InvocationResult>& results) = 0;

  // The invocation; NOT_FOUND when the id is unknown.
  virtual absl::StatusOr<magic::v1::Invocation> Get(std::string_view request_id) = 0;

  // The ids among `request_ids` that need no run: SUCCEEDED, FAILED or
  // CANCELLED. One round trip for the whole batch.
  virtual absl::StatusOr<std::unordered_set<std::string>> FindFinished(
      const std::vector<std::string>& request_ids) = 0;

  // QUEUED/RUNNING -> CANCELLED. OK if it is (now) cancelled;
  // FAILED_PRECONDITION when it already finished; NOT_FOUND when unknown.
  virtual absl::Status MarkCancelled(std::string_view request_id) = 0;

  // RecordQueued for many jobs in one round trip (existing rows are kept).
  virtual absl::Status RecordQueuedBatch(const std::vector<magic::v1::InvocationJob>& jobs) = 0;

  // Records `batch` and a QUEUED row per job (jobs carry its batch_id) in
  // one transaction. Returns the id of the batch holding
  // batch.idempotency_key: batch.batch_id, or the earlier batch that took
  // the key (nothing is written then).
  virtual absl::StatusOr<std::string> RecordBatch(
      const BatchRecord& batch, const std::vector<magic::v1::InvocationJob>& jobs) = 0;

  // The batch with its runs counted by state (one query); NOT_FOUND when
  // unknown. Runs without a row yet count as queued.
  virtual absl::StatusOr<magic::v1::Batch> GetBatch(std::string_view batch_id) = 0;

  // A page of the batch's runs ordered by request id (keyset pagination:
  // the page token is the last request id of the previous page), only those
  // in request.state() unless it is UNSPECIFIED. NOT_FOUND for an unknown
  // batch; INVALID_ARGUMENT for a page size above 1000.
  virtual absl::StatusOr<magic::v1::ListBatchItemsResponse> ListBatchItems(
      const magic::v1::ListBatchItemsRequest& request) = 0;
};

// The PostgreSQL store. Runs the (idempotent) migration first. `pool` must
// outlive the store.
absl::StatusOr<std::unique_ptr<ResultStore>> MakePgResultStore(pg::PgPool& pool);

// A store together with the connection pool it owns (the pool outlives the
// store: members are destroyed in reverse order).
struct PgResultStoreHandle {
  std::unique_ptr<pg::PgPool> pool;
  std::unique_ptr<ResultStore> store;
};
// Connects a pool of `pool_size` to `url` and makes the (migrated) store:
// what every service binary does at start.
absl::StatusOr<PgResultStoreHandle> OpenPgResultStore(const std::string& url, int pool_size);

// The schema migration alone: CREATE SCHEMA/TABLE/INDEX IF NOT EXISTS under
// an advisory lock, so replicas starting together do not race.
absl::Status MigrateResultStore(pg::PgPool& pool);

// ----------------------------------------------------------------------------

struct ResultRecorderOptions {
  std::string topic = "magic.results";
  std::string group_id = "magic-recorder";
  // A batch is written when it holds max_batch results or its first result
  // waited max_delay, whichever comes first.
  size_t max_batch = 500;
  std::chrono::milliseconds max_delay{20};
  // Backoff between attempts when the store fails (it retries until Stop()).
  std::chrono::milliseconds retry_backoff{200};
  // Before a batch is recorded: takes the failures that will be retried
  // (TimerService::TakeRetries) and returns the results to record. Unset:
  // every result is final.
  std::function<absl::StatusOr<std::vector<magic::v1::InvocationResult>>(
      std::vector<magic::v1::InvocationResult>)>
      take_retries;
};

// Consumes `topic` in group `group_id`, writes results in batches with
// RecordResults() and commits the offsets only after the batch is durable
// (at-least-once; the store makes redelivery harmless). Undecodable
// messages are logged and skipped. Before partitions are revoked the
// current batch is written and committed.
//
// Owns one thread (started by Start(), joined by Stop() or the destructor);
// the consumer is used on that thread only. `store` must outlive it.
class ResultRecorder {
 public:
  // Makes the consumer; the recorder passes its group id and its rebalance
  // hooks. Production: MakeKafkaConsumer bound to a KafkaConfig.
  using ConsumerFactory =
      std::function<absl::StatusOr<std::unique_ptr<kafka::KafkaConsumer>>(kafka::ConsumerOptions)>;

  ResultRecorder(ResultStore& store, ConsumerFactory consumer_factory,
                 ResultRecorderOptions options);
  // The same with MakeKafkaConsumer(config, ...).
  ResultRecorder(ResultStore& store, const kafka::KafkaConfig& config,
                 ResultRecorderOptions options);
  ResultRecorder(const ResultRecorder&) = delete;
  ResultRecorder& operator=(const ResultRecorder&) = delete;
  ~ResultRecorder();  // Stop()

  // Makes the consumer, subscribes and starts the thread.
  absl::Status Start();
  // Writes what is pending, commits, leaves the group, joins. Idempotent.
  void Stop();

  // Results written (including ignored duplicates) and batches committed.
  uint64_t recorded() const { return recorded_.load(std::memory_order_relaxed); }
  uint64_t batches() const { return batches_.load(std::memory_order_relaxed); }

 private:
  struct Batch;
  void Run();
  // Adds one consumed message to the batch (decoding it).
  void Add(const kafka::KafkaMessage& message);
  // Writes and commits the batch, retrying the store until it succeeds or
  // Stop() is called. Runs on the recorder's thread (also from on_revoke).
  void Flush();
  // The batch through take_retries, then into the store.
  absl::Status Write();
  kafka::RebalanceHooks Hooks();

  ResultStore& store_;
  ConsumerFactory consumer_factory_;
  std::unique_ptr<kafka::KafkaConsumer> consumer_;
  const ResultRecorderOptions options_;
  std::unique_ptr<Batch> batch_;  // recorder thread only
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> recorded_{0};
  std::atomic<uint64_t> batches_{0};
  std::thread thread_;
};

}  // namespace magic::scheduler
