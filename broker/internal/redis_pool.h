// A small pool of synchronous hiredis connections for the cache backend.
//
//   RedisPool pool({.endpoint = endpoint, .size = 16});
//   MAGIC_ASSIGN_OR_RETURN(RedisReplyPtr reply,
//                          pool.Command({"GET", key}, deadline, /*idempotent=*/true));
//
// Each Command() borrows a connection, sets its socket timeouts from the
// time left before `deadline`, runs one command (arguments are binary-safe:
// redisCommandArgv with explicit lengths) and returns the connection. A
// connection that timed out or saw an I/O error is closed; after an I/O
// error (usually a server restart) the idle ones are closed too, and an
// idempotent command that failed on a reused connection is retried once on
// a fresh one.
//
// Connections open lazily (none at construction: the broker starts while
// Redis is down and answers E3005 until it is back).
//
// Errors carry E-codes: E3001 the deadline passed (before or during the
// command), E3005 Redis unreachable or the connection broke, E3004 every
// connection stayed busy for `acquire_timeout`. A Redis error reply
// (REDIS_REPLY_ERROR) is not an error here: the caller decides.
//
// hiredis 0.14 writes with write(2): a peer that closed its end raises
// SIGPIPE. The constructor sets SIGPIPE to SIG_IGN when it is SIG_DFL.
//
// Thread-safe. Destroy only when no Command() is running.
#pragma once

#include "broker/internal/redis_url.h"
#include "common/clock.h"

#include <absl/status/statusor.h>
#include <absl/time/time.h>

#include <condition_variable>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

struct redisContext;
struct redisReply;

namespace magic::broker::internal {

struct RedisReplyDeleter {
  void operator()(redisReply* reply) const;
};
using RedisReplyPtr = std::unique_ptr<redisReply, RedisReplyDeleter>;

struct RedisPoolOptions {
  RedisEndpoint endpoint;
  int size = 16;  // connections open at most
  absl::Duration connect_timeout = absl::Seconds(1);
  // The socket timeout when the deadline is further away than this.
  absl::Duration max_command_timeout = absl::Seconds(5);
  // How long a caller waits for a free connection (also bounded by its deadline).
  absl::Duration acquire_timeout = absl::Seconds(2);
};

class RedisPool final {
 public:
  explicit RedisPool(RedisPoolOptions options, Clock& clock = RealClockInstance());
  RedisPool(const RedisPool&) = delete;
  RedisPool& operator=(const RedisPool&) = delete;
  ~RedisPool();

  // Runs one command. `idempotent`: safe to send twice (retried once when a
  // reused connection turns out to be dead).
  absl::StatusOr<RedisReplyPtr> Command(std::initializer_list<std::string_view> argv,
                                        absl::Time deadline, bool idempotent);

  const RedisPoolOptions& options() const { return options_; }

 private:
  struct Conn {
    redisContext* ctx = nullptr;
    absl::Duration timeout;  // the socket timeout currently set
    bool reused = false;     // came from the idle list
  };

  absl::StatusOr<Conn> Acquire(absl::Time deadline);
  absl::StatusOr<Conn> Connect(absl::Time deadline);
  absl::Status Handshake(redisContext* ctx);
  // Returns a healthy connection to the idle list, or closes a broken one
  // (and with `drop_idle` every idle one).
  void Release(Conn conn, bool healthy, bool drop_idle = true);
  absl::Status SetTimeout(Conn& conn, absl::Time deadline);
  absl::Status Unavailable(std::string_view what, std::string_view why) const;

  const RedisPoolOptions options_;
  Clock& clock_;
  std::mutex mu_;
  std::condition_variable available_;
  std::vector<Conn> idle_;  // guarded by mu_
  int open_ = 0;            // guarded by mu_; idle + borrowed
};

}  // namespace magic::broker::internal
