// Batches on PostgreSQL: magic.batches holds one row per batch (its size),
// magic.invocations the runs (batch_id column). Progress is one GROUP BY
// over the runs of a batch (index invocations_batch_items_idx); items are
// paged by request id (keyset, never OFFSET).
#include "common/status_macros.h"
#include "scheduler/internal/pg_result_store.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

namespace magic::scheduler::internal {
namespace {

using magic::v1::Batch;
using magic::v1::InvocationJob;
using magic::v1::ListBatchItemsRequest;
using magic::v1::ListBatchItemsResponse;

constexpr uint32_t kDefaultPageSize = 100;
constexpr uint32_t kMaxPageSize = 1000;

// A row that exists keeps its state (a redelivered or repeated job does
// not reset a run). An idempotency key held by another run is a
// unique_violation (ALREADY_EXISTS).
constexpr const char* kQueuedMany = "magic_rs_queued_many";
constexpr std::string_view kQueuedManySql = R"sql(
INSERT INTO magic.invocations AS i
  (request_id, controller, version, state, input_json, created_at, batch_id, idempotency_key,
   deadline_at, run_json)
SELECT j.id, j.controller, j.version, 'QUEUED', NULLIF(j.input, '')::json,
       COALESCE(to_timestamp(NULLIF(j.created_ms, 0) / 1000.0), now()), NULLIF(j.batch, ''),
       NULLIF(j.ikey, ''), to_timestamp(NULLIF(j.deadline_ms, 0) / 1000.0),
       NULLIF(j.run, '')::json
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[],
            $7::text[], $8::bigint[], $9::text[])
  AS j(id, controller, version, input, created_ms, batch, ikey, deadline_ms, run)
ON CONFLICT (request_id) DO UPDATE SET
  input_json = COALESCE(i.input_json, EXCLUDED.input_json),
  batch_id = COALESCE(i.batch_id, EXCLUDED.batch_id),
  idempotency_key = COALESCE(i.idempotency_key, EXCLUDED.idempotency_key),
  deadline_at = COALESCE(i.deadline_at, EXCLUDED.deadline_at),
  run_json = COALESCE(i.run_json, EXCLUDED.run_json)
)sql";

// Any conflict (the key taken, or this batch id already recorded by a retry)
// inserts nothing; the caller then looks up who holds the key.
constexpr const char* kBatchInsert = "magic_rs_batch_insert";
constexpr std::string_view kBatchInsertSql = R"sql(
INSERT INTO magic.batches (batch_id, controller, version, total, created_at, idempotency_key)
VALUES ($1, $2, $3, $4,
        CASE WHEN $5::bigint > 0 THEN to_timestamp($5::bigint / 1000.0) ELSE now() END,
        NULLIF($6, ''))
ON CONFLICT DO NOTHING
RETURNING batch_id
)sql";

constexpr const char* kBatchByKey = "magic_rs_batch_by_key";
constexpr std::string_view kBatchByKeySql = R"sql(
SELECT batch_id FROM magic.batches WHERE idempotency_key = $1
)sql";

constexpr const char* kBatchGet = "magic_rs_batch_get";
constexpr std::string_view kBatchGetSql = R"sql(
SELECT b.controller, b.total, (extract(epoch FROM b.created_at) * 1000)::bigint,
       count(i.request_id) FILTER (WHERE i.state = 'RUNNING'),
       count(i.request_id) FILTER (WHERE i.state = 'SUCCEEDED'),
       count(i.request_id) FILTER (WHERE i.state = 'FAILED'),
       count(i.request_id) FILTER (WHERE i.state = 'CANCELLED')
FROM magic.batches b LEFT JOIN magic.invocations i ON i.batch_id = b.batch_id
WHERE b.batch_id = $1
GROUP BY b.batch_id
)sql";

constexpr const char* kBatchItems = "magic_rs_batch_items";
constexpr std::string_view kBatchItemsSql = R"sql(
SELECT request_id, controller, version, state, output_json::text, error_json::text, attempts,
       timings_json::text, (extract(epoch FROM created_at) * 1000)::bigint,
       COALESCE((extract(epoch FROM finished_at) * 1000)::bigint, 0)
FROM magic.invocations
WHERE batch_id = $1 AND ($2 = '' OR state = $2) AND request_id > $3
ORDER BY request_id
LIMIT $4
)sql";

constexpr const char* kBatchExists = "magic_rs_batch_exists";
constexpr std::string_view kBatchExistsSql = R"sql(
SELECT 1 FROM magic.batches WHERE batch_id = $1
)sql";

void Prepare(pqxx::connection_base& conn, const char* name, std::string_view sql) {
  conn.prepare(name, std::string(sql));
}

// The jobs as the array literals of kQueuedManySql.
struct JobArrays {
  std::string ids, controllers, versions, inputs, created_ms, batches, keys, deadlines, runs;
};

std::string BigintArray(const std::vector<int64_t>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out.push_back(',');
    out += std::to_string(values[i]);
  }
  out.push_back('}');
  return out;
}

JobArrays ToJobArrays(const std::vector<InvocationJob>& jobs) {
  std::vector<std::string> ids, controllers, versions, inputs, batches, keys, runs;
  std::vector<int64_t> created, deadlines;
  for (const InvocationJob& job : jobs) {
    ids.push_back(job.request_id());
    controllers.push_back(job.controller());
    versions.push_back(job.version());
    inputs.push_back(job.input_json());
    batches.push_back(job.batch_id());
    keys.push_back(job.idempotency_key());
    runs.push_back(RunJson(job));
    created.push_back(job.enqueued_unix_ms());
    deadlines.push_back(job.deadline_unix_ms());
  }
  return {TextArray(ids),    TextArray(controllers), TextArray(versions),
          TextArray(inputs), BigintArray(created),   TextArray(batches),
          TextArray(keys),   BigintArray(deadlines), TextArray(runs)};
}

absl::Status CheckJobs(const std::vector<InvocationJob>& jobs) {
  for (const InvocationJob& job : jobs) {
    if (job.request_id().empty()) return absl::InvalidArgumentError("a job has no request id");
  }
  return absl::OkStatus();
}

void WriteQueued(pqxx::transaction_base& tx, const JobArrays& a) {
  Prepare(tx.conn(), kQueuedMany, kQueuedManySql);
  tx.exec_prepared0(kQueuedMany, a.ids, a.controllers, a.versions, a.inputs, a.created_ms,
                    a.batches, a.keys, a.deadlines, a.runs);
}

uint32_t Count(const pqxx::field& field) { return static_cast<uint32_t>(field.as<int64_t>()); }

}  // namespace

void WriteQueuedJobs(pqxx::transaction_base& tx, const std::vector<InvocationJob>& jobs) {
  if (!jobs.empty()) WriteQueued(tx, ToJobArrays(jobs));
}

absl::Status PgResultStore::RecordQueuedBatch(const std::vector<InvocationJob>& jobs) {
  if (jobs.empty()) return absl::OkStatus();
  MAGIC_RETURN_IF_ERROR(CheckJobs(jobs));
  const JobArrays arrays = ToJobArrays(jobs);
  return pool_.WithConnection([&arrays](pqxx::connection& conn) -> absl::Status {
    pqxx::nontransaction tx(conn);
    WriteQueued(tx, arrays);
    return absl::OkStatus();
  });
}

absl::StatusOr<std::string> PgResultStore::RecordBatch(const BatchRecord& batch,
                                                       const std::vector<InvocationJob>& jobs) {
  if (batch.batch_id.empty()) return absl::InvalidArgumentError("RecordBatch: no batch id");
  MAGIC_RETURN_IF_ERROR(CheckJobs(jobs));
  const JobArrays arrays = ToJobArrays(jobs);
  return pool_.WithTransaction([&](pqxx::work& tx) -> absl::StatusOr<std::string> {
    Prepare(tx.conn(), kBatchInsert, kBatchInsertSql);
    Prepare(tx.conn(), kBatchByKey, kBatchByKeySql);
    const pqxx::result inserted =
        tx.exec_prepared(kBatchInsert, batch.batch_id, batch.controller, batch.version, batch.total,
                         batch.created_unix_ms, batch.idempotency_key);
    if (inserted.empty() && !batch.idempotency_key.empty()) {
      const pqxx::result holder = tx.exec_prepared(kBatchByKey, batch.idempotency_key);
      if (!holder.empty()) return holder[0][0].as<std::string>();
    }
    if (!jobs.empty()) WriteQueued(tx, arrays);
    return batch.batch_id;
  });
}

absl::StatusOr<Batch> PgResultStore::GetBatch(std::string_view batch_id) {
  const std::string id(batch_id);
  return pool_.WithConnection([&id](pqxx::connection& conn) -> absl::StatusOr<Batch> {
    Prepare(conn, kBatchGet, kBatchGetSql);
    pqxx::nontransaction tx(conn);
    const pqxx::result rows = tx.exec_prepared(kBatchGet, id);
    if (rows.empty()) return absl::NotFoundError(fmt::format("batch {} not found", id));
    const pqxx::row& row = rows[0];
    Batch batch;
    batch.set_batch_id(id);
    batch.set_controller(row[0].as<std::string>());
    batch.set_total(Count(row[1]));
    batch.set_created_unix_ms(row[2].as<int64_t>());
    batch.set_running(Count(row[3]));
    batch.set_succeeded(Count(row[4]));
    batch.set_failed(Count(row[5]));
    batch.set_cancelled(Count(row[6]));
    const uint32_t done = batch.succeeded() + batch.failed() + batch.cancelled();
    const uint32_t seen = done + batch.running();
    batch.set_queued(batch.total() > seen ? batch.total() - seen : 0);
    batch.set_finished(done >= batch.total());
    return batch;
  });
}

absl::StatusOr<ListBatchItemsResponse> PgResultStore::ListBatchItems(
    const ListBatchItemsRequest& request) {
  using Result = absl::StatusOr<ListBatchItemsResponse>;
  if (request.page_size() > kMaxPageSize) {
    return absl::InvalidArgumentError(
        fmt::format("page_size {} is above the limit {}", request.page_size(), kMaxPageSize));
  }
  const uint32_t size = request.page_size() == 0 ? kDefaultPageSize : request.page_size();
  const std::string state = request.state() == magic::v1::INVOCATION_STATE_UNSPECIFIED
                                ? std::string()
                                : magic::v1::InvocationState_Name(request.state());
  return pool_.WithConnection([&](pqxx::connection& conn) -> Result {
    Prepare(conn, kBatchItems, kBatchItemsSql);
    Prepare(conn, kBatchExists, kBatchExistsSql);
    pqxx::nontransaction tx(conn);
    // One row more than the page tells whether another page follows.
    const pqxx::result rows = tx.exec_prepared(kBatchItems, request.batch_id(), state,
                                               request.page_token(), int64_t{size} + 1);
    if (rows.empty() && tx.exec_prepared(kBatchExists, request.batch_id()).empty()) {
      return absl::NotFoundError(fmt::format("batch {} not found", request.batch_id()));
    }
    ListBatchItemsResponse response;
    const size_t n = std::min<size_t>(rows.size(), size);
    for (size_t i = 0; i < n; ++i) {
      MAGIC_ASSIGN_OR_RETURN(*response.add_items(), FromRow(rows[static_cast<int>(i)]));
    }
    if (rows.size() > size) response.set_next_page_token(response.items().rbegin()->request_id());
    return response;
  });
}

}  // namespace magic::scheduler::internal
