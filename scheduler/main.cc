// magic-scheduler: the result recorder (magic.results -> PostgreSQL) for
// now; deployments, timers, retries and triggers join it with the
// control-plane issue. Configuration: defaults, --config FILE, MAGIC_*
// environment, --set KEY=VALUE. Runs until SIGINT/SIGTERM.
#include "common/logging.h"
#include "common/postgres.h"
#include "common/service_config.h"
#include "common/topics.h"
#include "scheduler/result_store.h"

#include <iostream>
#include <signal.h>

extern char** environ;

int main(int argc, char** argv) {
  const nlohmann::json defaults = magic::CommonServiceDefaults(/*postgres_pool_size=*/2);
  auto config = magic::LoadServiceConfig(argc, argv, environ, defaults, std::cout);
  if (!config.ok()) {
    if (config.status().code() == absl::StatusCode::kCancelled) return 0;
    std::cerr << "magic-scheduler: " << config.status().message() << "\n";
    return 2;
  }
  const nlohmann::json& c = *config;
  magic::StopSignals stop;
  magic::logging::Init({.component = "scheduler", .level = c["log"]["level"], .file = ""});
  auto store =
      magic::scheduler::OpenPgResultStore(c["postgres"]["url"], c["postgres"]["pool_size"]);
  if (!store.ok()) {
    std::cerr << "magic-scheduler: result store: " << store.status().message() << "\n";
    return 2;
  }
  const magic::kafka::KafkaConfig kafka{.brokers = c["kafka"]["brokers"],
                                        .client_id = "magic-scheduler"};
  if (absl::Status s = magic::kafka::EnsureTopics(kafka, magic::topics::FarmTopicSpecs());
      !s.ok()) {
    std::cerr << "magic-scheduler: kafka topics: " << s.message() << "\n";
    return 2;
  }
  magic::scheduler::ResultRecorder recorder(*store->store, kafka, {});
  if (absl::Status s = recorder.Start(); !s.ok()) {
    std::cerr << "magic-scheduler: " << s.message() << "\n";
    return 2;
  }
  stop.Wait();
  recorder.Stop();
  return 0;
}
