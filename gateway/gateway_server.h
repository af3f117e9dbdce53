// A whole gateway, assembled: Kafka producer and reply listener, the
// invocation service, the gRPC server (with reflection and health) and the
// HTTP/JSON server. Used by `magic-gateway` and `magic dev`.
//
// Threads: those of its parts (gRPC's pool, httplib's pool, the reply
// listener, the router's sweeper, the producer's poll thread). Stop() (or
// destruction) shuts them down in reverse order of start.
#pragma once

#include "common/clock.h"
#include "common/kafka.h"
#include "contracts/registry.h"
#include "gateway/http_server.h"
#include "gateway/invocation_service.h"

#include <absl/status/statusor.h>

#include <memory>
#include <string>

namespace prometheus {
class Registry;
}

namespace magic::gateway {

struct GatewayServerOptions {
  std::string grpc_addr = "127.0.0.1:7070";  // port 0 picks a free one
  std::string http_host = "127.0.0.1";
  int http_port = 8080;    // 0 picks a free one; -1 disables HTTP
  GatewayOptions service;  // gateway_id and reply_topic are filled when empty
  HttpOptions http;
};

class GatewayServer {
 public:
  // Borrows registry, reader, clock and metrics (may be null); they must
  // outlive the server.
  static absl::StatusOr<std::unique_ptr<GatewayServer>> Start(GatewayServerOptions options,
                                                              const contracts::Registry& registry,
                                                              const kafka::KafkaConfig& kafka,
                                                              InvocationReader& reader,
                                                              Clock& clock,
                                                              prometheus::Registry* metrics);
  ~GatewayServer();

  int grpc_port() const { return grpc_port_; }
  int http_port() const { return http_ ? http_->port() : -1; }
  const std::string& gateway_id() const { return gateway_id_; }
  void Stop();

 private:
  GatewayServer() = default;
  struct Parts;
  std::unique_ptr<Parts> parts_;
  std::unique_ptr<HttpGateway> http_;
  std::string gateway_id_;
  int grpc_port_ = 0;
};

}  // namespace magic::gateway
