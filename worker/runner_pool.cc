#include "worker/runner_pool.h"

#include "common/errors.h"
#include "common/logging.h"

#include <utility>

namespace magic::worker {

RunnerPool::RunnerPool(PoolOptions options, RunnerFactory& factory, Clock& clock)
    : options_(std::move(options)), factory_(factory), clock_(clock) {}

RunnerPool::~RunnerPool() { Stop(); }

void RunnerPool::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (refill_.joinable() || stopping_) return;
  refill_ = std::thread([this] { RefillLoop(); });
}

void RunnerPool::Stop() {
  std::list<Idle> idle;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    idle.swap(idle_);
    idle_bytes_ = 0;
  }
  wake_.notify_all();
  if (refill_.joinable()) refill_.join();
  idle.clear();  // kills the sandboxes, outside the lock
}

std::unique_ptr<Runner> RunnerPool::TakeIdleLocked(const std::string& version_key,
                                                   const SandboxProfile* generic_profile) {
  for (auto it = idle_.begin(); it != idle_.end(); ++it) {
    const Runner& r = *it->runner;
    const bool match = generic_profile == nullptr
                           ? !version_key.empty() && r.version_key() == version_key
                           : r.version_key().empty() && r.profile() == *generic_profile;
    if (!match) continue;
    std::unique_ptr<Runner> runner = std::move(it->runner);
    idle_bytes_ -= runner->memory_limit_bytes();
    idle_.erase(it);
    return runner;
  }
  return nullptr;
}

bool RunnerPool::ReserveLocked(int64_t bytes, Victims& victims) {
  while (ReservedLocked() + bytes > options_.memory_budget_bytes && !idle_.empty()) {
    idle_bytes_ -= idle_.back().runner->memory_limit_bytes();
    victims.push_back(std::move(idle_.back().runner));
    idle_.pop_back();
    ++counters_.evictions;
  }
  if (ReservedLocked() + bytes > options_.memory_budget_bytes) return false;
  starting_bytes_ += bytes;
  return true;
}

void RunnerPool::EvictExpiredLocked(Victims& victims) {
  const absl::Time now = clock_.Now();
  for (auto it = idle_.begin(); it != idle_.end();) {
    if (it->runner->version_key().empty() || now - it->last_used < options_.idle_ttl) {
      ++it;
      continue;
    }
    idle_bytes_ -= it->runner->memory_limit_bytes();
    victims.push_back(std::move(it->runner));
    it = idle_.erase(it);
    ++counters_.evictions;
  }
}

absl::StatusOr<RunnerPool::Lease> RunnerPool::Acquire(const ControllerBundle& bundle,
                                                      EventSink& events) {
  const int64_t bytes = bundle.limits.memory_bytes;
  Victims victims;  // destroyed after the lock is released
  std::unique_ptr<Runner> runner;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return MakeError(ErrorCode::kE3005, "the runner pool is stopped");
    if ((runner = TakeIdleLocked(bundle.version_key, nullptr))) {
      leased_bytes_ += runner->memory_limit_bytes();
      leased_[runner.get()] = runner->memory_limit_bytes();
      ++counters_.warm_hits;
      return Lease{std::move(runner), AcquireKind::kWarm};
    }
    runner = TakeIdleLocked("", &bundle.profile);
    if (!ReserveLocked(bytes, victims)) {
      if (runner != nullptr) victims.push_back(std::move(runner));
      return MakeError(ErrorCode::kE3004, "the worker's sandbox memory budget is exhausted",
                       {{"budget_bytes", options_.memory_budget_bytes}});
    }
  }
  wake_.notify_all();  // a generic runner may have been taken
  victims.clear();
  const AcquireKind kind = runner != nullptr ? AcquireKind::kSpecialised : AcquireKind::kFresh;
  return LoadInto(std::move(runner), kind, bundle, events);
}

absl::StatusOr<RunnerPool::Lease> RunnerPool::LoadInto(std::unique_ptr<Runner> runner,
                                                       AcquireKind kind,
                                                       const ControllerBundle& bundle,
                                                       EventSink& events) {
  const int64_t bytes = bundle.limits.memory_bytes;
  absl::Status status;
  if (runner == nullptr) {
    absl::StatusOr<std::unique_ptr<Runner>> started = factory_.StartGeneric(bundle.profile);
    status = started.status();
    if (started.ok()) runner = std::move(*started);
  }
  if (status.ok()) status = runner->Load(bundle, events);
  std::lock_guard<std::mutex> lock(mu_);
  starting_bytes_ -= bytes;
  if (!status.ok()) return status;  // `runner` (dead) is destroyed with the frame
  leased_bytes_ += bytes;
  leased_[runner.get()] = bytes;
  ++(kind == AcquireKind::kFresh ? counters_.fresh_starts : counters_.specialised);
  return Lease{std::move(runner), kind};
}

void RunnerPool::Release(std::unique_ptr<Runner>&& runner) {
  if (runner == nullptr) return;
  Victims victims;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = leased_.find(runner.get()); it != leased_.end()) {
      leased_bytes_ -= it->second;
      leased_.erase(it);
    }
    int warm = 0;
    for (const Idle& idle : idle_) {
      if (idle.runner->version_key() == runner->version_key()) ++warm;
    }
    if (!runner->reusable()) ++counters_.discarded;
    if (stopping_ || !runner->reusable() || runner->version_key().empty() ||
        warm >= options_.max_warm_per_version) {
      victims.push_back(std::move(runner));
    } else {
      idle_bytes_ += runner->memory_limit_bytes();
      idle_.push_front({std::move(runner), clock_.Now()});
      ReserveLocked(0, victims);  // a runner from elsewhere may not fit
    }
  }
}

PoolStats RunnerPool::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  PoolStats stats = counters_;
  for (const Idle& idle : idle_) {
    ++(idle.runner->version_key().empty() ? stats.generic_idle : stats.warm_idle);
  }
  stats.leased = static_cast<int>(leased_.size());
  stats.memory_reserved_bytes = ReservedLocked();
  return stats;
}

void RunnerPool::RefillLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    Victims victims;
    EvictExpiredLocked(victims);
    if (!victims.empty()) {
      lock.unlock();
      victims.clear();
      lock.lock();
      continue;
    }
    lock.unlock();
    const bool started = RefillOnce();
    lock.lock();
    if (started) continue;
    wake_.wait_for(lock, absl::ToChronoMilliseconds(options_.refill_interval));
  }
}

// Starts one generic runner if fewer than the target are idle or starting
// and the budget allows. True if one was started (try again at once).
bool RunnerPool::RefillOnce() {
  const int64_t bytes = factory_.generic_memory_bytes();
  {
    std::lock_guard<std::mutex> lock(mu_);
    int idle = 0;
    for (const Idle& i : idle_) {
      if (i.runner->version_key().empty() && i.runner->profile() == options_.generic_profile)
        ++idle;
    }
    if (stopping_ || idle + generic_starting_ >= options_.generic_target ||
        ReservedLocked() + bytes > options_.memory_budget_bytes) {
      return false;
    }
    ++generic_starting_;
    starting_bytes_ += bytes;
  }
  // Declared before the lock, so a runner not kept is killed after unlocking.
  absl::StatusOr<std::unique_ptr<Runner>> runner = factory_.StartGeneric(options_.generic_profile);
  std::lock_guard<std::mutex> lock(mu_);
  --generic_starting_;
  starting_bytes_ -= bytes;
  if (!runner.ok()) {
    MAGIC_LOG(warn, "cannot pre-start a generic runner",
              {{"error", ErrorFromStatus(runner.status()).ToJson()}});
    return false;
  }
  if (stopping_) return false;
  idle_bytes_ += (*runner)->memory_limit_bytes();
  idle_.push_front({std::move(*runner), clock_.Now()});
  return true;
}

}  // namespace magic::worker
