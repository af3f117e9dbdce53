#include "common/testing/pg_database.h"

#include "common/ids.h"
#include "common/postgres.h"

#include <algorithm>
#include <cctype>

namespace magic::testing {

absl::Status TestDatabase::Create(const std::string& server_url) {
  // postgresql://user@host:port/db?params -> the same with another db.
  const size_t scheme = server_url.find("://");
  const size_t slash = server_url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  if (scheme == std::string::npos || slash == std::string::npos) {
    return absl::InvalidArgumentError("not a postgresql:// URL with a database: " + server_url);
  }
  const size_t query = server_url.find('?', slash);
  std::string name = NewId("magic_t_");
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) {
    return std::isalnum(c) ? static_cast<char>(std::tolower(c)) : '_';
  });
  auto pool = pg::PgPool::Create(server_url, 1);
  if (!pool.ok()) return pool.status();
  absl::Status created = (*pool)->WithConnection([&name](pqxx::connection& conn) -> absl::Status {
    pqxx::nontransaction tx(conn);
    tx.exec("CREATE DATABASE " + tx.quote_name(name));
    return absl::OkStatus();
  });
  if (!created.ok()) return created;
  server_url_ = server_url;
  name_ = name;
  url_ = server_url.substr(0, slash + 1) + name +
         (query == std::string::npos ? "" : server_url.substr(query));
  return absl::OkStatus();
}

TestDatabase::~TestDatabase() {
  if (name_.empty()) return;
  auto pool = pg::PgPool::Create(server_url_, 1);
  if (!pool.ok()) return;
  (void)(*pool)->WithConnection([this](pqxx::connection& conn) -> absl::Status {
    pqxx::nontransaction tx(conn);
    tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(name_) + " WITH (FORCE)");
    return absl::OkStatus();
  });
}

}  // namespace magic::testing
