#include "broker/internal/http_transfer.h"

#include "broker/internal/http_result.h"
#include "common/errors.h"

#include <fmt/format.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <utility>

namespace magic::broker::internal {
namespace {

using nlohmann::json;

// Everything the curl callbacks of one exchange write to.
struct ExchangeState {
  const AddressRules* rules = nullptr;
  size_t max_bytes = 0;  // headers and body together
  size_t received = 0;
  bool too_large = false;
  std::optional<IpAddress> refused_address;  // the first refusal
  AddressClass refused_class = AddressClass::kReserved;
  HopResponse* response = nullptr;
  std::string last_header;  // for obsolete line folding
};

curl_socket_t OnOpenSocket(void* clientp, curlsocktype purpose, curl_sockaddr* address) {
  auto* state = static_cast<ExchangeState*>(clientp);
  if (purpose != CURLSOCKTYPE_IPCXN) return CURL_SOCKET_BAD;
  const std::optional<IpAddress> ip = IpAddressFromSockaddr(&address->addr, address->addrlen);
  std::optional<AddressClass> refused = AddressClass::kReserved;  // not IPv4/IPv6
  if (ip) refused = CheckAddress(*ip, *state->rules);
  if (refused) {
    if (!state->refused_address) {
      state->refused_address = ip.value_or(IpAddress{});
      state->refused_class = *refused;
    }
    return CURL_SOCKET_BAD;  // curl tries the next address, if any
  }
  return socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

bool Account(ExchangeState& state, size_t bytes) {
  state.received += bytes;
  if (state.received > state.max_bytes) state.too_large = true;
  return !state.too_large;
}

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* state = static_cast<ExchangeState*>(user);
  const size_t bytes = size * count;
  if (!Account(*state, bytes)) return 0;  // aborts the transfer (CURLE_WRITE_ERROR)
  state->response->body.append(data, bytes);
  return bytes;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

void AddHeader(ExchangeState& state, std::string_view name, std::string_view value) {
  std::string key(name);
  std::transform(key.begin(), key.end(), key.begin(), [](char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  });
  json& headers = state.response->headers;
  std::string text = HeaderValueToUtf8(value);
  if (auto it = headers.find(key); it != headers.end()) {
    // RFC 9110 field combination, appended in place: a server repeating a
    // header many times costs linear, not quadratic, time.
    it->get_ref<std::string&>().append(", ").append(text);
  } else {
    headers.emplace(key, std::move(text));
  }
  state.last_header = std::move(key);
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* state = static_cast<ExchangeState*>(user);
  const size_t bytes = size * count;
  if (!Account(*state, bytes)) return 0;
  const std::string_view line(data, bytes);
  if (line.starts_with("HTTP/")) {  // a new response (1xx, or the next hop): start over
    state->response->headers = json::object();
    state->last_header.clear();
    return bytes;
  }
  if (!line.empty() && (line.front() == ' ' || line.front() == '\t')) {  // obsolete folding
    auto it = state->response->headers.find(state->last_header);
    if (it != state->response->headers.end()) {
      it->get_ref<std::string&>().append(" ").append(HeaderValueToUtf8(Trim(line)));
    }
    return bytes;
  }
  const size_t colon = line.find(':');
  const std::string_view name = colon == std::string_view::npos ? "" : line.substr(0, colon);
  if (IsHeaderToken(name)) AddHeader(*state, name, Trim(line.substr(colon + 1)));
  return bytes;
}

bool HasHeader(const std::vector<HttpHeader>& headers, std::string_view name) {
  return std::any_of(headers.begin(), headers.end(), [&](const HttpHeader& header) {
    return header.name.size() == name.size() &&
           std::equal(name.begin(), name.end(), header.name.begin(), [](char a, char b) {
             return a == ((b >= 'A' && b <= 'Z') ? static_cast<char>(b - 'A' + 'a') : b);
           });
  });
}

// The request headers curl sends besides its own. "Name;" is curl's syntax
// for an empty value and "Name:" removes a header curl would add.
CurlSlist BuildHeaders(const HopRequest& request) {
  curl_slist* list = nullptr;
  std::string line;
  for (const HttpHeader& header : *request.headers) {
    line.assign(header.name);
    line.append(header.value.empty() ? ";" : ": ");
    line.append(header.value);
    list = curl_slist_append(list, line.c_str());
  }
  // No "Expect: 100-continue" round trip before larger bodies.
  list = curl_slist_append(list, "Expect:");
  if (!HasHeader(*request.headers, "content-type")) {
    // With a body curl would claim it is a form; a string `data` body goes
    // out without a type (as Python requests does), json as JSON.
    list = curl_slist_append(
        list, request.json_body ? "Content-Type: application/json" : "Content-Type:");
  }
  return CurlSlist(list);
}

void SetMethod(CURL* h, const HopRequest& request) {
  const std::optional<std::string>& body = *request.body;
  if (request.method == HttpMethod::kHead) {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    return;
  }
  if (request.method == HttpMethod::kGet && !body) {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    return;
  }
  if (request.method != HttpMethod::kPost) {
    // HttpMethodName() returns NUL-terminated literals.
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, HttpMethodName(request.method).data());
  }
  if (body || request.method != HttpMethod::kDelete) {
    // POST/PUT/PATCH without a body still send "Content-Length: 0".
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(body ? body->size() : 0));
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body->data() : "");
  }
}

void SetOptions(CURL* h, const TransferConfig& config, const HopRequest& request,
                ExchangeState& state, curl_slist* headers, char* error_buffer, long timeout_ms) {
  curl_easy_setopt(h, CURLOPT_URL, request.target->url.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);  // the backend re-checks every redirect
  curl_easy_setopt(h, CURLOPT_PROXY, "");           // no proxy from the environment
  curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, OnOpenSocket);
  curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, &state);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &state);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &state);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE,
                   static_cast<curl_off_t>(config.max_response_bytes));
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!config.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, config.ca_file.c_str());
  if (config.connect_to) curl_easy_setopt(h, CURLOPT_CONNECT_TO, config.connect_to.get());
  curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");  // decoded size counts against the cap
  curl_easy_setopt(h, CURLOPT_USERAGENT, "magic-http-egress/1");
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  SetMethod(h, request);
}

// Failure of the remote side is E3005 with details.reason: backend.h's
// "backend server unavailable" (retryable, gRPC UNAVAILABLE). It is not
// E1005: the request itself was acceptable. A name that does not resolve
// is E2003 "unresolvable" instead: like a refused address it means "you
// cannot reach this host from here", and retrying will not help.
absl::Status MapFailure(CURLcode code, const ExchangeState& state, const HopRequest& request,
                        const char* error_buffer) {
  const std::string& host = request.target->host;
  if (state.too_large || code == CURLE_FILESIZE_EXCEEDED) {
    return MakeError(ErrorCode::kE2004, "http: response larger than the policy allows",
                     {{"host", host}, {"limit", state.max_bytes}});
  }
  if (state.refused_address) {
    const std::string_view reason = AddressClassName(state.refused_class);
    return MakeError(ErrorCode::kE2003,
                     fmt::format("http: {} resolves to a {} address, refused", host, reason),
                     {{"host", host},
                      {"address", state.refused_address->ToString()},
                      {"reason", std::string(reason)}});
  }
  if (code == CURLE_COULDNT_RESOLVE_HOST) {
    return MakeError(ErrorCode::kE2003, fmt::format("http: cannot resolve {}", host),
                     {{"host", host}, {"reason", "unresolvable"}});
  }
  if (code == CURLE_OPERATION_TIMEDOUT) {
    return MakeError(ErrorCode::kE3001, fmt::format("http: {} did not answer in time", host),
                     {{"host", host}});
  }
  const std::string reason = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(code);
  return MakeError(ErrorCode::kE3005, fmt::format("http: request to {} failed: {}", host, reason),
                   {{"host", host}, {"reason", reason}});
}

}  // namespace

void EnsureCurlGlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

CurlHandlePool::~CurlHandlePool() {
  for (CURL* handle : idle_) curl_easy_cleanup(handle);
}

CurlHandlePool::Lease CurlHandlePool::Acquire() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!idle_.empty()) {
      CURL* handle = idle_.back();
      idle_.pop_back();
      return Lease(this, handle);
    }
  }
  return Lease(this, curl_easy_init());
}

void CurlHandlePool::Release(CURL* handle) {
  curl_easy_reset(handle);  // drops options and pointers into the finished call; keeps caches
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (idle_.size() < kMaxIdle) {
      idle_.push_back(handle);
      return;
    }
  }
  curl_easy_cleanup(handle);
}

absl::StatusOr<HopResponse> RunHop(CURL* handle, const TransferConfig& config,
                                   const HopRequest& request) {
  const std::string& host = request.target->host;
  if (handle == nullptr) return MakeError(ErrorCode::kE3005, "http: out of memory");
  const int64_t left_ms = absl::ToInt64Milliseconds(request.deadline - absl::Now());
  if (left_ms < 1) {
    return MakeError(ErrorCode::kE3001, "http: the deadline passed", {{"host", host}});
  }
  HopResponse response;
  ExchangeState state{.rules = &config.rules,
                      .max_bytes = static_cast<size_t>(config.max_response_bytes),
                      .response = &response};
  CurlSlist headers = BuildHeaders(request);
  char error_buffer[CURL_ERROR_SIZE] = {};
  curl_easy_reset(handle);
  SetOptions(handle, config, request, state, headers.get(), error_buffer,
             static_cast<long>(left_ms));
  const CURLcode code = curl_easy_perform(handle);
  if (code != CURLE_OK) return MapFailure(code, state, request, error_buffer);
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &response.status);
  char* location = nullptr;
  if (curl_easy_getinfo(handle, CURLINFO_REDIRECT_URL, &location) == CURLE_OK &&
      location != nullptr) {
    response.location = location;
  }
  return response;
}

}  // namespace magic::broker::internal
