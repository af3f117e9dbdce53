// PgPool: a mutex, a condition variable and a stack of idle connections.
#include "common/logging.h"
#include "common/postgres.h"
#include "common/status_macros.h"

#include <fmt/format.h>

#include <utility>

namespace magic::pg {

PgPool::Lease::Lease(Lease&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)),
      conn_(std::move(other.conn_)),
      discard_(other.discard_) {}

PgPool::Lease& PgPool::Lease::operator=(Lease&& other) noexcept {
  if (this == &other) return *this;
  if (pool_ != nullptr) pool_->Return(std::move(conn_), discard_);
  pool_ = std::exchange(other.pool_, nullptr);
  conn_ = std::move(other.conn_);
  discard_ = other.discard_;
  return *this;
}

PgPool::Lease::~Lease() {
  if (pool_ != nullptr) pool_->Return(std::move(conn_), discard_);
}

absl::StatusOr<std::unique_ptr<PgPool>> PgPool::Create(const std::string& url, int size) {
  PgPoolOptions options;
  options.url = url;
  options.size = size;
  return Create(std::move(options));
}

absl::StatusOr<std::unique_ptr<PgPool>> PgPool::Create(PgPoolOptions options) {
  if (options.size < 1) return absl::InvalidArgumentError("postgres pool: size must be >= 1");
  if (options.url.empty()) return absl::InvalidArgumentError("postgres pool: empty URL");
  std::unique_ptr<PgPool> pool(new PgPool(std::move(options)));
  MAGIC_ASSIGN_OR_RETURN(std::unique_ptr<pqxx::connection> first, pool->Connect());
  pool->idle_.push_back(std::move(first));
  pool->open_ = 1;
  return pool;
}

PgPool::~PgPool() {
  std::lock_guard lock(mu_);
  if (static_cast<size_t>(open_) != idle_.size()) {
    MAGIC_LOG(err, "postgres pool destroyed with leased connections",
              {{"leased", open_ - static_cast<int>(idle_.size())}});
  }
}

absl::StatusOr<std::unique_ptr<pqxx::connection>> PgPool::Connect() const {
  try {
    auto conn = std::make_unique<pqxx::connection>(options_.url);
    conn->set_variable("application_name", conn->quote(options_.application_name));
    for (const auto& [name, sql] : options_.prepared) conn->prepare(name, sql);
    return conn;
  } catch (...) {
    return StatusFromPgError(std::current_exception());
  }
}

absl::StatusOr<PgPool::Lease> PgPool::Acquire() {
  std::unique_lock lock(mu_);
  const bool ready = available_.wait_for(
      lock, options_.acquire_timeout, [this] { return !idle_.empty() || open_ < options_.size; });
  if (!ready) {
    return absl::ResourceExhaustedError(
        fmt::format("postgres pool: all {} connections busy for {} ms", options_.size,
                    options_.acquire_timeout.count()));
  }
  if (!idle_.empty()) {
    std::unique_ptr<pqxx::connection> conn = std::move(idle_.back());
    idle_.pop_back();
    return Lease(this, std::move(conn));
  }
  ++open_;  // reserve the slot, connect without the lock
  lock.unlock();
  absl::StatusOr<std::unique_ptr<pqxx::connection>> conn = Connect();
  if (!conn.ok()) {
    lock.lock();
    --open_;
    available_.notify_one();
    return conn.status();
  }
  return Lease(this, std::move(conn).value());
}

void PgPool::Return(std::unique_ptr<pqxx::connection> conn, bool discard) {
  bool usable = false;
  try {
    usable = conn != nullptr && !discard && conn->is_open();
  } catch (...) {
    usable = false;
  }
  {
    std::lock_guard lock(mu_);
    if (usable) {
      idle_.push_back(std::move(conn));
    } else {
      --open_;
    }
  }
  available_.notify_one();
  // A discarded connection closes here, outside the lock.
}

}  // namespace magic::pg
