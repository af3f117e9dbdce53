// magic-worker: one worker replica (consumer-group member). Reads its
// configuration (defaults, --config FILE, MAGIC_* environment, --set
// KEY=VALUE), logs which sandbox limits this host enforces, and runs jobs
// until SIGINT/SIGTERM (then finishes what it holds and commits).
#include "common/clock.h"
#include "common/ids.h"
#include "common/logging.h"
#include "common/postgres.h"
#include "common/service_config.h"
#include "common/topics.h"
#include "contracts/registry.h"
#include "scheduler/deployed_registry.h"
#include "scheduler/result_store.h"
#include "worker/broker_relay.h"
#include "worker/job_executor.h"
#include "worker/runner_pool.h"
#include "worker/store_lookup.h"
#include "worker/worker_service.h"

#include <string_view>

extern char** environ;

namespace {

constexpr std::string_view kBinary = "magic-worker";

nlohmann::json Defaults() {
  nlohmann::json d = magic::CommonServiceDefaults(/*postgres_pool_size=*/2);
  // source: "dir" (the bundles under dir) or "deployments" (what the
  // Control service deployed, switched live through magic.deployments).
  d["controllers"] = {{"dir", "controllers"}, {"source", "dir"}};
  d["worker"] = {{"id", ""},
                 {"group", "magic-workers"},
                 {"concurrency", 2},
                 {"generic_runners", 2},
                 {"memory_budget_mb", 4096},
                 // Controller log lines go here ("" disables; log_shipper.h).
                 {"logs_topic", std::string(magic::topics::kLogs)}};
  // Where capability calls are relayed (magic-broker's gRPC address).
  d["broker"] = {{"addr", "127.0.0.1:7071"}};
  return d;
}

int Run(const nlohmann::json& c, magic::StopSignals& stop) {
  magic::Clock& clock = magic::RealClockInstance();

  auto store =
      magic::scheduler::OpenPgResultStore(c["postgres"]["url"], c["postgres"]["pool_size"]);
  if (!store.ok()) return magic::FailStart(kBinary, "result store", store.status());
  magic::worker::StoreLookup lookup(*store->store);

  auto factory = magic::worker::MakeSandboxRunnerFactory({}, clock);
  if (!factory.ok()) return magic::FailStart(kBinary, "sandbox", factory.status());
  MAGIC_LOG(info, "sandbox limits", {{"limits", (*factory)->LimitsReport()}});
  magic::worker::RunnerPool runners(
      {.generic_target = c["worker"]["generic_runners"],
       .memory_budget_bytes = c["worker"]["memory_budget_mb"].get<int64_t>() << 20},
      **factory, clock);
  runners.Start();
  std::string id = c["worker"]["id"];
  if (id.empty()) id = magic::NewId("wk_");
  magic::worker::BrokerCallHandlerFactory calls(
      magic::worker::MakeBrokerStub(c["broker"]["addr"].get<std::string>()), id, clock);
  magic::kafka::KafkaConfig kafka{.brokers = c["kafka"]["brokers"], .client_id = "magic-worker"};
  if (absl::Status s = magic::kafka::EnsureTopics(kafka, magic::topics::FarmTopicSpecs());
      !s.ok()) {
    return magic::FailStart(kBinary, "kafka topics", s);
  }
  auto registry = magic::scheduler::OpenControllerRegistry(
      c["controllers"]["source"], c["controllers"]["dir"], *store->pool, kafka);
  if (!registry.ok()) return magic::FailStart(kBinary, "controllers", registry.status());
  auto producer = magic::kafka::MakeKafkaProducer(kafka);
  if (!producer.ok()) return magic::FailStart(kBinary, "kafka", producer.status());
  const nlohmann::json& logs_topic = c["worker"]["logs_topic"];
  if (!logs_topic.is_string()) {
    return magic::FailStart(kBinary, "config",
                            absl::InvalidArgumentError("worker.logs_topic must be a string"));
  }
  std::unique_ptr<magic::worker::KafkaLogShipper> logs;
  if (!logs_topic.get_ref<const std::string&>().empty()) {
    logs = std::make_unique<magic::worker::KafkaLogShipper>(
        **producer, magic::worker::KafkaLogShipperOptions{.topic = logs_topic, .worker_id = id});
  }
  magic::worker::SandboxJobExecutor executor(*registry->registry, runners, calls, clock,
                                             logs.get());
  magic::worker::WorkerService service({.worker_id = id,
                                        .group_id = c["worker"]["group"],
                                        .concurrency = c["worker"]["concurrency"]},
                                       kafka, **producer, executor, &lookup, clock);
  if (absl::Status s = service.Start(); !s.ok()) return magic::FailStart(kBinary, "start", s);
  stop.Wait();
  service.Stop();
  runners.Stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return magic::ServiceMain(kBinary, "worker", argc, argv, environ, Defaults(), Run);
}
