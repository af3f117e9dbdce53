#include "common/service_config.h"

#include "common/logging.h"

#include <gtest/gtest.h>

#include <pthread.h>
#include <signal.h>
#include <thread>
#include <vector>

namespace magic {
namespace {

nlohmann::json Defaults() {
  nlohmann::json d = CommonServiceDefaults(/*postgres_pool_size=*/3);
  d["thing"] = {{"port", 7}};
  return d;
}

bool Blocked(int signal_number) {
  sigset_t current;
  pthread_sigmask(SIG_BLOCK, nullptr, &current);
  return sigismember(&current, signal_number) == 1;
}

class ServiceMainTest : public ::testing::Test {
 protected:
  // ServiceMain blocks SIGINT/SIGTERM in this thread for good (as a
  // service's main wants); give the next test a clean mask.
  void TearDown() override {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  }

  int Run(std::vector<const char*> args, const ServiceBody& body,
          std::vector<const char*> env = {}) {
    args.insert(args.begin(), "magic-thing");
    env.push_back(nullptr);
    return ServiceMain("magic-thing", "thing", static_cast<int>(args.size()), args.data(),
                       env.data(), Defaults(), body);
  }
};

int MustNotRun(const nlohmann::json&, StopSignals&) {
  ADD_FAILURE() << "body called";
  return 99;
}

TEST_F(ServiceMainTest, HelpPrintsTheKeysAndReturnsZeroWithoutTheBody) {
  testing::internal::CaptureStdout();
  EXPECT_EQ(Run({"--help"}, MustNotRun), 0);
  const std::string out = testing::internal::GetCapturedStdout();
  EXPECT_NE(out.find("usage: magic-thing"), std::string::npos) << out;
  EXPECT_NE(out.find("MAGIC_THING_PORT"), std::string::npos) << out;
}

TEST_F(ServiceMainTest, BadConfigurationPrintsAndReturnsTwo) {
  testing::internal::CaptureStderr();
  EXPECT_EQ(Run({"--set", "thing.port=lots"}, MustNotRun), 2);
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(err.rfind("magic-thing: config: ", 0), 0u) << err;
  EXPECT_NE(err.find("thing.port"), std::string::npos) << err;

  testing::internal::CaptureStderr();
  EXPECT_EQ(Run({"--bogus"}, MustNotRun), 2);
  err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(err, "magic-thing: config: unknown argument '--bogus' (see --help)\n");

  testing::internal::CaptureStderr();
  EXPECT_EQ(Run({}, MustNotRun, {"MAGIC_THING_PORT=x"}), 2);
  err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(err.rfind("magic-thing: config: ", 0), 0u) << err;

  testing::internal::CaptureStderr();
  EXPECT_EQ(Run({"--set", "log.level=loud"}, MustNotRun), 2);
  err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(err.rfind("magic-thing: config: log.level: unknown log level 'loud'", 0), 0u) << err;
}

TEST_F(ServiceMainTest, BodyGetsTheConfigurationAndItsCodeIsReturned) {
  bool called = false;
  const int code = Run({"--set", "log.level=debug"},
                       [&called](const nlohmann::json& config, StopSignals&) {
                         called = true;
                         EXPECT_EQ(config["thing"]["port"], 8);  // the environment over the default
                         EXPECT_EQ(config["postgres"]["pool_size"], 3);
                         // Logging is initialised from log.level before the body runs.
                         EXPECT_TRUE(logging::Logger().should_log(spdlog::level::debug));
                         return 5;
                       },
                       {"MAGIC_THING_PORT=8"});
  EXPECT_TRUE(called);
  EXPECT_EQ(code, 5);
  logging::Init({.component = "test", .level = "info", .file = ""});
}

TEST_F(ServiceMainTest, StopSignalsAreBlockedBeforeTheBodyStartsThreads) {
  const int code = Run({}, [](const nlohmann::json&, StopSignals& stop) {
    EXPECT_TRUE(Blocked(SIGINT));
    EXPECT_TRUE(Blocked(SIGTERM));
    bool thread_blocked = false;
    std::thread([&thread_blocked] { thread_blocked = Blocked(SIGTERM); }).join();
    EXPECT_TRUE(thread_blocked);
    // Directed at this thread, so it stays pending until Wait() takes it.
    pthread_kill(pthread_self(), SIGTERM);
    return stop.Wait() == SIGTERM ? 0 : 1;
  });
  EXPECT_EQ(code, 0);
}

TEST(FailStartTest, PrintsBinaryWhatAndMessageAndReturnsTwo) {
  testing::internal::CaptureStderr();
  EXPECT_EQ(FailStart("magic-thing", "result store", absl::UnavailableError("no server")), 2);
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "magic-thing: result store: no server\n");
}

}  // namespace
}  // namespace magic
