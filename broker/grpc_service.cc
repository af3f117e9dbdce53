#include "broker/grpc_service.h"

namespace magic::broker {

grpc::Status BrokerGrpcService::Call(grpc::ServerContext* /*context*/,
                                     const magic::v1::CallRequest* request,
                                     magic::v1::CallReply* reply) {
  // Refusals travel in the reply (an E-coded Error), not as gRPC errors:
  // a gRPC error means the broker itself could not answer.
  *reply = broker_.Call(*request);
  return grpc::Status::OK;
}

}  // namespace magic::broker
