// Catalog lookups for the db capability.
#include "broker/internal/db_catalog.h"

#include <utility>

namespace magic::broker::internal {
namespace {

constexpr size_t kSweepAt = 1024;

// Columns of one relation (tables, partitioned tables, views, materialized
// views, foreign tables). format_type(..., NULL) drops the typmod (so a
// cast never truncates) and quotes names as needed (safe to splice). A
// relation without columns yields one row with a NULL attname.
constexpr char kColumnsSql[] = R"sql(
SELECT a.attname, pg_catalog.format_type(a.atttypid, NULL), t.typname, t.typcategory
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_attribute a
  ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
ORDER BY a.attnum)sql";

ColumnKind KindOf(std::string_view typname, std::string_view category) {
  if (typname == "json" || typname == "jsonb") return ColumnKind::kJson;
  if (typname == "bytea") return ColumnKind::kBytea;
  if (category == "A") return ColumnKind::kArray;
  return ColumnKind::kScalar;
}

}  // namespace

std::shared_ptr<const TableInfo> LoadTableInfo(pqxx::transaction_base& tx, std::string_view schema,
                                               std::string_view table) {
  const pqxx::result rows = tx.exec_params(kColumnsSql, std::string(schema), std::string(table));
  if (rows.empty()) return nullptr;
  auto info = std::make_shared<TableInfo>();
  info->schema = std::string(schema);
  info->name = std::string(table);
  for (const pqxx::row& row : rows) {
    if (row[0].is_null()) continue;
    ColumnInfo col;
    col.name = row[0].c_str();
    col.type = row[1].c_str();
    col.kind = KindOf(row[2].c_str(), row[3].c_str());
    info->columns.emplace(col.name, std::move(col));
  }
  return info;
}

std::shared_ptr<const TableInfo> CatalogCache::Fresh(std::string_view table) const {
  const absl::Time now = clock_.Now();
  std::lock_guard lock(mu_);
  auto it = tables_.find(table);
  if (it == tables_.end() || now - it->second.loaded >= ttl_) return nullptr;
  return it->second.info;
}

void CatalogCache::Put(std::shared_ptr<const TableInfo> info) {
  const absl::Time now = clock_.Now();
  std::lock_guard lock(mu_);
  if (tables_.size() >= kSweepAt) {  // dropped tables would otherwise stay forever
    std::erase_if(tables_, [&](const auto& entry) { return now - entry.second.loaded >= ttl_; });
  }
  std::string name = info->name;
  tables_.insert_or_assign(std::move(name), Entry{std::move(info), now});
}

}  // namespace magic::broker::internal
