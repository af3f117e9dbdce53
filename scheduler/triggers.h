// queue:subscribe triggers (docs/scheduler.md). For every deployed
// controller whose active version declares `queue:subscribe: {queues: [...]}`
// the scheduler consumes those queues (topics `<prefix><queue>`) in a
// consumer group of its own, "magic-trigger.<Controller>", so replicas
// share the partitions and every message triggers one run:
//
//   message -> event envelope (EventEnvelope) -> validated against the
//   controller's input schema -> QUEUED run (request id derived from
//   controller, queue, partition and offset: a redelivered message maps to
//   the same run, which is not produced again once finished) -> job
//   produced and acknowledged -> offset committed. The messages one poll
//   returns (up to max_batch) go together: one FindFinished, one
//   multi-row INSERT, one wait for the acks, one commit.
//
// Runs get the retry policy {max_attempts, on_timeout, on_error}: failures
// retry with backoff, then go to the dead-letter topic (timers.h). A
// message whose envelope the contract refuses (E1003), or that is too
// large (E1005), goes straight to the dead-letter topic with the message's
// coordinates; it is never silently skipped.
//
// A new group starts at the earliest retained message: events published
// before the subscriber's first deploy are not lost.
//
// Threads: one thread (Start/Stop) owns every consumer; it re-reads the
// registry every `refresh` and adds, changes or drops subscriptions. All
// borrowed objects must outlive the service.
#pragma once

#include "broker/grant.h"
#include "common/clock.h"
#include "common/kafka.h"
#include "common/loop_thread.h"
#include "contracts/registry.h"
#include "scheduler/result_store.h"
#include "scheduler/timers.h"

#include <absl/time/time.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <variant>
#include <vector>

namespace magic::scheduler {

// One consumed queue message, as the envelope needs it.
struct QueueMessage {
  std::string queue;  // the queue name (topic without the prefix)
  int32_t partition = 0;
  int64_t offset = 0;
  std::string_view key;
  std::string_view value;
  std::vector<kafka::HeaderView> headers;
  int64_t timestamp_ms = -1;
};

// The controller's input for one message (JSON text):
//   {"queue", "message_id": "<queue>/<partition>/<offset>", "partition",
//    "offset", "key" (string or null), "headers" {name: value},
//    "published_at_ms" (or null), "payload": the value parsed as JSON, or
//    as a string when it is not JSON, null when empty}
// Invalid UTF-8 in text is replaced (U+FFFD), never a crash.
std::string EventEnvelope(const QueueMessage& message);

// The run id of a message for `controller`: "evt-<controller>-<queue>-<p>-<o>"
// (a digest of them when that is not a valid request id).
std::string EventRequestId(std::string_view controller, const QueueMessage& message);

struct TriggerOptions {
  uint32_t max_attempts = 3;
  std::string topic_prefix = "magic.queue.";  // the broker's queue policy prefix
  std::string group_prefix = "magic-trigger.";
  std::string jobs_topic = "magic.invocations";
  absl::Duration refresh = absl::Seconds(2);
  absl::Duration ttl = absl::Minutes(15);  // how long a triggered run may wait to run
  int64_t max_message_bytes = int64_t{1} << 20;
  std::chrono::milliseconds ack_timeout{10'000};
  size_t max_batch = 256;  // messages of one subscription handled (and committed) together
};

class TriggerService {
 public:
  TriggerService(const contracts::Registry& registry, ResultStore& store, TimerService& timers,
                 const broker::GrantSigner* signer, kafka::KafkaProducer& producer,
                 kafka::KafkaConfig kafka, Clock& clock, TriggerOptions options);
  TriggerService(const TriggerService&) = delete;
  TriggerService& operator=(const TriggerService&) = delete;
  ~TriggerService();  // Stop()

  void Start();
  void Stop();

  // Controllers with a live subscription and their queues (for tests and
  // the start-up report).
  std::map<std::string, std::vector<std::string>> Subscriptions() const;
  uint64_t triggered() const { return triggered_.load(std::memory_order_relaxed); }
  uint64_t dead_lettered() const { return dead_lettered_.load(std::memory_order_relaxed); }

 private:
  struct Subscription;
  void Refresh();
  // Polls each subscription once; false when one must be re-read.
  bool PollOnce();
  // The job for one message, or its dead letter (too large, refused by
  // the input schema).
  std::variant<magic::v1::InvocationJob, DeadLetter> Prepare(
      const Subscription& sub, const contracts::ControllerVersion& version,
      const kafka::KafkaMessage& message);
  // Handles the messages polled together: dead letters sent, one
  // FindFinished, one multi-row INSERT, every job produced and
  // acknowledged. False when they must be read again (not committed).
  bool Handle(Subscription& sub, const std::vector<kafka::KafkaMessage>& messages);

  const contracts::Registry& registry_;
  ResultStore& store_;
  TimerService& timers_;
  const broker::GrantSigner* signer_;
  kafka::KafkaProducer& producer_;
  const kafka::KafkaConfig kafka_;
  Clock& clock_;
  const TriggerOptions options_;

  mutable std::mutex mu_;
  std::map<std::string, std::vector<std::string>> subscribed_;  // guarded by mu_ (a copy)
  std::map<std::string, std::unique_ptr<Subscription>> subs_;   // the loop's thread only
  std::atomic<uint64_t> triggered_{0};
  std::atomic<uint64_t> dead_lettered_{0};
  LoopThread loop_;  // last: stopped before the members it uses go
};

}  // namespace magic::scheduler
