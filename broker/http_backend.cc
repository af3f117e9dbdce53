#include "broker/http_backend.h"

#include "broker/internal/http_request.h"
#include "broker/internal/http_result.h"
#include "broker/internal/http_transfer.h"
#include "broker/internal/net_address.h"
#include "common/errors.h"
#include "common/status_macros.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <utility>

namespace magic::broker {

using internal::HttpMethod;
using internal::HttpRequest;
using internal::HttpTarget;
using nlohmann::json;

struct HttpBackend::State {
  HttpPolicy policy;
  internal::TransferConfig transfer;
  internal::CurlHandlePool pool;
};

namespace {

absl::Status BadPolicy(std::string_view key, std::string_view message) {
  return MakeError(ErrorCode::kE1005, fmt::format("policy http.{}: {}", key, message),
                   {{"key", fmt::format("http.{}", key)}});
}

struct HostPort {
  std::string host;  // IPv6 keeps its brackets
  int port = 0;
};

// "name:443", "10.0.0.1:80", "[::1]:8443".
std::optional<HostPort> SplitHostPort(std::string_view text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  const std::string_view host = text.substr(0, colon), digits = text.substr(colon + 1);
  int port = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
  if (ec != std::errc() || end != digits.data() + digits.size() || port < 1 || port > 65535) {
    return std::nullopt;
  }
  const bool bracketed = host.front() == '[' && host.back() == ']';
  if (!bracketed && host.find(':') != std::string_view::npos) return std::nullopt;
  if (bracketed && !internal::ParseIpAddress(host)) return std::nullopt;
  return HostPort{internal::NormalizeHost(host), port};
}

std::string Bracketed(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

// policy.connect_to as CURLOPT_CONNECT_TO lines "host:port:ip:port". The
// target must be an IP literal: a name would be resolved again by curl.
absl::StatusOr<internal::CurlSlist> BuildConnectTo(const std::map<std::string, std::string>& map) {
  internal::CurlSlist list;
  curl_slist* raw = nullptr;
  for (const auto& [from, to] : map) {
    const std::optional<HostPort> source = SplitHostPort(from);
    const std::optional<HostPort> target = SplitHostPort(to);
    if (!source) return BadPolicy("connect_to", fmt::format("\"{}\" is not host:port", from));
    if (!target || !internal::ParseIpAddress(target->host)) {
      return BadPolicy("connect_to", fmt::format("\"{}\" is not ip:port", to));
    }
    const std::string line = fmt::format("{}:{}:{}:{}", Bracketed(source->host), source->port,
                                         Bracketed(target->host), target->port);
    curl_slist* next = curl_slist_append(raw, line.c_str());
    if (next == nullptr) {
      curl_slist_free_all(raw);
      return MakeError(ErrorCode::kE3005, "http: out of memory");
    }
    raw = next;
  }
  list.reset(raw);
  return list;
}

absl::Status CheckPolicy(const HttpPolicy& policy) {
  if (policy.max_request_bytes < 0) return BadPolicy("max_request_bytes", "must be >= 0");
  if (policy.max_response_bytes <= 0) return BadPolicy("max_response_bytes", "must be > 0");
  if (policy.max_redirects < 0) return BadPolicy("max_redirects", "must be >= 0");
  if (!policy.ca_file.empty() && !std::ifstream(policy.ca_file).good()) {
    return BadPolicy("ca_file", fmt::format("cannot read {}", policy.ca_file));
  }
  return absl::OkStatus();
}

bool IsRedirect(long status) {  // NOLINT(runtime/int): curl's type
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

bool SameOrigin(const HttpTarget& a, const HttpTarget& b) {
  return a.host == b.host && a.scheme == b.scheme && a.port == b.port;
}

// http://x/ -> https://x/ on the default ports: the same site, upgraded.
bool IsUpgrade(const HttpTarget& from, const HttpTarget& to) {
  return from.host == to.host && from.scheme == "http" && from.port == 80 && to.scheme == "https" &&
         to.port == 443;
}

void DropHeaders(std::vector<internal::HttpHeader>& headers,
                 std::initializer_list<std::string_view> names) {
  std::erase_if(headers, [&](const internal::HttpHeader& header) {
    return std::any_of(names.begin(), names.end(), [&](std::string_view name) {
      return header.name.size() == name.size() &&
             std::equal(name.begin(), name.end(), header.name.begin(), [](char n, char h) {
               return n == ((h >= 'A' && h <= 'Z') ? static_cast<char>(h - 'A' + 'a') : h);
             });
    });
  });
}

// What a redirect does to the request (RFC 9110 15.4, as browsers and
// Python requests do it): 303 turns anything but HEAD into a body-less
// GET, 301/302 do so for POST; 307/308 keep method and body. Credentials
// do not follow the request to another origin.
void ApplyRedirect(long status, const HttpTarget& from, const HttpTarget& to,  // NOLINT
                   HttpRequest& request) {
  const bool to_get = (status == 303 && request.method != HttpMethod::kHead) ||
                      ((status == 301 || status == 302) && request.method == HttpMethod::kPost);
  if (to_get) {
    request.method = HttpMethod::kGet;
    request.body.reset();
    request.json_body = false;
    DropHeaders(request.headers, {"content-type", "content-encoding"});
  }
  if (!SameOrigin(from, to) && !IsUpgrade(from, to)) {
    DropHeaders(request.headers, {"authorization", "cookie"});
  }
}

}  // namespace

HttpBackend::HttpBackend(std::unique_ptr<State> state) : state_(std::move(state)) {}
HttpBackend::~HttpBackend() = default;

absl::StatusOr<std::unique_ptr<HttpBackend>> HttpBackend::Create(const HttpPolicy& policy) {
  MAGIC_RETURN_IF_ERROR(CheckPolicy(policy));
  auto state = std::make_unique<State>();
  state->policy = policy;
  for (const std::string& text : policy.allow_cidrs) {
    absl::StatusOr<internal::Cidr> cidr = internal::ParseCidr(text);
    if (!cidr.ok()) return BadPolicy("allow_cidrs", fmt::format("\"{}\" is not a CIDR", text));
    state->transfer.rules.allow_cidrs.push_back(*cidr);
  }
  state->transfer.rules.allow_private_networks = policy.allow_private_networks;
  MAGIC_ASSIGN_OR_RETURN(state->transfer.connect_to, BuildConnectTo(policy.connect_to));
  state->transfer.ca_file = policy.ca_file;
  state->transfer.max_response_bytes = policy.max_response_bytes;
  internal::EnsureCurlGlobalInit();
  return std::unique_ptr<HttpBackend>(new HttpBackend(std::move(state)));
}

namespace {

// Steps 2 and 3 of the header comment: policy lists, then the contract.
absl::Status CheckHost(const HttpPolicy& policy, const CallContext& ctx, const HttpTarget& target) {
  const std::string& host = target.host;
  if (internal::HostMatchesAny(policy.deny_hosts, host)) {
    return MakeError(ErrorCode::kE2002, fmt::format("http: host {} is denied by policy", host),
                     {{"host", host}, {"rule", "deny_hosts"}});
  }
  if (!policy.allow_hosts.empty() && !internal::HostMatchesAny(policy.allow_hosts, host)) {
    return MakeError(ErrorCode::kE2002,
                     fmt::format("http: host {} is not in the policy's allow_hosts", host),
                     {{"host", host}, {"rule", "allow_hosts"}});
  }
  if (ctx.declared == nullptr) {
    return MakeError(ErrorCode::kE2001, "http: http:egress is not declared");
  }
  // An IP literal must be listed as itself: "*.0.0.1" or a name that
  // happens to resolve there does not allow it.
  const bool allowed = target.ip_literal ? internal::HostMatchesAny(ctx.declared->allow, host)
                                         : ctx.declared->AllowsHost(host);
  if (!allowed) {
    return MakeError(
        ErrorCode::kE2003,
        fmt::format("http: host {} is not in the contract's http:egress allow list", host),
        {{"host", host}, {"reason", target.ip_literal ? "ip literal not listed" : "not listed"}});
  }
  return absl::OkStatus();
}

// What stays fixed while one call follows its redirects.
struct Exchange {
  const HttpPolicy& policy;
  const internal::TransferConfig& transfer;
  CURL* handle;
  const CallContext& ctx;
  absl::Time deadline;
};

// Runs the request, then each redirect it earns (at most max_redirects),
// re-checking the host rules before every hop; RunHop checks addresses.
absl::StatusOr<json> Follow(const Exchange& exchange, HttpRequest request, HttpTarget target,
                            json& audit) {
  for (int redirects = 0;; ++redirects) {
    MAGIC_RETURN_IF_ERROR(CheckHost(exchange.policy, exchange.ctx, target));
    const internal::HopRequest hop{.method = request.method,
                                   .target = &target,
                                   .headers = &request.headers,
                                   .body = &request.body,
                                   .json_body = request.json_body,
                                   .deadline = exchange.deadline};
    MAGIC_ASSIGN_OR_RETURN(internal::HopResponse response,
                           internal::RunHop(exchange.handle, exchange.transfer, hop));
    audit["status"] = response.status;
    if (!IsRedirect(response.status) || response.location.empty()) {
      return internal::BuildResult(std::move(response), target.url);
    }
    if (redirects >= exchange.policy.max_redirects) {
      return MakeError(ErrorCode::kE2004, "http: too many redirects",
                       {{"host", target.host}, {"limit", exchange.policy.max_redirects}});
    }
    MAGIC_ASSIGN_OR_RETURN(HttpTarget next,
                           internal::ParseHttpTarget(response.location, "", /*redirect=*/true));
    ApplyRedirect(response.status, target, next, request);
    target = std::move(next);
    audit["redirects"] = redirects + 1;
    if (target.host != audit["host"].get_ref<const std::string&>()) {
      audit["final_host"] = target.host;
    }
  }
}

}  // namespace

absl::StatusOr<json> HttpBackend::Call(const CallContext& ctx, std::string_view op,
                                       const json& params, json& audit) {
  audit["host"] = "";
  audit["method"] = "";
  audit["status"] = 0;
  audit["redirects"] = 0;
  const std::optional<HttpMethod> method = internal::ParseHttpMethod(op);
  if (!method) {
    // `op` is not echoed: it is hostile and need not even be UTF-8.
    return MakeError(ErrorCode::kE1005,
                     "http: unknown operation (get, post, put, patch, delete, head)");
  }
  audit["method"] = std::string(internal::HttpMethodName(*method));
  const HttpPolicy& policy = state_->policy;
  MAGIC_ASSIGN_OR_RETURN(HttpRequest request,
                         internal::ParseHttpRequest(*method, params, policy.max_request_bytes));
  MAGIC_ASSIGN_OR_RETURN(HttpTarget target,
                         internal::ParseHttpTarget(request.url, request.query, false));
  audit["host"] = target.host;
  const absl::Time deadline =
      std::min(ctx.deadline, absl::Now() + request.timeout.value_or(internal::kMaxTimeout));
  internal::CurlHandlePool::Lease handle = state_->pool.Acquire();
  const Exchange exchange{.policy = policy,
                          .transfer = state_->transfer,
                          .handle = handle.get(),
                          .ctx = ctx,
                          .deadline = deadline};
  return Follow(exchange, std::move(request), std::move(target), audit);
}

}  // namespace magic::broker
