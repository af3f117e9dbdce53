// A private PostgreSQL database per test on the shared test server
// (scripts/services), for tests whose services scan whole tables (timers,
// the watchdog) and must not see, or act on, another test's rows.
//
//   TestDatabase db;
//   ASSERT_OK(db.Create(std::getenv("MAGIC_TEST_POSTGRES_URL")));
//   auto pool = pg::PgPool::Create(db.url(), 4);
//
// The database is dropped (WITH (FORCE)) by the destructor.
#pragma once

#include <absl/status/status.h>

#include <string>

namespace magic::testing {

class TestDatabase {
 public:
  TestDatabase() = default;
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;
  ~TestDatabase();

  // Creates "magic_t_<random>" on the server of `server_url` (a
  // postgresql:// URL whose database part is replaced).
  absl::Status Create(const std::string& server_url);
  // The URL of the new database; "" before Create().
  const std::string& url() const { return url_; }

 private:
  std::string server_url_;
  std::string name_;
  std::string url_;
};

}  // namespace magic::testing
