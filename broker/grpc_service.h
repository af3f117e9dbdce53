// The Broker gRPC service (proto/magic/v1/broker.proto): workers relay
// sandbox capability calls here. Synchronous handlers: backends block on
// their servers, so each call holds one of gRPC's server threads.
#pragma once

#include "broker/broker.h"
#include "magic/v1/broker.grpc.pb.h"

namespace magic::broker {

class BrokerGrpcService final : public magic::v1::Broker::Service {
 public:
  explicit BrokerGrpcService(Broker& broker) : broker_(broker) {}

  grpc::Status Call(grpc::ServerContext* context, const magic::v1::CallRequest* request,
                    magic::v1::CallReply* reply) override;

 private:
  Broker& broker_;
};

}  // namespace magic::broker
