// Hot deploy and rollback end to end against the REAL servers (Apache
// Kafka, PostgreSQL): a gateway and a worker, each with its own
// DeployedRegistry (as separate processes would have), a Deployer standing
// for the Control service. Deploy v1, invoke, deploy v2, invoke, roll back
// to v1, invoke: each answer comes from the right version, nothing
// restarts, and a run that started on v1 finishes on v1 while v2 takes
// over. Controller names, topics and groups are unique per run.
#include "common/clock.h"
#include "common/ids.h"
#include "common/kafka.h"
#include "common/postgres.h"
#include "gateway/gateway_server.h"
#include "gateway/store_reader.h"
#include "magic/v1/gateway.grpc.pb.h"
#include "scheduler/deployed_registry.h"
#include "scheduler/result_store.h"
#include "worker/job_executor.h"
#include "worker/runner_pool.h"
#include "worker/sandbox.h"
#include "worker/store_lookup.h"
#include "worker/worker_service.h"

#include <fmt/format.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>
#include <unistd.h>

namespace magic {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

// Writes bundle `version` of `name` under `root`; its answer names `tag`.
// Input {"sleep": s} makes it wait s seconds first (an in-flight run).
std::string WriteBundle(const fs::path& root, const std::string& name, const std::string& version,
                        const std::string& tag) {
  const fs::path dir = root / tag;
  fs::create_directories(dir);
  std::ofstream(dir / "contract.yaml") << fmt::format(
      "name: {}\nversion: {}\ninput:\n  type: object\noutput:\n  type: object\n"
      "resources:\n  timeout: 20s\n",
      name, version);
  std::ofstream(dir / "controller.py") << "import asyncio\n\n\nasync def execute(input, ctx):\n"
                                          "    if input.get(\"sleep\"):\n"
                                          "        await asyncio.sleep(input[\"sleep\"])\n"
                                       << fmt::format("    return {{\"tag\": \"{}\"}}\n", tag);
  return dir.string();
}

// PascalCase and unique per test and run (contract names are PascalCase).
std::string UniqueName() {
  static int counter = 0;
  return fmt::format("LifecycleP{}T{}N{}", getpid(),
                     std::chrono::steady_clock::now().time_since_epoch().count() % 1000000007,
                     ++counter);
}

class LifecycleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kafka_.brokers = Env("MAGIC_TEST_KAFKA_BROKERS");
    const std::string pg_url = Env("MAGIC_TEST_POSTGRES_URL");
    ASSERT_FALSE(kafka_.brokers.empty() || pg_url.empty())
        << "MAGIC_TEST_KAFKA_BROKERS / MAGIC_TEST_POSTGRES_URL are not set: run "
           "`scripts/services start` and load its env file (scripts/test does)";
    Clock& clock = RealClockInstance();
    const std::string deployments = "magic.deployments." + run_;
    ASSERT_TRUE(kafka::EnsureTopics(kafka_, {{.name = jobs(), .partitions = 2},
                                             {.name = results(), .partitions = 1},
                                             {.name = cancels(), .partitions = 1},
                                             {.name = deployments,
                                              .partitions = 1,
                                              .config = {{"cleanup.policy", "compact"}}}})
                    .ok());
    pool_ = std::move(pg::PgPool::Create(pg_url, 6)).value();
    results_ = std::move(scheduler::MakePgResultStore(*pool_)).value();
    versions_ = std::move(scheduler::VersionStore::Open(*pool_)).value();
    reader_ = std::make_unique<gateway::StoreReader>(*results_);
    lookup_ = std::make_unique<worker::StoreLookup>(*results_);
    producer_ = std::move(kafka::MakeKafkaProducer(kafka_)).value();
    deployer_ = std::make_unique<scheduler::Deployer>(*versions_, *producer_, deployments);
    const scheduler::DeployedRegistryOptions registry_options{.topic = deployments};
    gateway_registry_ =
        std::move(scheduler::DeployedRegistry::Start(*versions_, kafka_, registry_options)).value();
    worker_registry_ =
        std::move(scheduler::DeployedRegistry::Start(*versions_, kafka_, registry_options)).value();
    factory_ = std::move(worker::MakeSandboxRunnerFactory({}, clock)).value();
    runners_ = std::make_unique<worker::RunnerPool>(worker::PoolOptions{.generic_target = 2},
                                                    *factory_, clock);
    runners_->Start();
    executor_ =
        std::make_unique<worker::SandboxJobExecutor>(*worker_registry_, *runners_, calls_, clock);
    worker_ = std::make_unique<worker::WorkerService>(
        worker::WorkerOptions{.worker_id = "wk_" + run_,
                              .group_id = "workers." + run_,
                              .jobs_topic = jobs(),
                              .results_topic = results(),
                              .cancellations_topic = cancels(),
                              .concurrency = 2},
        kafka_, *producer_, *executor_, lookup_.get(), clock);
    ASSERT_TRUE(worker_->Start().ok());
    gateway::GatewayServerOptions gw{.grpc_addr = "127.0.0.1:0", .http_port = 0};
    gw.service.jobs_topic = jobs();
    gw.service.cancellations_topic = cancels();
    gateway_ = std::move(gateway::GatewayServer::Start(gw, *gateway_registry_, kafka_, *reader_,
                                                       clock, nullptr))
                   .value();
    stub_ = magic::v1::Gateway::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(gateway_->grpc_port()), grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    if (gateway_) gateway_->Stop();
    if (worker_) worker_->Stop();
    if (runners_) runners_->Stop();
    std::error_code ec;
    fs::remove_all(root_, ec);
    if (!pool_) return;
    // This run's controller leaves the shared database.
    (void)pool_->WithTransaction([this](pqxx::work& tx) -> absl::Status {
      for (const char* table :
           {"controller_deployments", "deployment_history", "controller_versions"}) {
        tx.exec_params(fmt::format("DELETE FROM magic.{} WHERE name = $1", table), name_);
      }
      return absl::OkStatus();
    });
  }

  std::string jobs() const { return "magic.invocations." + run_; }
  std::string results() const { return "magic.results." + run_; }
  std::string cancels() const { return "magic.cancellations." + run_; }

  absl::StatusOr<scheduler::Deployment> DeployDir(const std::string& dir) {
    auto bundle = contracts::LoadBundle(dir);
    if (!bundle.ok()) return bundle.status();
    return deployer_->Deploy((*bundle)->files);
  }

  // Waits until both registries serve `version`; returns how long it took.
  milliseconds WaitActive(const std::string& version) {
    const auto start = std::chrono::steady_clock::now();
    auto is = [&](const contracts::Registry& r) {
      auto v = r.Active(name_);
      return v.ok() && (*v)->version() == version;
    };
    while (!(is(*gateway_registry_) && is(*worker_registry_)) &&
           std::chrono::steady_clock::now() - start < std::chrono::seconds(5)) {
      std::this_thread::sleep_for(milliseconds(5));
    }
    return std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start);
  }

  // Invokes the controller; "version/tag" of the answer, or the error.
  std::string Invoke(const std::string& input = "{}") {
    magic::v1::InvokeRequest req;
    req.set_controller(name_);
    req.set_input_json(input);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    magic::v1::InvokeResponse response;
    grpc::Status s = stub_->Invoke(&ctx, req, &response);
    if (!s.ok()) return "error: " + s.error_message();
    nlohmann::json out = nlohmann::json::parse(response.output_json(), nullptr, false);
    return response.version() + "/" + (out.is_object() ? out.value("tag", "?") : "?");
  }

  const std::string run_ = NewId("lc");
  const std::string name_ = UniqueName();
  const fs::path root_ = fs::temp_directory_path() / ("magic-lifecycle-" + run_);
  kafka::KafkaConfig kafka_;
  std::unique_ptr<pg::PgPool> pool_;
  std::unique_ptr<scheduler::ResultStore> results_;
  std::unique_ptr<scheduler::VersionStore> versions_;
  std::unique_ptr<gateway::StoreReader> reader_;
  std::unique_ptr<worker::StoreLookup> lookup_;
  std::unique_ptr<kafka::KafkaProducer> producer_;
  std::unique_ptr<scheduler::Deployer> deployer_;
  std::unique_ptr<scheduler::DeployedRegistry> gateway_registry_;
  std::unique_ptr<scheduler::DeployedRegistry> worker_registry_;
  std::unique_ptr<worker::RunnerFactory> factory_;
  std::unique_ptr<worker::RunnerPool> runners_;
  worker::DenyAllCallHandlerFactory calls_;
  std::unique_ptr<worker::SandboxJobExecutor> executor_;
  std::unique_ptr<worker::WorkerService> worker_;
  std::unique_ptr<gateway::GatewayServer> gateway_;
  std::unique_ptr<magic::v1::Gateway::Stub> stub_;
};

TEST_F(LifecycleTest, DeployInvokeDeployInvokeRollbackInvoke) {
  const std::string v1 = WriteBundle(root_, name_, "1.0.0", "v1");
  const std::string v2 = WriteBundle(root_, name_, "2.0.0", "v2");
  EXPECT_EQ(Invoke().substr(0, 12), "error: E4003");  // not deployed yet

  ASSERT_TRUE(DeployDir(v1).ok());
  EXPECT_LT(WaitActive("1.0.0").count(), 1000);
  EXPECT_EQ(Invoke(), "1.0.0/v1");

  ASSERT_TRUE(DeployDir(v2).ok());
  EXPECT_LT(WaitActive("2.0.0").count(), 1000);
  EXPECT_EQ(Invoke(), "2.0.0/v2");

  auto back = deployer_->Rollback(name_, "1.0.0");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->previous_version, "2.0.0");
  EXPECT_LT(WaitActive("1.0.0").count(), 1000);
  EXPECT_EQ(Invoke(), "1.0.0/v1");

  ASSERT_TRUE(deployer_->Undeploy(name_).ok());
  const auto start = std::chrono::steady_clock::now();
  while (gateway_registry_->Active(name_).ok() &&
         std::chrono::steady_clock::now() - start < std::chrono::seconds(5)) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  EXPECT_EQ(Invoke().substr(0, 12), "error: E4003");
}

TEST_F(LifecycleTest, InFlightRunFinishesOnItsVersion) {
  ASSERT_TRUE(DeployDir(WriteBundle(root_, name_, "1.0.0", "v1")).ok());
  ASSERT_LT(WaitActive("1.0.0").count(), 1000);
  EXPECT_EQ(Invoke(), "1.0.0/v1");  // warms v1
  // A slow v1 run is in flight while v2 takes over.
  std::future<std::string> slow =
      std::async(std::launch::async, [this] { return Invoke(R"({"sleep": 2})"); });
  std::this_thread::sleep_for(milliseconds(500));
  ASSERT_TRUE(DeployDir(WriteBundle(root_, name_, "2.0.0", "v2")).ok());
  EXPECT_LT(WaitActive("2.0.0").count(), 1000);
  EXPECT_EQ(Invoke(), "2.0.0/v2");
  EXPECT_EQ(slow.get(), "1.0.0/v1");
}

}  // namespace
}  // namespace magic
