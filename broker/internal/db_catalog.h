// The live catalog of the application schema, as the db capability sees
// it: one TableInfo per table, read from pg_catalog and cached for a short
// TTL so that the hot path costs no catalog round trip.
//
//   CatalogCache cache(clock, absl::Seconds(5));
//   std::shared_ptr<const TableInfo> t = cache.Fresh("orders");
//   if (!t) { t = LoadTableInfo(tx, "app", "orders"); if (t) cache.Put(t); }
//
// Thread-safe (one mutex around a map; TableInfo is immutable once shared).
#pragma once

#include "broker/internal/sql_builder.h"
#include "common/clock.h"

#include <absl/time/time.h>
#include <pqxx/pqxx>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace magic::broker::internal {

// The table or view `table` of `schema`, or nullptr if there is none.
// Throws what libpqxx throws.
std::shared_ptr<const TableInfo> LoadTableInfo(pqxx::transaction_base& tx, std::string_view schema,
                                               std::string_view table);

class CatalogCache {
 public:
  CatalogCache(const Clock& clock, absl::Duration ttl) : clock_(clock), ttl_(ttl) {}

  // The cached description of `table` if younger than the TTL, else nullptr.
  std::shared_ptr<const TableInfo> Fresh(std::string_view table) const;
  void Put(std::shared_ptr<const TableInfo> info);

 private:
  struct Entry {
    std::shared_ptr<const TableInfo> info;
    absl::Time loaded;
  };
  const Clock& clock_;
  const absl::Duration ttl_;
  mutable std::mutex mu_;
  std::map<std::string, Entry, std::less<>> tables_;  // guarded by mu_
};

}  // namespace magic::broker::internal
