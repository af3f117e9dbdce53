// cache:read / cache:write on Redis (hiredis 0.14, a pool of synchronous
// connections; broker/internal/redis_pool.h).
//
//   MAGIC_ASSIGN_OR_RETURN(std::unique_ptr<CacheBackend> cache,
//                          CacheBackend::Create("redis://127.0.0.1:6379/0", policy.cache));
//   cache->Call(ctx, "get", {{"key", "customer:42"}}, audit);
//
// Operations (ctx.declared is the declaration of the kind in use):
//   cache:read   get {key}          -> the stored JSON value, null when missing
//                exists {key}       -> true / false
//                ttl {key}          -> seconds left, null when missing
//   cache:write  set {key, value, ttl?}  -> {"ttl": seconds applied}
//                delete {key}            -> true when the key existed
//                incr {key, amount? = 1, ttl?} -> the new integer value
//
// Keys: a non-empty string of at most 512 bytes that starts with the
// declared prefix (else E2003); the Redis key is policy.key_namespace + key.
// Values are stored as their JSON text, so get returns what set was given
// and incr works on integers (a JSON integer is plain digits). A value that
// is not JSON (written by something else) comes back as a string.
//
// TTL: every key Magic writes expires. The cap is min(contract max_ttl,
// policy max_ttl); set without ttl uses the cap; ttl > cap is E2004, ttl <= 0
// or not an integer E1005. incr gives a key without expiry (a new one) `ttl`
// or the cap, atomically (one Lua script); an existing key keeps its expiry,
// so `incr` counts within a fixed window.
//
// Audit fields: read ops {"key_pattern": prefix + "*"} (the key itself may
// carry personal data; the pattern says which part of the cache was read),
// write ops {"key", "ttl"} (ttl: the expiry applied, absent for delete).
//
// Errors: E1005 bad arguments or a Redis error reply (incr on a non-integer),
// E2003 key outside the prefix, E2004 ttl or value size over a cap, E3001
// deadline, E3004 pool exhausted, E3005 Redis unreachable.
//
// Thread-safe.
#pragma once

#include "broker/backend.h"
#include "broker/internal/redis_pool.h"
#include "broker/policy.h"

#include <absl/status/statusor.h>

#include <memory>
#include <string>
#include <string_view>

namespace magic::broker {

struct CacheOptions {
  int pool_size = 16;
  absl::Duration connect_timeout = absl::Seconds(1);
  absl::Duration max_command_timeout = absl::Seconds(5);
};

class CacheBackend final : public Backend {
 public:
  static constexpr size_t kMaxKeyBytes = 512;

  // E1005 when `redis_url` is malformed. Connects lazily: Redis may be down
  // now (calls answer E3005 until it is up).
  static absl::StatusOr<std::unique_ptr<CacheBackend>> Create(std::string_view redis_url,
                                                              const CachePolicy& policy,
                                                              CacheOptions options = {});

  // Backend
  absl::StatusOr<nlohmann::json> Call(const CallContext& ctx, std::string_view op,
                                      const nlohmann::json& params, nlohmann::json& audit) override;

  // One PING (health checks, `magic dev` start-up).
  absl::Status Ping(absl::Time deadline);

 private:
  CacheBackend(internal::RedisPoolOptions pool_options, const CachePolicy& policy);

  struct Key;  // checked key + the Redis key
  absl::StatusOr<Key> CheckKey(const CallContext& ctx, const nlohmann::json& params) const;
  absl::StatusOr<int64_t> EffectiveTtl(const CallContext& ctx, const nlohmann::json& params) const;

  absl::StatusOr<nlohmann::json> Get(const CallContext& ctx, const Key& key);
  absl::StatusOr<nlohmann::json> Exists(const CallContext& ctx, const Key& key);
  absl::StatusOr<nlohmann::json> Ttl(const CallContext& ctx, const Key& key);
  absl::StatusOr<nlohmann::json> Set(const CallContext& ctx, const Key& key,
                                     const nlohmann::json& params, nlohmann::json& audit);
  absl::StatusOr<nlohmann::json> Delete(const CallContext& ctx, const Key& key);
  absl::StatusOr<nlohmann::json> Incr(const CallContext& ctx, const Key& key,
                                      const nlohmann::json& params, nlohmann::json& audit);

  const CachePolicy policy_;
  internal::RedisPool pool_;
};

}  // namespace magic::broker
