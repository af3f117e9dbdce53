// The gRPC face of the gateway: magic.v1.Gateway over the callback API (no
// thread is held while a call waits for its result). Errors are gRPC
// statuses with the catalog's code; the E-coded error rides in the
// "magic-error-bin" trailer as a serialized magic.v1.Error, and every
// response carries "x-request-id" (the caller's, when valid, or a new one).
//
// Watch streams the invocation's state every time it changes, polling the
// result store through one shared thread (WatchHub) every `watch_poll`;
// WatchBatch likewise (BatchWatchHub, at least every 250 ms: a batch's
// progress is a GROUP BY over its runs).
#pragma once

#include "gateway/invocation_service.h"
#include "magic/v1/gateway.grpc.pb.h"

#include <absl/time/time.h>
#include <grpcpp/grpcpp.h>

#include <memory>

namespace magic::gateway {

// Converts an E-coded status to a grpc::Status and sets the
// "magic-error-bin" trailer on `context`.
grpc::Status ToGrpcStatus(const absl::Status& status, const std::string& request_id,
                          grpc::CallbackServerContext& context);

class WatchHub;
class BatchWatchHub;

class GatewayGrpcService final : public magic::v1::Gateway::CallbackService {
 public:
  GatewayGrpcService(InvocationService& service,
                     absl::Duration watch_poll = absl::Milliseconds(100));
  ~GatewayGrpcService() override;

  // magic::v1::Gateway::CallbackService
  grpc::ServerUnaryReactor* Invoke(grpc::CallbackServerContext* context,
                                   const magic::v1::InvokeRequest* request,
                                   magic::v1::InvokeResponse* response) override;
  grpc::ServerUnaryReactor* Submit(grpc::CallbackServerContext* context,
                                   const magic::v1::InvokeRequest* request,
                                   magic::v1::SubmitResponse* response) override;
  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* context,
                                const magic::v1::GetRequest* request,
                                magic::v1::Invocation* response) override;
  grpc::ServerWriteReactor<magic::v1::Invocation>* Watch(
      grpc::CallbackServerContext* context, const magic::v1::GetRequest* request) override;
  grpc::ServerUnaryReactor* Cancel(grpc::CallbackServerContext* context,
                                   const magic::v1::CancelRequest* request,
                                   magic::v1::Invocation* response) override;
  grpc::ServerUnaryReactor* SubmitBatch(grpc::CallbackServerContext* context,
                                        const magic::v1::SubmitBatchRequest* request,
                                        magic::v1::SubmitBatchResponse* response) override;
  grpc::ServerUnaryReactor* GetBatch(grpc::CallbackServerContext* context,
                                     const magic::v1::GetBatchRequest* request,
                                     magic::v1::Batch* response) override;
  grpc::ServerWriteReactor<magic::v1::Batch>* WatchBatch(
      grpc::CallbackServerContext* context, const magic::v1::GetBatchRequest* request) override;
  grpc::ServerUnaryReactor* ListBatchItems(grpc::CallbackServerContext* context,
                                           const magic::v1::ListBatchItemsRequest* request,
                                           magic::v1::ListBatchItemsResponse* response) override;

 private:
  InvocationService& service_;
  std::unique_ptr<WatchHub> hub_;
  std::unique_ptr<BatchWatchHub> batch_hub_;
};

}  // namespace magic::gateway
