// The structured db API's SQL builder: JSON arguments (hostile) + the
// catalog's description of one table -> one SQL statement with bound
// parameters. Pure (no server, no clock): unit-tested without PostgreSQL.
//
//   Statement st;
//   MAGIC_ASSIGN_OR_RETURN(st, BuildSelect(table_info, params, limits, /*one=*/false));
//   tx.exec_params(st.sql, ...st.params...);
//
// Safety rules (every builder follows them):
// - an identifier is spliced only after it matched a column of `table`
//   (from the live catalog) exactly, and then always double-quoted;
// - a value is never spliced: it becomes "$n::<column type>" with the text
//   of the value as parameter n (the column type comes from the catalog,
//   format_type() output, never from the caller);
// - sizes are bounded (SqlLimits): E2004 past a bound, E1005 for a bad shape.
// Errors name the offending field in details ("field", "column", "operator").
#pragma once

#include <absl/status/status.h>
#include <absl/status/statusor.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace magic::broker::internal {

// How a column's values are bound and compared.
enum class ColumnKind {
  kScalar,  // bound as text, cast to the column type
  kJson,    // json / jsonb: any JSON value, bound as its JSON text
  kBytea,   // base64 text, decoded by the server
  kArray,   // a JSON array becomes an array literal
};

struct ColumnInfo {
  std::string name;
  // format_type(atttypid, NULL): "integer", "character varying", "integer[]",
  // "timestamp with time zone", "\"Odd\".\"type\"". PostgreSQL quotes it, so
  // it is safe after "::". No typmod, so a cast never truncates silently.
  std::string type;
  ColumnKind kind = ColumnKind::kScalar;
};

// One table (or view) of the application schema, as the catalog describes it.
struct TableInfo {
  std::string schema;
  std::string name;
  std::map<std::string, ColumnInfo, std::less<>> columns;

  const ColumnInfo* Find(std::string_view column) const;
};

struct SqlLimits {
  int64_t max_rows = 1000;                 // query limit: default and cap (policy.max_rows)
  int max_conditions = 100;                // where conditions, operators counted one by one
  int max_in_values = 1000;                // elements of one $in
  int max_insert_rows = 1000;              // rows of one insert
  int max_columns = 256;                   // names in columns / order_by / returning / values
  int max_params = 65535;                  // libpq's limit on bound parameters
  int max_json_depth = 64;                 // nesting of a bound JSON value
  int max_array_elements = 10000;          // elements of one bound array literal (all dimensions)
  size_t max_sql_bytes = size_t{1} << 20;  // raw SQL text
};

// SQL text with $1.. placeholders and the parameters' text (nullopt = NULL).
struct Statement {
  std::string sql;
  std::vector<std::optional<std::string>> params;
  bool returning = false;  // the statement returns rows the caller asked for
};

// "ab\"c" -> "\"ab\"\"c\"": a double-quoted identifier.
std::string QuoteIdent(std::string_view name);

// A string of at most `max_bytes` bytes (cut at a character boundary, "..."
// appended), valid UTF-8, for error details and audit fields (names from the
// caller may be huge; bytes from a server need not be UTF-8).
std::string SafeDetail(std::string_view text, size_t max_bytes = 128);

// `value` as an identifier argument: a non-empty string of at most 63 bytes
// (PostgreSQL's NAMEDATALEN - 1) without NUL. E1005 naming `field` otherwise.
absl::StatusOr<std::string> IdentifierArg(const nlohmann::json& value, std::string_view field);

// E1005 when `params` (a JSON object) has a key outside `allowed`.
absl::Status CheckParamKeys(const nlohmann::json& params,
                            std::initializer_list<std::string_view> allowed);

// True when `value` nests deeper than `max_depth` (iterative: safe on any depth).
bool JsonDeeperThan(const nlohmann::json& value, int max_depth);

// The builders. `params` is the whole argument object of the op; its
// "table" was already resolved to `table`.
//   query      {where?, columns?, order_by?, limit?, offset?}
//   query_one  {where?, columns?, order_by?}              (one = true)
//   insert     {values: object | [object...], returning?}
//   update     {where, values, returning?, all?}
//   delete     {where, returning?, all?}
absl::StatusOr<Statement> BuildSelect(const TableInfo& table, const nlohmann::json& params,
                                      const SqlLimits& limits, bool one);
absl::StatusOr<Statement> BuildInsert(const TableInfo& table, const nlohmann::json& params,
                                      const SqlLimits& limits);
absl::StatusOr<Statement> BuildUpdate(const TableInfo& table, const nlohmann::json& params,
                                      const SqlLimits& limits);
absl::StatusOr<Statement> BuildDelete(const TableInfo& table, const nlohmann::json& params,
                                      const SqlLimits& limits);
// raw {sql, params?: [scalar | object | array ...]}: the SQL as given,
// objects/arrays bound as their JSON text.
absl::StatusOr<Statement> BuildRaw(const nlohmann::json& params, const SqlLimits& limits);

// True for the E1005 the builders return on a column missing from `table`
// (the caller may reload the catalog once and build again).
bool IsUnknownColumn(const absl::Status& status);

}  // namespace magic::broker::internal
