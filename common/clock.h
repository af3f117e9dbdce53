// Time as a dependency (STYLE.md §4): logic takes a Clock&, production
// passes RealClock(), tests pass a FakeClock they advance by hand.
#pragma once

#include <absl/time/clock.h>
#include <absl/time/time.h>

#include <atomic>
#include <cstdint>

namespace magic {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
  int64_t NowUnixMillis() const { return absl::ToUnixMillis(Now()); }
};

class RealClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
};

// The process-wide real clock (stateless, so sharing it is safe).
Clock& RealClockInstance();

// A clock that only moves when told. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1'700'000'000))
      : nanos_(absl::ToUnixNanos(start)) {}
  absl::Time Now() const override { return absl::FromUnixNanos(nanos_.load()); }
  void Advance(absl::Duration d) { nanos_ += absl::ToInt64Nanoseconds(d); }

 private:
  std::atomic<int64_t> nanos_;
};

}  // namespace magic
