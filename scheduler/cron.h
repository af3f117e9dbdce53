// Cron schedules for the scheduler's durable timers: a parser for standard
// 5-field cron expressions (minute hour day-of-month month day-of-week, all
// in UTC) and the calculator of the next fire time.
//
//   MAGIC_ASSIGN_OR_RETURN(CronSchedule s, CronSchedule::Parse("*/15 9-17 * * MON-FRI"));
//   absl::Time next = s.Next(clock.Now());
//
// Syntax: `*`, numbers, ranges `a-b`, steps `*/n`, `a-b/n` and `a/n` (= a-max/n),
// lists `a,b,c`; month names JAN-DEC and day names SUN-SAT (case-insensitive),
// 0 and 7 both Sunday; the macros @yearly @annually @monthly @weekly @daily
// @midnight @hourly (case-insensitive). Fields are separated by spaces or tabs.
//
// Day matching follows Vixie cron exactly: if the day-of-month or the
// day-of-week field starts with `*` (so `*` and also `*/2`), a day must match
// both fields; if neither does, a day matches when EITHER field matches
// ("0 0 1 * MON" fires on the 1st and on every Monday).
//
// Every malformed expression, and every expression that can never fire
// ("0 0 31 2 *"), is rejected by Parse() with E1005; its details name the
// expression ("cron") and the field ("minute", "hour", "day-of-month", "month",
// "day-of-week", or "expression" when no single field is at fault).
#pragma once

#include <absl/status/statusor.h>
#include <absl/time/civil_time.h>
#include <absl/time/time.h>

#include <bitset>
#include <optional>
#include <string>
#include <string_view>

namespace magic::scheduler {

// Longest expression Parse() accepts, in bytes.
inline constexpr size_t kMaxCronExpressionLength = 256;

// An immutable, validated cron schedule. Cheap to copy; all methods are const
// and safe to call from any number of threads at once.
class CronSchedule {
 public:
  // Parses `expr`; E1005 with a message naming the field and the bad token,
  // e.g. "cron minute field: 61 is out of range 0-59".
  static absl::StatusOr<CronSchedule> Parse(std::string_view expr);

  // The first fire time strictly after `after` (fire times are whole UTC
  // minutes, so an `after` that is itself a fire time yields the following
  // one). Never allocates. Parse() guarantees a result, because the Gregorian
  // calendar repeats every 400 years and Next() searches 401; only an infinite
  // `after`, or one at the edge of absl::Time's range, gives InfiniteFuture().
  absl::Time Next(absl::Time after) const;

  // The expression exactly as given to Parse().
  const std::string& expression() const { return expression_; }

 private:
  CronSchedule() = default;

  // The first matching minute at or after `from`, within the search horizon.
  std::optional<absl::CivilMinute> NextMatch(absl::CivilMinute from) const;
  bool DayMatches(absl::CivilDay day) const;
  // The first matching (hour, minute) of a matching day at or after hour:minute,
  // as minutes since midnight.
  std::optional<int> FirstTimeOfDay(int hour, int minute) const;

  std::string expression_;
  std::bitset<60> minutes_;         // 0-59
  std::bitset<24> hours_;           // 0-23
  std::bitset<32> days_of_month_;   // 1-31 (bit 0 unused)
  std::bitset<13> months_;          // 1-12 (bit 0 unused)
  std::bitset<7> days_of_week_;     // 0-6, 0 = Sunday
  bool day_of_month_star_ = false;  // the field starts with '*' (Vixie's DOM_STAR)
  bool day_of_week_star_ = false;   // the field starts with '*' (Vixie's DOW_STAR)
};

}  // namespace magic::scheduler
