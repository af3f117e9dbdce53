#include "worker/offset_tracker.h"

#include <gtest/gtest.h>

namespace magic::worker {
namespace {

using kafka::PartitionOffset;

TEST(OffsetTrackerTest, CommitsOnlyTheContiguousFinishedPrefix) {
  OffsetTracker t;
  for (int64_t o : {10, 11, 12, 13}) t.Started("jobs", 0, o);
  EXPECT_TRUE(t.TakeCommittable().empty());
  t.Finished("jobs", 0, 12);  // out of order: nothing committable yet
  EXPECT_TRUE(t.TakeCommittable().empty());
  t.Finished("jobs", 0, 10);
  EXPECT_EQ(t.TakeCommittable(), (std::vector<PartitionOffset>{{"jobs", 0, 11}}));
  t.Finished("jobs", 0, 11);
  EXPECT_EQ(t.TakeCommittable(), (std::vector<PartitionOffset>{{"jobs", 0, 13}}));
  EXPECT_TRUE(t.TakeCommittable().empty());  // nothing new
  t.Finished("jobs", 0, 13);
  EXPECT_EQ(t.TakeCommittable(), (std::vector<PartitionOffset>{{"jobs", 0, 14}}));
  EXPECT_EQ(t.in_flight(), 0u);
}

TEST(OffsetTrackerTest, PartitionsAreIndependentAndForgettable) {
  OffsetTracker t;
  t.Started("jobs", 0, 5);
  t.Started("jobs", 1, 7);
  t.Finished("jobs", 1, 7);
  EXPECT_EQ(t.TakeCommittable(), (std::vector<PartitionOffset>{{"jobs", 1, 8}}));
  EXPECT_EQ(t.in_flight(), 1u);
  t.Forget("jobs", 0);
  EXPECT_EQ(t.in_flight(), 0u);
  t.Finished("jobs", 0, 5);  // late finish of a revoked partition: ignored
  EXPECT_TRUE(t.TakeCommittable().empty());
}

}  // namespace
}  // namespace magic::worker
