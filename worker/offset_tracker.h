// Which offsets a worker may commit: Kafka commits are per partition "next
// offset to read", so offset N may be committed only when every job at or
// below N on that partition is finished (its result produced). Jobs finish
// out of order; this tracks the contiguous finished prefix per partition.
//
// Not thread-safe: the worker guards it with its own mutex.
#pragma once

#include "common/kafka.h"

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace magic::worker {

class OffsetTracker {
 public:
  // A job at `offset` was taken from the partition (offsets arrive in order
  // per partition).
  void Started(const std::string& topic, int32_t partition, int64_t offset);
  // The job at `offset` is finished (result durable, or skipped for good).
  void Finished(const std::string& topic, int32_t partition, int64_t offset);
  // Next offsets that became committable since the last call (one entry per
  // partition that advanced).
  std::vector<kafka::PartitionOffset> TakeCommittable();
  // Forgets partitions taken away by a rebalance.
  void Forget(const std::string& topic, int32_t partition);
  // Jobs started and not finished.
  size_t in_flight() const;

 private:
  struct Partition {
    std::set<int64_t> open;  // started, not finished
    int64_t highest_started = -1;
    int64_t committed_next = -1;  // last value handed out by TakeCommittable
  };
  std::map<std::pair<std::string, int32_t>, Partition> partitions_;
};

}  // namespace magic::worker
