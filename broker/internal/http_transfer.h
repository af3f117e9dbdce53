// One HTTP exchange of http:egress on libcurl: no redirect followed (the
// backend re-checks each one), every connection's address checked, the
// response bounded in size and time.
//
//   CurlHandlePool pool;
//   CurlHandlePool::Lease handle = pool.Acquire();
//   MAGIC_ASSIGN_OR_RETURN(HopResponse response, RunHop(handle.get(), config, request));
//
// Address checking ("resolve once, connect only to the checked address"):
// curl resolves the name once per connection with its threaded resolver
// (bounded by the timeout), then asks CURLOPT_OPENSOCKETFUNCTION for a
// socket for each address it is about to connect to. That callback checks
// the very sockaddr the connect() will use and refuses it (no socket, so
// no packet is sent) unless CheckAddress() allows it. The check therefore
// covers the pinned address itself: a DNS answer that changes between
// check and use (rebinding) cannot reach a refused address, and neither
// can connect_to targets, redirects or reused connections (a connection
// is only ever opened through the callback). Proxies are disabled so the
// address checked is always the origin's.
#pragma once

#include "broker/internal/http_request.h"
#include "broker/internal/net_address.h"

#include <absl/status/statusor.h>
#include <absl/time/time.h>
#include <curl/curl.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace magic::broker::internal {

// curl_global_init exactly once per process (it is not thread-safe).
void EnsureCurlGlobalInit();

struct CurlSlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using CurlSlist = std::unique_ptr<curl_slist, CurlSlistDeleter>;

// What stays the same for every exchange of one backend. Immutable.
struct TransferConfig {
  AddressRules rules;
  CurlSlist connect_to;  // "host:port:ip:port" lines for CURLOPT_CONNECT_TO; may be null
  std::string ca_file;   // "" = the system bundle only
  int64_t max_response_bytes = int64_t{10} << 20;
};

// Reusable easy handles (their connection and DNS caches survive
// curl_easy_reset), so a call usually skips the TCP and TLS handshakes.
// One pool per backend: connections opened under one policy are never
// reused under another. Thread-safe; a handle is used by one call at a time.
class CurlHandlePool {
 public:
  class Lease {
   public:
    Lease(CurlHandlePool* pool, CURL* handle) : pool_(pool), handle_(handle) {}
    Lease(Lease&& other) noexcept
        : pool_(other.pool_), handle_(std::exchange(other.handle_, nullptr)) {}
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (handle_ != nullptr) pool_->Release(handle_);
    }
    CURL* get() const { return handle_; }  // null when curl is out of memory

   private:
    CurlHandlePool* pool_;
    CURL* handle_;
  };

  CurlHandlePool() = default;
  CurlHandlePool(const CurlHandlePool&) = delete;
  CurlHandlePool& operator=(const CurlHandlePool&) = delete;
  ~CurlHandlePool();

  Lease Acquire();

 private:
  static constexpr size_t kMaxIdle = 32;
  void Release(CURL* handle);

  std::mutex mu_;
  std::vector<CURL*> idle_;
};

struct HopRequest {
  HttpMethod method = HttpMethod::kGet;
  const HttpTarget* target = nullptr;
  const std::vector<HttpHeader>* headers = nullptr;
  const std::optional<std::string>* body = nullptr;
  bool json_body = false;
  absl::Time deadline;
};

struct HopResponse {
  long status = 0;                                    // NOLINT(runtime/int): curl's type
  nlohmann::json headers = nlohmann::json::object();  // lower-case name -> value
  std::string body;                                   // raw bytes
  std::string location;                               // absolute redirect target, or ""
};

// One request/response on `handle`. Errors (details never hold header
// values or bodies):
//   E2003 {host, address, reason}  every address was refused (reason: AddressClassName)
//   E2003 {host, reason: "unresolvable"}  the name does not resolve
//   E2004 {host, limit}            response larger than max_response_bytes
//   E3001 {host}                   the deadline passed
//   E3005 {host, reason}           connect, TLS or protocol failure of the remote
absl::StatusOr<HopResponse> RunHop(CURL* handle, const TransferConfig& config,
                                   const HopRequest& request);

}  // namespace magic::broker::internal
