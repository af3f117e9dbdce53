#include "worker/offset_tracker.h"

namespace magic::worker {

void OffsetTracker::Started(const std::string& topic, int32_t partition, int64_t offset) {
  Partition& p = partitions_[{topic, partition}];
  if (p.highest_started < 0) p.committed_next = offset;  // where we started: nothing to commit
  p.open.insert(offset);
  if (offset > p.highest_started) p.highest_started = offset;
}

void OffsetTracker::Finished(const std::string& topic, int32_t partition, int64_t offset) {
  auto it = partitions_.find({topic, partition});
  if (it != partitions_.end()) it->second.open.erase(offset);
}

std::vector<kafka::PartitionOffset> OffsetTracker::TakeCommittable() {
  std::vector<kafka::PartitionOffset> out;
  for (auto& [key, p] : partitions_) {
    if (p.highest_started < 0) continue;
    // Everything below the lowest open offset is done; with none open,
    // everything started is done.
    const int64_t next = p.open.empty() ? p.highest_started + 1 : *p.open.begin();
    if (next > p.committed_next) {
      p.committed_next = next;
      out.push_back({key.first, key.second, next});
    }
  }
  return out;
}

void OffsetTracker::Forget(const std::string& topic, int32_t partition) {
  partitions_.erase({topic, partition});
}

size_t OffsetTracker::in_flight() const {
  size_t n = 0;
  for (const auto& entry : partitions_) n += entry.second.open.size();
  return n;
}

}  // namespace magic::worker
