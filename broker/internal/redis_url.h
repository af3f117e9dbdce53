// Redis connection URLs for the cache backend:
//
//   redis://host[:port][/db]            port 6379, db 0 by default
//   redis://[:password@]host[:port][/db]
//   redis://user:password@host...       (the user name is ignored: Redis 5 has none)
//   redis://[::1]:6380/2                IPv6 in brackets
//   unix:///run/redis.sock[?db=N]       a Unix socket
//
//   MAGIC_ASSIGN_OR_RETURN(RedisEndpoint endpoint, ParseRedisUrl("redis://127.0.0.1:6379/1"));
//
// Pure functions; thread-safe.
#pragma once

#include <absl/status/statusor.h>

#include <string>
#include <string_view>

namespace magic::broker::internal {

struct RedisEndpoint {
  std::string host = "127.0.0.1";  // empty when unix_path is set
  int port = 6379;
  std::string unix_path;  // non-empty: connect to this socket instead
  int db = 0;             // SELECT after connecting when non-zero
  std::string password;   // AUTH after connecting when non-empty

  // "host:port/db" or "unix:/path" without the password, for messages.
  std::string Describe() const;
};

// E1005 with details {"url": <the URL without its password>} on anything
// malformed (other scheme, bad port, db not a number in [0, 1000]).
absl::StatusOr<RedisEndpoint> ParseRedisUrl(std::string_view url);

}  // namespace magic::broker::internal
