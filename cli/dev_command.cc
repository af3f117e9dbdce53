#include "cli/farm_commands.h"
#include "common/clock.h"
#include "common/ids.h"
#include "common/kafka.h"
#include "common/logging.h"
#include "common/postgres.h"
#include "common/service_config.h"
#include "common/topics.h"
#include "contracts/registry.h"
#include "gateway/gateway_server.h"
#include "gateway/store_reader.h"
#include "scheduler/result_store.h"
#include "worker/job_executor.h"
#include "worker/runner_pool.h"
#include "worker/sandbox.h"
#include "worker/store_lookup.h"
#include "worker/worker_service.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <prometheus/registry.h>

#include <fstream>
#include <ostream>
#include <signal.h>

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
  StopSignals stop_signals;
  logging::Init({.component = "dev", .level = "info", .file = ""});
  auto registry = contracts::LoadDirectoryRegistry(o.controllers);
  if (!registry.ok()) return fail("controllers " + o.controllers, registry.status());

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
  worker::StoreLookup lookup(*store->store);
  scheduler::ResultRecorder recorder(*store->store, kafka_config, {});
  if (absl::Status s = recorder.Start(); !s.ok()) return fail("result recorder", s);

  Clock& clock = RealClockInstance();
  auto factory = worker::MakeSandboxRunnerFactory({}, clock);
  if (!factory.ok()) return fail("sandbox", factory.status());
  worker::RunnerPool runners({.generic_target = o.generic_runners}, **factory, clock);
  runners.Start();
  worker::DenyAllCallHandlerFactory calls;
  worker::SandboxJobExecutor executor(**registry, runners, calls, clock);
  auto producer = kafka::MakeKafkaProducer(kafka_config);
  if (!producer.ok()) return fail("Kafka producer", producer.status());
  worker::WorkerService worker_service({.worker_id = NewId("wk_"), .concurrency = o.workers},
                                       kafka_config, **producer, executor, &lookup, clock);
  if (absl::Status s = worker_service.Start(); !s.ok()) return fail("worker", s);

  prometheus::Registry metrics;
  auto gw = gateway::GatewayServer::Start(
      {.grpc_addr = o.grpc_addr, .http_host = http_host, .http_port = http_port}, **registry,
      kafka_config, reader, clock, &metrics);
  if (!gw.ok()) return fail("gateway", gw.status());

  const nlohmann::json endpoints = {
      {"grpc", fmt::format("127.0.0.1:{}", (*gw)->grpc_port())},
      {"http", fmt::format("http://{}:{}", http_host, (*gw)->http_port())},
      {"kafka", kafka_config.brokers + (o.kafka.empty() ? " (embedded)" : "")},
      {"postgres", pg_url + (local_pg ? " (private)" : "")},
      {"controllers", (*registry)->List()},
      {"sandbox", (*factory)->LimitsReport()}};
  out << "magic dev: gRPC " << endpoints["grpc"].get<std::string>() << ", HTTP "
      << endpoints["http"].get<std::string>() << "\n"
      << "magic dev: kafka " << endpoints["kafka"].get<std::string>() << ", postgres "
      << endpoints["postgres"].get<std::string>() << "\n"
      << "magic dev: controllers " << endpoints["controllers"].dump() << "\n"
      << "magic dev: " << endpoints["sandbox"].get<std::string>() << "\n"
      << "magic dev: ready (Ctrl-C stops)" << std::endl;
  if (!o.ready_file.empty()) std::ofstream(o.ready_file) << endpoints.dump() << "\n";

  stop_signals.Wait();
  out << "magic dev: stopping" << std::endl;
  (*gw)->Stop();
  worker_service.Stop();
  runners.Stop();
  recorder.Stop();
  return 0;
}

}  // namespace magic::cli
