// magic-scheduler: the control plane. Runs
//   - the result recorder (magic.results -> PostgreSQL), which hands failed
//     runs to the retry rules first (retry timer or dead letter);
//   - the timers (delayed runs, cron, retries) and the watchdog;
//   - the queue:subscribe triggers of the deployed controllers;
//   - the Control gRPC service on scheduler.grpc_addr (deploy, list, get,
//     rollback, undeploy, schedules).
// Any number of replicas may run: timers are claimed with SKIP LOCKED,
// triggers and results are consumer groups. Configuration: defaults,
// --config FILE, MAGIC_* environment, --set KEY=VALUE. Runs until
// SIGINT/SIGTERM.
#include "broker/grant.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/logging.h"
#include "common/postgres.h"
#include "common/service_config.h"
#include "common/topics.h"
#include "proto/grpc_server.h"
#include "scheduler/control_service.h"
#include "scheduler/deployed_registry.h"
#include "scheduler/result_store.h"
#include "scheduler/timers.h"
#include "scheduler/triggers.h"

#include <string_view>

extern char** environ;

namespace {

constexpr std::string_view kBinary = "magic-scheduler";

nlohmann::json Defaults() {
  nlohmann::json d = magic::CommonServiceDefaults(/*postgres_pool_size=*/4);
  // The Control service has no authentication yet: a non-loopback
  // grpc_addr is refused unless allow_remote_control is set.
  d["scheduler"] = {{"grpc_addr", "127.0.0.1:7072"}, {"allow_remote_control", false}};
  // The registry the timers and triggers build jobs from (as the gateway's).
  d["controllers"] = {{"dir", "controllers"}, {"source", "deployments"}};
  // Signs the grants of the jobs the scheduler produces (timers, retries,
  // triggers); the same key as the gateways'.
  d["grant"] = {{"signing_key_file", ""}};
  d["retry"] = {{"base_ms", 1000}, {"cap_ms", 120000}};
  d["timers"] = {{"tick_ms", 250}, {"watch_interval_ms", 2000}, {"deadline_grace_ms", 30000}};
  d["triggers"] = {{"max_attempts", 3}};
  return d;
}

int Run(const nlohmann::json& c, magic::StopSignals& stop) {
  const std::string grpc_addr = c["scheduler"]["grpc_addr"];
  if (!magic::IsLoopbackListenAddress(grpc_addr) &&
      !c["scheduler"]["allow_remote_control"].get<bool>()) {
    return magic::FailStart(
        kBinary, "config",
        magic::MakeError(magic::ErrorCode::kE1005,
                         "scheduler.grpc_addr " + grpc_addr +
                             " is reachable from other machines, and the Control service "
                             "(deploy, rollback, schedules) has no authentication yet: listen "
                             "on a loopback address, or set scheduler.allow_remote_control=true "
                             "behind a network policy that only lets operators in"));
  }
  auto store =
      magic::scheduler::OpenPgResultStore(c["postgres"]["url"], c["postgres"]["pool_size"]);
  if (!store.ok()) return magic::FailStart(kBinary, "result store", store.status());
  const magic::kafka::KafkaConfig kafka{.brokers = c["kafka"]["brokers"],
                                        .client_id = "magic-scheduler"};
  if (absl::Status s = magic::kafka::EnsureTopics(kafka, magic::topics::FarmTopicSpecs());
      !s.ok()) {
    return magic::FailStart(kBinary, "kafka topics", s);
  }
  auto producer = magic::kafka::MakeKafkaProducer(kafka);
  if (!producer.ok()) return magic::FailStart(kBinary, "kafka producer", producer.status());
  auto signer = magic::broker::GrantSigner::FromConfiguredFile(c["grant"]["signing_key_file"]);
  if (!signer.ok()) return magic::FailStart(kBinary, "grant signing key", signer.status());
  const magic::broker::GrantSigner* grant_signer = signer->has_value() ? &**signer : nullptr;

  // Lifecycle: versions in PostgreSQL, announced on magic.deployments.
  auto versions = magic::scheduler::VersionStore::Open(*store->pool);
  if (!versions.ok()) return magic::FailStart(kBinary, "version store", versions.status());
  auto registry = magic::scheduler::OpenControllerRegistry(
      c["controllers"]["source"], c["controllers"]["dir"], *store->pool, kafka);
  if (!registry.ok()) return magic::FailStart(kBinary, "controllers", registry.status());

  magic::Clock& clock = magic::RealClockInstance();
  magic::scheduler::TimerOptions timer_options;
  timer_options.tick = absl::Milliseconds(c["timers"]["tick_ms"].get<int64_t>());
  timer_options.watch_interval =
      absl::Milliseconds(c["timers"]["watch_interval_ms"].get<int64_t>());
  timer_options.deadline_grace =
      absl::Milliseconds(c["timers"]["deadline_grace_ms"].get<int64_t>());
  timer_options.backoff = {.base = absl::Milliseconds(c["retry"]["base_ms"].get<int64_t>()),
                           .cap = absl::Milliseconds(c["retry"]["cap_ms"].get<int64_t>())};
  auto timers = magic::scheduler::TimerService::Open(
      *store->pool, *registry->registry, grant_signer, **producer, clock, timer_options);
  if (!timers.ok()) return magic::FailStart(kBinary, "timers", timers.status());

  magic::scheduler::ResultRecorderOptions recorder_options;
  recorder_options.take_retries = [&timers](std::vector<magic::v1::InvocationResult> results) {
    return (*timers)->TakeRetries(std::move(results));
  };
  magic::scheduler::ResultRecorder recorder(*store->store, kafka, recorder_options);
  if (absl::Status s = recorder.Start(); !s.ok()) {
    return magic::FailStart(kBinary, "result recorder", s);
  }
  (*timers)->Start();

  magic::scheduler::TriggerService triggers(
      *registry->registry, *store->store, **timers, grant_signer, **producer, kafka, clock,
      {.max_attempts = c["triggers"]["max_attempts"].get<uint32_t>()});
  triggers.Start();

  magic::scheduler::Deployer deployer(**versions, **producer);
  magic::scheduler::ControlService control(deployer, timers->get());
  int port = 0;
  std::unique_ptr<grpc::Server> server = magic::StartGrpcServer(grpc_addr, {&control}, &port);
  if (server == nullptr) {
    return magic::FailStart(kBinary, "control service",
                            absl::UnavailableError("cannot listen on " + grpc_addr));
  }
  MAGIC_LOG(info, "control service listening", {{"addr", grpc_addr}, {"port", port}});
  stop.Wait();
  server->Shutdown();
  triggers.Stop();
  (*timers)->Stop();
  recorder.Stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return magic::ServiceMain(kBinary, "scheduler", argc, argv, environ, Defaults(), Run);
}
