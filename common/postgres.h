// PostgreSQL for Magic: a small connection pool over libpqxx 6, the
// exception -> absl::Status mapping, and LocalPostgres (a private server
// for `magic dev`).
//
// libpqxx throws; nothing thrown by it leaves WithConnection() /
// WithTransaction(): exceptions become a Status there (StatusFromPgError):
//
//   broken_connection, SQLSTATE 08*, 57P0*  -> UNAVAILABLE   (retry the call)
//   serialization 40001, deadlock 40P01,
//   lock_not_available 55P03, other 40*     -> ABORTED       (retry the transaction)
//   in_doubt_error, 40003                   -> UNKNOWN       (commit outcome unknown)
//   unique_violation 23505                  -> ALREADY_EXISTS
//   other integrity violations 23*          -> FAILED_PRECONDITION
//   insufficient_privilege 42501            -> PERMISSION_DENIED
//   query_canceled 57014 (statement_timeout) -> DEADLINE_EXCEEDED
//   insufficient resources 53*              -> RESOURCE_EXHAUSTED
//   feature not supported 0A*               -> UNIMPLEMENTED
//   internal / system errors XX*, 58*       -> INTERNAL
//   any other sql_error (22*, 42*, ...)     -> INVALID_ARGUMENT
//   libpqxx usage/internal errors           -> INTERNAL
//   conversion / argument errors            -> INVALID_ARGUMENT
// The message carries the SQLSTATE.
//
// Thread-safety: PgPool is thread-safe; a Lease (and the pqxx::connection
// it lends) belongs to one thread until returned. LocalPostgres: one thread.
#pragma once

#include <absl/status/status.h>
#include <absl/status/statusor.h>
#include <pqxx/pqxx>

#include <chrono>
#include <condition_variable>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace magic::pg {

// The Status for an exception thrown by libpqxx (or anything else).
absl::Status StatusFromPgError(const std::exception_ptr& error);

struct PgPoolOptions {
  // libpq URL or key=value string: "postgresql://postgres@127.0.0.1:5432/magic".
  std::string url;
  // Most connections open at once. Opened lazily; one at Create().
  int size = 4;
  // Acquire() waits this long for a free connection (then RESOURCE_EXHAUSTED).
  std::chrono::milliseconds acquire_timeout{5000};
  // Prepared statements (name, SQL) every connection knows.
  std::vector<std::pair<std::string, std::string>> prepared;
  // Shown in pg_stat_activity.
  std::string application_name = "magic";
};

// A fixed-size pool of pqxx::connection. Create() opens one connection to
// fail fast on a bad URL; the others open on demand. A connection that saw
// a broken-connection error is dropped and reopened on next demand.
class PgPool final {
 public:
  // A borrowed connection; returns it to the pool when destroyed.
  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&& other) noexcept;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease();

    pqxx::connection& operator*() const { return *conn_; }
    pqxx::connection* operator->() const { return conn_.get(); }
    // The connection is suspect: close it instead of returning it.
    void Discard() { discard_ = true; }

   private:
    friend class PgPool;
    Lease(PgPool* pool, std::unique_ptr<pqxx::connection> conn)
        : pool_(pool), conn_(std::move(conn)) {}

    PgPool* pool_ = nullptr;
    std::unique_ptr<pqxx::connection> conn_;
    bool discard_ = false;
  };

  static absl::StatusOr<std::unique_ptr<PgPool>> Create(const std::string& url, int size);
  static absl::StatusOr<std::unique_ptr<PgPool>> Create(PgPoolOptions options);
  PgPool(const PgPool&) = delete;
  PgPool& operator=(const PgPool&) = delete;
  ~PgPool();  // every Lease must be returned first

  // A connection, waiting up to options.acquire_timeout for one.
  absl::StatusOr<Lease> Acquire();

  // Runs fn(pqxx::connection&) on a leased connection; fn returns
  // absl::Status or absl::StatusOr<T>. Exceptions become a Status.
  template <typename Fn>
  auto WithConnection(Fn&& fn) -> std::invoke_result_t<Fn, pqxx::connection&>;

  // Runs fn(pqxx::work&) in a transaction and commits when fn returns OK.
  // An ABORTED outcome (serialization failure, deadlock) is retried, up to
  // `attempts` runs in all; fn must be safe to run again.
  template <typename Fn>
  auto WithTransaction(Fn&& fn, int attempts = 3) -> std::invoke_result_t<Fn, pqxx::work&>;

  const PgPoolOptions& options() const { return options_; }

 private:
  explicit PgPool(PgPoolOptions options) : options_(std::move(options)) {}
  absl::StatusOr<std::unique_ptr<pqxx::connection>> Connect() const;
  void Return(std::unique_ptr<pqxx::connection> conn, bool discard);

  const PgPoolOptions options_;
  std::mutex mu_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_;  // guarded by mu_
  int open_ = 0;                                         // guarded by mu_; idle + leased
};

// ----------------------------------------------------------------------------
// LocalPostgres

struct LocalPostgresOptions {
  std::string bin_dir = "/usr/lib/postgresql/15/bin";
  // A fresh directory is made below this one (readable by `postgres`).
  std::string parent_dir = "/tmp";
  std::string database = "magic";
  std::chrono::milliseconds start_timeout{30000};
};

// A private PostgreSQL server: initdb into a temporary directory, then
// `postgres` as a child process on a free 127.0.0.1 port (trust auth,
// fsync off: the data is thrown away). Run as the `postgres` user when we
// are root (PostgreSQL refuses root). The server gets SIGTERM if the thread
// that started it dies, so start it from a long-lived thread (main).
// Destruction stops it (fast shutdown) and removes the directory.
class LocalPostgres final {
 public:
  static absl::StatusOr<std::unique_ptr<LocalPostgres>> Start(LocalPostgresOptions options = {});
  LocalPostgres(const LocalPostgres&) = delete;
  LocalPostgres& operator=(const LocalPostgres&) = delete;
  ~LocalPostgres();

  // postgresql://postgres@127.0.0.1:<port>/<database>
  const std::string& url() const { return url_; }
  int port() const { return port_; }
  const std::string& dir() const { return dir_; }
  // Stops the server and removes the directory. Idempotent.
  absl::Status Stop();

 private:
  LocalPostgres() = default;

  std::string dir_;
  std::string url_;
  int port_ = 0;
  int pid_ = -1;  // the postgres postmaster
};

// ----------------------------------------------------------------------------
// Template definitions

namespace internal {
// Status of a callable's result (Status or StatusOr<T>).
inline const absl::Status& ResultStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& ResultStatus(const absl::StatusOr<T>& s) {
  return s.status();
}
}  // namespace internal

template <typename Fn>
auto PgPool::WithConnection(Fn&& fn) -> std::invoke_result_t<Fn, pqxx::connection&> {
  absl::StatusOr<Lease> lease = Acquire();
  if (!lease.ok()) return lease.status();
  try {
    return std::forward<Fn>(fn)(**lease);
  } catch (...) {
    absl::Status status = StatusFromPgError(std::current_exception());
    if (absl::IsUnavailable(status) || absl::IsUnknown(status)) lease->Discard();
    return status;
  }
}

template <typename Fn>
auto PgPool::WithTransaction(Fn&& fn, int attempts) -> std::invoke_result_t<Fn, pqxx::work&> {
  using Result = std::invoke_result_t<Fn, pqxx::work&>;
  for (int attempt = 1;; ++attempt) {
    Result result = WithConnection([&fn](pqxx::connection& conn) -> Result {
      pqxx::work tx(conn);
      Result r = fn(tx);
      if (internal::ResultStatus(r).ok()) tx.commit();  // else ~work rolls back
      return r;
    });
    if (!absl::IsAborted(internal::ResultStatus(result)) || attempt >= attempts) return result;
  }
}

}  // namespace magic::pg
