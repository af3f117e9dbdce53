#include "broker/internal/audit_store.h"

#include "common/errors.h"
#include "common/ids.h"
#include "common/logging.h"

#include <fmt/format.h>

#include <unordered_set>
#include <utility>

namespace magic::broker::internal {
namespace {

using magic::v1::AuditRecord;
using nlohmann::json;

// Advisory lock keys (two int4 form): class 'magi', then one per purpose.
constexpr int32_t kLockClass = 0x6d616769;
constexpr int32_t kMigrationLockId = 0x61756430;  // 'aud0'

// {s} is the checked schema name. The trigger raises restrict_violation
// (23001 -> FAILED_PRECONDITION: do not retry); insufficient_privilege
// would be apt too, but libpqxx 6.4 drops its SQLSTATE.
constexpr std::string_view kMigrationSql = R"sql(
CREATE SCHEMA IF NOT EXISTS {s};
CREATE TABLE IF NOT EXISTS {s}.audit_log (
  chain_seq  bigint PRIMARY KEY CHECK (chain_seq > 0),
  id         text NOT NULL UNIQUE,
  time       timestamptz NOT NULL,
  request_id text NOT NULL,
  controller text NOT NULL,
  version    text NOT NULL,
  capability text NOT NULL,
  operation  text NOT NULL,
  allowed    boolean NOT NULL,
  code       text NOT NULL,
  latency_us bigint NOT NULL,
  seq        bigint NOT NULL,
  worker_id  text NOT NULL,
  fields     jsonb NOT NULL,
  prev_hash  bytea NOT NULL CHECK (octet_length(prev_hash) = 32),
  hash       bytea NOT NULL CHECK (octet_length(hash) = 32)
);
CREATE INDEX IF NOT EXISTS audit_log_request_id_idx ON {s}.audit_log (request_id);
CREATE INDEX IF NOT EXISTS audit_log_controller_time_idx ON {s}.audit_log (controller, time);
CREATE OR REPLACE FUNCTION {s}.audit_log_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $f$
BEGIN
  RAISE EXCEPTION 'audit log {s}.audit_log is append-only: % refused', TG_OP
    USING ERRCODE = 'restrict_violation';
END
$f$;
DO $d$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_trigger
                 WHERE tgrelid = '{s}.audit_log'::regclass AND tgname = 'audit_log_append_only') THEN
    CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON {s}.audit_log
      FOR EACH ROW EXECUTE FUNCTION {s}.audit_log_refuse_change();
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_trigger
                 WHERE tgrelid = '{s}.audit_log'::regclass AND tgname = 'audit_log_no_truncate') THEN
    CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON {s}.audit_log
      FOR EACH STATEMENT EXECUTE FUNCTION {s}.audit_log_refuse_change();
  END IF;
END
$d$;
)sql";

// One statement for the whole batch: the rows travel as one JSON array.
constexpr std::string_view kInsertSql = R"sql(
INSERT INTO {s}.audit_log (chain_seq, id, time, request_id, controller, version, capability,
                           operation, allowed, code, latency_us, seq, worker_id, fields,
                           prev_hash, hash)
SELECT r.chain_seq, r.id, timestamptz 'epoch' + r.time_us * interval '1 microsecond',
       r.request_id, r.controller, r.version, r.capability, r.operation, r.allowed, r.code,
       r.latency_us, r.seq, r.worker_id, r.fields, decode(r.prev_hash, 'hex'),
       decode(r.hash, 'hex')
FROM jsonb_to_recordset($1::jsonb) AS r(
  chain_seq bigint, id text, time_us bigint, request_id text, controller text, version text,
  capability text, operation text, allowed boolean, code text, latency_us bigint, seq bigint,
  worker_id text, fields jsonb, prev_hash text, hash text)
)sql";

constexpr std::string_view kColumns =
    "chain_seq, id, floor(extract(epoch FROM time) * 1000000)::bigint, request_id, controller, "
    "version, capability, operation, allowed, code, latency_us, seq, worker_id, fields::text, "
    "encode(prev_hash, 'hex'), encode(hash, 'hex')";

std::string Sql(std::string_view templ, std::string_view schema) {
  return fmt::format(fmt::runtime(templ), fmt::arg("s", schema));
}

// The chain lock of one table: every writer of every replica takes it.
std::string ChainLockSql(std::string_view schema) {
  return fmt::format("SELECT pg_advisory_xact_lock({}, hashtext('{}.audit_log'))", kLockClass,
                     schema);
}

json RowJson(const PreparedRecord& p, int64_t chain_seq, const Hash& prev, const Hash& hash) {
  const AuditRecord& r = p.record;
  return json{{"chain_seq", chain_seq},
              {"id", r.id()},
              {"time_us", r.time_unix_us()},
              {"request_id", r.request_id()},
              {"controller", r.controller()},
              {"version", r.version()},
              {"capability", r.capability()},
              {"operation", r.operation()},
              {"allowed", r.allowed()},
              {"code", r.code()},
              {"latency_us", r.latency_us()},
              {"seq", static_cast<int64_t>(r.seq())},  // bigint keeps the bit pattern
              {"worker_id", r.worker_id()},
              {"fields", p.json["fields"]},
              {"prev_hash", HexEncode(prev)},
              {"hash", HexEncode(hash)}};
}

// After a failed attempt, the batch's ids that are in the table already:
// `ours` when the row is this record (an earlier attempt committed without
// us hearing of it), `foreign` when it is another record with the same id
// (a caller-chosen id that collides: the record gets a new one).
struct Present {
  std::unordered_set<std::string> ours;
  std::unordered_set<std::string> foreign;
};

absl::StatusOr<Present> FindPresent(pqxx::work& tx, std::string_view schema,
                                    const std::vector<PreparedRecord>& batch) {
  json keys = json::array();
  for (const PreparedRecord& p : batch) {
    keys.push_back({{"id", p.record.id()},
                    {"request_id", p.record.request_id()},
                    {"seq", static_cast<int64_t>(p.record.seq())},
                    {"time_us", p.record.time_unix_us()}});
  }
  const pqxx::result rows =
      tx.exec_params(Sql(R"sql(
SELECT t.id, t.request_id = r.request_id AND t.seq = r.seq
             AND t.time = timestamptz 'epoch' + r.time_us * interval '1 microsecond'
FROM {s}.audit_log t
JOIN jsonb_to_recordset($1::jsonb) AS r(id text, request_id text, seq bigint, time_us bigint)
  ON t.id = r.id
)sql",
                         schema),
                     keys.dump(-1, ' ', /*ensure_ascii=*/false, json::error_handler_t::replace));
  Present present;
  for (const pqxx::row& row : rows) {
    (row[1].as<bool>() ? present.ours : present.foreign).insert(row[0].as<std::string>());
  }
  return present;
}

// The ids of `batch` to leave out of the INSERT (already written); renames
// records whose id belongs to another row.
absl::StatusOr<std::unordered_set<std::string>> ResolvePresent(pqxx::work& tx,
                                                               std::string_view schema,
                                                               std::vector<PreparedRecord>& batch) {
  absl::StatusOr<Present> present = FindPresent(tx, schema, batch);
  if (!present.ok()) return present.status();
  for (PreparedRecord& p : batch) {
    if (!present->foreign.contains(p.record.id())) continue;
    const std::string id = NewId("aud_");
    MAGIC_LOG(warn, "audit record id already taken by another record; renamed",
              {{"id", p.record.id()}, {"new_id", id}, {"request_id", p.record.request_id()}});
    p.record.set_id(id);
    p.json["id"] = id;
  }
  return std::move(present->ours);
}

absl::Status AppendInTransaction(pqxx::work& tx, std::string_view schema,
                                 std::vector<PreparedRecord>& batch, bool maybe_written) {
  tx.exec(ChainLockSql(schema));
  std::unordered_set<std::string> written;
  if (maybe_written) {
    absl::StatusOr<std::unordered_set<std::string>> ours = ResolvePresent(tx, schema, batch);
    if (!ours.ok()) return ours.status();
    if (ours->size() == batch.size()) return absl::OkStatus();
    written = std::move(ours).value();  // a batch commits whole, so this stays empty
  }
  // A separate statement after the lock: its snapshot sees the last commit.
  const pqxx::result last = tx.exec(Sql(
      "SELECT chain_seq, encode(hash, 'hex') FROM {s}.audit_log ORDER BY chain_seq DESC LIMIT 1",
      schema));
  int64_t seq = 0;
  Hash prev{};  // the first row's prev_hash: 32 zero bytes
  if (!last.empty()) {
    seq = last[0][0].as<int64_t>();
    if (!HexDecode(last[0][1].as<std::string>(), prev)) {
      return absl::DataLossError(fmt::format("audit_log row {} has a malformed hash", seq));
    }
  }
  json rows = json::array();
  for (PreparedRecord& p : batch) {
    if (written.contains(p.record.id())) continue;
    ++seq;
    p.json["chain_seq"] = seq;
    const Hash hash = ChainHash(
        prev, p.json.dump(-1, ' ', /*ensure_ascii=*/false, json::error_handler_t::replace));
    p.json.erase("chain_seq");
    rows.push_back(RowJson(p, seq, prev, hash));
    prev = hash;
  }
  tx.exec_params0(Sql(kInsertSql, schema),
                  rows.dump(-1, ' ', /*ensure_ascii=*/false, json::error_handler_t::replace));
  return absl::OkStatus();
}

StoredRow FromRow(const pqxx::row& row) {
  StoredRow out;
  out.chain_seq = row[0].as<int64_t>();
  AuditRecord& r = out.record;
  r.set_id(row[1].as<std::string>());
  r.set_time_unix_us(row[2].as<int64_t>());
  r.set_request_id(row[3].as<std::string>());
  r.set_controller(row[4].as<std::string>());
  r.set_version(row[5].as<std::string>());
  r.set_capability(row[6].as<std::string>());
  r.set_operation(row[7].as<std::string>());
  r.set_allowed(row[8].as<bool>());
  r.set_code(row[9].as<std::string>());
  r.set_latency_us(row[10].as<int64_t>());
  r.set_seq(static_cast<uint64_t>(row[11].as<int64_t>()));
  r.set_worker_id(row[12].as<std::string>());
  r.set_fields_json(row[13].as<std::string>());
  out.prev_hash_hex = row[14].as<std::string>();
  out.hash_hex = row[15].as<std::string>();
  return out;
}

std::vector<StoredRow> FromResult(const pqxx::result& result) {
  std::vector<StoredRow> rows;
  rows.reserve(result.size());
  for (const pqxx::row& row : result) rows.push_back(FromRow(row));
  return rows;
}

}  // namespace

absl::Status CheckSchemaName(std::string_view schema) {
  bool ok = !schema.empty() && schema.size() <= 63 && !(schema[0] >= '0' && schema[0] <= '9');
  for (char c : schema) ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_');
  if (ok) return absl::OkStatus();
  return MakeError(ErrorCode::kE1005, "audit schema name must be [a-z_][a-z0-9_]*, at most 63",
                   {{"schema", std::string(schema.substr(0, 80))}});
}

absl::Status Migrate(pg::PgPool& pool, std::string_view schema) {
  if (absl::Status s = CheckSchemaName(schema); !s.ok()) return s;
  const std::string sql = Sql(kMigrationSql, schema);
  absl::Status status;
  // CREATE SCHEMA IF NOT EXISTS can still collide (23505) with another
  // component's migration that does not take our lock: run it again.
  for (int attempt = 0; attempt < 3; ++attempt) {
    status = pool.WithTransaction([&sql](pqxx::work& tx) -> absl::Status {
      tx.exec_params("SELECT pg_advisory_xact_lock($1, $2)", kLockClass, kMigrationLockId);
      tx.exec0(sql);
      return absl::OkStatus();
    });
    if (!absl::IsAlreadyExists(status)) return status;
  }
  return status;
}

absl::Status AppendBatch(pg::PgPool& pool, std::string_view schema,
                         std::vector<PreparedRecord>& batch, bool maybe_written) {
  if (batch.empty()) return absl::OkStatus();
  return pool.WithTransaction(
      [&](pqxx::work& tx) { return AppendInTransaction(tx, schema, batch, maybe_written); });
}

absl::StatusOr<bool> TableExists(pg::PgPool& pool, std::string_view schema) {
  const std::string table = fmt::format("{}.audit_log", schema);
  return pool.WithConnection([&table](pqxx::connection& conn) -> absl::StatusOr<bool> {
    pqxx::nontransaction tx(conn);
    return tx.exec_params1("SELECT to_regclass($1) IS NOT NULL", table)[0].as<bool>();
  });
}

absl::StatusOr<std::vector<StoredRow>> ReadChainPage(pg::PgPool& pool, std::string_view schema,
                                                     int64_t after_seq, int64_t limit) {
  const std::string sql =
      fmt::format("SELECT {} FROM {}.audit_log WHERE chain_seq > $1 ORDER BY chain_seq LIMIT $2",
                  kColumns, schema);
  using Result = absl::StatusOr<std::vector<StoredRow>>;
  return pool.WithConnection([&](pqxx::connection& conn) -> Result {
    pqxx::nontransaction tx(conn);
    return FromResult(tx.exec_params(sql, after_seq, limit));
  });
}

absl::StatusOr<std::vector<StoredRow>> QueryRows(pg::PgPool& pool, const AuditQuery& query) {
  // exec_params plans the unnamed statement with the values bound, so an
  // empty filter folds away and the request_id / (controller, time)
  // indexes stay usable.
  const std::string sql = fmt::format(
      "SELECT * FROM (SELECT {} FROM {}.audit_log "
      "WHERE ($2::text = '' OR request_id = $2::text) AND ($3::text = '' OR controller = $3::text) "
      "ORDER BY chain_seq DESC LIMIT $1) recent ORDER BY 1",
      kColumns, query.schema);
  using Result = absl::StatusOr<std::vector<StoredRow>>;
  return pool.WithConnection([&](pqxx::connection& conn) -> Result {
    pqxx::nontransaction tx(conn);
    return FromResult(tx.exec_params(sql, query.limit, query.request_id, query.controller));
  });
}

}  // namespace magic::broker::internal
