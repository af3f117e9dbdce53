#include "broker/cache_backend.h"

#include "common/errors.h"
#include "common/status_macros.h"

#include <fmt/format.h>
#include <hiredis/hiredis.h>

#include <charconv>
#include <limits>
#include <utility>

namespace magic::broker {
namespace {

using contracts::CapabilityKind;
using internal::RedisReplyPtr;
using nlohmann::json;

// INCRBY, then give a key without expiry (new, or written without one by
// something else) its TTL: one atomic step, so no key outlives the cap.
constexpr std::string_view kIncrScript = R"lua(
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('TTL', KEYS[1]) == -1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return v
)lua";

absl::Status BadArgument(std::string_view message, const json& details = json::object()) {
  return MakeError(ErrorCode::kE1005, message, details);
}

// A reply of an unexpected shape or a Redis error reply: the server is
// not behaving (out of memory, read-only replica, loading...).
absl::Status ServerTrouble(const redisReply& reply) {
  const std::string_view text = reply.type == REDIS_REPLY_ERROR || reply.type == REDIS_REPLY_STATUS
                                    ? std::string_view(reply.str, reply.len)
                                    : std::string_view("unexpected reply type");
  return MakeError(ErrorCode::kE3005, fmt::format("Redis refused the command: {}", text));
}

// The integer argument `name` of `params`, if present: a JSON integer that
// fits in int64 (1.0, "1" and true are refused).
absl::StatusOr<std::optional<int64_t>> OptionalInt(const json& params, const char* name) {
  auto it = params.find(name);
  if (it == params.end() || it->is_null()) return std::nullopt;
  if (it->is_number_unsigned()) {
    const auto value = it->get<uint64_t>();
    if (value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return BadArgument(fmt::format("{} is out of range", name), {{"argument", name}});
    }
    return static_cast<int64_t>(value);
  }
  if (!it->is_number_integer()) {
    return BadArgument(fmt::format("{} must be an integer", name), {{"argument", name}});
  }
  return it->get<int64_t>();
}

bool IsReadOp(std::string_view op) { return op == "get" || op == "exists" || op == "ttl"; }
bool IsWriteOp(std::string_view op) { return op == "set" || op == "delete" || op == "incr"; }

}  // namespace

struct CacheBackend::Key {
  std::string_view key;  // as the controller named it (points into params)
  std::string redis_key;
};

absl::StatusOr<std::unique_ptr<CacheBackend>> CacheBackend::Create(std::string_view redis_url,
                                                                   const CachePolicy& policy,
                                                                   CacheOptions options) {
  MAGIC_ASSIGN_OR_RETURN(internal::RedisEndpoint endpoint, internal::ParseRedisUrl(redis_url));
  internal::RedisPoolOptions pool_options{.endpoint = std::move(endpoint),
                                          .size = std::max(1, options.pool_size),
                                          .connect_timeout = options.connect_timeout,
                                          .max_command_timeout = options.max_command_timeout};
  return std::unique_ptr<CacheBackend>(new CacheBackend(std::move(pool_options), policy));
}

CacheBackend::CacheBackend(internal::RedisPoolOptions pool_options, const CachePolicy& policy)
    : policy_(policy), pool_(std::move(pool_options)) {}

absl::Status CacheBackend::Ping(absl::Time deadline) {
  MAGIC_ASSIGN_OR_RETURN(RedisReplyPtr reply, pool_.Command({"PING"}, deadline, true));
  if (reply->type != REDIS_REPLY_STATUS) return ServerTrouble(*reply);
  return absl::OkStatus();
}

absl::StatusOr<nlohmann::json> CacheBackend::Call(const CallContext& ctx, std::string_view op,
                                                  const nlohmann::json& params, json& audit) {
  const bool read = ctx.kind == CapabilityKind::kCacheRead;
  const bool write = ctx.kind == CapabilityKind::kCacheWrite;
  if (ctx.declared == nullptr || !((read && IsReadOp(op)) || (write && IsWriteOp(op)))) {
    return BadArgument(
        fmt::format("unknown {} operation '{}'", contracts::CapabilityName(ctx.kind), op),
        {{"operation", op}});
  }
  if (!params.is_object()) return BadArgument("the arguments must be an object");
  if (read) {
    audit["key_pattern"] = ctx.declared->prefix + "*";
  } else if (auto it = params.find("key");
             it != params.end() && it->is_string() &&
             it->get_ref<const std::string&>().size() <= kMaxKeyBytes) {
    audit["key"] = *it;  // recorded even when the key is then refused
  }
  MAGIC_ASSIGN_OR_RETURN(const Key key, CheckKey(ctx, params));
  if (op == "get") return Get(ctx, key);
  if (op == "exists") return Exists(ctx, key);
  if (op == "ttl") return Ttl(ctx, key);
  if (op == "set") return Set(ctx, key, params, audit);
  if (op == "delete") return Delete(ctx, key);
  return Incr(ctx, key, params, audit);
}

absl::StatusOr<CacheBackend::Key> CacheBackend::CheckKey(const CallContext& ctx,
                                                         const json& params) const {
  auto it = params.find("key");
  if (it == params.end() || !it->is_string()) {
    return BadArgument("key must be a string", {{"argument", "key"}});
  }
  const std::string& key = it->get_ref<const std::string&>();
  if (key.empty() || key.size() > kMaxKeyBytes) {
    return BadArgument(fmt::format("key must be 1 to {} bytes", kMaxKeyBytes),
                       {{"argument", "key"}, {"bytes", key.size()}});
  }
  if (!ctx.declared->AllowsCacheKey(key)) {
    return MakeError(ErrorCode::kE2003, "the cache key is outside the declared prefix",
                     {{"key", key}, {"prefix", ctx.declared->prefix}});
  }
  return Key{.key = key, .redis_key = policy_.key_namespace + key};
}

// The ttl to apply: the given one (checked) or the cap.
absl::StatusOr<int64_t> CacheBackend::EffectiveTtl(const CallContext& ctx,
                                                   const json& params) const {
  int64_t cap = policy_.max_ttl_seconds;
  if (ctx.declared->max_ttl_seconds) cap = std::min(cap, *ctx.declared->max_ttl_seconds);
  MAGIC_ASSIGN_OR_RETURN(std::optional<int64_t> ttl, OptionalInt(params, "ttl"));
  if (!ttl) return cap;
  if (*ttl <= 0) return BadArgument("ttl must be a positive number of seconds", {{"ttl", *ttl}});
  if (*ttl > cap) {
    return MakeError(ErrorCode::kE2004, "ttl exceeds the cache's max_ttl",
                     {{"ttl", *ttl}, {"max_ttl", cap}});
  }
  return *ttl;
}

absl::StatusOr<json> CacheBackend::Get(const CallContext& ctx, const Key& key) {
  MAGIC_ASSIGN_OR_RETURN(RedisReplyPtr reply,
                         pool_.Command({"GET", key.redis_key}, ctx.deadline, true));
  if (reply->type == REDIS_REPLY_NIL) return json(nullptr);
  if (reply->type != REDIS_REPLY_STRING) return ServerTrouble(*reply);
  const std::string_view text(reply->str, reply->len);
  json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return json(std::string(text));  // not written by Magic
  return value;
}

absl::StatusOr<json> CacheBackend::Exists(const CallContext& ctx, const Key& key) {
  MAGIC_ASSIGN_OR_RETURN(RedisReplyPtr reply,
                         pool_.Command({"EXISTS", key.redis_key}, ctx.deadline, true));
  if (reply->type != REDIS_REPLY_INTEGER) return ServerTrouble(*reply);
  return json(reply->integer > 0);
}

// -2 missing -> null; -1 (no expiry: not written by Magic) stays -1.
absl::StatusOr<json> CacheBackend::Ttl(const CallContext& ctx, const Key& key) {
  MAGIC_ASSIGN_OR_RETURN(RedisReplyPtr reply,
                         pool_.Command({"TTL", key.redis_key}, ctx.deadline, true));
  if (reply->type != REDIS_REPLY_INTEGER) return ServerTrouble(*reply);
  if (reply->integer == -2) return json(nullptr);
  return json(reply->integer);
}

absl::StatusOr<json> CacheBackend::Set(const CallContext& ctx, const Key& key, const json& params,
                                       json& audit) {
  MAGIC_ASSIGN_OR_RETURN(const int64_t ttl, EffectiveTtl(ctx, params));
  audit["ttl"] = ttl;
  auto it = params.find("value");
  if (it == params.end()) return BadArgument("value is required", {{"argument", "value"}});
  std::string text;
  try {
    text = it->dump();
  } catch (const json::exception&) {
    return BadArgument("value is not valid JSON text (bad UTF-8)", {{"argument", "value"}});
  }
  if (static_cast<int64_t>(text.size()) > policy_.max_value_bytes) {
    return MakeError(ErrorCode::kE2004, "the cache value is too large",
                     {{"bytes", text.size()}, {"max_value_bytes", policy_.max_value_bytes}});
  }
  const std::string ttl_text = std::to_string(ttl);
  MAGIC_ASSIGN_OR_RETURN(
      RedisReplyPtr reply,
      pool_.Command({"SET", key.redis_key, text, "EX", ttl_text}, ctx.deadline, true));
  if (reply->type != REDIS_REPLY_STATUS) return ServerTrouble(*reply);
  return json{{"ttl", ttl}};
}

absl::StatusOr<json> CacheBackend::Delete(const CallContext& ctx, const Key& key) {
  MAGIC_ASSIGN_OR_RETURN(RedisReplyPtr reply,
                         pool_.Command({"DEL", key.redis_key}, ctx.deadline, true));
  if (reply->type != REDIS_REPLY_INTEGER) return ServerTrouble(*reply);
  return json(reply->integer > 0);
}

absl::StatusOr<json> CacheBackend::Incr(const CallContext& ctx, const Key& key, const json& params,
                                        json& audit) {
  MAGIC_ASSIGN_OR_RETURN(const int64_t ttl, EffectiveTtl(ctx, params));
  audit["ttl"] = ttl;
  MAGIC_ASSIGN_OR_RETURN(const std::optional<int64_t> amount, OptionalInt(params, "amount"));
  const std::string amount_text = std::to_string(amount.value_or(1));
  const std::string ttl_text = std::to_string(ttl);
  // Not idempotent: never resent on a broken connection.
  MAGIC_ASSIGN_OR_RETURN(RedisReplyPtr reply, pool_.Command({"EVAL", kIncrScript, "1",
                                                             key.redis_key, amount_text, ttl_text},
                                                            ctx.deadline, false));
  if (reply->type == REDIS_REPLY_INTEGER) return json(reply->integer);
  const std::string_view text =
      reply->type == REDIS_REPLY_ERROR ? std::string_view(reply->str, reply->len) : "";
  if (text.find("not an integer") != std::string_view::npos ||
      text.find("overflow") != std::string_view::npos) {
    return BadArgument("incr needs an integer value that stays within 64 bits", {{"key", key.key}});
  }
  return ServerTrouble(*reply);
}

}  // namespace magic::broker
