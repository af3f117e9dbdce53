// DbBackend: argument checks, one transaction per call, error mapping.
#include "broker/db_backend.h"

#include "broker/internal/db_values.h"
#include "common/absl_compat.h"
#include "common/errors.h"
#include "common/status_macros.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <exception>
#include <utility>
#include <vector>

namespace magic::broker {
namespace {

using contracts::CapabilityKind;
using internal::DbOp;
using internal::SafeDetail;
using internal::Statement;
using nlohmann::json;

constexpr size_t kMaxMessageBytes = 512;
constexpr size_t kMaxQueryTextBytes = 4096;

struct OpInfo {
  std::string_view name;
  DbOp op;
  CapabilityKind kind;
};

constexpr std::array<OpInfo, 6> kOps{{
    {"query", DbOp::kQuery, CapabilityKind::kDbRead},
    {"query_one", DbOp::kQueryOne, CapabilityKind::kDbRead},
    {"insert", DbOp::kInsert, CapabilityKind::kDbWrite},
    {"update", DbOp::kUpdate, CapabilityKind::kDbWrite},
    {"delete", DbOp::kDelete, CapabilityKind::kDbWrite},
    {"raw", DbOp::kRaw, CapabilityKind::kDbRawSql},
}};

const OpInfo* FindOp(std::string_view name) {
  for (const OpInfo& info : kOps) {
    if (info.name == name) return &info;
  }
  return nullptr;
}

std::string_view OpName(DbOp op) {
  for (const OpInfo& info : kOps) {
    if (info.op == op) return info.name;
  }
  return "";
}

absl::Status CheckKeys(DbOp op, const json& params) {
  switch (op) {
    case DbOp::kQuery:
      return internal::CheckParamKeys(params,
                                      {"table", "where", "columns", "order_by", "limit", "offset"});
    case DbOp::kQueryOne:
      return internal::CheckParamKeys(params, {"table", "where", "columns", "order_by"});
    case DbOp::kInsert:
      return internal::CheckParamKeys(params, {"table", "values", "returning"});
    case DbOp::kUpdate:
      return internal::CheckParamKeys(params, {"table", "where", "values", "returning", "all"});
    case DbOp::kDelete:
      return internal::CheckParamKeys(params, {"table", "where", "returning", "all"});
    case DbOp::kRaw:
      return internal::CheckParamKeys(params, {"sql", "params"});
  }
  return absl::OkStatus();
}

absl::StatusOr<Statement> BuildFor(DbOp op, const internal::TableInfo& table, const json& params,
                                   const internal::SqlLimits& limits) {
  switch (op) {
    case DbOp::kQuery:
      return internal::BuildSelect(table, params, limits, /*one=*/false);
    case DbOp::kQueryOne:
      return internal::BuildSelect(table, params, limits, /*one=*/true);
    case DbOp::kInsert:
      return internal::BuildInsert(table, params, limits);
    case DbOp::kUpdate:
      return internal::BuildUpdate(table, params, limits);
    case DbOp::kDelete:
      return internal::BuildDelete(table, params, limits);
    case DbOp::kRaw:
      break;
  }
  return internal::BuildRaw(params, limits);
}

// Schema and role names come from configuration, but they are spliced into
// DDL: only plain lower-case identifiers.
bool IsPlainIdentifier(std::string_view s) {
  if (s.empty() || s.size() > 63 || (s[0] >= '0' && s[0] <= '9')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

absl::Status CheckNames(std::string_view schema, std::string_view role) {
  if (!IsPlainIdentifier(schema) || schema == "magic" || schema == "information_schema" ||
      schema.substr(0, 3) == "pg_")
    return MakeError(ErrorCode::kE1005, "db.schema must be a plain identifier, not a system schema",
                     {{"key", "db.schema"}, {"value", SafeDetail(schema)}});
  if (!IsPlainIdentifier(role) || role.substr(0, 3) == "pg_")
    return MakeError(ErrorCode::kE1005, "the app role must be a plain identifier",
                     {{"key", "app_role"}, {"value", SafeDetail(role)}});
  return absl::OkStatus();
}

// The server's primary message ("duplicate key value violates unique
// constraint ..."), without the DETAIL / HINT lines that may quote row data.
std::string ServerMessage(const pqxx::sql_error& e) {
  std::string_view text = e.what();
  text = text.substr(0, text.find('\n'));
  for (std::string_view prefix : {"ERROR:  ", "FATAL:  "}) {
    if (text.substr(0, prefix.size()) == prefix) text.remove_prefix(prefix.size());
  }
  return SafeDetail(text, kMaxMessageBytes);
}

template <typename T>
bool Is(const pqxx::sql_error& e) {
  return dynamic_cast<const T*>(&e) != nullptr;
}

// libpqxx 6 leaves sqlstate() empty for some of its exception classes
// (insufficient_privilege, syntax_error, ...): recover it from the type.
std::string SqlStateOf(const pqxx::sql_error& e) {
  if (!e.sqlstate().empty()) return e.sqlstate();
  if (Is<pqxx::insufficient_privilege>(e)) return "42501";
  if (Is<pqxx::undefined_table>(e)) return "42P01";
  if (Is<pqxx::undefined_column>(e)) return "42703";
  if (Is<pqxx::undefined_function>(e)) return "42883";
  if (Is<pqxx::syntax_error>(e)) return "42601";
  if (Is<pqxx::unique_violation>(e)) return "23505";
  if (Is<pqxx::not_null_violation>(e)) return "23502";
  if (Is<pqxx::foreign_key_violation>(e)) return "23503";
  if (Is<pqxx::check_violation>(e)) return "23514";
  if (Is<pqxx::integrity_constraint_violation>(e)) return "23000";
  if (Is<pqxx::data_exception>(e)) return "22000";
  if (Is<pqxx::feature_not_supported>(e)) return "0A000";
  if (Is<pqxx::insufficient_resources>(e)) return "53000";
  return "";
}

absl::Status FromSqlError(const pqxx::sql_error& e, bool& discard) {
  const std::string state = SqlStateOf(e);
  const json details = {{"sqlstate", state}, {"message", ServerMessage(e)}};
  const std::string_view cls = std::string_view(state).substr(0, 2);
  if (state == "57014")
    return MakeError(ErrorCode::kE3001, "statement cancelled: deadline or statement_timeout",
                     details);
  if (cls == "08" || state.starts_with("57P")) {
    discard = true;
    return MakeError(ErrorCode::kE3005, "database connection lost", details);
  }
  if (cls == "53" || cls == "58" || cls == "XX" || cls == "40")
    return MakeError(ErrorCode::kE3005, "database failure (retry)", details);
  return MakeError(ErrorCode::kE1005, "the database refused the statement", details);
}

absl::Status FromPgException(const std::exception_ptr& error, bool& discard) {
  try {
    std::rethrow_exception(error);
  } catch (const pqxx::broken_connection& e) {
    discard = true;
    return MakeError(ErrorCode::kE3005, "database connection lost",
                     {{"message", SafeDetail(e.what(), kMaxMessageBytes)}});
  } catch (const pqxx::in_doubt_error&) {
    discard = true;
    return MakeError(ErrorCode::kE3005, "database commit outcome unknown");
  } catch (const pqxx::sql_error& e) {
    return FromSqlError(e, discard);
  } catch (const std::exception& e) {
    discard = true;
    return MakeError(ErrorCode::kE3005, "database client error",
                     {{"message", SafeDetail(e.what(), kMaxMessageBytes)}});
  } catch (...) {
    discard = true;
    return MakeError(ErrorCode::kE3005, "database client error");
  }
}

// The prologue failing means the role or schema is missing, not that the
// caller did something wrong.
absl::Status RunPrologue(pqxx::work& tx, const std::string& prologue) {
  try {
    tx.exec(prologue);
    return absl::OkStatus();
  } catch (const pqxx::sql_error& e) {
    return MakeError(ErrorCode::kE3005,
                     "database not prepared for the db capability (run MigrateAppSchema)",
                     {{"sqlstate", SqlStateOf(e)}, {"message", ServerMessage(e)}});
  }
}

// Raw SQL may have SET things for the session (set_config(..., false)):
// put the connection back the way the pool opened it. False: discard it.
bool ResetSession(pqxx::connection& conn, const std::string& application_name) {
  try {
    pqxx::nontransaction tx(conn);
    tx.exec(
        "RESET SESSION AUTHORIZATION; RESET ROLE; RESET ALL; CLOSE ALL; "
        "SELECT pg_catalog.pg_advisory_unlock_all(); DISCARD TEMP; SET application_name = " +
        tx.quote(application_name));
    return true;
  } catch (...) {
    return false;
  }
}

// Runs fn(tx) in one transaction that starts with `prologue`; commits when
// fn succeeds (an error rolls everything back).
template <typename Fn>
absl::StatusOr<json> InTransaction(pg::PgPool& pool, const std::string& prologue,
                                   bool reset_session, Fn&& fn) {
  absl::StatusOr<pg::PgPool::Lease> lease = pool.Acquire();
  if (!lease.ok()) {
    return MakeError(
        ErrorCode::kE3005, "database unavailable",
        {{"message", SafeDetail(FromAbsl(lease.status().message()), kMaxMessageBytes)}});
  }
  bool discard = false;
  absl::StatusOr<json> result = [&]() -> absl::StatusOr<json> {
    try {
      pqxx::work tx(**lease);
      MAGIC_RETURN_IF_ERROR(RunPrologue(tx, prologue));
      absl::StatusOr<json> r = fn(tx);
      if (r.ok()) tx.commit();
      return r;
    } catch (...) {
      return FromPgException(std::current_exception(), discard);
    }
  }();
  if (reset_session && !discard) discard = !ResetSession(**lease, pool.options().application_name);
  if (discard) lease->Discard();
  return result;
}

pqxx::result Exec(pqxx::transaction_base& tx, const Statement& st) {
  std::vector<const char*> values;  // nullptr = NULL
  values.reserve(st.params.size());
  for (const auto& p : st.params) values.push_back(p ? p->c_str() : nullptr);
  return tx.exec_params(st.sql, pqxx::prepare::make_dynamic_params(values));
}

absl::StatusOr<json> Shape(DbOp op, const Statement& st, const pqxx::result& r, int64_t max_rows,
                           json& audit) {
  if (op == DbOp::kQuery) return internal::RowsToJson(r);
  if (op == DbOp::kQueryOne) return r.empty() ? json(nullptr) : internal::RowToJson(r[0]);
  const auto rows = static_cast<int64_t>(r.size());
  if (st.returning && rows > max_rows) {
    return MakeError(ErrorCode::kE2004, "more rows than max_rows (nothing was changed)",
                     {{"rows", rows}, {"max_rows", max_rows}});
  }
  const int64_t count =
      op == DbOp::kRaw && r.columns() > 0 ? rows : static_cast<int64_t>(r.affected_rows());
  if (op != DbOp::kRaw) audit["row_count"] = count;
  json out = {{"row_count", count}};
  if (st.returning) out["rows"] = internal::RowsToJson(r);
  return out;
}

// True when the login role could leave the app role: superuser, member of
// another role, or USAGE on a schema besides the app schema and the system
// ones.
constexpr char kPrivilegedSql[] = R"sql(
SELECT r.rolsuper OR r.rolbypassrls
  OR EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m
             JOIN pg_catalog.pg_roles g ON g.oid = m.roleid
             WHERE m.member = r.oid AND g.rolname <> $1)
  OR EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n
             WHERE n.nspname NOT IN ($2, 'pg_catalog', 'information_schema', 'public')
               AND n.nspname NOT LIKE 'pg\_%'
               AND pg_catalog.has_schema_privilege(r.oid, n.oid, 'USAGE'))
FROM pg_catalog.pg_roles r WHERE r.rolname = session_user)sql";

}  // namespace

std::optional<CapabilityKind> DbOperationKind(std::string_view op) {
  const OpInfo* info = FindOp(op);
  if (info == nullptr) return std::nullopt;
  return info->kind;
}

absl::StatusOr<std::unique_ptr<DbBackend>> DbBackend::Create(pg::PgPool& pool,
                                                             const DbPolicy& policy,
                                                             DbBackendOptions options) {
  MAGIC_RETURN_IF_ERROR(CheckNames(policy.schema, options.app_role));
  if (policy.max_rows < 1 || options.max_conditions < 1 || options.max_in_values < 1 ||
      options.max_insert_rows < 1)
    return MakeError(ErrorCode::kE1005, "db limits must be >= 1");
  return std::unique_ptr<DbBackend>(new DbBackend(pool, policy, std::move(options)));
}

DbBackend::DbBackend(pg::PgPool& pool, const DbPolicy& policy, DbBackendOptions options)
    : pool_(pool),
      policy_(policy),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? *options_.clock : RealClockInstance()),
      catalog_(clock_, options_.catalog_ttl),
      prologue_prefix_(fmt::format(
          "SET LOCAL ROLE {}; SET LOCAL search_path = {}; SET LOCAL TimeZone = 'UTC'; "
          "SET LOCAL DateStyle = 'ISO, YMD'; SET LOCAL IntervalStyle = 'iso_8601'; "
          "SET LOCAL bytea_output = 'hex'; ",
          internal::QuoteIdent(options_.app_role), internal::QuoteIdent(policy_.schema))) {
  limits_.max_rows = policy_.max_rows;
  limits_.max_conditions = options_.max_conditions;
  limits_.max_in_values = options_.max_in_values;
  limits_.max_insert_rows = options_.max_insert_rows;
  limits_.max_sql_bytes = options_.max_sql_bytes;
}

absl::StatusOr<json> DbBackend::Call(const CallContext& ctx, std::string_view op,
                                     const json& params, json& audit) {
  if (!audit.is_object()) audit = json::object();
  const OpInfo* info = FindOp(op);
  if (info == nullptr) {
    return MakeError(ErrorCode::kE1005, "unknown db operation",
                     {{"operation", SafeDetail(op)},
                      {"allowed", {"query", "query_one", "insert", "update", "delete", "raw"}}});
  }
  if (info->kind != ctx.kind) {
    return MakeError(ErrorCode::kE1005, "operation belongs to another capability",
                     {{"operation", info->name}, {"capability", CapabilityName(info->kind)}});
  }
  if (ctx.declared == nullptr) {
    return MakeError(ErrorCode::kE2001, "capability not declared",
                     {{"capability", CapabilityName(info->kind)}});
  }
  MAGIC_RETURN_IF_ERROR(CheckKeys(info->op, params));
  if (info->op == DbOp::kRaw) return Raw(ctx, params, audit);
  return Structured(ctx, info->op, params, audit);
}

absl::StatusOr<json> DbBackend::Structured(const CallContext& ctx, DbOp op, const json& params,
                                           json& audit) {
  const bool read = op == DbOp::kQuery || op == DbOp::kQueryOne;
  if (!read) audit["operation"] = OpName(op);
  static const json kMissing;
  const auto it = params.find("table");
  MAGIC_ASSIGN_OR_RETURN(std::string table,
                         internal::IdentifierArg(it == params.end() ? kMissing : *it, "table"));
  audit["table"] = SafeDetail(table);
  if (!ctx.declared->AllowsTable(table)) {
    return MakeError(ErrorCode::kE2003, "table not in the contract's tables",
                     {{"table", SafeDetail(table)}, {"capability", CapabilityName(ctx.kind)}});
  }
  MAGIC_ASSIGN_OR_RETURN(std::string prologue, Prologue(ctx.deadline));
  return InTransaction(pool_, prologue, /*reset_session=*/false,
                       [&](pqxx::work& tx) -> absl::StatusOr<json> {
                         MAGIC_ASSIGN_OR_RETURN(Statement st, Build(tx, op, table, params));
                         if (read) audit["query_hash"] = internal::QueryHash(st.sql);
                         const pqxx::result result = Exec(tx, st);
                         return Shape(op, st, result, limits_.max_rows, audit);
                       });
}

absl::StatusOr<json> DbBackend::Raw(const CallContext& ctx, const json& params, json& audit) {
  if (const auto it = params.find("sql"); it != params.end() && it->is_string()) {
    const auto& sql = it->get_ref<const std::string&>();
    audit["query_text"] = SafeDetail(sql, kMaxQueryTextBytes);
    audit["query_hash"] = internal::QueryHash(sql);
  }
  MAGIC_ASSIGN_OR_RETURN(Statement st, internal::BuildRaw(params, limits_));
  MAGIC_ASSIGN_OR_RETURN(std::string prologue, Prologue(ctx.deadline));
  return InTransaction(pool_, prologue, /*reset_session=*/true,
                       [&](pqxx::work& tx) -> absl::StatusOr<json> {
                         MAGIC_RETURN_IF_ERROR(CheckRawSession(tx));
                         const pqxx::result result = Exec(tx, st);
                         return Shape(DbOp::kRaw, st, result, limits_.max_rows, audit);
                       });
}

absl::StatusOr<std::shared_ptr<const internal::TableInfo>> DbBackend::Load(
    pqxx::transaction_base& tx, const std::string& table) {
  std::shared_ptr<const internal::TableInfo> info =
      internal::LoadTableInfo(tx, policy_.schema, table);
  if (info == nullptr) {
    return MakeError(ErrorCode::kE2003, "table not found in the application schema",
                     {{"table", SafeDetail(table)}, {"schema", policy_.schema}});
  }
  catalog_.Put(info);
  return info;
}

absl::StatusOr<Statement> DbBackend::Build(pqxx::transaction_base& tx, DbOp op,
                                           const std::string& table, const json& params) {
  std::shared_ptr<const internal::TableInfo> info = catalog_.Fresh(table);
  const bool cached = info != nullptr;
  if (!cached) {
    MAGIC_ASSIGN_OR_RETURN(info, Load(tx, table));
  }
  absl::StatusOr<Statement> st = BuildFor(op, *info, params, limits_);
  if (cached && !st.ok() && internal::IsUnknownColumn(st.status())) {
    MAGIC_ASSIGN_OR_RETURN(info, Load(tx, table));  // the column may be new: look again
    st = BuildFor(op, *info, params, limits_);
  }
  return st;
}

absl::Status DbBackend::CheckRawSession(pqxx::transaction_base& tx) {
  int privileged = session_privileged_.load();
  if (privileged < 0) {
    const pqxx::result r = tx.exec_params(kPrivilegedSql, options_.app_role, policy_.schema);
    privileged = r.empty() || r[0][0].is_null() || r[0][0].as<bool>() ? 1 : 0;
    session_privileged_.store(privileged);
  }
  if (privileged == 1 && !options_.allow_privileged_raw_session) {
    return MakeError(ErrorCode::kE2002,
                     "db:rawsql needs a database login that can act only as the app role "
                     "(this one is superuser, has other roles or other schemas)",
                     {{"reason", "privileged_session"}, {"app_role", options_.app_role}});
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> DbBackend::Prologue(absl::Time deadline) const {
  const absl::Duration left = deadline - clock_.Now();
  if (left <= absl::ZeroDuration())
    return MakeError(ErrorCode::kE3001, "deadline passed before the statement ran");
  absl::Duration timeout = left;
  if (policy_.statement_timeout > absl::ZeroDuration())
    timeout = std::min(timeout, policy_.statement_timeout);
  // statement_timeout is an int of milliseconds; 0 would mean "no limit".
  const int64_t ms = std::clamp<int64_t>(
      absl::ToInt64Milliseconds(absl::Ceil(timeout, absl::Milliseconds(1))), 1, INT32_MAX);
  return fmt::format("{}SET LOCAL statement_timeout = {}", prologue_prefix_, ms);
}

// ---------------------------------------------------------------------------
// Migration

namespace {

void CreateRole(pqxx::work& tx, std::string_view name) {
  if (!tx.exec_params("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1", std::string(name))
           .empty())
    return;
  pqxx::subtransaction sub(tx, "create_app_role");
  try {
    sub.exec("CREATE ROLE " + internal::QuoteIdent(name) + " NOLOGIN");
    sub.commit();
  } catch (const pqxx::sql_error& e) {
    // Roles are cluster-wide: a broker migrating another database may have
    // created it meanwhile (the advisory lock is per database).
    if (e.sqlstate() != "42710" && e.sqlstate() != "23505") throw;
  }
}

}  // namespace

absl::Status MigrateAppSchema(pg::PgPool& pool, const DbPolicy& policy, std::string_view app_role) {
  MAGIC_RETURN_IF_ERROR(CheckNames(policy.schema, app_role));
  const std::string role = internal::QuoteIdent(app_role);
  const std::string schema = internal::QuoteIdent(policy.schema);
  const std::string table_privileges = "SELECT, INSERT, UPDATE, DELETE, REFERENCES";
  const std::vector<std::string> grants = {
      fmt::format("GRANT USAGE, CREATE ON SCHEMA {} TO {}", schema, role),
      fmt::format("GRANT {} ON ALL TABLES IN SCHEMA {} TO {}", table_privileges, schema, role),
      fmt::format("GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {} TO {}", schema, role),
      fmt::format("GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {} TO {}", schema, role),
      fmt::format("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT {} ON TABLES TO {}", schema,
                  table_privileges, role),
      fmt::format("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT USAGE, SELECT, UPDATE "
                  "ON SEQUENCES TO {}",
                  schema, role),
      fmt::format("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT EXECUTE ON FUNCTIONS TO {}", schema,
                  role),
  };
  return pool.WithTransaction([&](pqxx::work& tx) -> absl::Status {
    tx.exec(
        "SELECT pg_catalog.pg_advisory_xact_lock("
        "pg_catalog.hashtext('magic.db.migrate_app_schema'))");
    CreateRole(tx, app_role);
    tx.exec("CREATE SCHEMA IF NOT EXISTS " + schema);
    for (const std::string& sql : grants) tx.exec(sql);
    // The login must be a member of the role to SET ROLE to it.
    if (!tx.exec_params1("SELECT current_user = $1", std::string(app_role))[0].as<bool>())
      tx.exec("GRANT " + role + " TO CURRENT_USER");
    return absl::OkStatus();
  });
}

}  // namespace magic::broker
