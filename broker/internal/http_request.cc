#include "broker/internal/http_request.h"

#include "broker/internal/http_result.h"
#include "broker/internal/net_address.h"
#include "common/errors.h"
#include "common/status_macros.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <memory>

namespace magic::broker::internal {
namespace {

using nlohmann::json;

absl::Status BadArgument(std::string_view message, json details = json::object()) {
  return MakeError(ErrorCode::kE1005, message, details);
}

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return Lower(x) == y; });
}

// RFC 9110 token characters.
bool IsTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// Visible ASCII, space, tab and bytes >= 0x80 (obs-text); never CR, LF, NUL
// or another control character, which would split or smuggle headers.
bool IsHeaderValueChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u == '\t' || (u >= 0x20 && u != 0x7f);
}

absl::Status CheckHeader(std::string_view name, const json& value) {
  if (name.empty() || name.size() > kMaxHeaderNameBytes ||
      !std::all_of(name.begin(), name.end(), IsTokenChar)) {
    const std::string shown(name.substr(0, 64));  // may cut a UTF-8 sequence: then not shown
    return BadArgument("http: bad header name",
                       IsValidUtf8(shown) ? json{{"header", shown}} : json::object());
  }
  if (IsBrokerOwnedHeader(name)) {
    return BadArgument(fmt::format("http: the {} header is set by the broker", name),
                       {{"header", std::string(name)}});
  }
  if (!value.is_string()) {
    return BadArgument("http: header values must be strings", {{"header", std::string(name)}});
  }
  const auto& text = value.get_ref<const std::string&>();
  if (text.size() > kMaxHeaderValueBytes ||
      !std::all_of(text.begin(), text.end(), IsHeaderValueChar)) {
    // The value itself is never echoed: it may be a credential.
    return BadArgument("http: header value too long or contains control characters",
                       {{"header", std::string(name)}});
  }
  return absl::OkStatus();
}

absl::Status ParseHeaders(const json& headers, HttpRequest& out) {
  if (!headers.is_object()) return BadArgument("http: headers must be an object of strings");
  if (headers.size() > kMaxHeaders) {
    return BadArgument(fmt::format("http: at most {} headers", kMaxHeaders),
                       {{"count", headers.size()}, {"limit", kMaxHeaders}});
  }
  out.headers.reserve(headers.size());
  for (const auto& [name, value] : headers.items()) {
    MAGIC_RETURN_IF_ERROR(CheckHeader(name, value));
    out.headers.push_back({name, value.get<std::string>()});
  }
  return absl::OkStatus();
}

// application/x-www-form-urlencoded with %20 for space: RFC 3986
// unreserved characters stay, everything else is %XX.
void FormEncode(std::string_view text, std::string& out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xf]);
    }
  }
}

absl::StatusOr<std::string> QueryValueText(std::string_view name, const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_boolean()) return std::string(value.get<bool>() ? "true" : "false");
  if (value.is_number()) return value.dump();
  return BadArgument("http: params values must be strings, numbers, booleans or lists of them",
                     {{"param", std::string(name)}});
}

absl::Status AppendParam(std::string_view name, const json& value, std::string& query) {
  if (value.is_null()) return absl::OkStatus();  // requests' rule: None means "leave out"
  MAGIC_ASSIGN_OR_RETURN(std::string text, QueryValueText(name, value));
  if (!query.empty()) query.push_back('&');
  FormEncode(name, query);
  query.push_back('=');
  FormEncode(text, query);
  return absl::OkStatus();
}

absl::Status ParseQuery(const json& params, std::string& query) {
  if (!params.is_object()) return BadArgument("http: params must be an object");
  for (const auto& [name, value] : params.items()) {
    if (name.empty()) return BadArgument("http: empty params name");
    if (value.is_array()) {
      for (const json& item : value) MAGIC_RETURN_IF_ERROR(AppendParam(name, item, query));
    } else {
      MAGIC_RETURN_IF_ERROR(AppendParam(name, value, query));
    }
  }
  if (query.size() > kMaxUrlBytes) {
    return BadArgument("http: query too long", {{"limit", kMaxUrlBytes}});
  }
  return absl::OkStatus();
}

absl::Status ParseBody(HttpMethod method, const json& params, int64_t max_bytes, HttpRequest& out) {
  const auto json_it = params.find("json");
  const auto data_it = params.find("data");
  const bool has_json = json_it != params.end() && !json_it->is_null();
  const bool has_data = data_it != params.end() && !data_it->is_null();
  if (has_json && has_data) return BadArgument("http: give json or data, not both");
  if (!has_json && !has_data) return absl::OkStatus();
  if (method == HttpMethod::kHead) return BadArgument("http: a HEAD request has no body");
  if (has_data && !data_it->is_string()) return BadArgument("http: data must be a string");
  // replace: never throw on a string nlohmann would refuse to print.
  out.body = has_json ? json_it->dump(-1, ' ', false, json::error_handler_t::replace)
                      : data_it->get<std::string>();
  out.json_body = has_json;
  if (static_cast<int64_t>(out.body->size()) > max_bytes) {
    return MakeError(ErrorCode::kE2004, "http: request body larger than the policy allows",
                     {{"size", out.body->size()}, {"limit", max_bytes}});
  }
  return absl::OkStatus();
}

absl::Status ParseTimeout(const json& value, HttpRequest& out) {
  if (!value.is_number()) return BadArgument("http: timeout must be a number of seconds");
  const double seconds = value.get<double>();
  if (!std::isfinite(seconds) || seconds <= 0 || seconds > absl::ToDoubleSeconds(kMaxTimeout)) {
    return BadArgument("http: timeout must be > 0 and at most 300 seconds");
  }
  out.timeout = absl::Seconds(seconds);
  return absl::OkStatus();
}

// curl_url handle with RAII.
struct CurlUrlDeleter {
  void operator()(CURLU* url) const { curl_url_cleanup(url); }
};
struct CurlStringDeleter {
  void operator()(char* text) const { curl_free(text); }
};
using CurlString = std::unique_ptr<char, CurlStringDeleter>;

CurlString GetPart(CURLU* url, CURLUPart part, unsigned int flags = 0) {
  char* text = nullptr;
  if (curl_url_get(url, part, &text, flags) != CURLUE_OK) return nullptr;
  return CurlString(text);
}

// Letters, digits, '-', '_' and dots; labels 1..63, at most 253 in all.
bool IsAsciiHostName(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  size_t label = 0;
  for (const char c : host) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok || ++label > 63) return false;
  }
  return label > 0;
}

}  // namespace

std::optional<HttpMethod> ParseHttpMethod(std::string_view op) {
  static constexpr std::array<std::pair<std::string_view, HttpMethod>, 6> kOps = {{
      {"get", HttpMethod::kGet},
      {"post", HttpMethod::kPost},
      {"put", HttpMethod::kPut},
      {"patch", HttpMethod::kPatch},
      {"delete", HttpMethod::kDelete},
      {"head", HttpMethod::kHead},
  }};
  for (const auto& [name, method] : kOps) {
    if (name == op) return method;
  }
  return std::nullopt;
}

std::string_view HttpMethodName(HttpMethod method) {
  switch (method) {
    case HttpMethod::kGet:
      return "GET";
    case HttpMethod::kPost:
      return "POST";
    case HttpMethod::kPut:
      return "PUT";
    case HttpMethod::kPatch:
      return "PATCH";
    case HttpMethod::kDelete:
      return "DELETE";
    case HttpMethod::kHead:
      return "HEAD";
  }
  return "GET";
}

bool IsBrokerOwnedHeader(std::string_view name) {
  static constexpr std::array<std::string_view, 11> kOwned = {
      "host",    "content-length", "transfer-encoding",   "connection",       "keep-alive", "te",
      "trailer", "upgrade",        "proxy-authorization", "proxy-connection", "expect"};
  return std::any_of(kOwned.begin(), kOwned.end(),
                     [&](std::string_view owned) { return EqualsIgnoreCase(name, owned); });
}

absl::StatusOr<HttpRequest> ParseHttpRequest(HttpMethod method, const json& params,
                                             int64_t max_request_bytes) {
  if (!params.is_object()) return BadArgument("http: params must be an object");
  static constexpr std::array<std::string_view, 6> kKnown = {"url",  "headers", "json",
                                                             "data", "params",  "timeout"};
  for (const auto& [key, value] : params.items()) {
    if (std::find(kKnown.begin(), kKnown.end(), key) == kKnown.end()) {
      return BadArgument(fmt::format("http: unknown argument {}", key), {{"argument", key}});
    }
  }
  HttpRequest out;
  out.method = method;
  const auto url = params.find("url");
  if (url == params.end() || !url->is_string() || url->get_ref<const std::string&>().empty()) {
    return BadArgument("http: url must be a non-empty string", {{"argument", "url"}});
  }
  out.url = url->get<std::string>();
  if (out.url.size() > kMaxUrlBytes) {
    return BadArgument("http: url too long", {{"limit", kMaxUrlBytes}});
  }
  if (auto it = params.find("headers"); it != params.end() && !it->is_null()) {
    MAGIC_RETURN_IF_ERROR(ParseHeaders(*it, out));
  }
  if (auto it = params.find("params"); it != params.end() && !it->is_null()) {
    MAGIC_RETURN_IF_ERROR(ParseQuery(*it, out.query));
  }
  if (auto it = params.find("timeout"); it != params.end() && !it->is_null()) {
    MAGIC_RETURN_IF_ERROR(ParseTimeout(*it, out));
  }
  MAGIC_RETURN_IF_ERROR(ParseBody(method, params, max_request_bytes, out));
  return out;
}

absl::StatusOr<HttpTarget> ParseHttpTarget(std::string_view url, std::string_view query,
                                           bool redirect) {
  const ErrorCode code = redirect ? ErrorCode::kE2003 : ErrorCode::kE1005;
  const std::string_view what = redirect ? "http: redirect" : "http: url";
  auto refuse = [&](std::string_view why, json details = json::object()) {
    details["reason"] = std::string(why);
    return MakeError(code, fmt::format("{} refused: {}", what, why), details);
  };
  if (url.size() > kMaxUrlBytes) return refuse("url too long");
  // curl reads a C string: a NUL would cut what it parses short.
  if (url.find('\0') != std::string_view::npos) return refuse("url contains a NUL byte");
  std::unique_ptr<CURLU, CurlUrlDeleter> handle(curl_url());
  if (!handle) return MakeError(ErrorCode::kE3005, "http: out of memory");
  // No CURLU_NON_SUPPORT_SCHEME / GUESS_SCHEME: a scheme is required.
  const std::string text(url);
  if (curl_url_set(handle.get(), CURLUPART_URL, text.c_str(), 0) != CURLUE_OK) {
    return refuse("not a valid absolute URL");
  }
  HttpTarget out;
  CurlString scheme = GetPart(handle.get(), CURLUPART_SCHEME);
  out.scheme = scheme ? scheme.get() : "";
  if (out.scheme != "http" && out.scheme != "https") {
    return refuse("only http and https URLs are allowed", {{"scheme", out.scheme}});
  }
  if (GetPart(handle.get(), CURLUPART_USER) || GetPart(handle.get(), CURLUPART_PASSWORD) ||
      GetPart(handle.get(), CURLUPART_OPTIONS)) {
    return refuse("credentials in the URL are not allowed; send an Authorization header");
  }
  if (GetPart(handle.get(), CURLUPART_ZONEID)) return refuse("IPv6 zone ids are not allowed");
  CurlString host = GetPart(handle.get(), CURLUPART_HOST);
  out.host = NormalizeHost(host ? host.get() : "");
  out.ip_literal = IsIpLiteral(out.host);
  if (!out.ip_literal) {
    if (!IsAsciiHostName(out.host)) {
      return refuse("bad host name (use the xn-- form for international names)");
    }
    // Send (and match connect_to against) the normalized name.
    curl_url_set(handle.get(), CURLUPART_HOST, out.host.c_str(), 0);
  }
  CurlString port = GetPart(handle.get(), CURLUPART_PORT, CURLU_DEFAULT_PORT);
  out.port = port ? std::atoi(port.get()) : 0;
  if (out.port <= 0 || out.port > 65535) return refuse("bad port");
  if (!query.empty()) {
    const std::string q(query);
    curl_url_set(handle.get(), CURLUPART_QUERY, q.c_str(), CURLU_APPENDQUERY);
  }
  curl_url_set(handle.get(), CURLUPART_FRAGMENT, nullptr, 0);  // never sent anyway
  CurlString full = GetPart(handle.get(), CURLUPART_URL);
  if (!full) return refuse("not a valid absolute URL");
  out.url = full.get();
  return out;
}

}  // namespace magic::broker::internal
