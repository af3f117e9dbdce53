#include "gateway/gateway_server.h"

#include "common/ids.h"
#include "common/logging.h"
#include "common/topics.h"
#include "gateway/grpc_service.h"
#include "gateway/kafka_transport.h"
#include "proto/grpc_server.h"

#include <fmt/format.h>

namespace magic::gateway {

struct GatewayServer::Parts {
  std::unique_ptr<kafka::KafkaProducer> producer;
  std::unique_ptr<KafkaJobSink> sink;
  std::unique_ptr<ReplyRouter> router;
  std::unique_ptr<ReplyListener> listener;
  std::unique_ptr<InvocationService> service;
  std::unique_ptr<GatewayGrpcService> grpc_service;
  std::unique_ptr<grpc::Server> grpc_server;
};

absl::StatusOr<std::unique_ptr<GatewayServer>> GatewayServer::Start(
    GatewayServerOptions options, const contracts::Registry& registry,
    const kafka::KafkaConfig& kafka, InvocationReader& reader, Clock& clock,
    prometheus::Registry* metrics) {
  std::unique_ptr<GatewayServer> server(new GatewayServer());
  GatewayOptions& svc = options.service;
  if (svc.gateway_id.empty()) svc.gateway_id = NewId("gw_");
  if (svc.reply_topic.empty()) svc.reply_topic = topics::ReplyTopic(svc.gateway_id);
  server->gateway_id_ = svc.gateway_id;

  absl::Status topics = kafka::EnsureTopics(
      kafka, {{.name = svc.reply_topic, .partitions = 1, .config = {{"retention.ms", "3600000"}}}});
  if (!topics.ok()) return topics;

  auto parts = std::make_unique<Parts>();
  kafka::KafkaConfig producer_config = kafka;
  producer_config.client_id = svc.gateway_id;
  auto producer = kafka::MakeKafkaProducer(producer_config);
  if (!producer.ok()) return producer.status();
  parts->producer = *std::move(producer);
  parts->sink =
      std::make_unique<KafkaJobSink>(*parts->producer, svc.jobs_topic, svc.cancellations_topic);
  parts->router = std::make_unique<ReplyRouter>(clock, /*start_sweeper=*/true);
  parts->listener = std::make_unique<ReplyListener>(kafka, svc.reply_topic, *parts->router);
  if (absl::Status s = parts->listener->Start(); !s.ok()) return s;
  parts->service = std::make_unique<InvocationService>(svc, registry, *parts->sink, *parts->router,
                                                       reader, clock);
  parts->grpc_service = std::make_unique<GatewayGrpcService>(*parts->service);
  parts->grpc_server =
      magic::StartGrpcServer(options.grpc_addr, {parts->grpc_service.get()}, &server->grpc_port_);
  if (!parts->grpc_server || server->grpc_port_ == 0) {
    return absl::UnavailableError(fmt::format("cannot serve gRPC on {}", options.grpc_addr));
  }
  server->parts_ = std::move(parts);
  if (options.http_port >= 0) {
    server->http_ = std::make_unique<HttpGateway>(*server->parts_->service, metrics, options.http);
    if (absl::Status s = server->http_->Start(options.http_host, options.http_port); !s.ok()) {
      return s;
    }
  }
  MAGIC_LOG(info, "gateway started",
            {{"gateway_id", server->gateway_id_},
             {"grpc_port", server->grpc_port_},
             {"http_port", server->http_port()}});
  return server;
}

GatewayServer::~GatewayServer() { Stop(); }

void GatewayServer::Stop() {
  if (http_) http_->Stop();
  if (!parts_) return;
  parts_->grpc_server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  parts_->listener->Stop();
  (void)parts_->producer->Flush(std::chrono::seconds(5));
  parts_.reset();
}

}  // namespace magic::gateway
