#include "tests/farm/testing/farm.h"

#include "common/ids.h"

#include <grpcpp/grpcpp.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <thread>

namespace magic::testing {
namespace {

namespace fs = std::filesystem;

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

}  // namespace

Farm::Farm(FarmOptions o) : options(std::move(o)), run(NewId("tf")), calls(options.calls) {}

Farm::~Farm() { Stop(); }

bool Farm::Fail(const absl::Status& s) {
  error = s.ToString();
  return false;
}

bool Farm::CopyControllers() {
  controllers_dir = fs::temp_directory_path() / ("magic-farm-" + run);
  std::error_code ec;
  for (const std::string& name : options.controllers) {
    const fs::path source = name.find('/') == std::string::npos
                                ? fs::path("worker/testdata/controllers") / name
                                : fs::path(name);
    fs::create_directories(controllers_dir / source.filename(), ec);
    fs::copy(source, controllers_dir / source.filename(), fs::copy_options::recursive, ec);
    if (ec) return Fail(absl::InternalError(name + ": " + ec.message()));
  }
  for (const auto& [path, content] : options.files) {
    fs::create_directories((controllers_dir / path).parent_path(), ec);
    std::ofstream(controllers_dir / path, std::ios::trunc) << content;
  }
  // The sandbox user reads the bundles (a checkout may be private).
  fs::permissions(controllers_dir, fs::perms::others_read | fs::perms::others_exec,
                  fs::perm_options::add, ec);
  for (const auto& entry : fs::recursive_directory_iterator(controllers_dir)) {
    fs::permissions(entry.path(), fs::perms::others_read | fs::perms::others_exec,
                    fs::perm_options::add, ec);
  }
  return true;
}

// The versions live in the farm's database; each registry reads the farm's
// own deployments topic.
bool Farm::OpenDeployments() {
  auto v = scheduler::VersionStore::Open(*pool);
  if (!v.ok()) return Fail(v.status());
  versions = *std::move(v);
  deployer = std::make_unique<scheduler::Deployer>(*versions, *producer, deployments_topic());
  const scheduler::DeployedRegistryOptions registry_options{.topic = deployments_topic()};
  for (auto* target : {&deployed, &worker_deployed}) {
    auto r = scheduler::DeployedRegistry::Start(*versions, kafka, registry_options);
    if (!r.ok()) return Fail(r.status());
    *target = *std::move(r);
  }
  registry = deployed.get();
  worker_registry = worker_deployed.get();
  return true;
}

bool Farm::Prepare() {
  prepared_ = true;
  kafka.brokers = Env("MAGIC_TEST_KAFKA_BROKERS");
  const std::string pg_url = Env("MAGIC_TEST_POSTGRES_URL");
  if (kafka.brokers.empty() || pg_url.empty()) {
    error =
        "MAGIC_TEST_KAFKA_BROKERS / MAGIC_TEST_POSTGRES_URL are not set: run "
        "`scripts/services start` and load /tmp/magic-services/env (scripts/test does)";
    return false;
  }
  registry = options.registry;  // OpenDeployments() replaces it
  if (registry == nullptr && !options.deployments) {
    if (!CopyControllers()) return false;
    auto loaded = contracts::LoadDirectoryRegistry(controllers_dir.string());
    if (!loaded.ok()) return Fail(loaded.status());
    owned_registry = *std::move(loaded);
    registry = owned_registry.get();
  }
  worker_registry = registry;
  std::vector<kafka::TopicSpec> topics = {{.name = jobs(), .partitions = 4},
                                          {.name = results(), .partitions = 2},
                                          {.name = cancels(), .partitions = 1},
                                          {.name = dlq(), .partitions = 1}};
  if (options.deployments) {
    topics.push_back(
        {.name = deployments_topic(), .partitions = 1, .config = {{"cleanup.policy", "compact"}}});
  }
  if (auto s = kafka::EnsureTopics(kafka, topics); !s.ok()) return Fail(s);
  if (auto s = database.Create(pg_url); !s.ok()) return Fail(s);
  auto p = pg::PgPool::Create(database.url(), 6);
  if (!p.ok()) return Fail(p.status());
  pool = *std::move(p);
  auto st = scheduler::MakePgResultStore(*pool);
  if (!st.ok()) return Fail(st.status());
  store = *std::move(st);
  reader = std::make_unique<gateway::StoreReader>(*store);
  lookup = std::make_unique<worker::StoreLookup>(*store);
  auto pr = kafka::MakeKafkaProducer(kafka);
  if (!pr.ok()) return Fail(pr.status());
  producer = *std::move(pr);
  return !options.deployments || OpenDeployments();
}

bool Farm::Start() {
  if (!prepared_ && !Prepare()) return false;
  if (!error.empty()) return false;  // the test called Prepare() and it failed
  Clock& clock = RealClockInstance();
  scheduler::ResultRecorderOptions recorder_options{.topic = results(),
                                                    .group_id = "recorder." + run};
  if (options.scheduler) {
    scheduler::TimerOptions timer_options{.jobs_topic = jobs(),
                                          .dlq_topic = dlq(),
                                          .tick = absl::Milliseconds(100),
                                          .watch_interval = options.watch_interval,
                                          .deadline_grace = options.deadline_grace,
                                          .backoff = options.backoff};
    auto t = scheduler::TimerService::Open(*pool, *registry, options.signer, *producer, clock,
                                           timer_options);
    if (!t.ok()) return Fail(t.status());
    timers = *std::move(t);
    recorder_options.take_retries = [this](std::vector<magic::v1::InvocationResult> results) {
      return timers->TakeRetries(std::move(results));
    };
  }
  recorder = std::make_unique<scheduler::ResultRecorder>(*store, kafka, recorder_options);
  if (auto s = recorder->Start(); !s.ok()) return Fail(s);
  if (options.scheduler) {
    timers->Start();
    triggers = std::make_unique<scheduler::TriggerService>(
        *registry, *store, *timers, options.signer, *producer, kafka, clock,
        scheduler::TriggerOptions{.topic_prefix = queue_prefix(),
                                  .group_prefix = "trigger." + run + ".",
                                  .jobs_topic = jobs(),
                                  .refresh = absl::Milliseconds(500)});
    triggers->Start();
  }

  auto f = worker::MakeSandboxRunnerFactory({}, clock);
  if (!f.ok()) return Fail(f.status());
  factory = *std::move(f);
  runners = std::make_unique<worker::RunnerPool>(
      worker::PoolOptions{.generic_target = options.generic_runners}, *factory, clock);
  runners->Start();
  executor = std::make_unique<worker::SandboxJobExecutor>(
      *worker_registry, *runners, calls != nullptr ? *calls : deny_calls, clock);
  worker = std::make_unique<worker::WorkerService>(
      worker::WorkerOptions{.worker_id = "wk_" + run,
                            .group_id = "workers." + run,
                            .jobs_topic = jobs(),
                            .results_topic = results(),
                            .lease_grace_ms = options.lease_grace_ms,
                            .cancellations_topic = cancels(),
                            .concurrency = options.worker_concurrency},
      kafka, *producer, *executor, lookup.get(), clock);
  if (auto s = worker->Start(); !s.ok()) return Fail(s);

  gateway::GatewayServerOptions gw{.grpc_addr = "127.0.0.1:0", .http_port = 0};
  gw.service.jobs_topic = jobs();
  gw.service.cancellations_topic = cancels();
  gw.service.grant_signer = options.signer;
  auto g = gateway::GatewayServer::Start(gw, *registry, kafka, *reader, clock, nullptr);
  if (!g.ok()) return Fail(g.status());
  gateway = *std::move(g);
  return true;
}

void Farm::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (gateway) gateway->Stop();
  if (triggers) triggers->Stop();
  if (timers) timers->Stop();
  if (worker) worker->Stop();
  if (runners) runners->Stop();
  if (recorder) recorder->Stop();
  // The deployed registries read the versions, which read the pool.
  if (worker_deployed) worker_deployed->Stop();
  if (deployed) deployed->Stop();
  deployer.reset();
  versions.reset();
  store.reset();
  pool.reset();  // before the database is dropped
  std::error_code ec;
  if (!controllers_dir.empty()) fs::remove_all(controllers_dir, ec);
}

std::unique_ptr<magic::v1::Gateway::Stub> Farm::GatewayStub() const {
  return magic::v1::Gateway::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(gateway->grpc_port()), grpc::InsecureChannelCredentials()));
}

absl::StatusOr<magic::v1::Invocation> Farm::WaitFinished(const std::string& request_id,
                                                         absl::Duration timeout) const {
  const absl::Time until = absl::Now() + timeout;
  absl::StatusOr<magic::v1::Invocation> last = absl::NotFoundError("not polled yet");
  while (absl::Now() < until) {
    last = store->Get(request_id);
    if (last.ok() && (last->state() == magic::v1::SUCCEEDED || last->state() == magic::v1::FAILED ||
                      last->state() == magic::v1::CANCELLED)) {
      return last;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (!last.ok()) return last.status();
  return absl::DeadlineExceededError("still " + magic::v1::InvocationState_Name(last->state()));
}

std::vector<std::pair<std::string, std::string>> Farm::ReadTopic(const std::string& topic,
                                                                 size_t want,
                                                                 absl::Duration timeout) const {
  std::vector<std::pair<std::string, std::string>> out;
  auto consumer = kafka::MakeKafkaConsumer(kafka, {});
  if (!consumer.ok()) return out;
  if (!(*consumer)->AssignAll(topic, kafka::StartAt::kBeginning, std::chrono::seconds(10)).ok()) {
    return out;
  }
  const absl::Time until = absl::Now() + timeout;
  while (out.size() < want && absl::Now() < until) {
    auto m = (*consumer)->Poll(std::chrono::milliseconds(200));
    if (!m.ok() || !m->has_value()) continue;
    out.emplace_back(std::string((**m).key()), std::string((**m).value()));
  }
  return out;
}

}  // namespace magic::testing
