// Cancelled request ids, remembered for a while: a cancel can come before
// its job is taken from Kafka, or while its sandbox is being acquired, and
// must still stop the run when it gets there. Shared by WorkerService (at
// dispatch) and SandboxJobExecutor (just before the run starts). Not
// thread-safe: the owner's mutex guards it.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

namespace magic::worker {

class CancelMemory {
 public:
  // How long a cancel is remembered: longer than a job waits to run.
  static constexpr int64_t kKeepMs = 15 * 60 * 1000;

  // Remembers `request_id` from `now_ms` on, and forgets expired ones.
  void Add(const std::string& request_id, int64_t now_ms) {
    std::erase_if(until_, [now_ms](const auto& entry) { return entry.second < now_ms; });
    until_[request_id] = now_ms + kKeepMs;
  }
  bool Contains(const std::string& request_id) const { return until_.contains(request_id); }
  // Forgets `request_id`; whether it was remembered.
  bool Take(const std::string& request_id) { return until_.erase(request_id) > 0; }

 private:
  std::unordered_map<std::string, int64_t> until_;  // request id -> forget after (unix ms)
};

}  // namespace magic::worker
