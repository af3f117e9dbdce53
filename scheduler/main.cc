// magic-scheduler: the result recorder (magic.results -> PostgreSQL) and
// the Control gRPC service on scheduler.grpc_addr (deploy, list, get,
// rollback, undeploy: versions in PostgreSQL, announced on
// magic.deployments); timers, retries and triggers join it with the rest of
// the control-plane issue. Configuration: defaults, --config FILE, MAGIC_*
// environment, --set KEY=VALUE. Runs until SIGINT/SIGTERM.
#include "common/logging.h"
#include "common/postgres.h"
#include "common/service_config.h"
#include "common/topics.h"
#include "proto/grpc_server.h"
#include "scheduler/control_service.h"
#include "scheduler/deployed_registry.h"
#include "scheduler/result_store.h"

#include <iostream>
#include <signal.h>

extern char** environ;

int main(int argc, char** argv) {
  nlohmann::json defaults = magic::CommonServiceDefaults(/*postgres_pool_size=*/2);
  defaults["scheduler"] = {{"grpc_addr", "127.0.0.1:7072"}};
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
  // Lifecycle: the Control service over the version store.
  auto versions = magic::scheduler::VersionStore::Open(*store->pool);
  if (!versions.ok()) {
    std::cerr << "magic-scheduler: version store: " << versions.status().message() << "\n";
    return 2;
  }
  auto producer = magic::kafka::MakeKafkaProducer(kafka);
  if (!producer.ok()) {
    std::cerr << "magic-scheduler: kafka producer: " << producer.status().message() << "\n";
    return 2;
  }
  magic::scheduler::Deployer deployer(**versions, **producer);
  magic::scheduler::ControlService control(deployer);
  int port = 0;
  const std::string grpc_addr = c["scheduler"]["grpc_addr"];
  std::unique_ptr<grpc::Server> server = magic::StartGrpcServer(grpc_addr, {&control}, &port);
  if (server == nullptr) {
    std::cerr << "magic-scheduler: cannot listen on " << grpc_addr << "\n";
    return 2;
  }
  MAGIC_LOG(info, "control service listening", {{"addr", grpc_addr}, {"port", port}});
  stop.Wait();
  server->Shutdown();
  recorder.Stop();
  return 0;
}
