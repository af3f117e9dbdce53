// SQL builder: see sql_builder.h for the safety rules.
#include "broker/internal/sql_builder.h"

#include "common/errors.h"
#include "common/status_macros.h"

#include <fmt/format.h>

#include <limits>
#include <utility>

namespace magic::broker::internal {
namespace {

using nlohmann::json;

constexpr size_t kMaxIdentifierBytes = 63;  // NAMEDATALEN - 1
constexpr int kMaxArrayDimensions = 6;      // PostgreSQL's MAXDIM

absl::Status Bad(std::string_view message, json details = json::object()) {
  return MakeError(ErrorCode::kE1005, message, details);
}

absl::Status OverLimit(std::string_view message, json details = json::object()) {
  return MakeError(ErrorCode::kE2004, message, details);
}

// Parameters and the placeholders that refer to them.
class Binder {
 public:
  Binder(Statement& st, const SqlLimits& limits) : st_(st), limits_(limits) {}

  // "$n" for one more parameter.
  absl::StatusOr<std::string> Text(std::optional<std::string> value) {
    if (value && value->find('\0') != std::string::npos)
      return Bad("strings cannot contain NUL (\\u0000)");
    if (st_.params.size() >= static_cast<size_t>(limits_.max_params))
      return OverLimit("too many bound values", {{"max_params", limits_.max_params}});
    st_.params.push_back(std::move(value));
    return fmt::format("${}", st_.params.size());
  }

  // The SQL expression for `value` stored into / compared with `col`.
  absl::StatusOr<std::string> Value(const ColumnInfo& col, const json& value);

  // The array literal text ({"a","b",NULL}) of a JSON array.
  absl::Status ArrayLiteral(const json& array, int depth, int& count, std::string& out) const;

  const SqlLimits& limits() const { return limits_; }

 private:
  Statement& st_;
  const SqlLimits& limits_;
};

// The text form of a JSON scalar; nullopt for null. Objects and arrays are
// the caller's business.
std::optional<std::string> ScalarText(const json& value) {
  switch (value.type()) {
    case json::value_t::string:
      return value.get_ref<const std::string&>();
    case json::value_t::boolean:
      return value.get<bool>() ? "true" : "false";
    case json::value_t::number_integer:
      return std::to_string(value.get<int64_t>());
    case json::value_t::number_unsigned:
      return std::to_string(value.get<uint64_t>());
    case json::value_t::null:
      return std::nullopt;
    default:
      return value.dump(-1, ' ', false, json::error_handler_t::replace);
  }
}

absl::StatusOr<std::string> JsonText(const json& value, const SqlLimits& limits) {
  if (JsonDeeperThan(value, limits.max_json_depth))
    return Bad("value nests too deeply", {{"max_depth", limits.max_json_depth}});
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

void AppendQuotedElement(std::string_view text, std::string& out) {
  out += '"';
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
}

absl::Status Binder::ArrayLiteral(const json& array, int depth, int& count,
                                  std::string& out) const {
  if (depth > kMaxArrayDimensions)
    return Bad("array value has too many dimensions", {{"max_dimensions", kMaxArrayDimensions}});
  out += '{';
  bool first = true;
  for (const json& element : array) {
    if (++count > limits_.max_array_elements)
      return OverLimit("array value too large", {{"max_elements", limits_.max_array_elements}});
    if (!first) out += ',';
    first = false;
    if (element.is_array()) {
      MAGIC_RETURN_IF_ERROR(ArrayLiteral(element, depth + 1, count, out));
    } else if (element.is_null()) {
      out += "NULL";
    } else if (element.is_object()) {
      MAGIC_ASSIGN_OR_RETURN(std::string text, JsonText(element, limits_));
      AppendQuotedElement(text, out);
    } else {
      AppendQuotedElement(*ScalarText(element), out);
    }
  }
  out += '}';
  return absl::OkStatus();
}

absl::StatusOr<std::string> Binder::Value(const ColumnInfo& col, const json& value) {
  const std::string cast = "::" + col.type;
  if (value.is_null()) {
    MAGIC_ASSIGN_OR_RETURN(std::string p, Text(std::nullopt));
    return p + cast;
  }
  switch (col.kind) {
    case ColumnKind::kJson: {
      MAGIC_ASSIGN_OR_RETURN(std::string text, JsonText(value, limits_));
      MAGIC_ASSIGN_OR_RETURN(std::string p, Text(std::move(text)));
      return p + cast;
    }
    case ColumnKind::kBytea: {
      if (!value.is_string())
        return Bad("bytea values are base64 strings", {{"column", SafeDetail(col.name)}});
      MAGIC_ASSIGN_OR_RETURN(std::string p, Text(value.get<std::string>()));
      return fmt::format("decode({}::text, 'base64')", p);
    }
    case ColumnKind::kArray: {
      if (value.is_object())
        return Bad("array columns take an array", {{"column", SafeDetail(col.name)}});
      std::string literal;
      if (value.is_array()) {
        int count = 0;
        MAGIC_RETURN_IF_ERROR(ArrayLiteral(value, 1, count, literal));
      } else {
        literal = *ScalarText(value);  // PostgreSQL's own array text, "{1,2}"
      }
      MAGIC_ASSIGN_OR_RETURN(std::string p, Text(std::move(literal)));
      return p + cast;
    }
    case ColumnKind::kScalar:
      break;
  }
  if (value.is_object() || value.is_array())
    return Bad("column takes a single value", {{"column", SafeDetail(col.name)}});
  MAGIC_ASSIGN_OR_RETURN(std::string p, Text(ScalarText(value)));
  return p + cast;
}

// ---------------------------------------------------------------------------
// Identifiers

absl::StatusOr<const ColumnInfo*> Column(const TableInfo& table, std::string_view name,
                                         std::string_view field) {
  if (name.empty() || name.size() > kMaxIdentifierBytes || name.find('\0') != name.npos)
    return Bad("invalid column name", {{"field", field}, {"column", SafeDetail(name)}});
  const ColumnInfo* col = table.Find(name);
  if (col == nullptr) {
    return Bad(fmt::format("unknown column in {}", field), {{"reason", "unknown_column"},
                                                            {"field", field},
                                                            {"table", SafeDetail(table.name)},
                                                            {"column", SafeDetail(name)}});
  }
  return col;
}

absl::StatusOr<const ColumnInfo*> ColumnArg(const TableInfo& table, const json& name,
                                            std::string_view field) {
  MAGIC_ASSIGN_OR_RETURN(std::string text, IdentifierArg(name, field));
  return Column(table, text, field);
}

std::string Target(const TableInfo& table) {
  return QuoteIdent(table.schema) + "." + QuoteIdent(table.name);
}

const json* Find(const json& params, std::string_view key) {
  auto it = params.find(key);
  return it == params.end() || it->is_null() ? nullptr : &*it;
}

// `columns` / `returning`: a non-empty array of column names ("*" alone = all).
absl::StatusOr<std::string> ColumnList(const TableInfo& table, const json& list,
                                       std::string_view field, const SqlLimits& limits) {
  if (!list.is_array() || list.empty())
    return Bad(fmt::format("{} must be a non-empty array of column names", field),
               {{"field", field}});
  if (list.size() > static_cast<size_t>(limits.max_columns))
    return OverLimit(fmt::format("too many names in {}", field),
                     {{"field", field}, {"max_columns", limits.max_columns}});
  if (list.size() == 1 && list[0] == "*") return std::string("*");
  std::string sql;
  for (const json& name : list) {
    MAGIC_ASSIGN_OR_RETURN(const ColumnInfo* col, ColumnArg(table, name, field));
    if (!sql.empty()) sql += ", ";
    sql += QuoteIdent(col->name);
  }
  return sql;
}

absl::StatusOr<std::string> Returning(const TableInfo& table, const json& params,
                                      const SqlLimits& limits, Statement& st) {
  const json* list = Find(params, "returning");
  if (list == nullptr) return std::string();
  MAGIC_ASSIGN_OR_RETURN(std::string cols, ColumnList(table, *list, "returning", limits));
  st.returning = true;
  return " RETURNING " + cols;
}

absl::StatusOr<std::string> OrderItem(const TableInfo& table, const json& item) {
  if (!item.is_string()) return Bad("order_by entries are column names", {{"field", "order_by"}});
  std::string_view name = item.get_ref<const std::string&>();
  const bool descending = !name.empty() && name.front() == '-';
  if (descending) name.remove_prefix(1);
  MAGIC_ASSIGN_OR_RETURN(const ColumnInfo* col, Column(table, name, "order_by"));
  return QuoteIdent(col->name) + (descending ? " DESC" : " ASC");
}

absl::StatusOr<std::string> OrderBy(const TableInfo& table, const json& params,
                                    const SqlLimits& limits) {
  const json* order = Find(params, "order_by");
  if (order == nullptr) return std::string();
  if (order->is_string()) {
    MAGIC_ASSIGN_OR_RETURN(std::string item, OrderItem(table, *order));
    return " ORDER BY " + item;
  }
  if (!order->is_array() || order->empty())
    return Bad("order_by must be a column name or a non-empty array of them",
               {{"field", "order_by"}});
  if (order->size() > static_cast<size_t>(limits.max_columns))
    return OverLimit("too many names in order_by", {{"max_columns", limits.max_columns}});
  std::string sql = " ORDER BY ";
  for (size_t i = 0; i < order->size(); ++i) {
    MAGIC_ASSIGN_OR_RETURN(std::string item, OrderItem(table, (*order)[i]));
    sql += (i == 0 ? "" : ", ") + item;
  }
  return sql;
}

// ---------------------------------------------------------------------------
// where

absl::StatusOr<std::string> InCondition(const ColumnInfo& col, const json& arg, Binder& b) {
  const std::string c = QuoteIdent(col.name);
  if (!arg.is_array()) return Bad("$in takes an array", {{"column", SafeDetail(col.name)}});
  if (arg.size() > static_cast<size_t>(b.limits().max_in_values))
    return OverLimit("too many $in values", {{"column", SafeDetail(col.name)},
                                             {"max_in_values", b.limits().max_in_values}});
  if (col.kind == ColumnKind::kBytea || col.kind == ColumnKind::kArray)
    return Bad("$in is not supported on bytea or array columns",
               {{"column", SafeDetail(col.name)}});
  if (arg.empty()) return std::string("FALSE");  // matches nothing, like SQL's IN ()
  for (const json& element : arg) {
    if (element.is_null())
      return Bad("$in values cannot be null (use $is_null)", {{"column", SafeDetail(col.name)}});
    if (col.kind != ColumnKind::kJson && (element.is_object() || element.is_array()))
      return Bad("$in values must be scalars", {{"column", SafeDetail(col.name)}});
  }
  std::string literal;
  int count = 0;
  MAGIC_RETURN_IF_ERROR(b.ArrayLiteral(arg, 1, count, literal));
  MAGIC_ASSIGN_OR_RETURN(std::string p, b.Text(std::move(literal)));
  return fmt::format("{} = ANY({}::{}[])", c, p, col.type);
}

absl::StatusOr<std::string> Comparison(const ColumnInfo& col, std::string_view sql_op,
                                       const json& arg, Binder& b) {
  if (arg.is_null())
    return Bad("comparison with null (use $is_null)", {{"column", SafeDetail(col.name)}});
  MAGIC_ASSIGN_OR_RETURN(std::string v, b.Value(col, arg));
  return fmt::format("{} {} {}", QuoteIdent(col.name), sql_op, v);
}

absl::StatusOr<std::string> Condition(const ColumnInfo& col, std::string_view op, const json& arg,
                                      Binder& b) {
  const std::string c = QuoteIdent(col.name);
  if (op == "$eq") {
    if (arg.is_null()) return c + " IS NULL";
    if (arg.is_array() && col.kind == ColumnKind::kScalar)
      return Bad("equality with an array (use $in)", {{"column", SafeDetail(col.name)}});
    return Comparison(col, "=", arg, b);
  }
  if (op == "$ne") {
    if (arg.is_null()) return c + " IS NOT NULL";
    return Comparison(col, "IS DISTINCT FROM", arg, b);  // a NULL counts as different
  }
  if (op == "$gt") return Comparison(col, ">", arg, b);
  if (op == "$gte") return Comparison(col, ">=", arg, b);
  if (op == "$lt") return Comparison(col, "<", arg, b);
  if (op == "$lte") return Comparison(col, "<=", arg, b);
  if (op == "$in") return InCondition(col, arg, b);
  if (op == "$like") {
    if (!arg.is_string()) return Bad("$like takes a string", {{"column", SafeDetail(col.name)}});
    MAGIC_ASSIGN_OR_RETURN(std::string p, b.Text(arg.get<std::string>()));
    return fmt::format("{} LIKE {}::text", c, p);
  }
  if (op == "$is_null") {
    if (!arg.is_boolean())
      return Bad("$is_null takes true or false", {{"column", SafeDetail(col.name)}});
    return c + (arg.get<bool>() ? " IS NULL" : " IS NOT NULL");
  }
  return Bad("unknown where operator",
             {{"operator", SafeDetail(op)},
              {"column", SafeDetail(col.name)},
              {"allowed", {"$gt", "$gte", "$lt", "$lte", "$ne", "$in", "$like", "$is_null"}}});
}

// " WHERE a AND b", or "" without conditions.
absl::StatusOr<std::string> Where(const TableInfo& table, const json& params, Binder& b) {
  const json* where = Find(params, "where");
  if (where == nullptr) return std::string();
  if (!where->is_object()) return Bad("where must be an object", {{"field", "where"}});
  const auto max = static_cast<size_t>(b.limits().max_conditions);
  if (where->size() > max) return OverLimit("too many where conditions", {{"max_conditions", max}});
  std::string sql;
  size_t count = 0;
  auto add = [&](const ColumnInfo& col, std::string_view op, const json& arg) -> absl::Status {
    if (++count > max) return OverLimit("too many where conditions", {{"max_conditions", max}});
    MAGIC_ASSIGN_OR_RETURN(std::string cond, Condition(col, op, arg, b));
    sql += (sql.empty() ? " WHERE " : " AND ") + cond;
    return absl::OkStatus();
  };
  for (const auto& [key, value] : where->items()) {
    MAGIC_ASSIGN_OR_RETURN(const ColumnInfo* col, Column(table, std::string_view(key), "where"));
    if (!value.is_object()) {
      MAGIC_RETURN_IF_ERROR(add(*col, "$eq", value));
      continue;
    }
    if (value.empty()) return Bad("empty operator object in where", {{"column", SafeDetail(key)}});
    for (const auto& [op, arg] : value.items()) MAGIC_RETURN_IF_ERROR(add(*col, op, arg));
  }
  return sql;
}

// update/delete: a where is required unless params.all is true.
absl::Status RequireWhere(const json& params, const std::string& where_sql) {
  const json* all = Find(params, "all");
  if (all != nullptr && !all->is_boolean()) return Bad("all must be true or false");
  if (!where_sql.empty() || (all != nullptr && all->get<bool>())) return absl::OkStatus();
  return Bad("a where is required (pass all=true to affect every row)", {{"field", "where"}});
}

absl::StatusOr<int64_t> NonNegativeInt(const json& value, std::string_view field) {
  const bool ok = value.is_number_unsigned()
                      ? value.get<uint64_t>() <= uint64_t{std::numeric_limits<int64_t>::max()}
                      : value.is_number_integer() && value.get<int64_t>() >= 0;
  if (!ok) return Bad(fmt::format("{} must be an integer >= 0", field), {{"field", field}});
  return value.get<int64_t>();
}

absl::StatusOr<std::string> LimitOffset(const json& params, const SqlLimits& limits, bool one,
                                        Binder& b) {
  if (one) return std::string(" LIMIT 1");
  int64_t limit = limits.max_rows;
  if (const json* v = Find(params, "limit")) {
    MAGIC_ASSIGN_OR_RETURN(limit, NonNegativeInt(*v, "limit"));
    if (limit > limits.max_rows)
      return OverLimit("limit exceeds max_rows", {{"limit", limit}, {"max_rows", limits.max_rows}});
  }
  MAGIC_ASSIGN_OR_RETURN(std::string p, b.Text(std::to_string(limit)));
  std::string sql = fmt::format(" LIMIT {}::bigint", p);
  if (const json* v = Find(params, "offset")) {
    MAGIC_ASSIGN_OR_RETURN(int64_t offset, NonNegativeInt(*v, "offset"));
    MAGIC_ASSIGN_OR_RETURN(std::string q, b.Text(std::to_string(offset)));
    sql += fmt::format(" OFFSET {}::bigint", q);
  }
  return sql;
}

// insert: the rows as a list of objects.
absl::StatusOr<std::vector<const json*>> InsertRows(const json& params, const SqlLimits& limits) {
  const json* values = Find(params, "values");
  if (values == nullptr) return Bad("values is required", {{"field", "values"}});
  std::vector<const json*> rows;
  if (values->is_object()) {
    rows.push_back(values);
    return rows;
  }
  if (!values->is_array() || values->empty())
    return Bad("values must be an object or a non-empty array of objects", {{"field", "values"}});
  if (values->size() > static_cast<size_t>(limits.max_insert_rows))
    return OverLimit("too many rows in one insert", {{"max_insert_rows", limits.max_insert_rows}});
  for (const json& row : *values) {
    if (!row.is_object()) return Bad("each row of values must be an object", {{"field", "values"}});
    rows.push_back(&row);
  }
  return rows;
}

// The union of the rows' keys, in first-seen order.
absl::StatusOr<std::vector<const ColumnInfo*>> InsertColumns(const TableInfo& table,
                                                             const std::vector<const json*>& rows,
                                                             const SqlLimits& limits) {
  std::vector<const ColumnInfo*> cols;
  for (const json* row : rows) {
    if (row->size() > static_cast<size_t>(limits.max_columns))
      return OverLimit("too many columns in values", {{"max_columns", limits.max_columns}});
    for (const auto& [key, unused] : row->items()) {
      MAGIC_ASSIGN_OR_RETURN(const ColumnInfo* col, Column(table, std::string_view(key), "values"));
      bool seen = false;
      for (const ColumnInfo* c : cols) seen = seen || c == col;
      if (!seen) cols.push_back(col);
    }
  }
  return cols;
}

}  // namespace

// ---------------------------------------------------------------------------
// Public helpers

const ColumnInfo* TableInfo::Find(std::string_view column) const {
  auto it = columns.find(column);
  return it == columns.end() ? nullptr : &it->second;
}

std::string QuoteIdent(std::string_view name) {
  std::string out;
  out.reserve(name.size() + 2);
  out += '"';
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string SafeDetail(std::string_view text, size_t max_bytes) {
  // Validate UTF-8 (details end up in JSON, whose dump throws on bad bytes).
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    const size_t len = c < 0x80           ? 1
                       : (c >> 5) == 0x6  ? 2
                       : (c >> 4) == 0xE  ? 3
                       : (c >> 3) == 0x1E ? 4
                                          : 0;
    if (len == 0 || i + len > text.size()) return "<invalid utf-8>";
    for (size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) return "<invalid utf-8>";
    }
    i += len;
  }
  if (text.size() <= max_bytes) return std::string(text);
  size_t cut = max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return std::string(text.substr(0, cut)) + "...";
}

absl::StatusOr<std::string> IdentifierArg(const json& value, std::string_view field) {
  if (!value.is_string()) return Bad(fmt::format("{} must be a string", field), {{"field", field}});
  const auto& s = value.get_ref<const std::string&>();
  if (s.empty() || s.size() > kMaxIdentifierBytes || s.find('\0') != std::string::npos)
    return Bad(fmt::format("invalid name in {}", field),
               {{"field", field}, {"name", SafeDetail(s)}});
  return s;
}

absl::Status CheckParamKeys(const json& params, std::initializer_list<std::string_view> allowed) {
  if (!params.is_object()) return Bad("arguments must be a JSON object");
  for (const auto& [key, unused] : params.items()) {
    bool known = false;
    for (std::string_view a : allowed) known = known || key == a;
    if (!known) return Bad("unknown argument", {{"argument", SafeDetail(key)}});
  }
  return absl::OkStatus();
}

bool JsonDeeperThan(const json& value, int max_depth) {
  std::vector<std::pair<const json*, int>> stack{{&value, 1}};
  while (!stack.empty()) {
    auto [node, depth] = stack.back();
    stack.pop_back();
    if (!node->is_structured()) continue;
    if (depth > max_depth) return true;
    for (const json& child : *node) stack.emplace_back(&child, depth + 1);
  }
  return false;
}

bool IsUnknownColumn(const absl::Status& status) {
  if (ErrorCodeOf(status) != ErrorCode::kE1005) return false;
  const Error error = ErrorFromStatus(status);
  return error.details.is_object() && error.details.value("reason", "") == "unknown_column";
}

// ---------------------------------------------------------------------------
// Builders

absl::StatusOr<Statement> BuildSelect(const TableInfo& table, const json& params,
                                      const SqlLimits& limits, bool one) {
  Statement st;
  Binder b(st, limits);
  std::string cols = "*";
  if (const json* list = Find(params, "columns")) {
    MAGIC_ASSIGN_OR_RETURN(cols, ColumnList(table, *list, "columns", limits));
  }
  MAGIC_ASSIGN_OR_RETURN(std::string where, Where(table, params, b));
  MAGIC_ASSIGN_OR_RETURN(std::string order, OrderBy(table, params, limits));
  MAGIC_ASSIGN_OR_RETURN(std::string limit, LimitOffset(params, limits, one, b));
  st.sql = fmt::format("SELECT {} FROM {}{}{}{}", cols, Target(table), where, order, limit);
  st.returning = true;
  return st;
}

absl::StatusOr<Statement> BuildInsert(const TableInfo& table, const json& params,
                                      const SqlLimits& limits) {
  Statement st;
  Binder b(st, limits);
  MAGIC_ASSIGN_OR_RETURN(std::vector<const json*> rows, InsertRows(params, limits));
  MAGIC_ASSIGN_OR_RETURN(std::vector<const ColumnInfo*> cols, InsertColumns(table, rows, limits));
  MAGIC_ASSIGN_OR_RETURN(std::string returning, Returning(table, params, limits, st));
  if (cols.empty()) {
    if (rows.size() > 1) return Bad("rows of values must name at least one column");
    st.sql = fmt::format("INSERT INTO {} DEFAULT VALUES{}", Target(table), returning);
    return st;
  }
  if (rows.size() * cols.size() > static_cast<size_t>(limits.max_params))
    return OverLimit("too many bound values", {{"max_params", limits.max_params}});
  std::string names;
  for (const ColumnInfo* col : cols) names += (names.empty() ? "" : ", ") + QuoteIdent(col->name);
  std::string values;
  for (const json* row : rows) {
    values += values.empty() ? "(" : ", (";
    for (size_t i = 0; i < cols.size(); ++i) {
      if (i > 0) values += ", ";
      auto it = row->find(cols[i]->name);
      if (it == row->end()) {
        values += "DEFAULT";
        continue;
      }
      MAGIC_ASSIGN_OR_RETURN(std::string v, b.Value(*cols[i], *it));
      values += v;
    }
    values += ')';
  }
  st.sql = fmt::format("INSERT INTO {} ({}) VALUES {}{}", Target(table), names, values, returning);
  return st;
}

absl::StatusOr<Statement> BuildUpdate(const TableInfo& table, const json& params,
                                      const SqlLimits& limits) {
  Statement st;
  Binder b(st, limits);
  const json* values = Find(params, "values");
  if (values == nullptr || !values->is_object() || values->empty())
    return Bad("values must be a non-empty object", {{"field", "values"}});
  if (values->size() > static_cast<size_t>(limits.max_columns))
    return OverLimit("too many columns in values", {{"max_columns", limits.max_columns}});
  std::string set;
  for (const auto& [key, value] : values->items()) {
    MAGIC_ASSIGN_OR_RETURN(const ColumnInfo* col, Column(table, std::string_view(key), "values"));
    MAGIC_ASSIGN_OR_RETURN(std::string v, b.Value(*col, value));
    set += (set.empty() ? "" : ", ") + QuoteIdent(col->name) + " = " + v;
  }
  MAGIC_ASSIGN_OR_RETURN(std::string where, Where(table, params, b));
  MAGIC_RETURN_IF_ERROR(RequireWhere(params, where));
  MAGIC_ASSIGN_OR_RETURN(std::string returning, Returning(table, params, limits, st));
  st.sql = fmt::format("UPDATE {} SET {}{}{}", Target(table), set, where, returning);
  return st;
}

absl::StatusOr<Statement> BuildDelete(const TableInfo& table, const json& params,
                                      const SqlLimits& limits) {
  Statement st;
  Binder b(st, limits);
  MAGIC_ASSIGN_OR_RETURN(std::string where, Where(table, params, b));
  MAGIC_RETURN_IF_ERROR(RequireWhere(params, where));
  MAGIC_ASSIGN_OR_RETURN(std::string returning, Returning(table, params, limits, st));
  st.sql = fmt::format("DELETE FROM {}{}{}", Target(table), where, returning);
  return st;
}

absl::StatusOr<Statement> BuildRaw(const json& params, const SqlLimits& limits) {
  Statement st;
  st.returning = true;  // raw always answers {row_count, rows}
  Binder b(st, limits);
  const json* sql = Find(params, "sql");
  if (sql == nullptr || !sql->is_string() || sql->get_ref<const std::string&>().empty())
    return Bad("sql must be a non-empty string", {{"field", "sql"}});
  st.sql = sql->get<std::string>();
  if (st.sql.size() > limits.max_sql_bytes)
    return OverLimit("sql too long", {{"max_sql_bytes", limits.max_sql_bytes}});
  if (st.sql.find('\0') != std::string::npos) return Bad("sql cannot contain NUL");
  const json* args = Find(params, "params");
  if (args == nullptr) return st;
  if (!args->is_array()) return Bad("params must be an array", {{"field", "params"}});
  if (args->size() > static_cast<size_t>(limits.max_params))
    return OverLimit("too many bound values", {{"max_params", limits.max_params}});
  for (const json& arg : *args) {
    std::optional<std::string> text;
    if (arg.is_structured()) {
      MAGIC_ASSIGN_OR_RETURN(text, JsonText(arg, limits));
    } else {
      text = ScalarText(arg);
    }
    MAGIC_RETURN_IF_ERROR(b.Text(std::move(text)).status());
  }
  return st;
}

}  // namespace magic::broker::internal
