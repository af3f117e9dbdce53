// The HTTP/JSON face of the gateway (for curl users), over cpp-httplib:
//
//   POST /v1/controllers/{name}:invoke   body: the input JSON → 200 {request_id, controller,
//                                        version, output, timings} or the error JSON
//   POST /v1/controllers/{name}:submit   → 202 {request_id}
//   GET  /v1/invocations/{id}            → 200 {request_id, state, output | error, ...}
//   POST /v1/invocations/{id}:cancel     → 200 the invocation
//   POST /v1/controllers/{name}:submitBatch  body {"inputs": [...]} → 202 {batch_id, request_ids}
//   GET  /v1/batches/{id}                → 200 {batch_id, total, queued, ..., finished}
//   GET  /v1/batches/{id}/items?state=FAILED&page_size=N&page_token=T
//                                        → 200 {items: [invocation...], next_page_token}
//   GET  /healthz                        → 200 {"status": "ok"}
//   GET  /metrics                        → Prometheus text format
//
// Optional request headers: X-Request-ID (kept when valid, else a new one),
// X-Magic-Timeout-Ms, Idempotency-Key. Every response carries X-Request-ID.
// Errors use the catalog's HTTP status and the one JSON error shape.
//
// Threads: cpp-httplib serves connections from its own pool (`threads`);
// an :invoke request holds its pool thread while it waits for the result.
#pragma once

#include "gateway/invocation_service.h"

#include <absl/status/status.h>
#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <thread>

namespace httplib {
class Server;
}
namespace prometheus {
class Registry;
}

namespace magic::gateway {

struct HttpOptions {
  int threads = 64;
  int64_t max_body_bytes = int64_t{2} << 20;  // bodies above this are E1005 (413)
};

class HttpGateway {
 public:
  // `metrics` may be null (then /metrics serves nothing).
  HttpGateway(InvocationService& service, prometheus::Registry* metrics, HttpOptions options);
  ~HttpGateway();
  HttpGateway(const HttpGateway&) = delete;
  HttpGateway& operator=(const HttpGateway&) = delete;

  // Binds `host:port` (port 0 picks one) and serves on a background thread.
  absl::Status Start(const std::string& host, int port);
  int port() const { return port_; }
  void Stop();

 private:
  void Route();
  void RouteBatches();

  InvocationService& service_;
  prometheus::Registry* metrics_;
  const HttpOptions options_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

// The JSON an HTTP client sees for an invocation (also `magic status --json`).
nlohmann::json InvocationToJson(const magic::v1::Invocation& invocation);
// The JSON of a batch's progress (GET /v1/batches/{id}, `magic batch --json`).
nlohmann::json BatchToJson(const magic::v1::Batch& batch);

}  // namespace magic::gateway
