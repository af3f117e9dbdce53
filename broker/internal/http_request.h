// The arguments of one http:egress call, checked (E1005 / E2004) before
// anything touches the network, and the URL rules (curl's URL parser; only
// http and https; no credentials in the URL).
//
//   MAGIC_ASSIGN_OR_RETURN(HttpRequest request, ParseHttpRequest(method, params, max_bytes));
//   MAGIC_ASSIGN_OR_RETURN(HttpTarget target, ParseHttpTarget(request.url, request.query,
//                                                             /*redirect=*/false));
#pragma once

#include <absl/status/statusor.h>
#include <absl/time/time.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace magic::broker::internal {

enum class HttpMethod { kGet, kPost, kPut, kPatch, kDelete, kHead };

// "get" -> kGet, ... (the backend's op names); nullopt for anything else.
std::optional<HttpMethod> ParseHttpMethod(std::string_view op);
std::string_view HttpMethodName(HttpMethod method);  // "GET"

inline constexpr size_t kMaxHeaders = 64;
inline constexpr size_t kMaxHeaderNameBytes = 256;
inline constexpr size_t kMaxHeaderValueBytes = 8 << 10;
inline constexpr size_t kMaxUrlBytes = 8 << 10;
inline constexpr absl::Duration kMaxTimeout = absl::Minutes(5);  // the longest invocation

struct HttpHeader {
  std::string name;  // as given (a valid token)
  std::string value;
};

struct HttpRequest {
  HttpMethod method = HttpMethod::kGet;
  std::string url;                  // as given; parsed by ParseHttpTarget
  std::string query;                // params, form-encoded ("a=1&b=x%20y"), "" for none
  std::vector<HttpHeader> headers;  // checked: names, values, count, no broker-owned ones
  std::optional<std::string> body;  // from json (serialized) or data
  bool json_body = false;           // body came from `json`: Content-Type defaults to JSON
  std::optional<absl::Duration> timeout;
};

// params: {url, headers?: {name: value}, json?: any, data?: string,
// params?: {name: scalar or [scalars]}, timeout?: seconds}. E1005 for a
// missing/mistyped/unknown argument, a bad header, json and data both,
// a body on HEAD; E2004 when the body exceeds `max_request_bytes`. Error
// details name the argument or header, never a header value.
absl::StatusOr<HttpRequest> ParseHttpRequest(HttpMethod method, const nlohmann::json& params,
                                             int64_t max_request_bytes);

// True for header names the controller may not set because the broker owns
// them (Host, Content-Length, Transfer-Encoding, Connection, ...).
bool IsBrokerOwnedHeader(std::string_view name);

struct HttpTarget {
  std::string url;     // normalized by curl (lower-case host, no fragment), query appended
  std::string scheme;  // "http" or "https"
  std::string host;    // NormalizeHost()d: lower-case, no brackets or trailing dot
  int port = 0;        // explicit or the scheme's default
  bool ip_literal = false;
};

// Parses `url` with curl's URL API and appends `query`. Only http/https,
// no user:password@, no IPv6 zone id, an ASCII host name (IDNs in their
// xn-- form). E1005 for the controller's own URL; when `redirect` (a
// server's Location), the same refusals are E2003: the remote chose them.
absl::StatusOr<HttpTarget> ParseHttpTarget(std::string_view url, std::string_view query,
                                           bool redirect);

}  // namespace magic::broker::internal
