// The worker's Kafka loop: consume jobs from magic.invocations (consumer
// group), run each on a JobExecutor thread, produce the result to
// magic.results and, for Invoke, to the caller's reply topic, and commit a
// job's offset only after its results are durable (at-least-once).
//
// Guarantees:
//   - A job past its deadline is not run: it gets an E3001 result.
//   - A job cancelled on magic.cancellations is not started (CANCELLED
//     result); a running one is killed through JobExecutor::Cancel().
//   - After a rebalance, jobs enqueued before this worker got the partition
//     may have been run by the previous owner: those are looked up in the
//     result store (ResultLookup) and skipped when already finished. In
//     steady state no job costs a database round trip.
//   - Backpressure: when `max_queued` jobs wait for an executor thread the
//     consumer pauses its partitions, and resumes at half.
//
// Threads: one consumer thread, one cancellation listener thread, and
// `concurrency` executor threads, all from Start() to Stop(). Stop() stops
// fetching, lets running jobs finish, commits what is done and leaves the
// group.
#pragma once

#include "common/clock.h"
#include "common/kafka.h"
#include "magic/v1/invocation.pb.h"
#include "worker/cancel_memory.h"
#include "worker/offset_tracker.h"

#include <absl/status/statusor.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace magic::worker {

// Runs one job to completion on the calling thread. Fills state, output or
// error, and timings (exec, sandbox, warm); the service fills ids, attempt,
// queue time and worker id.
class JobExecutor {
 public:
  virtual ~JobExecutor() = default;
  virtual magic::v1::InvocationResult Execute(const magic::v1::InvocationJob& job) = 0;
  // Kills the run of `request_id` if one is running here; otherwise a run
  // of it that is about to start here (its sandbox being acquired) is not
  // started but answered CANCELLED.
  virtual void Cancel(const std::string& request_id) = 0;
};

// Which of `request_ids` already have a final result in the result store.
class ResultLookup {
 public:
  virtual ~ResultLookup() = default;
  virtual absl::StatusOr<std::set<std::string>> FindFinished(
      const std::vector<std::string>& request_ids) = 0;
};

struct WorkerOptions {
  std::string worker_id;
  std::string group_id = "magic-workers";
  std::string jobs_topic = "magic.invocations";
  std::string results_topic = "magic.results";
  // Async runs announce their start (a RUNNING event on results_topic) with
  // a lease: the run's timeout plus this grace. The scheduler's watchdog
  // deems the worker lost once the lease ends without a result.
  int64_t lease_grace_ms = 30'000;
  std::string cancellations_topic = "magic.cancellations";
  int concurrency = 2;
  int max_queued = 64;
  std::chrono::milliseconds poll_timeout{20};
  std::chrono::milliseconds commit_interval{50};
};

struct WorkerStats {
  uint64_t received = 0;
  uint64_t executed = 0;
  uint64_t expired = 0;
  uint64_t cancelled = 0;
  uint64_t skipped_finished = 0;
  uint64_t malformed = 0;
  uint64_t publish_failures = 0;
  uint64_t commits = 0;
};

class WorkerService {
 public:
  // Borrows producer, executor, lookup (may be null) and clock.
  WorkerService(WorkerOptions options, kafka::KafkaConfig kafka_config,
                kafka::KafkaProducer& producer, JobExecutor& executor, ResultLookup* lookup,
                Clock& clock);
  ~WorkerService();
  WorkerService(const WorkerService&) = delete;
  WorkerService& operator=(const WorkerService&) = delete;

  absl::Status Start();
  void Stop();
  WorkerStats stats() const;

 private:
  struct Work {
    magic::v1::InvocationJob job;
    std::string topic;
    int32_t partition = 0;
    int64_t offset = 0;
    int64_t received_unix_ms = 0;
    bool maybe_redelivered = false;
  };

  void ConsumeLoop();
  void CancelLoop();
  void ExecuteLoop();
  void Accept(const kafka::KafkaMessage& message);
  void Process(Work work);
  // Produces `result` to the results topic (and the reply topic, if any);
  // marks the offset finished once every copy is durable.
  void Publish(const Work& work, magic::v1::InvocationResult result);
  void AnnounceStart(const magic::v1::InvocationJob& job, int64_t started_ms);
  void MarkFinished(const Work& work);
  void MaybeCommit(bool force);
  void ApplyBackpressure();
  bool IsCancelled(const std::string& request_id);
  magic::v1::InvocationResult FailedResult(const Work& work, const absl::Status& status) const;

  const WorkerOptions options_;
  const kafka::KafkaConfig kafka_config_;
  kafka::KafkaProducer& producer_;
  JobExecutor& executor_;
  ResultLookup* lookup_;
  Clock& clock_;

  std::unique_ptr<kafka::KafkaConsumer> consumer_;
  std::unique_ptr<kafka::KafkaConsumer> cancel_consumer_;
  std::atomic<bool> stopping_{false};
  std::thread consume_thread_;
  std::thread cancel_thread_;
  std::vector<std::thread> executors_;

  mutable std::mutex mu_;
  std::condition_variable work_cv_;
  std::deque<Work> queue_;
  bool draining_ = false;  // no more work will be queued
  OffsetTracker offsets_;
  // Partition -> wall time it was assigned to us (ms).
  std::map<std::pair<std::string, int32_t>, int64_t> assigned_at_;
  CancelMemory cancelled_;  // cancels seen on the cancellations topic
  WorkerStats stats_;
  std::chrono::steady_clock::time_point last_commit_;
};

}  // namespace magic::worker
