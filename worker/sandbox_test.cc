// End-to-end tests of the sandbox: real bubblewrap sandboxes, real cgroups,
// the real runner (label "sandbox": needs root and /usr/bin/bwrap).
#include "worker/sandbox.h"

#include "common/clock.h"
#include "common/errors.h"
#include "worker/runner_pool.h"
#include "worker/testing/sandbox_fixture.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <random>
#include <signal.h>
#include <stdlib.h>
#include <thread>

namespace magic::worker {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using testing::LoadTestController;
using ::testing::Not;
using testing::RecordingSink;
using testing::TestController;

std::string Unique(const std::string& prefix) {
  std::random_device random;
  return prefix + std::to_string(random()) + std::to_string(random());
}

double MillisSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

class SandboxTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<RunnerFactory>> factory =
        MakeSandboxRunnerFactory(SandboxConfig{}, RealClockInstance());
    if (!factory.ok()) {
      std::cerr << "no sandbox factory: " << factory.status() << "\n";
      return;
    }
    factory_ = std::move(*factory).release();
    std::cout << "[ sandbox  ] " << factory_->LimitsReport() << "\n";
  }
  static void TearDownTestSuite() {
    delete factory_;
    factory_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(factory_, nullptr) << "sandbox factory unavailable"; }

  // A runner loaded with test controller `name`.
  std::unique_ptr<Runner> Start(const std::string& name, TestController& controller,
                                bool mount_dir = false) {
    absl::StatusOr<TestController> loaded = LoadTestController(name, mount_dir);
    EXPECT_TRUE(loaded.ok()) << loaded.status();
    if (!loaded.ok()) return nullptr;
    controller = std::move(*loaded);
    absl::StatusOr<std::unique_ptr<Runner>> runner =
        factory_->StartGeneric(controller.bundle.profile);
    EXPECT_TRUE(runner.ok()) << runner.status();
    if (!runner.ok()) return nullptr;
    absl::Status loaded_status = (*runner)->Load(controller.bundle, sink_);
    EXPECT_TRUE(loaded_status.ok()) << loaded_status;
    return loaded_status.ok() ? std::move(*runner) : nullptr;
  }

  absl::StatusOr<json> Run(Runner& runner, const TestController& controller, json input,
                           const std::string& request_id = "req_test") {
    InvocationHooks hooks{calls_, sink_};
    return RunAndValidate(runner, *controller.compiled,
                          {request_id, std::move(input), controller.bundle.limits.timeout}, hooks);
  }

  static RunnerFactory* factory_;
  RecordingSink sink_;
  DenyAllCallHandler calls_;
};

RunnerFactory* SandboxTest::factory_ = nullptr;

TEST_F(SandboxTest, ClassControllerAnswersAndLogsWithRequestId) {
  TestController greeter;
  std::unique_ptr<Runner> runner = Start("greeter", greeter);
  ASSERT_NE(runner, nullptr);
  absl::StatusOr<json> out = Run(*runner, greeter, {{"name", "World"}}, "req_greet_1");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, json({{"greeting", "Hello, World!"}, {"request_id", "req_greet_1"}}));

  std::vector<LogRecord> logs = sink_.logs();
  ASSERT_EQ(logs.size(), 1u);
  EXPECT_EQ(logs[0].request_id, "req_greet_1");
  EXPECT_EQ(logs[0].level, "info");
  EXPECT_EQ(logs[0].msg, "greeting");
  EXPECT_EQ(logs[0].fields["name"], "World");
  EXPECT_EQ(logs[0].fields["contract"], "/controller/greeter.contract.yaml");
  std::vector<MetricRecord> metrics = sink_.metrics();
  ASSERT_EQ(metrics.size(), 1u);
  EXPECT_EQ(metrics[0].request_id, "req_greet_1");
  EXPECT_EQ(metrics[0].name, "greetings_total");
  EXPECT_EQ(metrics[0].labels["style"], "plain");
  EXPECT_TRUE(runner->reusable());
}

TEST_F(SandboxTest, FunctionControllerWithAPackage) {
  TestController adder;
  std::unique_ptr<Runner> runner = Start("adder", adder);
  ASSERT_NE(runner, nullptr);
  absl::StatusOr<json> out = Run(*runner, adder, {{"a", 2}, {"b", 40}}, "req_add");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, json({{"sum", 42}, {"request_id", "req_add"}}));
}

TEST_F(SandboxTest, OutputBreakingTheSchemaIsE1004) {
  TestController bad;
  std::unique_ptr<Runner> runner = Start("bad_output", bad);
  ASSERT_NE(runner, nullptr);
  absl::StatusOr<json> out = Run(*runner, bad, {{"mode", "wrong_type"}});
  EXPECT_EQ(ErrorCodeOf(out.status()), ErrorCode::kE1004) << out.status();
  out = Run(*runner, bad, {{"mode", "not_json"}});
  EXPECT_EQ(ErrorCodeOf(out.status()), ErrorCode::kE1004) << out.status();
  EXPECT_TRUE(runner->reusable());
}

TEST_F(SandboxTest, UnhandledExceptionIsE3003WithASandboxOnlyTraceback) {
  TestController crasher;
  std::unique_ptr<Runner> runner = Start("crasher", crasher);
  ASSERT_NE(runner, nullptr);
  absl::StatusOr<json> out = Run(*runner, crasher, {{"mode", "divide"}});
  ASSERT_EQ(ErrorCodeOf(out.status()), ErrorCode::kE3003) << out.status();
  const Error error = ErrorFromStatus(out.status());
  const std::string traceback = error.details.value("traceback", "");
  EXPECT_THAT(traceback, HasSubstr("File \"/controller/crasher.py\""));
  EXPECT_THAT(traceback, HasSubstr("in ratio"));
  EXPECT_THAT(traceback, HasSubstr("ZeroDivisionError"));
  EXPECT_THAT(traceback, Not(HasSubstr("_runner.py")));
  EXPECT_THAT(traceback, Not(HasSubstr("/work/")));
  EXPECT_EQ(error.details["exception"], "ZeroDivisionError");
  EXPECT_TRUE(runner->reusable());  // a controller exception does not poison the runner
  EXPECT_EQ(ErrorCodeOf(Run(*runner, crasher, {{"mode", "divide"}}).status()), ErrorCode::kE3003);
}

TEST_F(SandboxTest, MagicErrorsKeepTheirCodes) {
  TestController crasher;
  std::unique_ptr<Runner> runner = Start("crasher", crasher);
  ASSERT_NE(runner, nullptr);
  absl::StatusOr<json> out = Run(*runner, crasher, {{"mode", "input_error"}});
  EXPECT_EQ(ErrorCodeOf(out.status()), ErrorCode::kE1003);
  EXPECT_EQ(ErrorFromStatus(out.status()).details["field"], "amount");
  // Capabilities exist in the sandbox and fail with E2001 (no broker yet).
  out = Run(*runner, crasher, {{"mode", "capability"}});
  EXPECT_EQ(ErrorCodeOf(out.status()), ErrorCode::kE2001) << out.status();
  out = Run(*runner, crasher, {{"mode", "capability_caught"}});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, json({{"caught", "E2001"}}));
}

TEST_F(SandboxTest, TimeoutKillsTheWholeSandbox) {
  TestController sleeper;
  std::unique_ptr<Runner> runner = Start("sleeper", sleeper);
  ASSERT_NE(runner, nullptr);
  const int pid = runner->pid();
  const std::string marker = Unique("magic-sleeper-marker-");
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<json> out = Run(*runner, sleeper, {{"marker", marker}});
  const double elapsed = MillisSince(start);
  EXPECT_EQ(ErrorCodeOf(out.status()), ErrorCode::kE3001) << out.status();
  EXPECT_GE(elapsed, 1000);
  EXPECT_LT(elapsed, 3000);
  EXPECT_FALSE(runner->reusable());
  EXPECT_EQ(runner->pid(), -1);
  EXPECT_NE(kill(pid, 0), 0);  // bwrap is reaped
  EXPECT_TRUE(testing::PidsWithArgument(marker).empty()) << "the controller's child survived";
}

TEST_F(SandboxTest, MemoryLimitIsE3002) {
  TestController hog;
  std::unique_ptr<Runner> runner = Start("memory_hog", hog);
  ASSERT_NE(runner, nullptr);
  absl::StatusOr<json> out = Run(*runner, hog, {{"megabytes", 512}});
  EXPECT_EQ(ErrorCodeOf(out.status()), ErrorCode::kE3002) << out.status();
  EXPECT_FALSE(runner->reusable());
}

class ProbeTest : public SandboxTest {
 protected:
  void SetUp() override {
    SandboxTest::SetUp();
    runner_ = Start("probe", probe_);
    ASSERT_NE(runner_, nullptr);
  }
  json Probe(json input) {
    absl::StatusOr<json> out = Run(*runner_, probe_, std::move(input));
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? *out : json{{"ok", nullptr}};
  }
  bool Works(const std::string& check, const std::string& path = "") {
    json out = Probe({{"check", check}, {"path", path}});
    return out["ok"] == true;
  }

  TestController probe_;
  std::unique_ptr<Runner> runner_;
};

TEST_F(ProbeTest, NoNetworkButUnixSocketpairs) {
  json tcp = Probe({{"check", "tcp"}});
  EXPECT_EQ(tcp["ok"], false);
  EXPECT_THAT(tcp["detail"].get<std::string>(), HasSubstr("PermissionError"));
  EXPECT_FALSE(Works("udp"));
  EXPECT_FALSE(Works("netlink"));
  EXPECT_TRUE(Works("unix"));
}

TEST_F(ProbeTest, HostFilesAreInvisible) {
  const std::string marker = "/tmp/" + Unique("magic-host-marker-");
  std::ofstream(marker) << "host secret";
  EXPECT_FALSE(Works("read", marker));
  std::remove(marker.c_str());
  EXPECT_FALSE(Works("read", "/etc/shadow"));
  EXPECT_FALSE(Works("read", "/etc/passwd"));
  EXPECT_FALSE(Works("list", "/root"));
  EXPECT_FALSE(Works("list", "/work"));
  EXPECT_FALSE(Works("read", "/proc/1/root/etc/shadow"));
  EXPECT_TRUE(Works("read", "/usr/lib/os-release"));  // /usr is there, read-only
  json root = Probe({{"check", "list"}, {"path", "/"}});
  for (const char* absent : {"'etc'", "'root'", "'home'", "'work'", "'tmp'", "'var'"}) {
    EXPECT_THAT(root["detail"].get<std::string>(), Not(HasSubstr(absent)));
  }
}

TEST_F(ProbeTest, WorkerEnvironmentIsInvisible) {
  setenv("MAGIC_SECRET_TEST", "xyz", 1);
  // A fresh sandbox, started after the variable exists.
  TestController probe;
  std::unique_ptr<Runner> runner = Start("probe", probe);
  ASSERT_NE(runner, nullptr);
  absl::StatusOr<json> out = Run(*runner, probe, {{"check", "env"}});
  unsetenv("MAGIC_SECRET_TEST");
  ASSERT_TRUE(out.ok()) << out.status();
  json env = json::parse((*out)["detail"].get<std::string>());
  EXPECT_FALSE(env.contains("MAGIC_SECRET_TEST"));
  for (const auto& [key, value] : env.items()) {
    EXPECT_THAT(
        key, ::testing::AnyOf("LANG", "PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "PWD", "LC_CTYPE"));
  }
}

TEST_F(ProbeTest, NothingIsWritableWithoutFsTemp) {
  for (const char* path : {"/controller/x", "/usr/x", "/x", "/tmp/x", "/dev/shm/x", "/dev/x",
                           "/magic/sdk/magic/x.py"}) {
    EXPECT_FALSE(Works("write", path)) << path;
  }
}

TEST_F(ProbeTest, RunsUnprivileged) {
  json who = json::parse(Probe({{"check", "whoami"}})["detail"].get<std::string>());
  EXPECT_EQ(who["uid"], 65534);
  EXPECT_EQ(who["gid"], 65534);
}

TEST_F(ProbeTest, ForkBombStopsAtThePidsLimit) {
  if (factory_->LimitsReport().find("pids=none") != std::string::npos) {
    GTEST_SKIP() << "no pids controller on this host";
  }
  json out = Probe({{"check", "fork_bomb"}});
  EXPECT_EQ(out["ok"], false);
  EXPECT_LT(out["count"].get<int>(), 64);
  EXPECT_GT(out["count"].get<int>(), 0);
}

TEST_F(ProbeTest, GarbageOnTheChannelKillsTheRunner) {
  absl::StatusOr<json> out = Run(*runner_, probe_, {{"check", "garbage"}});
  EXPECT_EQ(ErrorCodeOf(out.status()), ErrorCode::kE3005) << out.status();
  EXPECT_FALSE(runner_->reusable());
}

TEST_F(ProbeTest, AnExitingSandboxIsE3005) {
  absl::StatusOr<json> out = Run(*runner_, probe_, {{"check", "exit"}});
  EXPECT_EQ(ErrorCodeOf(out.status()), ErrorCode::kE3005) << out.status();
  EXPECT_FALSE(runner_->reusable());
}

TEST_F(SandboxTest, FsTempGivesABoundedWritableTmp) {
  TestController probe;
  std::unique_ptr<Runner> runner = Start("probe_temp", probe);
  ASSERT_NE(runner, nullptr);
  ASSERT_TRUE(probe.bundle.profile.tmp_size_bytes.has_value());
  EXPECT_EQ(*probe.bundle.profile.tmp_size_bytes, 1 << 20);
  absl::StatusOr<json> out = Run(*runner, probe, {{"check", "write"}, {"path", "/tmp/x"}});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)["ok"], true);
  out = Run(*runner, probe, {{"check", "tmp_write"}, {"bytes", 4 << 20}});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)["ok"], false);  // ENOSPC
  EXPECT_LE((*out)["count"].get<int>(), 1 << 20);
  out = Run(*runner, probe, {{"check", "write"}, {"path", "/controller/x"}});
  EXPECT_EQ((*out)["ok"], false);
}

TEST_F(SandboxTest, WarmRunnerKeepsModuleStateButNotInstanceState) {
  TestController stateful;
  std::unique_ptr<Runner> runner = Start("stateful", stateful);
  ASSERT_NE(runner, nullptr);
  EXPECT_EQ(*Run(*runner, stateful, json::object()),
            json({{"module_calls", 1}, {"instance_calls", 1}}));
  EXPECT_EQ(*Run(*runner, stateful, json::object()),
            json({{"module_calls", 2}, {"instance_calls", 1}}));
}

TEST_F(SandboxTest, GenericRunnerSpecialisesOnce) {
  absl::StatusOr<TestController> greeter = LoadTestController("greeter");
  ASSERT_TRUE(greeter.ok()) << greeter.status();
  absl::StatusOr<std::unique_ptr<Runner>> runner = factory_->StartGeneric({});
  ASSERT_TRUE(runner.ok()) << runner.status();
  EXPECT_EQ((*runner)->version_key(), "");
  EXPECT_FALSE((*runner)->reusable());  // nothing loaded yet
  ASSERT_TRUE((*runner)->Load(greeter->bundle, sink_).ok());
  EXPECT_EQ((*runner)->version_key(), greeter->bundle.version_key);
  EXPECT_EQ(ErrorCodeOf((*runner)->Load(greeter->bundle, sink_)), ErrorCode::kE3005);
  absl::StatusOr<json> out = Run(**runner, *greeter, {{"name", "again"}});
  EXPECT_TRUE(out.ok()) << out.status();
}

TEST_F(SandboxTest, MountedBundleDirectoryWorks) {
  TestController greeter;
  std::unique_ptr<Runner> runner = Start("greeter", greeter, /*mount_dir=*/true);
  ASSERT_NE(runner, nullptr);
  EXPECT_FALSE(greeter.bundle.profile.controller_dir.empty());
  EXPECT_TRUE(Run(*runner, greeter, {{"name", "mounted"}}).ok());
}

TEST_F(SandboxTest, MeasureStartAndCallLatency) {
  absl::StatusOr<TestController> greeter = LoadTestController("greeter");
  ASSERT_TRUE(greeter.ok()) << greeter.status();
  constexpr int kStarts = 5;
  double fresh = 0, cold = 0;
  std::unique_ptr<Runner> runner;
  for (int i = 0; i < kStarts; ++i) {
    auto start = std::chrono::steady_clock::now();
    absl::StatusOr<std::unique_ptr<Runner>> generic = factory_->StartGeneric({});
    fresh += MillisSince(start);
    ASSERT_TRUE(generic.ok()) << generic.status();
    start = std::chrono::steady_clock::now();
    ASSERT_TRUE((*generic)->Load(greeter->bundle, sink_).ok());
    cold += MillisSince(start);
    runner = std::move(*generic);
  }
  constexpr int kCalls = 200;
  std::vector<double> warm;
  for (int i = 0; i < kCalls; ++i) {
    const auto start = std::chrono::steady_clock::now();
    absl::StatusOr<json> out =
        Run(*runner, *greeter, {{"name", "bench"}}, "req_" + std::to_string(i));
    warm.push_back(MillisSince(start));
    ASSERT_TRUE(out.ok()) << out.status();
    ASSERT_EQ((*out)["request_id"], "req_" + std::to_string(i));
  }
  std::sort(warm.begin(), warm.end());
  SandboxConfig no_cgroups;
  no_cgroups.cgroup_mode = CgroupMode::kNone;
  absl::StatusOr<std::unique_ptr<RunnerFactory>> plain =
      MakeSandboxRunnerFactory(no_cgroups, RealClockInstance());
  ASSERT_TRUE(plain.ok()) << plain.status();
  double fresh_plain = 0;
  for (int i = 0; i < kStarts; ++i) {
    const auto start = std::chrono::steady_clock::now();
    absl::StatusOr<std::unique_ptr<Runner>> generic = (*plain)->StartGeneric({});
    fresh_plain += MillisSince(start);
    ASSERT_TRUE(generic.ok()) << generic.status();
  }
  std::printf("[ measure  ] fresh start without cgroups: %.1f ms mean of %d\n",
              fresh_plain / kStarts, kStarts);
  std::printf(
      "[ measure  ] fresh interpreter start (bwrap + python + SDK): %.1f ms mean of %d\n"
      "[ measure  ] cold start on a pre-started generic runner (load): %.1f ms mean of %d\n"
      "[ measure  ] warm call (invoke + output validation): p50 %.3f ms, p99 %.3f ms of %d\n",
      fresh / kStarts, kStarts, cold / kStarts, kStarts, warm[kCalls / 2], warm[kCalls * 99 / 100],
      kCalls);
}

TEST_F(SandboxTest, PoolServesWarmAndSpecialisedRunners) {
  absl::StatusOr<TestController> greeter = LoadTestController("greeter");
  ASSERT_TRUE(greeter.ok()) << greeter.status();
  PoolOptions options;
  options.generic_target = 2;
  options.refill_interval = absl::Milliseconds(20);
  RunnerPool pool(options, *factory_, RealClockInstance());
  pool.Start();
  for (int i = 0; i < 500 && pool.Stats().generic_idle < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(pool.Stats().generic_idle, 2);
  absl::StatusOr<RunnerPool::Lease> lease = pool.Acquire(greeter->bundle, sink_);
  ASSERT_TRUE(lease.ok()) << lease.status();
  EXPECT_EQ(lease->kind, RunnerPool::AcquireKind::kSpecialised);
  EXPECT_TRUE(Run(*lease->runner, *greeter, {{"name", "pool"}}).ok());
  pool.Release(std::move(lease->runner));
  lease = pool.Acquire(greeter->bundle, sink_);
  ASSERT_TRUE(lease.ok()) << lease.status();
  EXPECT_EQ(lease->kind, RunnerPool::AcquireKind::kWarm);
  absl::StatusOr<json> out = Run(*lease->runner, *greeter, {{"name", "warm"}}, "req_warm");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)["request_id"], "req_warm");
  pool.Release(std::move(lease->runner));
  pool.Stop();
  EXPECT_EQ(pool.Stats().warm_idle + pool.Stats().generic_idle, 0);
}

// The rlimit fallback, as on a host without usable cgroups.
TEST(SandboxRlimitTest, MemoryErrorIsE3002WithoutCgroups) {
  SandboxConfig config;
  config.cgroup_mode = CgroupMode::kNone;
  absl::StatusOr<std::unique_ptr<RunnerFactory>> factory =
      MakeSandboxRunnerFactory(config, RealClockInstance());
  ASSERT_TRUE(factory.ok()) << factory.status();
  EXPECT_EQ((*factory)->LimitsReport(), "limits: memory=rlimit-as cpu=none pids=none timeout=kill");
  absl::StatusOr<TestController> hog = LoadTestController("memory_hog");
  ASSERT_TRUE(hog.ok()) << hog.status();
  absl::StatusOr<std::unique_ptr<Runner>> runner = (*factory)->StartGeneric({});
  ASSERT_TRUE(runner.ok()) << runner.status();
  RecordingSink sink;
  ASSERT_TRUE((*runner)->Load(hog->bundle, sink).ok());
  DenyAllCallHandler calls;
  InvocationHooks hooks{calls, sink};
  absl::StatusOr<json> out =
      (*runner)->Invoke({"req_rl", {{"megabytes", 512}}, absl::Seconds(10)}, hooks);
  EXPECT_EQ(ErrorCodeOf(out.status()), ErrorCode::kE3002) << out.status();
  EXPECT_FALSE((*runner)->reusable());
}

}  // namespace
}  // namespace magic::worker
