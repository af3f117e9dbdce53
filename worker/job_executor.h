// SandboxJobExecutor: runs an InvocationJob in a sandbox from the warm pool.
// The seam between the worker's Kafka loop (worker_service.h) and the
// sandbox layer (sandbox.h, runner_pool.h).
//
// For each job: look up the exact version the gateway validated against
// (E4003 if it is gone or its digest differs), validate the input again
// (a job from Kafka is hostile until checked: E1003), take a runner
// (warm, specialised generic, or fresh), run with the remaining time
// (min(contract timeout, job deadline)), validate the output (E1004), give
// the runner back. Controller logs go to the worker's log with the request
// id and the contract's log_fields, into the result's log_lines and, with a
// LogShipper, to magic.logs (log_shipper.h).
//
// Thread-safe: Execute() runs on several executor threads at once; Cancel()
// from any thread.
#pragma once

#include "common/clock.h"
#include "contracts/registry.h"
#include "worker/cancel_memory.h"
#include "worker/log_shipper.h"
#include "worker/runner_pool.h"
#include "worker/sandbox.h"
#include "worker/worker_service.h"

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace magic::worker {

// Makes the CallHandler for one invocation (the broker issue signs and
// relays; until then DenyAllCallHandler).
class CallHandlerFactory {
 public:
  virtual ~CallHandlerFactory() = default;
  virtual std::unique_ptr<CallHandler> ForJob(const magic::v1::InvocationJob& job) = 0;
};

class DenyAllCallHandlerFactory final : public CallHandlerFactory {
 public:
  std::unique_ptr<CallHandler> ForJob(const magic::v1::InvocationJob&) override {
    return std::make_unique<DenyAllCallHandler>();
  }
};

// The sandbox's view of a registry version (sources in memory; the pool's
// key is the bundle digest).
ControllerBundle BundleFromVersion(const contracts::ControllerVersion& version);

class SandboxJobExecutor final : public JobExecutor {
 public:
  // Borrows everything. `logs` may be null (no log shipping).
  SandboxJobExecutor(const contracts::Registry& registry, RunnerPool& pool,
                     CallHandlerFactory& calls, Clock& clock, LogShipper* logs = nullptr);

  // JobExecutor
  magic::v1::InvocationResult Execute(const magic::v1::InvocationJob& job) override;
  void Cancel(const std::string& request_id) override;

 private:
  absl::StatusOr<std::shared_ptr<const ControllerBundle>> BundleFor(
      const contracts::ControllerVersion& version);

  const contracts::Registry& registry_;
  RunnerPool& pool_;
  CallHandlerFactory& calls_;
  Clock& clock_;
  LogShipper* const logs_;

  std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<const ControllerBundle>> bundles_;
  std::unordered_map<std::string, int> running_;  // request id -> sandbox pid
  std::unordered_map<std::string, bool> cancelled_;
  // Cancels of runs not (yet) started here: a run whose sandbox was being
  // acquired when its cancel came is not started.
  CancelMemory early_cancels_;
};

}  // namespace magic::worker
