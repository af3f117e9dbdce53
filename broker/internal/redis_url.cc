#include "broker/internal/redis_url.h"

#include "common/errors.h"

#include <fmt/format.h>

#include <charconv>
#include <optional>

namespace magic::broker::internal {
namespace {

constexpr int kMaxDb = 1000;

// The URL with the password (between "//...:" and "@") masked, so that an
// error message never carries it.
std::string Redacted(std::string_view url) {
  const size_t scheme = url.find("://");
  const size_t at = url.rfind('@');
  if (scheme == std::string_view::npos || at == std::string_view::npos || at < scheme) {
    return std::string(url);
  }
  return fmt::format("{}://***{}", url.substr(0, scheme), url.substr(at));
}

absl::Status Bad(std::string_view url, std::string_view why) {
  return MakeError(ErrorCode::kE1005, fmt::format("bad Redis URL: {}", why),
                   {{"url", Redacted(url)}});
}

std::optional<int> ParseInt(std::string_view text, int min, int max) {
  int value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max) {
    return std::nullopt;
  }
  return value;
}

// %XX escapes (a password may hold '@', ':' or '/').
std::optional<std::string> PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(text.data() + i + 1, text.data() + i + 3, value, 16);
    if (ec != std::errc() || end != text.data() + i + 3) return std::nullopt;
    out.push_back(static_cast<char>(value));
    i += 2;
  }
  return out;
}

absl::StatusOr<RedisEndpoint> ParseUnix(std::string_view url, std::string_view rest) {
  RedisEndpoint endpoint;
  endpoint.host.clear();
  const size_t query = rest.find('?');
  endpoint.unix_path = std::string(rest.substr(0, query));
  if (endpoint.unix_path.empty() || endpoint.unix_path[0] != '/') {
    return Bad(url, "a unix URL needs an absolute socket path");
  }
  if (query != std::string_view::npos) {
    const std::string_view params = rest.substr(query + 1);
    if (!params.starts_with("db=")) return Bad(url, "the only unix URL parameter is db=N");
    std::optional<int> db = ParseInt(params.substr(3), 0, kMaxDb);
    if (!db) return Bad(url, "db must be a number in [0, 1000]");
    endpoint.db = *db;
  }
  return endpoint;
}

// host, [v6], host:port, [v6]:port
absl::Status ParseHostPort(std::string_view url, std::string_view authority,
                           RedisEndpoint& endpoint) {
  std::optional<std::string_view> port_text;
  if (authority.starts_with('[')) {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return Bad(url, "unclosed '[' in the host");
    endpoint.host = std::string(authority.substr(1, close - 1));
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return Bad(url, "junk after the IPv6 address");
      port_text = after.substr(1);
    }
  } else {
    const size_t colon = authority.rfind(':');
    endpoint.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (endpoint.host.empty()) return Bad(url, "no host");
  if (port_text) {
    std::optional<int> port = ParseInt(*port_text, 1, 65535);
    if (!port) return Bad(url, "the port must be a number in [1, 65535]");
    endpoint.port = *port;
  }
  return absl::OkStatus();
}

}  // namespace

std::string RedisEndpoint::Describe() const {
  if (!unix_path.empty()) return fmt::format("unix:{}/{}", unix_path, db);
  if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}/{}", host, port, db);
  return fmt::format("{}:{}/{}", host, port, db);
}

absl::StatusOr<RedisEndpoint> ParseRedisUrl(std::string_view url) {
  if (url.starts_with("unix://")) return ParseUnix(url, url.substr(7));
  if (!url.starts_with("redis://")) return Bad(url, "expected redis://host:port[/db]");
  std::string_view rest = url.substr(8);
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  RedisEndpoint endpoint;
  if (const size_t at = authority.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = authority.substr(0, at);
    const size_t colon = userinfo.find(':');
    // "redis://secret@host" is the password alone (as redis-cli reads it).
    std::optional<std::string> password =
        PercentDecode(colon == std::string_view::npos ? userinfo : userinfo.substr(colon + 1));
    if (!password) return Bad(url, "bad %-escape in the password");
    endpoint.password = std::move(*password);
    authority = authority.substr(at + 1);
  }
  if (absl::Status s = ParseHostPort(url, authority, endpoint); !s.ok()) return s;
  if (slash != std::string_view::npos) {
    const std::string_view db_text = rest.substr(slash + 1);
    if (!db_text.empty()) {
      std::optional<int> db = ParseInt(db_text, 0, kMaxDb);
      if (!db) return Bad(url, "the database must be a number in [0, 1000]");
      endpoint.db = *db;
    }
  }
  return endpoint;
}

}  // namespace magic::broker::internal
