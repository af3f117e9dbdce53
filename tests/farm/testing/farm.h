// One in-process farm for the end-to-end tests, on the REAL servers of
// scripts/services (MAGIC_TEST_KAFKA_BROKERS, MAGIC_TEST_POSTGRES_URL):
// result store and recorder, a sandbox worker, a gateway and, when asked,
// the scheduler's timers (retries, watchdog, dead letters) and queue
// triggers. Every topic and consumer group carries a per-run suffix, so
// tests never see each other's messages, and the farm has a PostgreSQL
// database of its own on the test server, so its timers and watchdog never
// act on another test's rows.
//
//   testing::Farm farm({.controllers = {"adder"}, .scheduler = true});
//   ASSERT_TRUE(farm.Start()) << farm.error;
//   auto stub = farm.GatewayStub();
//
// Controllers are copied from worker/testdata/controllers into a temporary
// directory readable by the sandbox user; `files` replaces or adds files in
// that copy ("adder/controller.py" -> text), so a test can make a
// controller fail on purpose without a testdata bundle of its own.
//
// With `deployments`, the registries are hot-deploy ones instead: versions
// in the farm's database, a Deployer (standing for the Control service) and
// one DeployedRegistry for the gateway and another for the worker, as
// separate processes have.
//
// A test that must start something the worker calls (a broker) between the
// farm's data and its services calls Prepare() first, then sets `calls`:
//
//   ASSERT_TRUE(farm.Prepare()) << farm.error;   // registry, database, topics
//   broker = StartBroker(farm.database.url(), *farm.registry);
//   farm.calls = broker_calls.get();
//   ASSERT_TRUE(farm.Start()) << farm.error;     // recorder, worker, gateway
#pragma once

#include "broker/grant.h"
#include "common/clock.h"
#include "common/kafka.h"
#include "common/postgres.h"
#include "common/testing/pg_database.h"
#include "contracts/registry.h"
#include "gateway/gateway_server.h"
#include "gateway/store_reader.h"
#include "magic/v1/gateway.grpc.pb.h"
#include "scheduler/deployed_registry.h"
#include "scheduler/result_store.h"
#include "scheduler/timers.h"
#include "scheduler/triggers.h"
#include "worker/job_executor.h"
#include "worker/runner_pool.h"
#include "worker/sandbox.h"
#include "worker/store_lookup.h"
#include "worker/worker_service.h"

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace magic::testing {

struct FarmOptions {
  // Names under worker/testdata/controllers, or paths with a '/' from the
  // working directory ("examples/invoice_sync"), copied under their last part.
  std::vector<std::string> controllers = {"adder"};
  std::map<std::string, std::string> files;  // path in the copy -> content
  int worker_concurrency = 2;
  int generic_runners = 2;
  // Timers, retries, the watchdog and queue triggers, as magic-scheduler runs them.
  bool scheduler = false;
  scheduler::BackoffOptions backoff{.base = absl::Milliseconds(200), .cap = absl::Seconds(2)};
  absl::Duration watch_interval = absl::Milliseconds(500);
  absl::Duration deadline_grace = absl::Seconds(2);
  int64_t lease_grace_ms = 30'000;
  // Capability calls: deny all unless a test brings its own (broker tests).
  worker::CallHandlerFactory* calls = nullptr;
  const broker::GrantSigner* signer = nullptr;
  // The registry; null: the copied bundles (LoadDirectoryRegistry).
  const contracts::Registry* registry = nullptr;
  // Hot deploys (see the file comment); `controllers` and `registry` unused.
  bool deployments = false;
};

class Farm {
 public:
  explicit Farm(FarmOptions options = {});
  ~Farm();  // Stop()
  Farm(const Farm&) = delete;
  Farm& operator=(const Farm&) = delete;

  // The registry, topics, database, result store and producer; false with
  // `error` set when anything failed (including missing MAGIC_TEST_*
  // variables). Start() calls it when the test did not.
  bool Prepare();
  // Starts everything (the recorder, timers, worker, gateway); false with
  // `error` set when anything failed.
  bool Start();
  void Stop();  // idempotent

  std::string jobs() const { return "magic.invocations." + run; }
  std::string results() const { return "magic.results." + run; }
  std::string cancels() const { return "magic.cancellations." + run; }
  std::string dlq() const { return "magic.dlq." + run; }
  std::string queue_prefix() const { return "magic.queue." + run + "."; }
  std::string deployments_topic() const { return "magic.deployments." + run; }

  std::unique_ptr<magic::v1::Gateway::Stub> GatewayStub() const;
  // Polls the store until `request_id` is finished (or `timeout` passes).
  absl::StatusOr<magic::v1::Invocation> WaitFinished(const std::string& request_id,
                                                     absl::Duration timeout) const;
  // Every message on `topic` from its beginning, read until `want` were seen
  // or `timeout` passed.
  std::vector<std::pair<std::string, std::string>> ReadTopic(const std::string& topic, size_t want,
                                                             absl::Duration timeout) const;

  const FarmOptions options;
  const std::string run;
  std::string error;
  std::filesystem::path controllers_dir;
  kafka::KafkaConfig kafka;
  TestDatabase database;  // the farm's own: its watchdog and timers see only its rows
  std::unique_ptr<contracts::Registry> owned_registry;
  // The gateway's and the scheduler's registry, and the worker's: the same
  // one unless `deployments`.
  const contracts::Registry* registry = nullptr;
  const contracts::Registry* worker_registry = nullptr;
  std::unique_ptr<pg::PgPool> pool;
  std::unique_ptr<scheduler::ResultStore> store;
  std::unique_ptr<gateway::StoreReader> reader;
  std::unique_ptr<worker::StoreLookup> lookup;
  std::unique_ptr<kafka::KafkaProducer> producer;
  std::unique_ptr<scheduler::VersionStore> versions;  // `deployments` only, like the next three
  std::unique_ptr<scheduler::Deployer> deployer;
  std::unique_ptr<scheduler::DeployedRegistry> deployed;         // = registry
  std::unique_ptr<scheduler::DeployedRegistry> worker_deployed;  // = worker_registry
  std::unique_ptr<scheduler::TimerService> timers;
  std::unique_ptr<scheduler::ResultRecorder> recorder;
  std::unique_ptr<scheduler::TriggerService> triggers;
  std::unique_ptr<worker::RunnerFactory> factory;
  std::unique_ptr<worker::RunnerPool> runners;
  worker::DenyAllCallHandlerFactory deny_calls;
  // What the worker's capability calls go to: options.calls, which a test
  // may replace before Start(); null: deny_calls.
  worker::CallHandlerFactory* calls = nullptr;
  std::unique_ptr<worker::SandboxJobExecutor> executor;
  std::unique_ptr<worker::WorkerService> worker;
  std::unique_ptr<gateway::GatewayServer> gateway;

 private:
  bool CopyControllers();
  bool OpenDeployments();
  bool Fail(const absl::Status& s);

  bool prepared_ = false;
  bool stopped_ = false;
};

}  // namespace magic::testing
