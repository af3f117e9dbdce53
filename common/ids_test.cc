#include "common/ids.h"

#include "common/clock.h"

#include <gtest/gtest.h>

#include <set>

namespace magic {
namespace {

TEST(IdsTest, RequestIdsAreValidAndDistinct) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string id = NewRequestId();
    EXPECT_TRUE(id.starts_with("req_"));
    EXPECT_EQ(id.size(), 30u);
    EXPECT_TRUE(IsValidRequestId(id));
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(IdsTest, HostileIdsAreRejected) {
  EXPECT_FALSE(IsValidRequestId(""));
  EXPECT_FALSE(IsValidRequestId(std::string(129, 'a')));
  EXPECT_FALSE(IsValidRequestId("a b"));
  EXPECT_FALSE(IsValidRequestId("a\nb"));
  EXPECT_FALSE(IsValidRequestId("<script>"));
  EXPECT_TRUE(IsValidRequestId("req_abc123"));
  EXPECT_TRUE(IsValidRequestId("7f1e2d3c-aaaa-bbbb-cccc-0123456789ab"));
}

TEST(ClockTest, FakeClockMovesOnlyWhenAdvanced) {
  FakeClock clock;
  const absl::Time t0 = clock.Now();
  EXPECT_EQ(clock.Now(), t0);
  clock.Advance(absl::Milliseconds(1500));
  EXPECT_EQ(clock.Now() - t0, absl::Milliseconds(1500));
  EXPECT_EQ(clock.NowUnixMillis(), absl::ToUnixMillis(t0) + 1500);
}

}  // namespace
}  // namespace magic
