// Relays a sandbox's capability calls to the broker (DESIGN.md "The shape").
//
//   BrokerCallHandlerFactory calls(MakeBrokerStub(broker_addr), worker_id, clock);
//   SandboxJobExecutor executor(registry, pool, calls, clock);
//
// The worker adds what the sandbox must never hold: the job's grant, and
// the call's sequence number, counted here (1, 2, ...) rather than taken
// from the sandbox's frame. The sandbox's own frame sequence is used only
// to route the reply back to it.
#pragma once

#include "common/clock.h"
#include "magic/v1/broker.grpc.pb.h"
#include "worker/job_executor.h"

#include <memory>
#include <string>

namespace magic::worker {

// A Broker stub for `address` whose replies may be as large as a sandbox
// frame (16 MiB; gRPC's default receive limit is 4 MiB).
std::shared_ptr<magic::v1::Broker::StubInterface> MakeBrokerStub(const std::string& address);

class BrokerCallHandlerFactory final : public CallHandlerFactory {
 public:
  BrokerCallHandlerFactory(std::shared_ptr<magic::v1::Broker::StubInterface> stub,
                           std::string worker_id, Clock& clock);

  // CallHandlerFactory
  std::unique_ptr<CallHandler> ForJob(const magic::v1::InvocationJob& job) override;

 private:
  std::shared_ptr<magic::v1::Broker::StubInterface> stub_;
  const std::string worker_id_;
  Clock& clock_;
};

}  // namespace magic::worker
