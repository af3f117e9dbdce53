#include "gateway/grpc_service.h"

#include "common/errors.h"
#include "common/ids.h"
#include "proto/wire_errors.h"

#include <algorithm>
#include <condition_variable>
#include <functional>
#include <list>
#include <mutex>
#include <thread>

namespace magic::gateway {
namespace {

// The caller's x-request-id when valid, else a new id.
std::string RequestIdFrom(const grpc::CallbackServerContext& context, const std::string& in_body) {
  if (IsValidRequestId(in_body)) return in_body;
  auto it = context.client_metadata().find("x-request-id");
  if (it != context.client_metadata().end()) {
    std::string id(it->second.data(), it->second.size());
    if (IsValidRequestId(id)) return id;
  }
  return NewRequestId();
}

InvokeCall CallFrom(const magic::v1::InvokeRequest& request, std::string request_id) {
  return {.controller = request.controller(),
          .input_json = request.input_json(),
          .request_id = std::move(request_id),
          .timeout_ms = static_cast<int64_t>(request.timeout_ms()),
          .idempotency_key = request.idempotency_key(),
          .max_attempts = request.max_attempts(),
          .retry_on_timeout = request.retry_on_timeout()};
}

bool Finished(const magic::v1::Invocation& inv) {
  return inv.state() == magic::v1::SUCCEEDED || inv.state() == magic::v1::FAILED ||
         inv.state() == magic::v1::CANCELLED;
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status, const std::string& request_id,
                          grpc::CallbackServerContext& context) {
  return magic::ToGrpcStatus(status, request_id, context);  // shared with the Control service
}

// One thread polls the result store for every open stream of one kind
// (Watch: invocations; WatchBatch: batches) and writes state changes. Each
// stream has at most one write in flight; the stream ends after writing a
// final state (Final(T)).
template <typename T>
class PollHub {
 public:
  using Fetch = std::function<absl::StatusOr<T>(const std::string&)>;
  using Final = std::function<bool(const T&)>;

  class Stream final : public grpc::ServerWriteReactor<T> {
   public:
    Stream(PollHub& hub, grpc::CallbackServerContext* context, std::string id)
        : hub_(hub), context_(context), id_(std::move(id)) {}
    // Called by the hub thread with the latest state.
    void Offer(const absl::StatusOr<T>& state) {
      std::lock_guard<std::mutex> lock(mu_);
      if (done_ || writing_) return;
      if (!state.ok()) {
        done_ = true;
        this->Finish(ToGrpcStatus(state.status(), id_, *context_));
        return;
      }
      std::string serialized = state->SerializeAsString();
      if (serialized == last_) return;
      last_ = std::move(serialized);
      current_ = *state;
      writing_ = true;
      final_ = hub_.final_(*state);
      this->StartWrite(&current_);
    }
    void OnWriteDone(bool ok) override {
      std::lock_guard<std::mutex> lock(mu_);
      writing_ = false;
      if (!ok || final_) {
        done_ = true;
        this->Finish(ok ? grpc::Status::OK : grpc::Status::CANCELLED);
      }
    }
    void OnCancel() override {}
    void OnDone() override { hub_.Remove(this); }
    const std::string& id() const { return id_; }

   private:
    PollHub& hub_;
    grpc::CallbackServerContext* context_;
    const std::string id_;
    std::mutex mu_;
    T current_;
    std::string last_;
    bool writing_ = false, final_ = false, done_ = false;
  };

  PollHub(Fetch fetch, Final final, absl::Duration poll)
      : fetch_(std::move(fetch)), final_(std::move(final)), poll_(poll) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~PollHub() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  Stream* Open(grpc::CallbackServerContext* context, const std::string& id) {
    auto* stream = new Stream(*this, context, id);  // deleted in Remove (OnDone)
    {
      std::lock_guard<std::mutex> lock(mu_);
      streams_.push_back(stream);
    }
    stream->Offer(fetch_(id));
    return stream;
  }
  void Remove(Stream* stream) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      streams_.remove(stream);
    }
    delete stream;
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopping_) {
      cv_.wait_for(lock, absl::ToChronoMilliseconds(poll_));
      for (Stream* s : streams_) s->Offer(fetch_(s->id()));
    }
  }
  const Fetch fetch_;
  const Final final_;
  const absl::Duration poll_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::list<Stream*> streams_;
  bool stopping_ = false;
  std::thread thread_;
};

class WatchHub : public PollHub<magic::v1::Invocation> {
 public:
  WatchHub(InvocationService& service, absl::Duration poll)
      : PollHub([&service](const std::string& id) { return service.Get(id); }, Finished, poll) {}
};

class BatchWatchHub : public PollHub<magic::v1::Batch> {
 public:
  BatchWatchHub(InvocationService& service, absl::Duration poll)
      : PollHub([&service](const std::string& id) { return service.GetBatch(id); },
                [](const magic::v1::Batch& b) { return b.finished(); }, poll) {}
};

GatewayGrpcService::GatewayGrpcService(InvocationService& service, absl::Duration watch_poll)
    : service_(service),
      hub_(std::make_unique<WatchHub>(service, watch_poll)),
      batch_hub_(std::make_unique<BatchWatchHub>(service,
                                                 std::max(watch_poll, absl::Milliseconds(250)))) {}

GatewayGrpcService::~GatewayGrpcService() = default;

grpc::ServerUnaryReactor* GatewayGrpcService::Invoke(grpc::CallbackServerContext* context,
                                                     const magic::v1::InvokeRequest* request,
                                                     magic::v1::InvokeResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  std::string id = RequestIdFrom(*context, request->request_id());
  context->AddInitialMetadata("x-request-id", id);
  service_.Invoke(CallFrom(*request, id),
                  [reactor, response, context, id](absl::StatusOr<magic::v1::InvokeResponse> r) {
                    if (r.ok()) *response = *std::move(r);
                    reactor->Finish(ToGrpcStatus(r.status(), id, *context));
                  });
  return reactor;
}

grpc::ServerUnaryReactor* GatewayGrpcService::Submit(grpc::CallbackServerContext* context,
                                                     const magic::v1::InvokeRequest* request,
                                                     magic::v1::SubmitResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  std::string id = RequestIdFrom(*context, request->request_id());
  context->AddInitialMetadata("x-request-id", id);
  service_.Submit(CallFrom(*request, id),
                  [reactor, response, context, id](absl::StatusOr<std::string> r) {
                    if (r.ok()) response->set_request_id(*r);
                    reactor->Finish(ToGrpcStatus(r.status(), id, *context));
                  });
  return reactor;
}

grpc::ServerUnaryReactor* GatewayGrpcService::Get(grpc::CallbackServerContext* context,
                                                  const magic::v1::GetRequest* request,
                                                  magic::v1::Invocation* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  context->AddInitialMetadata("x-request-id", request->request_id());
  absl::StatusOr<magic::v1::Invocation> r = service_.Get(request->request_id());
  if (r.ok()) *response = *std::move(r);
  reactor->Finish(ToGrpcStatus(r.status(), request->request_id(), *context));
  return reactor;
}

grpc::ServerWriteReactor<magic::v1::Invocation>* GatewayGrpcService::Watch(
    grpc::CallbackServerContext* context, const magic::v1::GetRequest* request) {
  context->AddInitialMetadata("x-request-id", request->request_id());
  return hub_->Open(context, request->request_id());
}

grpc::ServerUnaryReactor* GatewayGrpcService::Cancel(grpc::CallbackServerContext* context,
                                                     const magic::v1::CancelRequest* request,
                                                     magic::v1::Invocation* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  context->AddInitialMetadata("x-request-id", request->request_id());
  absl::StatusOr<magic::v1::Invocation> r = service_.Cancel(request->request_id());
  if (r.ok()) *response = *std::move(r);
  reactor->Finish(ToGrpcStatus(r.status(), request->request_id(), *context));
  return reactor;
}

}  // namespace magic::gateway

namespace magic::gateway {

grpc::ServerUnaryReactor* GatewayGrpcService::SubmitBatch(
    grpc::CallbackServerContext* context, const magic::v1::SubmitBatchRequest* request,
    magic::v1::SubmitBatchResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const std::string id = RequestIdFrom(*context, "");
  context->AddInitialMetadata("x-request-id", id);
  BatchCall call{.controller = request->controller(),
                 .inputs_json = {request->inputs_json().begin(), request->inputs_json().end()},
                 .timeout_ms = static_cast<int64_t>(request->timeout_ms()),
                 .idempotency_key = request->idempotency_key(),
                 .max_attempts = request->max_attempts(),
                 .retry_on_timeout = request->retry_on_timeout()};
  service_.SubmitBatch(std::move(call), [reactor, response, context, id](auto r) {
    if (r.ok()) *response = *std::move(r);
    reactor->Finish(ToGrpcStatus(r.status(), id, *context));
  });
  return reactor;
}

grpc::ServerUnaryReactor* GatewayGrpcService::GetBatch(grpc::CallbackServerContext* context,
                                                       const magic::v1::GetBatchRequest* request,
                                                       magic::v1::Batch* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<magic::v1::Batch> r = service_.GetBatch(request->batch_id());
  if (r.ok()) *response = *std::move(r);
  reactor->Finish(ToGrpcStatus(r.status(), "", *context));
  return reactor;
}

grpc::ServerWriteReactor<magic::v1::Batch>* GatewayGrpcService::WatchBatch(
    grpc::CallbackServerContext* context, const magic::v1::GetBatchRequest* request) {
  return batch_hub_->Open(context, request->batch_id());
}

grpc::ServerUnaryReactor* GatewayGrpcService::ListBatchItems(
    grpc::CallbackServerContext* context, const magic::v1::ListBatchItemsRequest* request,
    magic::v1::ListBatchItemsResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<magic::v1::ListBatchItemsResponse> r = service_.ListBatchItems(*request);
  if (r.ok()) *response = *std::move(r);
  reactor->Finish(ToGrpcStatus(r.status(), "", *context));
  return reactor;
}

}  // namespace magic::gateway
