// ResultStore on PostgreSQL: table magic.invocations. A batch of results is
// one INSERT ... SELECT FROM unnest(arrays) ... ON CONFLICT DO UPDATE WHERE
// the row is not finished: one round trip, first result wins.
#include "scheduler/internal/pg_result_store.h"

#include "common/absl_compat.h"
#include "common/logging.h"
#include "common/status_macros.h"

#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>
#include <nlohmann/json.hpp>

#include <optional>
#include <set>
#include <utility>

namespace magic::scheduler::internal {
namespace {

using magic::v1::Invocation;
using magic::v1::InvocationJob;
using magic::v1::InvocationResult;

constexpr std::string_view kMigration = R"sql(
CREATE SCHEMA IF NOT EXISTS magic;
CREATE TABLE IF NOT EXISTS magic.invocations (
  request_id      text PRIMARY KEY,
  controller      text NOT NULL,
  version         text NOT NULL DEFAULT '',
  state           text NOT NULL
                  CHECK (state IN ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
  input_json      json,
  output_json     json,
  error_json      json,
  attempts        integer NOT NULL DEFAULT 0,
  timings_json    json,
  created_at      timestamptz NOT NULL DEFAULT now(),
  started_at      timestamptz,
  finished_at     timestamptz,
  worker_id       text,
  idempotency_key text UNIQUE,
  batch_id        text
);
CREATE INDEX IF NOT EXISTS invocations_batch_id_idx
  ON magic.invocations (batch_id) WHERE batch_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS invocations_unfinished_idx
  ON magic.invocations (created_at) WHERE state IN ('QUEUED', 'RUNNING');
CREATE TABLE IF NOT EXISTS magic.batches (
  batch_id        text PRIMARY KEY,
  controller      text NOT NULL,
  version         text NOT NULL DEFAULT '',
  total           integer NOT NULL CHECK (total >= 0),
  created_at      timestamptz NOT NULL DEFAULT now(),
  idempotency_key text UNIQUE
);
-- GetBatch counts and ListBatchItems pages (keyset on request_id) by batch.
CREATE INDEX IF NOT EXISTS invocations_batch_items_idx
  ON magic.invocations (batch_id, request_id) WHERE batch_id IS NOT NULL;
-- Retries and the watchdog (docs/scheduler.md): when a queued run must have
-- run by, until when a started run may take, and how to run it again
-- (timeout, ttl, source, retry policy as JSON).
ALTER TABLE magic.invocations ADD COLUMN IF NOT EXISTS deadline_at timestamptz;
ALTER TABLE magic.invocations ADD COLUMN IF NOT EXISTS lease_until timestamptz;
ALTER TABLE magic.invocations ADD COLUMN IF NOT EXISTS run_json json;
)sql";

// Any 64-bit constant; serializes concurrent migrations.
constexpr int64_t kMigrationLock = 0x6d61676963'0001;

constexpr const char* kResults = "magic_rs_results";
constexpr std::string_view kResultsSql = R"sql(
INSERT INTO magic.invocations AS i
  (request_id, controller, version, state, output_json, error_json, attempts, timings_json,
   created_at, started_at, finished_at, worker_id)
SELECT r.id, r.controller, r.version, r.state, NULLIF(r.output, '')::json,
       NULLIF(r.error, '')::json, r.attempt, NULLIF(r.timings, '')::json,
       COALESCE(to_timestamp(NULLIF(r.created_ms, 0) / 1000.0), now()),
       to_timestamp(NULLIF(r.started_ms, 0) / 1000.0),
       COALESCE(to_timestamp(NULLIF(r.finished_ms, 0) / 1000.0), now()),
       NULLIF(r.worker, '')
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
            $7::integer[], $8::text[], $9::bigint[], $10::bigint[], $11::bigint[], $12::text[])
  AS r(id, controller, version, state, output, error, attempt, timings,
       created_ms, started_ms, finished_ms, worker)
ON CONFLICT (request_id) DO UPDATE SET
  controller = EXCLUDED.controller, version = EXCLUDED.version, state = EXCLUDED.state,
  output_json = EXCLUDED.output_json, error_json = EXCLUDED.error_json,
  attempts = GREATEST(i.attempts, EXCLUDED.attempts), timings_json = EXCLUDED.timings_json,
  started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at,
  worker_id = EXCLUDED.worker_id
WHERE i.state IN ('QUEUED', 'RUNNING')
)sql";

constexpr const char* kGet = "magic_rs_get";
constexpr std::string_view kGetSql = R"sql(
SELECT request_id, controller, version, state, output_json::text, error_json::text, attempts,
       timings_json::text, (extract(epoch FROM created_at) * 1000)::bigint,
       COALESCE((extract(epoch FROM finished_at) * 1000)::bigint, 0)
FROM magic.invocations WHERE request_id = $1
)sql";

constexpr const char* kByKey = "magic_rs_by_key";
constexpr std::string_view kByKeySql = R"sql(
SELECT request_id FROM magic.invocations WHERE idempotency_key = $1
)sql";

// RUNNING events (async runs, when a worker starts them): the lease is how
// long the run may take; the watchdog deems the worker lost after it.
constexpr const char* kStarted = "magic_rs_started";
constexpr std::string_view kStartedSql = R"sql(
UPDATE magic.invocations AS i SET
  state = 'RUNNING', started_at = to_timestamp(s.started_ms / 1000.0), worker_id = s.worker,
  attempts = GREATEST(i.attempts, s.attempt), lease_until = to_timestamp(s.lease_ms / 1000.0)
FROM unnest($1::text[], $2::bigint[], $3::text[], $4::integer[], $5::bigint[])
  AS s(id, started_ms, worker, attempt, lease_ms)
WHERE i.request_id = s.id AND i.state IN ('QUEUED', 'RUNNING')
  -- A start of attempt N is stale once attempt N failed and a retry is queued.
  AND NOT (i.state = 'QUEUED' AND i.attempts >= s.attempt)
)sql";

constexpr const char* kFinished = "magic_rs_finished";
constexpr std::string_view kFinishedSql = R"sql(
SELECT request_id FROM magic.invocations
WHERE request_id = ANY($1::text[]) AND state IN ('SUCCEEDED', 'FAILED', 'CANCELLED')
)sql";

constexpr const char* kCancel = "magic_rs_cancel";
constexpr std::string_view kCancelSql = R"sql(
UPDATE magic.invocations SET state = 'CANCELLED', finished_at = now()
WHERE request_id = $1 AND state IN ('QUEUED', 'RUNNING')
)sql";

constexpr const char* kState = "magic_rs_state";
constexpr std::string_view kStateSql = R"sql(
SELECT state FROM magic.invocations WHERE request_id = $1
)sql";

// pqxx 6 keeps prepared definitions per connection; preparing again with
// the same text is a no-op, so every call site names its statement here.
void Prepare(pqxx::connection_base& conn, const char* name, std::string_view sql) {
  conn.prepare(name, std::string(sql));
}

}  // namespace

PgResultStore::PgResultStore(pg::PgPool& pool) : pool_(pool) {}

absl::Status PgResultStore::Migrate(pg::PgPool& pool) {
  return pool.WithTransaction([](pqxx::work& tx) -> absl::Status {
    tx.exec_params("SELECT pg_advisory_xact_lock($1)", kMigrationLock);
    tx.exec(std::string(kMigration));
    return absl::OkStatus();
  });
}

absl::Status PgResultStore::RecordQueued(const InvocationJob& job) {
  if (job.request_id().empty()) return absl::InvalidArgumentError("RecordQueued: no request id");
  return RecordQueuedBatch({job});
}

absl::StatusOr<std::string> PgResultStore::RecordSubmitted(const InvocationJob& job) {
  const std::string& key = job.idempotency_key();
  if (!key.empty()) {
    MAGIC_ASSIGN_OR_RETURN(std::optional<std::string> holder, HolderOf(key));
    if (holder.has_value()) return *holder;
  }
  absl::Status written = RecordQueued(job);
  if (absl::IsAlreadyExists(written) && !key.empty()) {  // lost a race for the key
    MAGIC_ASSIGN_OR_RETURN(std::optional<std::string> holder, HolderOf(key));
    if (holder.has_value()) return *holder;
  }
  MAGIC_RETURN_IF_ERROR(written);
  return job.request_id();
}

absl::StatusOr<std::optional<std::string>> PgResultStore::HolderOf(const std::string& key) {
  using Result = absl::StatusOr<std::optional<std::string>>;
  return pool_.WithConnection([&key](pqxx::connection& conn) -> Result {
    Prepare(conn, kByKey, kByKeySql);
    pqxx::nontransaction tx(conn);
    const pqxx::result rows = tx.exec_prepared(kByKey, key);
    if (rows.empty()) return std::optional<std::string>();
    return std::optional<std::string>(rows[0][0].as<std::string>());
  });
}

absl::Status PgResultStore::WriteRows(const std::vector<ResultRow>& rows) {
  if (rows.empty()) return absl::OkStatus();
  const ResultArrays arrays = ToArrays(rows);
  return pool_.WithConnection([&arrays](pqxx::connection& conn) -> absl::Status {
    Prepare(conn, kResults, kResultsSql);
    pqxx::nontransaction tx(conn);
    tx.exec_prepared0(kResults, arrays.ids, arrays.controllers, arrays.versions, arrays.states,
                      arrays.outputs, arrays.errors, arrays.attempts, arrays.timings,
                      arrays.created_ms, arrays.started_ms, arrays.finished_ms, arrays.workers);
    return absl::OkStatus();
  });
}

absl::Status PgResultStore::RecordResults(const std::vector<InvocationResult>& results) {
  std::vector<ResultRow> rows;
  std::vector<const InvocationResult*> started;
  std::set<std::string_view> seen;
  for (const InvocationResult& result : results) {
    if (result.request_id().empty()) continue;
    if (result.state() == magic::v1::RUNNING) {
      started.push_back(&result);
      continue;
    }
    if (!seen.insert(result.request_id()).second) continue;
    rows.push_back(ToRow(result));
  }
  // Starts first: a run's RUNNING event precedes its result on the topic.
  MAGIC_RETURN_IF_ERROR(WriteStarted(started));
  absl::Status status = WriteRows(rows);
  if (!absl::IsInvalidArgument(status)) return status;
  // A row the database refuses (output not JSON, bad encoding) must not
  // block the others: write one by one, and store a refused one as FAILED.
  for (ResultRow& row : rows) {
    absl::Status one = WriteRows({row});
    if (!absl::IsInvalidArgument(one)) {
      MAGIC_RETURN_IF_ERROR(one);
      continue;
    }
    MAGIC_LOG(warn, "result not storable as sent; recorded as FAILED",
              {{"request_id", row.request_id}, {"status", one.ToString()}});
    MAGIC_RETURN_IF_ERROR(WriteRows({Unstorable(std::move(row), one)}));
  }
  return absl::OkStatus();
}

absl::Status PgResultStore::WriteStarted(const std::vector<const InvocationResult*>& started) {
  if (started.empty()) return absl::OkStatus();
  std::vector<std::string> ids, workers;
  std::string started_ms = "{", attempts = "{", leases = "{";
  for (const InvocationResult* r : started) {
    ids.push_back(r->request_id());
    workers.push_back(r->worker_id());
    const char* sep = ids.size() > 1 ? "," : "";
    started_ms += fmt::format("{}{}", sep, r->started_unix_ms());
    attempts += fmt::format("{}{}", sep, r->attempt());
    leases += fmt::format("{}{}", sep, r->lease_until_unix_ms());
  }
  started_ms += "}";
  attempts += "}";
  leases += "}";
  const std::string id_array = TextArray(ids), worker_array = TextArray(workers);
  return pool_.WithConnection([&](pqxx::connection& conn) -> absl::Status {
    Prepare(conn, kStarted, kStartedSql);
    pqxx::nontransaction tx(conn);
    tx.exec_prepared0(kStarted, id_array, started_ms, worker_array, attempts, leases);
    return absl::OkStatus();
  });
}

absl::StatusOr<Invocation> PgResultStore::Get(std::string_view request_id) {
  const std::string id(request_id);
  return pool_.WithConnection([&id](pqxx::connection& conn) -> absl::StatusOr<Invocation> {
    Prepare(conn, kGet, kGetSql);
    pqxx::nontransaction tx(conn);
    const pqxx::result rows = tx.exec_prepared(kGet, id);
    if (rows.empty()) return absl::NotFoundError(fmt::format("invocation {} not found", id));
    return FromRow(rows[0]);
  });
}

absl::StatusOr<std::unordered_set<std::string>> PgResultStore::FindFinished(
    const std::vector<std::string>& request_ids) {
  using Result = absl::StatusOr<std::unordered_set<std::string>>;
  if (request_ids.empty()) return std::unordered_set<std::string>();
  const std::string ids = TextArray(request_ids);
  return pool_.WithConnection([&ids](pqxx::connection& conn) -> Result {
    Prepare(conn, kFinished, kFinishedSql);
    pqxx::nontransaction tx(conn);
    std::unordered_set<std::string> finished;
    for (const pqxx::row& row : tx.exec_prepared(kFinished, ids)) {
      finished.insert(row[0].as<std::string>());
    }
    return finished;
  });
}

absl::Status PgResultStore::MarkCancelled(std::string_view request_id) {
  const std::string id(request_id);
  return pool_.WithTransaction([&id](pqxx::work& tx) -> absl::Status {
    Prepare(tx.conn(), kCancel, kCancelSql);
    Prepare(tx.conn(), kState, kStateSql);
    if (tx.exec_prepared(kCancel, id).affected_rows() > 0) return absl::OkStatus();
    const pqxx::result state = tx.exec_prepared(kState, id);
    if (state.empty()) return absl::NotFoundError(fmt::format("invocation {} not found", id));
    const std::string current = state[0][0].as<std::string>();
    if (current == "CANCELLED") return absl::OkStatus();
    return absl::FailedPreconditionError(
        fmt::format("invocation {} already finished ({})", id, current));
  });
}

}  // namespace magic::scheduler::internal

namespace magic::scheduler {

absl::Status MigrateResultStore(pg::PgPool& pool) { return internal::PgResultStore::Migrate(pool); }

absl::StatusOr<std::unique_ptr<ResultStore>> MakePgResultStore(pg::PgPool& pool) {
  MAGIC_RETURN_IF_ERROR(MigrateResultStore(pool));
  return std::make_unique<internal::PgResultStore>(pool);
}

absl::StatusOr<PgResultStoreHandle> OpenPgResultStore(const std::string& url, int pool_size) {
  PgResultStoreHandle handle;
  MAGIC_ASSIGN_OR_RETURN(handle.pool, pg::PgPool::Create(url, pool_size));
  MAGIC_ASSIGN_OR_RETURN(handle.store, MakePgResultStore(*handle.pool));
  return handle;
}

}  // namespace magic::scheduler
