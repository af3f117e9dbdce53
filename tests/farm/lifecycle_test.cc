// Hot deploy and rollback end to end against the REAL servers (Apache
// Kafka, PostgreSQL): a testing::Farm with `deployments`, whose gateway and
// worker each have their own DeployedRegistry (as separate processes would
// have) and whose Deployer stands for the Control service. Deploy v1,
// invoke, deploy v2, invoke, roll back to v1, invoke: each answer comes from
// the right version, nothing restarts, and a run that started on v1
// finishes on v1 while v2 takes over. Controller names, topics and groups
// are unique per run.
#include "common/ids.h"
#include "contracts/registry.h"
#include "scheduler/deployed_registry.h"
#include "tests/farm/testing/farm.h"

#include <fmt/format.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>
#include <unistd.h>

namespace magic {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

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
    ASSERT_TRUE(farm_.Start()) << farm_.error;
    stub_ = farm_.GatewayStub();
  }

  void TearDown() override {
    farm_.Stop();
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  absl::StatusOr<scheduler::Deployment> DeployDir(const std::string& dir) {
    auto bundle = contracts::LoadBundle(dir);
    if (!bundle.ok()) return bundle.status();
    return farm_.deployer->Deploy((*bundle)->files);
  }

  // Waits until both registries serve `version`; returns how long it took.
  milliseconds WaitActive(const std::string& version) {
    const auto start = std::chrono::steady_clock::now();
    auto is = [&](const contracts::Registry& r) {
      auto v = r.Active(name_);
      return v.ok() && (*v)->version() == version;
    };
    while (!(is(*farm_.registry) && is(*farm_.worker_registry)) &&
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

  const std::string name_ = UniqueName();
  const fs::path root_ = fs::temp_directory_path() / ("magic-lifecycle-" + NewId("lc"));
  // Versions live in the farm's own database, dropped with it: no clean-up.
  testing::Farm farm_{{.controllers = {}, .deployments = true}};
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

  auto back = farm_.deployer->Rollback(name_, "1.0.0");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->previous_version, "2.0.0");
  EXPECT_LT(WaitActive("1.0.0").count(), 1000);
  EXPECT_EQ(Invoke(), "1.0.0/v1");

  ASSERT_TRUE(farm_.deployer->Undeploy(name_).ok());
  const auto start = std::chrono::steady_clock::now();
  while (farm_.registry->Active(name_).ok() &&
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
