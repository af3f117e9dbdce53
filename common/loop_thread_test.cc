#include "common/loop_thread.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>

namespace magic {
namespace {

using std::chrono::milliseconds;

TEST(LoopThreadTest, RunsStepsUntilStopped) {
  std::atomic<int> steps{0};
  {
    LoopThread loop;
    loop.Start([&steps] {
      ++steps;
      return milliseconds(0);
    });
    while (steps.load() < 50) std::this_thread::yield();
    loop.Stop();
    const int after_stop = steps.load();
    std::this_thread::sleep_for(milliseconds(20));
    EXPECT_EQ(steps.load(), after_stop);  // no step after Stop() returned
  }
  EXPECT_GE(steps.load(), 50);
}

TEST(LoopThreadTest, StopWakesALongSleepAtOnce) {
  LoopThread loop;
  std::atomic<int> steps{0};
  loop.Start([&steps] {
    ++steps;
    return milliseconds(60'000);
  });
  while (steps.load() == 0) std::this_thread::yield();
  const auto start = std::chrono::steady_clock::now();
  loop.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_EQ(steps.load(), 1);
}

TEST(LoopThreadTest, StartTwiceAndStopTwiceAreHarmless) {
  LoopThread loop;
  std::atomic<int> first{0}, second{0};
  loop.Start([&first] {
    ++first;
    return milliseconds(5);
  });
  loop.Start([&second] {
    ++second;
    return milliseconds(5);
  });
  while (first.load() < 3) std::this_thread::yield();
  loop.Stop();
  loop.Stop();
  EXPECT_EQ(second.load(), 0);
}

}  // namespace
}  // namespace magic
