// The PostgreSQL ResultStore and the row codec it uses (result_rows.cc).
// Not for use outside scheduler/.
#pragma once

#include "scheduler/result_store.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace magic::scheduler::internal {

// One result as the columns of magic.invocations; JSON columns as text,
// "" meaning NULL.
struct ResultRow {
  std::string request_id;
  std::string controller;
  std::string version;
  std::string state;  // "SUCCEEDED" / "FAILED"
  std::string output;
  std::string error;
  std::string timings;
  int64_t attempt = 0;
  int64_t created_ms = 0;  // 0: unknown (now())
  int64_t started_ms = 0;
  int64_t finished_ms = 0;
  std::string worker;
};

// The rows as PostgreSQL array literals, one per column, for unnest().
struct ResultArrays {
  std::string ids, controllers, versions, states, outputs, errors, attempts, timings;
  std::string created_ms, started_ms, finished_ms, workers;
};

ResultRow ToRow(const magic::v1::InvocationResult& result);
ResultArrays ToArrays(const std::vector<ResultRow>& rows);
// `row` stored as FAILED (E3005) without output, because the database
// refused it with `why`.
ResultRow Unstorable(ResultRow row, const absl::Status& why);
// A row of the Get query.
absl::StatusOr<magic::v1::Invocation> FromRow(const pqxx::row& row);
// How to run a job again, as stored in run_json: {"timeout_ms", "ttl_ms",
// "source", "retry": {"max_attempts", "on_timeout", "on_error"}}.
std::string RunJson(const magic::v1::InvocationJob& job);
// magic.v1.Error as the stored error object (DESIGN.md shape, details as JSON).
std::string ErrorToJson(const magic::v1::Error& error);
// QUEUED rows for `jobs` inside the caller's transaction (RecordQueued's
// rule: an existing row keeps its state).
void WriteQueuedJobs(pqxx::transaction_base& tx, const std::vector<magic::v1::InvocationJob>& jobs);
// {"a","b"}: a text[] literal.
std::string TextArray(const std::vector<std::string>& values);

class PgResultStore final : public ResultStore {
 public:
  explicit PgResultStore(pg::PgPool& pool);

  static absl::Status Migrate(pg::PgPool& pool);

  // ResultStore
  absl::Status RecordQueued(const magic::v1::InvocationJob& job) override;
  absl::StatusOr<std::string> RecordSubmitted(const magic::v1::InvocationJob& job) override;
  absl::Status RecordResults(const std::vector<magic::v1::InvocationResult>& results) override;
  absl::StatusOr<magic::v1::Invocation> Get(std::string_view request_id) override;
  absl::StatusOr<std::unordered_set<std::string>> FindFinished(
      const std::vector<std::string>& request_ids) override;
  absl::Status MarkCancelled(std::string_view request_id) override;
  absl::Status RecordQueuedBatch(const std::vector<magic::v1::InvocationJob>& jobs) override;
  absl::StatusOr<std::string> RecordBatch(
      const BatchRecord& batch, const std::vector<magic::v1::InvocationJob>& jobs) override;
  absl::StatusOr<magic::v1::Batch> GetBatch(std::string_view batch_id) override;
  absl::StatusOr<magic::v1::ListBatchItemsResponse> ListBatchItems(
      const magic::v1::ListBatchItemsRequest& request) override;

 private:
  absl::Status WriteRows(const std::vector<ResultRow>& rows);
  absl::Status WriteStarted(const std::vector<const magic::v1::InvocationResult*>& started);
  // The run holding idempotency key `key`, if any.
  absl::StatusOr<std::optional<std::string>> HolderOf(const std::string& key);

  pg::PgPool& pool_;
};

}  // namespace magic::scheduler::internal
