// The warm pool: sandboxes ready before the jobs that need them arrive
// (DESIGN.md "Numbers that shape the design": an interpreter start costs
// ~25 ms, so it must stay off the hot path).
//
//   RunnerPool pool(options, factory, RealClockInstance());
//   pool.Start();                                   // refill thread
//   MAGIC_ASSIGN_OR_RETURN(RunnerPool::Lease lease, pool.Acquire(bundle, events));
//   absl::StatusOr<nlohmann::json> out = RunAndValidate(*lease.runner, compiled, inv, hooks);
//   pool.Release(std::move(lease.runner));          // kept warm if still reusable
//
// Two kinds of idle runners:
//   * generic: interpreter and SDK imported, no controller; `generic_target`
//     of them (profile `generic_profile`) are kept by a background thread;
//   * warm: loaded with one controller version (key: the contract digest).
// Acquire(bundle) takes a warm runner of that version (kWarm), else loads a
// generic one of the bundle's profile (kSpecialised: a cold start without
// interpreter start-up), else starts a new sandbox (kFresh). Release() keeps
// a runner that is still reusable (a controller exception does not matter;
// timeout, crash, OOM or a protocol violation do) and discards the rest.
//
// Memory budget: the sum of the memory limits of every runner, idle or
// leased, stays within `memory_budget_bytes`. When a new one would not fit,
// idle runners are evicted, least recently used first; if leased runners
// alone fill the budget Acquire() fails with E3004 (retry later). Warm
// runners idle longer than `idle_ttl` are evicted by the refill thread.
//
// Thread-safe. Slow work (starting, loading, killing sandboxes) happens
// outside the lock. Return every lease before destroying the pool; the
// factory must outlive both.
#pragma once

#include "common/clock.h"
#include "worker/sandbox.h"

#include <absl/status/statusor.h>
#include <absl/time/time.h>

#include <condition_variable>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

namespace magic::worker {

struct PoolOptions {
  SandboxProfile generic_profile;  // profile of the pre-started generic runners
  int generic_target = 2;          // generic runners kept idle
  int max_warm_per_version = 8;    // idle warm runners kept per version
  int64_t memory_budget_bytes = int64_t{4} << 30;
  absl::Duration idle_ttl = absl::Minutes(10);        // warm runners idle longer are evicted
  absl::Duration refill_interval = absl::Seconds(1);  // also retried this often after errors
};

struct PoolStats {
  int generic_idle = 0;
  int warm_idle = 0;
  int leased = 0;
  int64_t memory_reserved_bytes = 0;  // idle + leased + starting
  int64_t warm_hits = 0;
  int64_t specialised = 0;
  int64_t fresh_starts = 0;
  int64_t evictions = 0;
  int64_t discarded = 0;  // released but not reusable
};

class RunnerPool {
 public:
  enum class AcquireKind { kWarm, kSpecialised, kFresh };
  struct Lease {
    std::unique_ptr<Runner> runner;
    AcquireKind kind = AcquireKind::kFresh;
  };

  // `factory` and `clock` must outlive the pool.
  RunnerPool(PoolOptions options, RunnerFactory& factory, Clock& clock);
  ~RunnerPool();
  RunnerPool(const RunnerPool&) = delete;
  RunnerPool& operator=(const RunnerPool&) = delete;

  // Starts the refill thread (idempotent).
  void Start();
  // Stops the refill thread and kills every idle runner (idempotent).
  void Stop();

  // A runner loaded with `bundle`. Errors: the bundle's own load errors
  // (E3003 import failed, E4001 no controller, E3001 import timed out),
  // E3005 (sandbox failed to start), E3004 (memory budget exhausted).
  // `events` receives what the controller logs while it is imported.
  absl::StatusOr<Lease> Acquire(const ControllerBundle& bundle, EventSink& events);
  // Returns a leased runner.
  void Release(std::unique_ptr<Runner>&& runner);

  PoolStats Stats() const;

 private:
  struct Idle {
    std::unique_ptr<Runner> runner;
    absl::Time last_used;
  };
  using Victims = std::list<std::unique_ptr<Runner>>;

  // Under mu_: reserves `bytes`, evicting idle runners LRU first into
  // `victims`. False if leased and starting runners alone leave no room.
  bool ReserveLocked(int64_t bytes, Victims& victims);
  std::unique_ptr<Runner> TakeIdleLocked(const std::string& version_key,
                                         const SandboxProfile* generic_profile);
  void EvictExpiredLocked(Victims& victims);
  int64_t ReservedLocked() const { return idle_bytes_ + leased_bytes_ + starting_bytes_; }
  absl::StatusOr<Lease> LoadInto(std::unique_ptr<Runner> runner, AcquireKind kind,
                                 const ControllerBundle& bundle, EventSink& events);
  void RefillLoop();
  bool RefillOnce();

  const PoolOptions options_;
  RunnerFactory& factory_;
  Clock& clock_;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::list<Idle> idle_;                               // most recently used at the front
  std::unordered_map<const Runner*, int64_t> leased_;  // runner -> bytes reserved
  int64_t idle_bytes_ = 0;
  int64_t leased_bytes_ = 0;
  int64_t starting_bytes_ = 0;
  int generic_starting_ = 0;
  bool stopping_ = false;
  PoolStats counters_;
  std::thread refill_;
};

}  // namespace magic::worker
