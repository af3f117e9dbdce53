#include "worker/job_executor.h"

#include "common/errors.h"
#include "common/logging.h"
#include "proto/wire_errors.h"

#include <fmt/format.h>

#include <signal.h>

namespace magic::worker {
namespace {

// A run its caller cancelled (before or while it ran).
void SetCancelled(magic::v1::InvocationResult& result) {
  SetResultError(result,
                 MakeError(ErrorCode::kE3005, "cancelled by the caller", {{"cancelled", true}}));
  result.set_state(magic::v1::CANCELLED);
}

// Logs through the worker's logger and keeps the lines for the result.
// Ships them too (log_shipper.h), when the worker has a shipper.
class CollectingSink final : public EventSink {
 public:
  CollectingSink(const contracts::ControllerVersion& v, nlohmann::json fields,
                 magic::v1::InvocationResult& result, LogShipper* shipper, Clock& clock)
      : inner_(v.name(), fields),
        shipping_(shipper, v.name(), v.version(), std::move(fields)),
        result_(result),
        clock_(clock) {}
  void OnLog(const LogRecord& record) override {
    inner_.OnLog(record);
    shipping_.Ship(record, clock_.Now());
    if (result_.log_lines_size() >= kMaxLogLinesPerInvocation) return;
    nlohmann::json line = {
        {"level", record.level}, {"msg", record.msg}, {"request_id", record.request_id}};
    if (record.fields.is_object()) {
      for (const auto& [k, v] : record.fields.items()) {
        if (!line.contains(k)) line[k] = v;
      }
    }
    result_.add_log_lines(line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
  void OnMetric(const MetricRecord& record) override { inner_.OnMetric(record); }

 private:
  LoggingEventSink inner_;
  InvocationLogShipping shipping_;
  magic::v1::InvocationResult& result_;
  Clock& clock_;
};

int64_t MicrosSince(absl::Time start, absl::Time end) {
  return absl::ToInt64Microseconds(end - start);
}

}  // namespace

ControllerBundle BundleFromVersion(const contracts::ControllerVersion& version) {
  ControllerBundle bundle;
  bundle.version_key = version.digest;
  bundle.name = version.name();
  bundle.version = version.version();
  bundle.entry_module = version.entry.substr(0, version.entry.size() - 3);  // strip ".py"
  for (const contracts::BundleFile& f : version.files) {
    if (f.path.ends_with(".py")) bundle.files[f.path] = f.content;
  }
  if (const contracts::Capability* tmp =
          version.contract().Find(contracts::CapabilityKind::kFsTemp)) {
    bundle.profile.tmp_size_bytes = tmp->max_size_bytes.value_or(int64_t{64} << 20);
  }
  bundle.limits = SandboxLimits::FromContract(version.contract().resources);
  return bundle;
}

SandboxJobExecutor::SandboxJobExecutor(const contracts::Registry& registry, RunnerPool& pool,
                                       CallHandlerFactory& calls, Clock& clock, LogShipper* logs)
    : registry_(registry), pool_(pool), calls_(calls), clock_(clock), logs_(logs) {}

absl::StatusOr<std::shared_ptr<const ControllerBundle>> SandboxJobExecutor::BundleFor(
    const contracts::ControllerVersion& version) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = bundles_.find(version.digest);
  if (it != bundles_.end()) return it->second;
  auto bundle = std::make_shared<const ControllerBundle>(BundleFromVersion(version));
  bundles_[version.digest] = bundle;
  return bundle;
}

magic::v1::InvocationResult SandboxJobExecutor::Execute(const magic::v1::InvocationJob& job) {
  magic::v1::InvocationResult result;
  result.set_request_id(job.request_id());
  auto version = registry_.Get(job.controller(), job.version());
  if (version.ok() && !job.contract_digest().empty() &&
      (*version)->digest != job.contract_digest()) {
    version = MakeError(ErrorCode::kE4003,
                        fmt::format("{} {} on this worker differs from the one the gateway checked",
                                    job.controller(), job.version()));
  }
  if (!version.ok()) {
    SetResultError(result, version.status());
    return result;
  }
  const contracts::ControllerVersion& v = **version;
  nlohmann::json input = nlohmann::json::parse(job.input_json(), nullptr, false);
  absl::Status valid = input.is_discarded()
                           ? MakeError(ErrorCode::kE1005, "input is not valid JSON")
                           : v.compiled->ValidateInput(input);
  if (!valid.ok()) {
    SetResultError(result, valid);
    return result;
  }
  auto bundle = BundleFor(v);
  const absl::Time start = clock_.Now();
  const absl::Duration left = absl::FromUnixMillis(job.deadline_unix_ms()) - start;
  const absl::Duration timeout =
      std::min(absl::Milliseconds(v.contract().resources.timeout_ms), left);
  CollectingSink events(v, logging::LogFieldsFrom(input, v.contract().observability.log_fields),
                        result, logs_, clock_);
  absl::StatusOr<RunnerPool::Lease> lease = pool_.Acquire(**bundle, events);
  const absl::Time acquired = clock_.Now();
  result.mutable_timings()->set_sandbox_us(MicrosSince(start, acquired));
  if (!lease.ok()) {
    SetResultError(result, lease.status());
    return result;
  }
  result.mutable_timings()->set_warm(lease->kind == RunnerPool::AcquireKind::kWarm);
  bool cancelled_before_start = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_before_start = early_cancels_.Take(job.request_id());
    if (!cancelled_before_start) running_[job.request_id()] = lease->runner->pid();
  }
  if (cancelled_before_start) {
    pool_.Release(std::move(lease->runner));
    SetCancelled(result);
    return result;
  }
  std::unique_ptr<CallHandler> calls = calls_.ForJob(job);
  InvocationHooks hooks{*calls, events};
  absl::StatusOr<nlohmann::json> output = RunAndValidate(
      *lease->runner, *v.compiled,
      {.request_id = job.request_id(), .input = std::move(input), .timeout = timeout}, hooks);
  result.mutable_timings()->set_exec_us(MicrosSince(acquired, clock_.Now()));
  result.mutable_timings()->set_capability_us(absl::ToInt64Microseconds(calls->TimeSpent()));
  bool was_cancelled = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    running_.erase(job.request_id());
    was_cancelled = cancelled_.erase(job.request_id()) > 0;
  }
  pool_.Release(std::move(lease->runner));
  if (was_cancelled) {
    SetCancelled(result);
  } else if (!output.ok()) {
    SetResultError(result, output.status());
  } else {
    result.set_state(magic::v1::SUCCEEDED);
    result.set_output_json(output->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
  return result;
}

void SandboxJobExecutor::Cancel(const std::string& request_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = running_.find(request_id);
  if (it == running_.end() || it->second <= 0) {
    // Not running here: perhaps its sandbox is being acquired right now.
    early_cancels_.Add(request_id, clock_.NowUnixMillis());
    return;
  }
  cancelled_[request_id] = true;
  ::kill(it->second, SIGKILL);  // the sandbox dies with bwrap (--die-with-parent)
}

}  // namespace magic::worker
