// Durable timers, retries, the watchdog and the dead-letter topic
// (docs/scheduler.md, ADR 0013). Everything that must happen *later* is a row
// in magic.timers, so a scheduler restart loses nothing, and any number of
// scheduler replicas share the work: each pass claims due rows with
// `FOR UPDATE SKIP LOCKED`, so a row is fired by exactly one replica.
//
//   once   a delayed run (CreateSchedule with run_at): fires once, then goes.
//   cron   a cron schedule: fires, then moves to its next time. A scheduler
//          that was down fires a missed schedule once, not once per miss.
//   retry  the next attempt of a failed run, at now + backoff with jitter.
//
// A firing is one transaction: claim the due rows, write the runs' QUEUED
// rows, move or delete the timers, produce the jobs and wait for Kafka's
// acks, commit. If Kafka refuses, the transaction rolls back and the timer
// fires on a later pass. A crash between the acks and the commit fires the
// same run again with the same request id (at-least-once, like every
// delivery in the farm; the result store keeps the first result).
//
// The watchdog (same service, every watch_interval) looks at unfinished runs:
//   - RUNNING past its lease (its worker announced the start, then went
//     silent): worker lost, E3005: a retry while attempts remain, else
//     FAILED and a dead letter;
//   - QUEUED past its deadline plus grace: nothing ran it in time (a
//     produce that was lost, workers down for longer than its deadline):
//     FAILED with E3001 and a dead letter. Never run late.
//
// Threads: Start() runs one thread doing the passes; FirePass() and
// WatchPass() may also be called directly (tests). Everything given is
// borrowed and must outlive the service.
#pragma once

#include "broker/grant.h"
#include "common/clock.h"
#include "common/kafka.h"
#include "common/loop_thread.h"
#include "common/postgres.h"
#include "contracts/registry.h"
#include "magic/v1/control.pb.h"
#include "magic/v1/invocation.pb.h"
#include "scheduler/retry.h"

#include <absl/status/statusor.h>
#include <absl/time/time.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <random>
#include <string>
#include <vector>

namespace magic::scheduler {

// A run that will not be retried and that nobody waits for: published on
// magic.dlq as JSON (docs/scheduler.md "Dead letters"), keyed by request id.
struct DeadLetter {
  std::string request_id;
  std::string controller;
  std::string version;
  std::string source;  // "submit", "batch", "timer", "trigger", ...
  uint32_t attempts = 0;
  magic::v1::Error reason;
  std::string input_json;  // "" when unknown
  nlohmann::json origin;   // e.g. the queue message of a trigger; null when none
  int64_t failed_unix_ms = 0;
};
std::string DeadLetterJson(const DeadLetter& letter);

struct TimerOptions {
  std::string jobs_topic = "magic.invocations";
  std::string dlq_topic = "magic.dlq";
  absl::Duration tick = absl::Milliseconds(250);      // between fire passes
  absl::Duration watch_interval = absl::Seconds(2);   // between watchdog passes
  absl::Duration deadline_grace = absl::Seconds(30);  // QUEUED past deadline + this: lost
  absl::Duration submit_ttl = absl::Minutes(15);      // timer runs: how long they may wait
  int batch_limit = 100;                              // rows claimed per pass
  int64_t max_input_bytes = int64_t{1} << 20;         // a schedule's input; larger: E1005
  std::chrono::milliseconds ack_timeout{10'000};
  BackoffOptions backoff;
};

class TimerService {
 public:
  // Creates magic.timers (idempotent, under an advisory lock; the result
  // store's migration must have run). `signer` may be null (no grants).
  static absl::StatusOr<std::unique_ptr<TimerService>> Open(pg::PgPool& pool,
                                                            const contracts::Registry& registry,
                                                            const broker::GrantSigner* signer,
                                                            kafka::KafkaProducer& producer,
                                                            Clock& clock, TimerOptions options);
  TimerService(const TimerService&) = delete;
  TimerService& operator=(const TimerService&) = delete;
  ~TimerService();  // Stop()

  // --- the Control service's schedule verbs -------------------------------
  // E4003 unknown controller, E1003 bad input, E1005 bad cron / attempts.
  absl::StatusOr<magic::v1::Schedule> Create(const magic::v1::CreateScheduleRequest& request);
  absl::StatusOr<std::vector<magic::v1::Schedule>> List(const std::string& controller);
  // E4003 when there is no such schedule.
  absl::StatusOr<magic::v1::Schedule> Delete(const std::string& schedule_id);

  // --- retries (called by the result recorder) ----------------------------
  // For each FAILED result: a retry timer when ShouldRetry(), else, when the
  // run had a retry policy or nobody waits for it (timer, trigger), a dead
  // letter. Returns the results that are final (to be recorded as they
  // are); the retried ones are recorded here (QUEUED, attempts, last error).
  absl::StatusOr<std::vector<magic::v1::InvocationResult>> TakeRetries(
      std::vector<magic::v1::InvocationResult> results);

  // Publishes dead letters and waits for the acks.
  absl::Status SendDeadLetters(const std::vector<DeadLetter>& letters);

  // --- the passes ---------------------------------------------------------
  // Fires the due timers (up to batch_limit); returns how many fired.
  absl::StatusOr<int> FirePass();
  // One watchdog pass; returns how many runs it retried or failed.
  absl::StatusOr<int> WatchPass();

  void Start();
  void Stop();

  uint64_t fired() const { return fired_.load(std::memory_order_relaxed); }

 private:
  struct Due;
  TimerService(pg::PgPool& pool, const contracts::Registry& registry,
               const broker::GrantSigner* signer, kafka::KafkaProducer& producer, Clock& clock,
               TimerOptions options);
  double UnitRandom();

  pg::PgPool& pool_;
  const contracts::Registry& registry_;
  const broker::GrantSigner* signer_;
  kafka::KafkaProducer& producer_;
  Clock& clock_;
  const TimerOptions options_;

  std::mutex random_mu_;
  std::mt19937_64 random_;  // guarded by random_mu_

  std::atomic<uint64_t> fired_{0};
  LoopThread loop_;  // last: stopped before the members it uses go
};

}  // namespace magic::scheduler
