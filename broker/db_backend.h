// db:read / db:write / db:rawsql on PostgreSQL (libpqxx 6), in the
// application schema (policy.db.schema, default "app"), never Magic's own.
//
//   MAGIC_RETURN_IF_ERROR(MigrateAppSchema(pool, policy.db));  // once, at start-up
//   MAGIC_ASSIGN_OR_RETURN(std::unique_ptr<DbBackend> db, MakeDbBackend(pool, policy.db));
//   db->Call(ctx, "query", {{"table", "orders"}, {"where", {{"id", 42}}}}, audit);
//
// Operations (the capability each belongs to must be ctx.kind):
//   db:read   query     {table, where?, columns?, order_by?, limit?, offset?} -> [row...]
//             query_one {table, where?, columns?, order_by?}                  -> row | null
//   db:write  insert {table, values: row | [row...], returning?}   -> {row_count, rows?}
//             update {table, where, values, returning?, all?}      -> {row_count, rows?}
//             delete {table, where, returning?, all?}              -> {row_count, rows?}
//   db:rawsql raw    {sql, params?: [...]}  ($1.. placeholders)    -> {row_count, rows}
// `where`: {col: value} (null: IS NULL) or {col: {"$gt"|"$gte"|"$lt"|"$lte"|
// "$ne"|"$in"|"$like"|"$is_null": v}}, all ANDed. `rows` is present when
// `returning` (column names, or ["*"]) was given. JSON <-> SQL type mapping:
// broker/internal/db_values.h; SQL building rules: broker/internal/sql_builder.h.
//
// Every call is one transaction that first runs
//   SET LOCAL ROLE <app_role>; SET LOCAL search_path = <schema>;
//   SET LOCAL statement_timeout = min(policy.statement_timeout, deadline - now); ...
// so the statement runs with the app role's privileges only (USAGE/CREATE on
// the app schema and its tables, nothing else: see MigrateAppSchema).
//
// Raw SQL: a single statement (extended protocol), bound parameters. SET
// LOCAL ROLE is only a fence if the session's login role cannot switch back
// (`SELECT set_config('role', 'postgres', true)` works for a superuser
// login). So raw is refused (E2002) unless the pool logs in as a role that
// is a member of the app role only (not superuser, no other role, no
// schema outside the app schema), or options.allow_privileged_raw_session
// is set (development only). After a raw call the session is reset (RESET
// ALL, RESET ROLE, advisory locks, temp tables) so that nothing it SET at
// session level leaks into the next call on the same connection. Give the
// backend its own pool.
//
// Errors: E1005 bad arguments, unknown column, or the server refused the
// statement (details {sqlstate, message}: the server's primary message,
// without DETAIL lines that quote row data); E2002 raw on a privileged
// session; E2003 table outside the declared tables or not in the app
// schema; E2004 limit (max_rows, sizes); E3001 deadline / statement
// timeout; E3005 database unreachable or not migrated.
//
// Thread-safe: the catalog cache is shared behind a mutex; each call leases
// its own connection.
#pragma once

#include "broker/backend.h"
#include "broker/internal/db_catalog.h"
#include "broker/internal/sql_builder.h"
#include "broker/policy.h"
#include "common/clock.h"
#include "common/postgres.h"

#include <absl/status/status.h>
#include <absl/status/statusor.h>
#include <absl/time/time.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace magic::broker {

inline constexpr std::string_view kDefaultAppRole = "magic_app";

namespace internal {
enum class DbOp { kQuery, kQueryOne, kInsert, kUpdate, kDelete, kRaw };
}  // namespace internal

struct DbBackendOptions {
  std::string app_role = std::string(kDefaultAppRole);
  // How long a table's columns are trusted without asking the catalog. A
  // column or table the cache does not know is always looked up again.
  absl::Duration catalog_ttl = absl::Seconds(5);
  int max_conditions = 100;
  int max_in_values = 1000;
  int max_insert_rows = 1000;
  size_t max_sql_bytes = size_t{1} << 20;
  // Development only: run raw SQL although the login role could leave the
  // app role (see the header comment).
  bool allow_privileged_raw_session = false;
  const Clock* clock = nullptr;  // nullptr: the real clock
};

// The capability an operation belongs to ("query" -> db:read, ...), nullopt
// for anything else. The broker uses it to pick the declaration to check.
std::optional<contracts::CapabilityKind> DbOperationKind(std::string_view op);

class DbBackend final : public Backend {
 public:
  // E1005 when the schema or role name is not a plain lower-case
  // identifier, or the schema is a system or Magic schema. No I/O.
  static absl::StatusOr<std::unique_ptr<DbBackend>> Create(pg::PgPool& pool, const DbPolicy& policy,
                                                           DbBackendOptions options = {});

  // Backend
  absl::StatusOr<nlohmann::json> Call(const CallContext& ctx, std::string_view op,
                                      const nlohmann::json& params, nlohmann::json& audit) override;

 private:
  DbBackend(pg::PgPool& pool, const DbPolicy& policy, DbBackendOptions options);

  absl::StatusOr<nlohmann::json> Structured(const CallContext& ctx, internal::DbOp op,
                                            const nlohmann::json& params, nlohmann::json& audit);
  absl::StatusOr<nlohmann::json> Raw(const CallContext& ctx, const nlohmann::json& params,
                                     nlohmann::json& audit);
  absl::StatusOr<internal::Statement> Build(pqxx::transaction_base& tx, internal::DbOp op,
                                            const std::string& table, const nlohmann::json& params);
  absl::StatusOr<std::shared_ptr<const internal::TableInfo>> Load(pqxx::transaction_base& tx,
                                                                  const std::string& table);
  absl::Status CheckRawSession(pqxx::transaction_base& tx);
  // SET LOCAL ... for a statement that may run `timeout`; E3001 when the
  // deadline has passed.
  absl::StatusOr<std::string> Prologue(absl::Time deadline) const;

  pg::PgPool& pool_;
  const DbPolicy policy_;
  const DbBackendOptions options_;
  const Clock& clock_;
  internal::SqlLimits limits_;
  internal::CatalogCache catalog_;
  const std::string prologue_prefix_;        // SET LOCAL role, search_path, formats
  std::atomic<int> session_privileged_{-1};  // -1 unknown, 0 no, 1 yes
};

inline absl::StatusOr<std::unique_ptr<DbBackend>> MakeDbBackend(pg::PgPool& pool,
                                                                const DbPolicy& policy,
                                                                DbBackendOptions options = {}) {
  return DbBackend::Create(pool, policy, std::move(options));
}

// Idempotent (safe to run concurrently from several brokers): creates the
// schema policy.schema and the NOLOGIN role `app_role`; grants the role
// USAGE and CREATE on the schema, DML on its tables, USAGE on its sequences,
// EXECUTE on its functions, and the same by ALTER DEFAULT PRIVILEGES for
// objects the migrating role creates later; grants `app_role` to the
// current user (so that it may SET ROLE). The role gets nothing on any
// other schema (PUBLIC's default USAGE on `public` aside: revoke that
// cluster-wide if `public` holds anything). Tables created later by a third
// role need their own GRANT to `app_role`.
absl::Status MigrateAppSchema(pg::PgPool& pool, const DbPolicy& policy,
                              std::string_view app_role = kDefaultAppRole);

}  // namespace magic::broker
