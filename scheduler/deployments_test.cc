// The version store, the DeployedRegistry and the Deployer against the real
// servers (scripts/services): needs MAGIC_TEST_POSTGRES_URL and
// MAGIC_TEST_KAFKA_BROKERS and fails without them. Controller names and the
// deployments topic are unique per run.
#include "common/errors.h"
#include "common/testing/status_testing.h"
#include "scheduler/deployed_registry.h"
#include "scheduler/version_store.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <thread>
#include <unistd.h>

namespace magic::scheduler {
namespace {

using contracts::BundleFile;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

std::string RunId() {
  static const std::string id = fmt::format(
      "{}x{}", getpid(), std::chrono::steady_clock::now().time_since_epoch().count() % 1000000007);
  return id;
}

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

// A unique controller name per test and run ("Lc" + test + run id).
std::string Name(std::string_view test) { return fmt::format("Lc{}R{}", test, RunId()); }

std::vector<BundleFile> Bundle(const std::string& name, const std::string& version,
                               const std::string& answer = "hi") {
  return {
      {"contract.yaml", fmt::format("name: {}\nversion: {}\ninput:\n  type: object\n"
                                    "output:\n  type: object\n",
                                    name, version)},
      {"controller.py",
       fmt::format("async def execute(input, ctx):\n    return {{\"answer\": \"{}\"}}\n", answer)}};
}

std::optional<ErrorCode> CodeOf(const absl::Status& s) { return ErrorCodeOf(s); }

class DeploymentsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string url = Env("MAGIC_TEST_POSTGRES_URL");
    kafka_.brokers = Env("MAGIC_TEST_KAFKA_BROKERS");
    ASSERT_FALSE(url.empty() || kafka_.brokers.empty())
        << "MAGIC_TEST_POSTGRES_URL / MAGIC_TEST_KAFKA_BROKERS are not set: start the servers "
           "with `scripts/services start` and load /tmp/magic-services/env";
    pool_ = std::move(pg::PgPool::Create(url, 4)).value();
    auto store = VersionStore::Open(*pool_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  // This run's controllers leave the shared database (every registry start
  // loads all stored versions).
  void TearDown() override {
    if (!pool_) return;
    const std::string like = fmt::format("Lc%R{}", RunId());
    EXPECT_OK(pool_->WithTransaction([&like](pqxx::work& tx) -> absl::Status {
      for (const char* table :
           {"controller_deployments", "deployment_history", "controller_versions"}) {
        tx.exec_params(fmt::format("DELETE FROM magic.{} WHERE name LIKE $1", table), like);
      }
      return absl::OkStatus();
    }));
  }

  // A deployments topic for this run (compacted, like the farm's).
  std::string Topic() {
    const std::string topic = "magic.deployments.test." + RunId();
    EXPECT_OK(kafka::EnsureTopics(
        kafka_, {{.name = topic, .partitions = 1, .config = {{"cleanup.policy", "compact"}}}}));
    return topic;
  }

  kafka::KafkaConfig kafka_;
  std::unique_ptr<pg::PgPool> pool_;
  std::unique_ptr<VersionStore> store_;
};

TEST_F(DeploymentsTest, MigrationIsIdempotent) {
  EXPECT_OK(MigrateVersionStore(*pool_));
  EXPECT_OK(MigrateVersionStore(*pool_));
}

TEST_F(DeploymentsTest, DeployStoresAndActivates) {
  const std::string name = Name("Deploy");
  auto d = store_->Deploy(Bundle(name, "1.0.0"));
  ASSERT_OK(d);
  EXPECT_EQ(d->name, name);
  EXPECT_EQ(d->version, "1.0.0");
  EXPECT_TRUE(d->created);
  EXPECT_EQ(d->previous_version, "");
  EXPECT_EQ(d->digest.size(), 64u);

  auto info = store_->Get(name);
  ASSERT_OK(info);
  EXPECT_EQ(info->active_version, "1.0.0");
  ASSERT_EQ(info->versions.size(), 1u);
  EXPECT_TRUE(info->versions[0].active);
  EXPECT_EQ(info->versions[0].digest, d->digest);
  EXPECT_GT(info->versions[0].created_unix_ms, 0);

  auto loaded = store_->Load(name, "1.0.0");
  ASSERT_OK(loaded);
  EXPECT_EQ((*loaded)->digest, d->digest);  // bytes round-trip through bytea
  EXPECT_EQ((*loaded)->entry, "controller.py");

  auto all = store_->List();
  ASSERT_OK(all);
  bool listed = false;
  for (const ControllerInfo& c : *all) listed |= c.name == name && c.active_version == "1.0.0";
  EXPECT_TRUE(listed);
}

TEST_F(DeploymentsTest, BadBundlesAreE4001) {
  const std::string name = Name("Bad");
  std::vector<BundleFile> no_name = Bundle(name, "1.0.0");
  no_name[0].content = "version: 1.0.0\ninput: {type: object}\noutput: {type: object}\n";
  auto r = store_->Deploy(no_name);
  EXPECT_EQ(CodeOf(r.status()), ErrorCode::kE4001) << r.status();
  EXPECT_TRUE(ErrorFromStatus(r.status()).details.contains("findings"));

  std::vector<BundleFile> no_entry = Bundle(name, "1.0.0");
  no_entry[1].path = "other.py";
  EXPECT_EQ(CodeOf(store_->Deploy(no_entry).status()), ErrorCode::kE4001);

  for (const char* path : {"../evil.py", "/abs.py", "a//b.py", ".hidden.py", "__pycache__/x.py",
                           "data.bin", "sub/contract.yaml"}) {
    std::vector<BundleFile> files = Bundle(name, "1.0.0");
    files.push_back({path, "x = 1\n"});
    EXPECT_EQ(CodeOf(store_->Deploy(files).status()), ErrorCode::kE4001) << path;
  }
  std::vector<BundleFile> twice = Bundle(name, "1.0.0");
  twice.push_back(twice[1]);
  EXPECT_EQ(CodeOf(store_->Deploy(twice).status()), ErrorCode::kE4001);
  EXPECT_EQ(CodeOf(store_->Deploy({}).status()), ErrorCode::kE4001);
  std::vector<BundleFile> huge = Bundle(name, "1.0.0");
  huge.push_back({"big.py", std::string(size_t{9} << 20, '#')});
  EXPECT_EQ(CodeOf(store_->Deploy(huge).status()), ErrorCode::kE4001);
  // Nothing was stored.
  EXPECT_EQ(CodeOf(store_->Get(name).status()), ErrorCode::kE4003);
}

TEST_F(DeploymentsTest, SameVersionOtherContentIsE4002AndSameContentIsIdempotent) {
  const std::string name = Name("Twice");
  auto first = store_->Deploy(Bundle(name, "1.0.0", "one"));
  ASSERT_OK(first);
  auto clash = store_->Deploy(Bundle(name, "1.0.0", "changed"));
  EXPECT_EQ(CodeOf(clash.status()), ErrorCode::kE4002) << clash.status();
  EXPECT_EQ(ErrorFromStatus(clash.status()).details["stored_digest"], first->digest);
  auto again = store_->Deploy(Bundle(name, "1.0.0", "one"));
  ASSERT_OK(again);
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->digest, first->digest);
  auto info = store_->Get(name);
  ASSERT_OK(info);
  EXPECT_EQ(info->versions.size(), 1u);
}

TEST_F(DeploymentsTest, RollbackAndE4004) {
  const std::string name = Name("Roll");
  ASSERT_OK(store_->Deploy(Bundle(name, "1.0.0", "one")));
  auto v2 = store_->Deploy(Bundle(name, "2.0.0", "two"));
  ASSERT_OK(v2);
  EXPECT_EQ(v2->previous_version, "1.0.0");
  auto back = store_->Activate(name, "1.0.0");
  ASSERT_OK(back);
  EXPECT_EQ(back->version, "1.0.0");
  EXPECT_EQ(back->previous_version, "2.0.0");
  auto active = store_->ActiveVersion(name);
  ASSERT_OK(active);
  EXPECT_EQ(active->value_or(""), "1.0.0");

  EXPECT_EQ(CodeOf(store_->Activate(name, "9.9.9").status()), ErrorCode::kE4004);
  EXPECT_EQ(CodeOf(store_->Activate(Name("Never"), "1.0.0").status()), ErrorCode::kE4004);
  active = store_->ActiveVersion(name);
  ASSERT_OK(active);
  EXPECT_EQ(active->value_or(""), "1.0.0");  // a failed rollback changes nothing
}

TEST_F(DeploymentsTest, UndeployKeepsVersions) {
  const std::string name = Name("Undeploy");
  ASSERT_OK(store_->Deploy(Bundle(name, "1.0.0")));
  auto gone = store_->Undeploy(name);
  ASSERT_OK(gone);
  EXPECT_TRUE(gone->undeployed);
  EXPECT_EQ(gone->previous_version, "1.0.0");
  EXPECT_EQ(CodeOf(store_->Undeploy(name).status()), ErrorCode::kE4003);
  EXPECT_EQ(CodeOf(store_->Undeploy(Name("Never")).status()), ErrorCode::kE4003);
  auto info = store_->Get(name);
  ASSERT_OK(info);
  EXPECT_EQ(info->active_version, "");
  EXPECT_EQ(info->versions.size(), 1u);
  EXPECT_OK(store_->Load(name, "1.0.0").status());
  // A rollback revives it.
  ASSERT_OK(store_->Activate(name, "1.0.0"));
}

// Polls `registry` until `pred` holds or `limit` passes; returns the time taken.
template <typename Pred>
milliseconds WaitFor(Pred pred, milliseconds limit = milliseconds(5000)) {
  const auto start = steady_clock::now();
  while (!pred() && steady_clock::now() - start < limit) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  return std::chrono::duration_cast<milliseconds>(steady_clock::now() - start);
}

std::string ActiveOf(const contracts::Registry& r, const std::string& name) {
  auto v = r.Active(name);
  return v.ok() ? (*v)->version() : "";
}

TEST_F(DeploymentsTest, RegistrySwitchesWithinASecondOnAnotherInstancesDeploy) {
  const std::string topic = Topic();
  const std::string name = Name("Hot");
  // The registry stands for a gateway or worker; the deployer, with its own
  // pool and store, for a scheduler elsewhere.
  auto registry = DeployedRegistry::Start(*store_, kafka_, {.topic = topic});
  ASSERT_OK(registry);
  EXPECT_EQ(CodeOf((*registry)->Active(name).status()), ErrorCode::kE4003);

  auto other_pool = std::move(pg::PgPool::Create(Env("MAGIC_TEST_POSTGRES_URL"), 2)).value();
  auto other_store = std::move(VersionStore::Open(*other_pool)).value();
  auto producer = std::move(kafka::MakeKafkaProducer(kafka_)).value();
  Deployer deployer(*other_store, *producer, topic);

  ASSERT_OK(deployer.Deploy(Bundle(name, "1.0.0", "one")));
  milliseconds took = WaitFor([&] { return ActiveOf(**registry, name) == "1.0.0"; });
  EXPECT_EQ(ActiveOf(**registry, name), "1.0.0");
  EXPECT_LT(took.count(), 1000);

  ASSERT_OK(deployer.Deploy(Bundle(name, "2.0.0", "two")));
  took = WaitFor([&] { return ActiveOf(**registry, name) == "2.0.0"; });
  EXPECT_EQ(ActiveOf(**registry, name), "2.0.0");
  EXPECT_LT(took.count(), 1000);
  EXPECT_OK((*registry)->Get(name, "1.0.0").status());  // in-flight v1 jobs still run

  ASSERT_OK(deployer.Rollback(name, "1.0.0"));
  took = WaitFor([&] { return ActiveOf(**registry, name) == "1.0.0"; });
  EXPECT_EQ(ActiveOf(**registry, name), "1.0.0");
  EXPECT_LT(took.count(), 1000);
  EXPECT_EQ(CodeOf(deployer.Rollback(name, "3.0.0").status()), ErrorCode::kE4004);

  ASSERT_OK(deployer.Undeploy(name));
  took = WaitFor([&] { return !(*registry)->Active(name).ok(); });
  EXPECT_EQ(CodeOf((*registry)->Active(name).status()), ErrorCode::kE4003);
  EXPECT_LT(took.count(), 1000);
  EXPECT_OK((*registry)->Get(name, "2.0.0").status());
  auto names = (*registry)->List();
  EXPECT_EQ(std::count(names.begin(), names.end(), name), 0);
}

TEST_F(DeploymentsTest, RegistryLoadsStoredVersionsAtStartAndMissingOnesOnDemand) {
  const std::string topic = Topic();
  const std::string name = Name("Start");
  ASSERT_OK(store_->Deploy(Bundle(name, "1.0.0", "one")));
  ASSERT_OK(store_->Deploy(Bundle(name, "1.1.0", "two")));
  auto registry = DeployedRegistry::Start(*store_, kafka_, {.topic = topic});
  ASSERT_OK(registry);
  EXPECT_EQ(ActiveOf(**registry, name), "1.1.0");
  EXPECT_OK((*registry)->Get(name, "1.0.0").status());
  // Stored without an announcement (as if the event were still on its way):
  // Get() finds it in PostgreSQL; the active pointer moves at the next event.
  ASSERT_OK(store_->Deploy(Bundle(name, "1.2.0", "three")));
  auto v = (*registry)->Get(name, "1.2.0");
  ASSERT_OK(v);
  EXPECT_EQ((*v)->version(), "1.2.0");
  EXPECT_EQ(ActiveOf(**registry, name), "1.1.0");
  EXPECT_EQ(CodeOf((*registry)->Get(name, "7.0.0").status()), ErrorCode::kE4003);
  ASSERT_OK((*registry)->Refresh(name));
  EXPECT_EQ(ActiveOf(**registry, name), "1.2.0");
}

TEST_F(DeploymentsTest, RegistryStartFailsWithoutTheTopic) {
  auto registry = DeployedRegistry::Start(
      *store_, kafka_,
      {.topic = "magic.deployments.absent." + RunId(), .start_timeout = milliseconds(2000)});
  EXPECT_FALSE(registry.ok());
}

}  // namespace
}  // namespace magic::scheduler
