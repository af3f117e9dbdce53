// SandboxJobExecutor on fake runners (worker/testing/fake_runner.h) and the
// test controllers' contracts: cancels, including one that comes while the
// run's sandbox is still being acquired.
#include "worker/job_executor.h"

#include "common/clock.h"
#include "worker/testing/fake_runner.h"

#include <gtest/gtest.h>

namespace magic::worker {
namespace {

magic::v1::InvocationJob AdderJob(const std::string& id) {
  magic::v1::InvocationJob job;
  job.set_request_id(id);
  job.set_controller("Adder");
  job.set_version("0.1.0");
  job.set_input_json(R"({"a": 1, "b": 2})");
  job.set_deadline_unix_ms(absl::ToUnixMillis(absl::Now() + absl::Hours(1)));
  return job;
}

class JobExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto registry = contracts::LoadDirectoryRegistry("worker/testdata/controllers");
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = *std::move(registry);
    PoolOptions options;
    options.generic_target = 0;
    options.memory_budget_bytes = int64_t{1} << 40;
    pool_ = std::make_unique<RunnerPool>(options, factory_, clock_);
    executor_ = std::make_unique<SandboxJobExecutor>(*registry_, *pool_, calls_, clock_);
  }

  testing::FakeWorld world_;
  testing::FakeFactory factory_{world_};
  RealClock clock_;
  DenyAllCallHandlerFactory calls_;
  std::unique_ptr<contracts::Registry> registry_;
  std::unique_ptr<RunnerPool> pool_;
  std::unique_ptr<SandboxJobExecutor> executor_;
};

TEST_F(JobExecutorTest, RunsAJob) {
  const magic::v1::InvocationResult result = executor_->Execute(AdderJob("req_run"));
  EXPECT_NE(result.state(), magic::v1::CANCELLED);
  EXPECT_EQ(result.request_id(), "req_run");
  EXPECT_EQ(world_.invocations, 1);
}

TEST_F(JobExecutorTest, ACancelBeforeTheRunStartsHereMeansItNeverStarts) {
  executor_->Cancel("req_early");  // its sandbox was still being acquired
  const magic::v1::InvocationResult result = executor_->Execute(AdderJob("req_early"));
  EXPECT_EQ(result.state(), magic::v1::CANCELLED);
  EXPECT_EQ(result.error().code(), "E3005");
  EXPECT_EQ(world_.invocations, 0);
  // The cancel was spent: the same id later (a new submission) runs.
  EXPECT_NE(executor_->Execute(AdderJob("req_early")).state(), magic::v1::CANCELLED);
  EXPECT_EQ(world_.invocations, 1);
}

TEST_F(JobExecutorTest, ACancelForAnotherRunChangesNothing) {
  executor_->Cancel("req_elsewhere");
  EXPECT_NE(executor_->Execute(AdderJob("req_here")).state(), magic::v1::CANCELLED);
  EXPECT_EQ(world_.invocations, 1);
}

}  // namespace
}  // namespace magic::worker
