#include "worker/runner_pool.h"

#include "common/clock.h"
#include "common/errors.h"
#include "worker/testing/fake_runner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace magic::worker {
namespace {

using Kind = RunnerPool::AcquireKind;
using testing::FakeFactory;
using testing::FakeWorld;
using testing::NullSink;

ControllerBundle Bundle(const std::string& key, int64_t memory = 100) {
  ControllerBundle b;
  b.version_key = key;
  b.name = key;
  b.limits.memory_bytes = memory;
  return b;
}

// Polls `condition` for up to 5 s.
template <typename Condition>
bool Eventually(Condition condition) {
  for (int i = 0; i < 500; ++i) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return condition();
}

class RunnerPoolTest : public ::testing::Test {
 protected:
  PoolOptions Options(int generic_target = 0, int64_t budget = 1000) {
    PoolOptions o;
    o.generic_target = generic_target;
    o.memory_budget_bytes = budget;
    o.refill_interval = absl::Milliseconds(10);
    return o;
  }
  RunnerPool::Lease Take(RunnerPool& pool, const ControllerBundle& b) {
    absl::StatusOr<RunnerPool::Lease> lease = pool.Acquire(b, sink_);
    EXPECT_TRUE(lease.ok()) << lease.status();
    return lease.ok() ? std::move(*lease) : RunnerPool::Lease{};
  }

  FakeWorld world_;
  FakeFactory factory_{world_};
  FakeClock clock_;
  NullSink sink_;
};

TEST_F(RunnerPoolTest, FreshThenWarm) {
  RunnerPool pool(Options(), factory_, clock_);
  RunnerPool::Lease first = Take(pool, Bundle("v1"));
  EXPECT_EQ(first.kind, Kind::kFresh);
  const Runner* runner = first.runner.get();
  pool.Release(std::move(first.runner));
  EXPECT_EQ(pool.Stats().warm_idle, 1);
  RunnerPool::Lease second = Take(pool, Bundle("v1"));
  EXPECT_EQ(second.kind, Kind::kWarm);
  EXPECT_EQ(second.runner.get(), runner);
  EXPECT_EQ(world_.starts, 1);
  pool.Release(std::move(second.runner));
}

TEST_F(RunnerPoolTest, SpecialisesPreStartedGenericRunnersAndRefills) {
  RunnerPool pool(Options(/*generic_target=*/2), factory_, clock_);
  pool.Start();
  ASSERT_TRUE(Eventually([&] { return pool.Stats().generic_idle == 2; }));
  RunnerPool::Lease lease = Take(pool, Bundle("v1"));
  EXPECT_EQ(lease.kind, Kind::kSpecialised);
  EXPECT_TRUE(Eventually([&] { return pool.Stats().generic_idle == 2; }));
  EXPECT_EQ(world_.starts, 3);
  pool.Release(std::move(lease.runner));
  pool.Stop();
  EXPECT_EQ(world_.live, 0);
}

TEST_F(RunnerPoolTest, GenericRunnersOfAnotherProfileAreNotUsed) {
  RunnerPool pool(Options(/*generic_target=*/1), factory_, clock_);
  pool.Start();
  ASSERT_TRUE(Eventually([&] { return pool.Stats().generic_idle == 1; }));
  ControllerBundle with_tmp = Bundle("v1");
  with_tmp.profile.tmp_size_bytes = 1 << 20;
  RunnerPool::Lease lease = Take(pool, with_tmp);
  EXPECT_EQ(lease.kind, Kind::kFresh);
  EXPECT_EQ(lease.runner->profile(), with_tmp.profile);
  pool.Release(std::move(lease.runner));
}

TEST_F(RunnerPoolTest, UnusableRunnersAreDiscarded) {
  RunnerPool pool(Options(), factory_, clock_);
  RunnerPool::Lease lease = Take(pool, Bundle("v1"));
  lease.runner->Kill();  // e.g. it timed out
  pool.Release(std::move(lease.runner));
  EXPECT_EQ(pool.Stats().warm_idle, 0);
  EXPECT_EQ(pool.Stats().discarded, 1);
  EXPECT_EQ(world_.live, 0);
  EXPECT_EQ(pool.Stats().memory_reserved_bytes, 0);
}

TEST_F(RunnerPoolTest, EvictsLeastRecentlyUsedWhenOverBudget) {
  RunnerPool pool(Options(0, /*budget=*/300), factory_, clock_);
  for (const char* key : {"a", "b", "c"}) {
    RunnerPool::Lease lease = Take(pool, Bundle(key));
    clock_.Advance(absl::Seconds(1));
    pool.Release(std::move(lease.runner));
  }
  RunnerPool::Lease d = Take(pool, Bundle("d"));  // needs room: "a" goes
  EXPECT_EQ(pool.Stats().evictions, 1);
  EXPECT_EQ(Take(pool, Bundle("b")).kind, Kind::kWarm);
  EXPECT_EQ(pool.Stats().memory_reserved_bytes, 300);
}

TEST_F(RunnerPoolTest, BudgetFullOfLeasesIsE3004) {
  RunnerPool pool(Options(0, /*budget=*/200), factory_, clock_);
  RunnerPool::Lease a = Take(pool, Bundle("a", 150));
  absl::StatusOr<RunnerPool::Lease> b = pool.Acquire(Bundle("b", 100), sink_);
  EXPECT_EQ(ErrorCodeOf(b.status()), ErrorCode::kE3004);
  pool.Release(std::move(a.runner));
  EXPECT_TRUE(pool.Acquire(Bundle("b", 100), sink_).ok());  // "a" is evicted now
}

TEST_F(RunnerPoolTest, LoadFailureReleasesTheReservation) {
  RunnerPool pool(Options(), factory_, clock_);
  absl::StatusOr<RunnerPool::Lease> lease = pool.Acquire(Bundle("Broken"), sink_);
  EXPECT_EQ(ErrorCodeOf(lease.status()), ErrorCode::kE3003);
  EXPECT_EQ(pool.Stats().memory_reserved_bytes, 0);
  EXPECT_EQ(world_.live, 0);
}

TEST_F(RunnerPoolTest, StartFailureIsReported) {
  world_.fail_starts = true;
  RunnerPool pool(Options(), factory_, clock_);
  EXPECT_EQ(ErrorCodeOf(pool.Acquire(Bundle("v1"), sink_).status()), ErrorCode::kE3005);
  EXPECT_EQ(pool.Stats().memory_reserved_bytes, 0);
}

TEST_F(RunnerPoolTest, KeepsAtMostMaxWarmPerVersion) {
  PoolOptions options = Options(0, 10000);
  options.max_warm_per_version = 2;
  RunnerPool pool(options, factory_, clock_);
  std::vector<RunnerPool::Lease> leases;
  for (int i = 0; i < 3; ++i) leases.push_back(Take(pool, Bundle("v1")));
  for (auto& lease : leases) pool.Release(std::move(lease.runner));
  EXPECT_EQ(pool.Stats().warm_idle, 2);
  EXPECT_EQ(world_.live, 2);
}

TEST_F(RunnerPoolTest, IdleWarmRunnersExpire) {
  PoolOptions options = Options();
  options.idle_ttl = absl::Minutes(1);
  RunnerPool pool(options, factory_, clock_);
  RunnerPool::Lease lease = Take(pool, Bundle("v1"));
  pool.Release(std::move(lease.runner));
  pool.Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(pool.Stats().warm_idle, 1);
  clock_.Advance(absl::Minutes(2));
  EXPECT_TRUE(Eventually([&] { return pool.Stats().warm_idle == 0; }));
  EXPECT_EQ(world_.live, 0);
}

TEST_F(RunnerPoolTest, ConcurrentAcquireAndRelease) {
  RunnerPool pool(Options(2, 100000), factory_, clock_);
  pool.Start();
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        absl::StatusOr<RunnerPool::Lease> lease =
            pool.Acquire(Bundle("v" + std::to_string((t + i) % 3)), sink_);
        if (!lease.ok()) {
          ++failures;
          continue;
        }
        pool.Release(std::move(lease->runner));
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures, 0);
  const PoolStats stats = pool.Stats();
  EXPECT_EQ(stats.leased, 0);
  EXPECT_EQ(stats.warm_hits + stats.specialised + stats.fresh_starts, 1600);
  pool.Stop();
  EXPECT_EQ(world_.live, 0);
}

}  // namespace
}  // namespace magic::worker
