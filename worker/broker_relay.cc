#include "worker/broker_relay.h"

#include "common/errors.h"
#include "proto/wire_errors.h"

#include <fmt/format.h>
#include <grpcpp/grpcpp.h>

namespace magic::worker {
namespace {

// Slack past the job deadline for the broker's own answer (a refusal with
// E3001 is better than a transport timeout).
constexpr absl::Duration kReplySlack = absl::Milliseconds(500);

class BrokerCallHandler final : public CallHandler {
 public:
  BrokerCallHandler(magic::v1::Broker::StubInterface& stub, const magic::v1::InvocationJob& job,
                    const std::string& worker_id, Clock& clock)
      : stub_(stub), clock_(clock), deadline_(absl::FromUnixMillis(job.deadline_unix_ms())) {
    request_.set_grant(job.grant());
    request_.set_worker_id(worker_id);
  }

  absl::StatusOr<nlohmann::json> Call(const CapabilityCall& call) override {
    const absl::Time start = clock_.Now();
    absl::StatusOr<nlohmann::json> result = Relay(call);
    spent_ += clock_.Now() - start;
    return result;
  }

  absl::Duration TimeSpent() const override { return spent_; }

 private:
  absl::StatusOr<nlohmann::json> Relay(const CapabilityCall& call) {
    request_.set_seq(++seq_);
    request_.set_capability(call.capability);
    request_.set_op(call.op);
    request_.set_params_json(
        call.args.is_object()
            ? call.args.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
            : "{}");
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(deadline_ + kReplySlack));
    magic::v1::CallReply reply;
    const grpc::Status status = stub_.Call(&context, request_, &reply);
    if (!status.ok()) {
      if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
        return MakeError(ErrorCode::kE3001,
                         "the invocation's deadline passed during a capability call");
      }
      return MakeError(ErrorCode::kE3005,
                       fmt::format("capability broker unavailable: {}", status.error_message()),
                       {{"capability", call.capability}, {"operation", call.op}});
    }
    if (reply.has_error()) return StatusFromWireError(reply.error());
    nlohmann::json result = nlohmann::json::parse(reply.result_json(), nullptr, false);
    if (result.is_discarded()) return MakeError(ErrorCode::kE3005, "broker reply is not JSON");
    return result;
  }

  magic::v1::Broker::StubInterface& stub_;
  Clock& clock_;
  const absl::Time deadline_;
  magic::v1::CallRequest request_;  // grant and worker id set once, reused per call
  uint64_t seq_ = 0;
  absl::Duration spent_;
};

}  // namespace

std::shared_ptr<magic::v1::Broker::StubInterface> MakeBrokerStub(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(32 << 20);
  return magic::v1::Broker::NewStub(
      grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args));
}

BrokerCallHandlerFactory::BrokerCallHandlerFactory(
    std::shared_ptr<magic::v1::Broker::StubInterface> stub, std::string worker_id, Clock& clock)
    : stub_(std::move(stub)), worker_id_(std::move(worker_id)), clock_(clock) {}

std::unique_ptr<CallHandler> BrokerCallHandlerFactory::ForJob(const magic::v1::InvocationJob& job) {
  return std::make_unique<BrokerCallHandler>(*stub_, job, worker_id_, clock_);
}

}  // namespace magic::worker
