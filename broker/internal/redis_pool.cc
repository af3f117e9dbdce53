#include "broker/internal/redis_pool.h"

#include "common/errors.h"

#include <fmt/format.h>
#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <string>

namespace magic::broker::internal {
namespace {

constexpr size_t kMaxArgs = 8;  // our longest command (EVAL script 1 key amount ttl)

timeval SocketTimeout(absl::Duration d) {
  // Never 0: a zero SO_RCVTIMEO means "block forever".
  const int64_t micros = std::max<int64_t>(absl::ToInt64Microseconds(d), 1000);
  return timeval{.tv_sec = static_cast<time_t>(micros / 1'000'000),
                 .tv_usec = static_cast<suseconds_t>(micros % 1'000'000)};
}

void IgnoreSigpipe() {
  struct sigaction current {};
  if (sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) {
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    sigaction(SIGPIPE, &ignore, nullptr);
  }
}

absl::Status DeadlinePassed() {
  return MakeError(ErrorCode::kE3001, "the invocation deadline passed during a cache call");
}

// One command on `ctx`; null on an I/O error (ctx->err says which).
RedisReplyPtr RunArgv(redisContext* ctx, std::initializer_list<std::string_view> argv) {
  std::array<const char*, kMaxArgs> args{};
  std::array<size_t, kMaxArgs> lens{};
  size_t n = 0;
  for (std::string_view arg : argv) {
    args[n] = arg.data();
    lens[n] = arg.size();
    ++n;
  }
  return RedisReplyPtr(static_cast<redisReply*>(
      redisCommandArgv(ctx, static_cast<int>(n), args.data(), lens.data())));
}

}  // namespace

void RedisReplyDeleter::operator()(redisReply* reply) const { freeReplyObject(reply); }

RedisPool::RedisPool(RedisPoolOptions options, Clock& clock)
    : options_(std::move(options)), clock_(clock) {
  IgnoreSigpipe();
}

RedisPool::~RedisPool() {
  for (Conn& conn : idle_) redisFree(conn.ctx);
}

absl::Status RedisPool::Unavailable(std::string_view what, std::string_view why) const {
  return MakeError(ErrorCode::kE3005, fmt::format("Redis {}: {}", what, why),
                   {{"redis", options_.endpoint.Describe()}});
}

absl::StatusOr<RedisPool::Conn> RedisPool::Acquire(absl::Time deadline) {
  {
    std::unique_lock lock(mu_);
    const absl::Time give_up = std::min(deadline, clock_.Now() + options_.acquire_timeout);
    while (idle_.empty() && open_ >= options_.size) {
      const absl::Duration left = give_up - clock_.Now();
      if (left <= absl::ZeroDuration()) {
        if (clock_.Now() >= deadline) return DeadlinePassed();
        return MakeError(ErrorCode::kE3004, "every Redis connection is busy; try again",
                         {{"pool_size", options_.size}});
      }
      available_.wait_for(lock, absl::ToChronoNanoseconds(left));
    }
    if (!idle_.empty()) {
      Conn conn = idle_.back();  // LIFO: the warmest connection
      idle_.pop_back();
      conn.reused = true;
      return conn;
    }
    ++open_;  // reserve a slot, connect outside the lock
  }
  absl::StatusOr<Conn> conn = Connect(deadline);
  if (!conn.ok()) {
    std::lock_guard lock(mu_);
    --open_;
    available_.notify_one();
  }
  return conn;
}

absl::StatusOr<RedisPool::Conn> RedisPool::Connect(absl::Time deadline) {
  const absl::Duration left = deadline - clock_.Now();
  if (left <= absl::ZeroDuration()) return DeadlinePassed();
  const absl::Duration timeout = std::min(left, options_.connect_timeout);
  const RedisEndpoint& ep = options_.endpoint;
  redisContext* ctx =
      ep.unix_path.empty()
          ? redisConnectWithTimeout(ep.host.c_str(), ep.port, SocketTimeout(timeout))
          : redisConnectUnixWithTimeout(ep.unix_path.c_str(), SocketTimeout(timeout));
  if (ctx == nullptr) return Unavailable("connect", "out of memory");
  if (ctx->err != 0) {
    const std::string why = ctx->errstr;
    redisFree(ctx);
    if (clock_.Now() >= deadline) return DeadlinePassed();
    return Unavailable("unreachable", why);
  }
  if (absl::Status s = Handshake(ctx); !s.ok()) {
    redisFree(ctx);
    return s;
  }
  return Conn{.ctx = ctx, .timeout = timeout, .reused = false};
}

// AUTH and SELECT, under the connect timeout redisConnectWithTimeout set.
absl::Status RedisPool::Handshake(redisContext* ctx) {
  const RedisEndpoint& ep = options_.endpoint;
  auto run = [&](std::initializer_list<std::string_view> argv) -> absl::Status {
    RedisReplyPtr reply = RunArgv(ctx, argv);
    if (reply == nullptr) return Unavailable("handshake", ctx->errstr);
    if (reply->type == REDIS_REPLY_ERROR) {
      return Unavailable("refused the connection", std::string_view(reply->str, reply->len));
    }
    return absl::OkStatus();
  };
  if (!ep.password.empty()) {
    if (absl::Status s = run({"AUTH", ep.password}); !s.ok()) return s;
  }
  if (ep.db != 0) {
    const std::string db = std::to_string(ep.db);
    if (absl::Status s = run({"SELECT", db}); !s.ok()) return s;
  }
  return absl::OkStatus();
}

void RedisPool::Release(Conn conn, bool healthy, bool drop_idle) {
  std::vector<Conn> dropped;
  {
    std::lock_guard lock(mu_);
    if (healthy) {
      idle_.push_back(conn);
    } else {
      if (drop_idle) dropped.swap(idle_);
      dropped.push_back(conn);
      open_ -= static_cast<int>(dropped.size());
    }
  }
  available_.notify_all();
  for (Conn& c : dropped) redisFree(c.ctx);
}

// Socket timeouts = the time left, capped; skipped when unchanged (two
// setsockopt calls per command otherwise).
absl::Status RedisPool::SetTimeout(Conn& conn, absl::Time deadline) {
  const absl::Duration left = deadline - clock_.Now();
  if (left <= absl::ZeroDuration()) return DeadlinePassed();
  const absl::Duration timeout = std::min(left, options_.max_command_timeout);
  if (timeout == conn.timeout) return absl::OkStatus();
  if (redisSetTimeout(conn.ctx, SocketTimeout(timeout)) != REDIS_OK) {
    return Unavailable("set timeout", conn.ctx->errstr);
  }
  conn.timeout = timeout;
  return absl::OkStatus();
}

absl::StatusOr<RedisReplyPtr> RedisPool::Command(std::initializer_list<std::string_view> argv,
                                                 absl::Time deadline, bool idempotent) {
  if (argv.size() > kMaxArgs) return absl::InternalError("RedisPool::Command: too many arguments");
  for (int attempt = 1;; ++attempt) {
    absl::StatusOr<Conn> conn = Acquire(deadline);
    if (!conn.ok()) return conn.status();
    if (absl::Status s = SetTimeout(*conn, deadline); !s.ok()) {
      Release(*conn, /*healthy=*/ErrorCodeOf(s) == ErrorCode::kE3001);
      return s;
    }
    errno = 0;
    RedisReplyPtr reply = RunArgv(conn->ctx, argv);
    const int saved_errno = errno;
    if (reply != nullptr) {
      Release(*conn, /*healthy=*/true);
      return reply;
    }
    const std::string why = conn->ctx->errstr;
    const bool timed_out = saved_errno == EAGAIN || saved_errno == EWOULDBLOCK;
    const bool reused = conn->reused;
    // A half-read reply leaves the stream unusable. A connection error (not
    // a timeout: a slow server is still there) probably means the server
    // restarted, so the idle connections are dead too.
    Release(*conn, /*healthy=*/false, /*drop_idle=*/!timed_out);
    if (timed_out || clock_.Now() >= deadline) {
      return MakeError(ErrorCode::kE3001, "Redis did not answer in time",
                       {{"timeout_ms", absl::ToInt64Milliseconds(conn->timeout)}});
    }
    if (!(idempotent && reused && attempt == 1)) return Unavailable("command failed", why);
  }
}

}  // namespace magic::broker::internal
