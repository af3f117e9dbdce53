// Correlates results arriving on this gateway's reply topic with the
// Invoke calls waiting for them (by request id), and fails each waiting call
// with E3001 when its deadline passes.
//
// Every callback given to Expect() is called exactly once: with the result,
// with E3001 at the deadline, or with the status given to Fail(). Callbacks
// run on the thread that delivers/sweeps and must not block.
//
// Thread-safe. With `start_sweeper` the router owns one thread that expires
// deadlines every `sweep_interval`; tests pass false and call ExpireDue().
// Destruction fails all still-waiting calls with E3005.
#pragma once

#include "common/clock.h"
#include "magic/v1/invocation.pb.h"

#include <absl/status/statusor.h>
#include <absl/time/time.h>

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>

namespace magic::gateway {

class ReplyRouter {
 public:
  using Callback = std::function<void(absl::StatusOr<magic::v1::InvocationResult>)>;

  ReplyRouter(Clock& clock, bool start_sweeper,
              absl::Duration sweep_interval = absl::Milliseconds(5));
  ~ReplyRouter();
  ReplyRouter(const ReplyRouter&) = delete;
  ReplyRouter& operator=(const ReplyRouter&) = delete;

  // Registers a waiting call. A second Expect() for the same id fails the
  // new callback at once with E1005 (duplicate request id in flight).
  void Expect(const std::string& request_id, absl::Time deadline, Callback callback);
  // Completes the call waiting for result.request_id(); a result nobody
  // waits for (late, or for another gateway) is dropped and counted.
  void Deliver(magic::v1::InvocationResult result);
  // Completes the waiting call with `status` (e.g. the job could not be
  // produced). No-op if nobody waits.
  void Fail(const std::string& request_id, const absl::Status& status);
  // Fails every call whose deadline is <= now with E3001.
  void ExpireDue();

  // True if a call waits for `request_id`.
  bool Has(const std::string& request_id) const;
  size_t pending() const;
  uint64_t dropped() const;

 private:
  struct Waiter {
    absl::Time deadline;
    Callback callback;
  };
  // Removes and returns the waiter for `id`, if any.
  std::optional<Waiter> Take(const std::string& id);
  void SweepLoop(absl::Duration interval);

  Clock& clock_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Waiter> waiters_;
  std::multimap<absl::Time, std::string> by_deadline_;
  uint64_t dropped_ = 0;
  bool stopping_ = false;
  std::condition_variable stop_cv_;
  std::thread sweeper_;
};

}  // namespace magic::gateway
