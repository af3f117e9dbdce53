#include "broker/grant.h"
#include "broker/policy.h"
#include "broker/secrets_store.h"
#include "broker/server.h"
#include "cli/dev_state.h"
#include "cli/farm_commands.h"
#include "common/absl_compat.h"
#include "common/clock.h"
#include "common/ids.h"
#include "common/kafka.h"
#include "common/local_redis.h"
#include "common/logging.h"
#include "common/postgres.h"
#include "common/service_config.h"
#include "common/topics.h"
#include "contracts/registry.h"
#include "gateway/gateway_server.h"
#include "gateway/store_reader.h"
#include "proto/grpc_server.h"
#include "scheduler/control_service.h"
#include "scheduler/deployed_registry.h"
#include "scheduler/result_store.h"
#include "scheduler/timers.h"
#include "scheduler/triggers.h"
#include "worker/broker_relay.h"
#include "worker/job_executor.h"
#include "worker/runner_pool.h"
#include "worker/sandbox.h"
#include "worker/store_lookup.h"
#include "worker/worker_service.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <prometheus/registry.h>

#include <filesystem>
#include <fstream>
#include <ostream>
#include <signal.h>
#include <unistd.h>

namespace magic::cli {
namespace {

bool SplitHostPort(const std::string& addr, std::string& host, int& port) {
  const size_t colon = addr.rfind(':');
  if (colon == std::string::npos) return false;
  host = addr.substr(0, colon);
  char* end = nullptr;
  const long p = std::strtol(addr.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || p < 0 || p > 65535) return false;
  port = static_cast<int>(p);
  return true;
}

// The secrets master key of this machine's dev farms: kept across runs so
// that secrets set against a --postgres farm stay readable.
absl::StatusOr<std::string> DevMasterKeyFile(const std::string& dir) {
  const std::string path = dir + "/master.key";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (std::filesystem::exists(path, ec)) return path;
  absl::StatusOr<broker::MasterKey> key = broker::GenerateMasterKeyFile(path);
  if (!key.ok()) return key.status();
  return path;
}

// Deploys every bundle found under `dir` (the same content again is a
// no-op; a changed bundle under an already stored version is E4002).
absl::Status SeedDeployments(const contracts::Registry& bundles, scheduler::Deployer& deployer,
                             std::ostream& out) {
  for (const std::string& name : bundles.List()) {
    auto version = bundles.Active(name);
    if (!version.ok()) return version.status();
    auto deployed = deployer.Deploy((*version)->files);
    if (!deployed.ok()) {
      return absl::Status(deployed.status().code(),
                          fmt::format("deploying {}: {}", (*version)->bundle_dir,
                                      FromAbsl(deployed.status().message())));
    }
    if (deployed->created)
      out << "magic dev: deployed " << name << " " << deployed->version << "\n";
  }
  return absl::OkStatus();
}

}  // namespace

int RunDev(const DevOptions& o, std::ostream& out, std::ostream& err) {
  auto fail = [&err](const std::string& what, const absl::Status& s) {
    err << "magic dev: " << what << ": " << s.message() << "\n";
    return 2;
  };
  std::string http_host;
  int http_port = 0;
  if (!SplitHostPort(o.http_addr, http_host, http_port)) {
    err << "magic dev: --http-addr must be HOST:PORT\n";
    return 2;
  }
  if (!IsLoopbackListenAddress(o.control_addr)) {
    err << "magic dev: --control-addr must be a loopback address: the Control service "
           "(deploy, rollback, schedules) has no authentication yet\n";
    return 2;
  }
  StopSignals stop_signals;
  logging::Init({.component = "dev", .level = "info", .file = ""});
  // Checked before anything starts; deployed once the store is up.
  auto bundles = contracts::LoadDirectoryRegistry(o.controllers);
  if (!bundles.ok()) return fail("controllers " + o.controllers, bundles.status());

  kafka::EmbeddedKafka embedded;
  kafka::KafkaConfig kafka_config{.brokers = o.kafka, .client_id = "magic-dev"};
  if (o.kafka.empty()) {
    auto started = embedded.Start();
    if (!started.ok()) return fail("embedded Kafka", started.status());
    kafka_config = embedded.Config("magic-dev");
  }
  if (absl::Status s = kafka::EnsureTopics(kafka_config, topics::FarmTopicSpecs()); !s.ok()) {
    return fail("Kafka topics", s);
  }
  std::unique_ptr<pg::LocalPostgres> local_pg;
  std::string pg_url = o.postgres;
  if (pg_url.empty()) {
    auto started = pg::LocalPostgres::Start();
    if (!started.ok()) return fail("private PostgreSQL", started.status());
    local_pg = *std::move(started);
    pg_url = local_pg->url();
  }
  auto store = scheduler::OpenPgResultStore(pg_url, 4);
  if (!store.ok()) return fail("result store at " + pg_url, store.status());
  gateway::StoreReader reader(*store->store);
  // Lifecycle: the bundles under --controllers are deployed; every part of
  // this farm then reads the DeployedRegistry, so deploy/rollback are live.
  auto versions = scheduler::VersionStore::Open(*store->pool);
  if (!versions.ok()) return fail("version store", versions.status());
  auto producer = kafka::MakeKafkaProducer(kafka_config);
  if (!producer.ok()) return fail("Kafka producer", producer.status());
  scheduler::Deployer deployer(**versions, **producer);
  if (absl::Status s = SeedDeployments(**bundles, deployer, out); !s.ok()) {
    return fail("controllers " + o.controllers, s);
  }
  auto registry = scheduler::DeployedRegistry::Start(**versions, kafka_config);
  if (!registry.ok()) return fail("deployments", registry.status());
  worker::StoreLookup lookup(*store->store);

  std::unique_ptr<LocalRedis> local_redis;
  std::string redis_url = o.redis;
  if (redis_url.empty()) {
    auto started = LocalRedis::Start();
    if (!started.ok()) return fail("private Redis", started.status());
    local_redis = *std::move(started);
    redis_url = local_redis->url();
  }
  const std::string state_dir = o.state_dir.empty() ? DevStateDir() : o.state_dir;
  if (state_dir.empty()) {
    err << "magic dev: HOME is not set; pass --state-dir\n";
    return 2;
  }
  auto master_key_file = DevMasterKeyFile(state_dir);
  if (!master_key_file.ok()) return fail("secrets master key", master_key_file.status());

  // Grants: a key pair for this run only; the gateway signs, the broker checks.
  auto grant_keys = broker::GenerateGrantKeyPair();
  if (!grant_keys.ok()) return fail("grant keys", grant_keys.status());
  auto signer = broker::GrantSigner::FromSeed(grant_keys->seed);
  if (!signer.ok()) return fail("grant keys", signer.status());

  Clock& clock = RealClockInstance();
  // The scheduler: timers, retries, the watchdog, queue triggers, and the
  // Control service with the schedule verbs.
  auto timers =
      scheduler::TimerService::Open(*store->pool, **registry, &*signer, **producer, clock, {});
  if (!timers.ok()) return fail("timers", timers.status());
  scheduler::ResultRecorderOptions recorder_options;
  recorder_options.take_retries = [&timers](std::vector<magic::v1::InvocationResult> results) {
    return (*timers)->TakeRetries(std::move(results));
  };
  scheduler::ResultRecorder recorder(*store->store, kafka_config, recorder_options);
  if (absl::Status s = recorder.Start(); !s.ok()) return fail("result recorder", s);
  (*timers)->Start();
  scheduler::TriggerService triggers(**registry, *store->store, **timers, &*signer, **producer,
                                     kafka_config, clock, {});
  triggers.Start();
  scheduler::ControlService control(deployer, timers->get());
  int control_port = 0;
  std::unique_ptr<grpc::Server> control_server =
      StartGrpcServer(o.control_addr, {&control}, &control_port);
  if (control_server == nullptr) {
    err << "magic dev: control service cannot listen on " << o.control_addr << "\n";
    return 2;
  }

  broker::BrokerServerOptions broker_options;
  broker_options.grpc_addr = "127.0.0.1:0";
  if (o.policy.empty()) {
    broker_options.policy = broker::Policy::Defaults(broker::Environment::kDevelopment);
  } else {
    auto policy = broker::LoadPolicy(o.policy);
    if (!policy.ok()) return fail("policy " + o.policy, policy.status());
    broker_options.policy = *std::move(policy);
  }
  broker_options.postgres_url = pg_url;
  broker_options.postgres_pool_size = 4;
  broker_options.redis_url = redis_url;
  broker_options.kafka = kafka_config;
  broker_options.master_key_file = *master_key_file;
  broker_options.grant_public_keys = {grant_keys->public_key};
  // One superuser login serves every dev database role; raw SQL runs anyway
  // when the development policy allows it (db_backend.h).
  broker_options.allow_privileged_raw_session =
      broker_options.policy.environment == broker::Environment::kDevelopment;
  auto broker_server = broker::BrokerServer::Start(broker_options, **registry, clock);
  if (!broker_server.ok()) return fail("broker", broker_server.status());

  auto factory = worker::MakeSandboxRunnerFactory({}, clock);
  if (!factory.ok()) return fail("sandbox", factory.status());
  worker::RunnerPool runners({.generic_target = o.generic_runners}, **factory, clock);
  runners.Start();
  const std::string worker_id = NewId("wk_");
  worker::BrokerCallHandlerFactory calls(worker::MakeBrokerStub((*broker_server)->address()),
                                         worker_id, clock);
  worker::KafkaLogShipper logs(**producer,
                               {.topic = std::string(topics::kLogs), .worker_id = worker_id});
  worker::SandboxJobExecutor executor(**registry, runners, calls, clock, &logs);
  worker::WorkerService worker_service({.worker_id = worker_id, .concurrency = o.workers},
                                       kafka_config, **producer, executor, &lookup, clock);
  if (absl::Status s = worker_service.Start(); !s.ok()) return fail("worker", s);

  prometheus::Registry metrics;
  gateway::GatewayServerOptions gateway_options{
      .grpc_addr = o.grpc_addr, .http_host = http_host, .http_port = http_port};
  gateway_options.service.grant_signer = &*signer;
  auto gw = gateway::GatewayServer::Start(gateway_options, **registry, kafka_config, reader, clock,
                                          &metrics);
  if (!gw.ok()) return fail("gateway", gw.status());

  const nlohmann::json endpoints = {
      {"grpc", fmt::format("127.0.0.1:{}", (*gw)->grpc_port())},
      {"http", fmt::format("http://{}:{}", http_host, (*gw)->http_port())},
      {"kafka", kafka_config.brokers + (o.kafka.empty() ? " (embedded)" : "")},
      {"postgres", pg_url + (local_pg ? " (private)" : "")},
      {"redis", redis_url + (local_redis ? " (private)" : "")},
      {"broker", (*broker_server)->report()},
      {"control", fmt::format("127.0.0.1:{}", control_port)},
      {"controllers", (*registry)->List()},
      {"sandbox", (*factory)->LimitsReport()}};
  out << "magic dev: gRPC " << endpoints["grpc"].get<std::string>() << ", HTTP "
      << endpoints["http"].get<std::string>() << "\n"
      << "magic dev: control " << endpoints["control"].get<std::string>() << "\n"
      << "magic dev: kafka " << endpoints["kafka"].get<std::string>() << ", postgres "
      << endpoints["postgres"].get<std::string>() << "\n"
      << "magic dev: redis " << endpoints["redis"].get<std::string>() << "\n"
      << "magic dev: broker " << endpoints["broker"].get<std::string>() << "\n"
      << "magic dev: controllers " << endpoints["controllers"].dump() << "\n"
      << "magic dev: " << endpoints["sandbox"].get<std::string>() << "\n"
      << "magic dev: ready (Ctrl-C stops)" << std::endl;
  const nlohmann::json state = {{"postgres_url", pg_url},
                                {"master_key_file", *master_key_file},
                                {"redis_url", redis_url},
                                {"grpc", endpoints["grpc"]},
                                {"http", endpoints["http"]},
                                {"broker", (*broker_server)->address()},
                                {"kafka", kafka_config.brokers},
                                {"kafka_mock", kafka_config.mock},
                                {"pid", static_cast<int64_t>(getpid())}};
  if (absl::Status s = WriteDevState(state_dir, state); !s.ok()) {
    MAGIC_LOG(warn, "dev state not written", {{"error", s.ToString()}});
  }
  if (!o.ready_file.empty()) std::ofstream(o.ready_file) << endpoints.dump() << "\n";

  stop_signals.Wait();
  out << "magic dev: stopping" << std::endl;
  control_server->Shutdown();
  (*gw)->Stop();
  worker_service.Stop();
  runners.Stop();
  (*broker_server)->Stop();
  triggers.Stop();
  (*timers)->Stop();
  recorder.Stop();
  (*registry)->Stop();
  std::error_code ec;
  std::filesystem::remove(state_dir + "/state.json", ec);
  return 0;
}

}  // namespace magic::cli
