#include "scheduler/cron.h"

#include "common/errors.h"
#include "common/testing/status_testing.h"

#include <absl/time/civil_time.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <bitset>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

namespace magic::scheduler {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

absl::Time Utc(int y, int mo, int d, int h = 0, int mi = 0, int s = 0) {
  return absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, s), absl::UTCTimeZone());
}

// The first `n` fire times of `expr` after `from`, each strictly after the last.
std::vector<absl::Time> Fires(std::string_view expr, absl::Time from, int n) {
  absl::StatusOr<CronSchedule> schedule = CronSchedule::Parse(expr);
  EXPECT_OK(schedule);
  std::vector<absl::Time> out;
  if (!schedule.ok()) return out;
  for (int i = 0; i < n; ++i) {
    from = schedule->Next(from);
    out.push_back(from);
  }
  return out;
}

absl::Time NextOf(std::string_view expr, absl::Time from) {
  std::vector<absl::Time> fires = Fires(expr, from, 1);
  return fires.empty() ? absl::InfinitePast() : fires[0];
}

// --- Syntax ----------------------------------------------------------------

TEST(CronTest, NextIsStrictlyAfter) {
  const std::string_view every = "* * * * *";
  EXPECT_EQ(NextOf(every, Utc(2026, 3, 5, 10, 0, 0)), Utc(2026, 3, 5, 10, 1));
  EXPECT_EQ(NextOf(every, Utc(2026, 3, 5, 10, 0, 30)), Utc(2026, 3, 5, 10, 1));
  EXPECT_EQ(NextOf(every, Utc(2026, 3, 5, 9, 59, 59)), Utc(2026, 3, 5, 10, 0));
  EXPECT_EQ(NextOf(every, Utc(2026, 3, 5, 9, 59, 59) + absl::Milliseconds(999)),
            Utc(2026, 3, 5, 10, 0));
}

TEST(CronTest, ExactFireTimeYieldsTheFollowingOne) {
  EXPECT_EQ(NextOf("30 14 * * *", Utc(2026, 3, 5, 14, 30)), Utc(2026, 3, 6, 14, 30));
  EXPECT_EQ(NextOf("30 14 * * *", Utc(2026, 3, 5, 14, 29, 59)), Utc(2026, 3, 5, 14, 30));
  EXPECT_EQ(NextOf("30 14 * * *", Utc(2026, 3, 5, 14, 30) + absl::Nanoseconds(1)),
            Utc(2026, 3, 6, 14, 30));
}

TEST(CronTest, Numbers) {
  EXPECT_THAT(Fires("5 4 * * *", Utc(2026, 3, 5, 10), 2),
              ElementsAre(Utc(2026, 3, 6, 4, 5), Utc(2026, 3, 7, 4, 5)));
  EXPECT_THAT(Fires("05 04 06 03 *", Utc(2026, 3, 5), 2),
              ElementsAre(Utc(2026, 3, 6, 4, 5), Utc(2027, 3, 6, 4, 5)));
}

TEST(CronTest, Ranges) {
  EXPECT_THAT(Fires("0 9-11 * * *", Utc(2026, 3, 5, 8), 4),
              ElementsAre(Utc(2026, 3, 5, 9), Utc(2026, 3, 5, 10), Utc(2026, 3, 5, 11),
                          Utc(2026, 3, 6, 9)));
  EXPECT_THAT(
      Fires("58-59 23 * * *", Utc(2026, 3, 5), 3),
      ElementsAre(Utc(2026, 3, 5, 23, 58), Utc(2026, 3, 5, 23, 59), Utc(2026, 3, 6, 23, 58)));
}

TEST(CronTest, Steps) {
  const absl::Time from = Utc(2026, 3, 5, 10, 0);
  EXPECT_THAT(Fires("*/20 * * * *", from, 3),
              ElementsAre(Utc(2026, 3, 5, 10, 20), Utc(2026, 3, 5, 10, 40), Utc(2026, 3, 5, 11)));
  EXPECT_THAT(Fires("10-30/10 * * * *", from, 4),
              ElementsAre(Utc(2026, 3, 5, 10, 10), Utc(2026, 3, 5, 10, 20), Utc(2026, 3, 5, 10, 30),
                          Utc(2026, 3, 5, 11, 10)));
  // `a/n` runs from a to the top of the field.
  EXPECT_THAT(Fires("5/20 * * * *", from, 4),
              ElementsAre(Utc(2026, 3, 5, 10, 5), Utc(2026, 3, 5, 10, 25), Utc(2026, 3, 5, 10, 45),
                          Utc(2026, 3, 5, 11, 5)));
  EXPECT_THAT(Fires("0 0 1 FEB/3 *", Utc(2026, 1, 1), 5),
              ElementsAre(Utc(2026, 2, 1), Utc(2026, 5, 1), Utc(2026, 8, 1), Utc(2026, 11, 1),
                          Utc(2027, 2, 1)));
}

TEST(CronTest, Lists) {
  EXPECT_THAT(Fires("0,30 1,13 * * *", Utc(2026, 3, 5), 5),
              ElementsAre(Utc(2026, 3, 5, 1), Utc(2026, 3, 5, 1, 30), Utc(2026, 3, 5, 13),
                          Utc(2026, 3, 5, 13, 30), Utc(2026, 3, 6, 1)));
  // Every form in one list; overlaps are harmless.
  EXPECT_THAT(Fires("1-3,10,*/30,2 7 * * *", Utc(2026, 3, 5), 7),
              ElementsAre(Utc(2026, 3, 5, 7, 0), Utc(2026, 3, 5, 7, 1), Utc(2026, 3, 5, 7, 2),
                          Utc(2026, 3, 5, 7, 3), Utc(2026, 3, 5, 7, 10), Utc(2026, 3, 5, 7, 30),
                          Utc(2026, 3, 6, 7, 0)));
}

TEST(CronTest, MonthNamesAnyCase) {
  EXPECT_THAT(Fires("0 0 1 jan,Jul *", Utc(2026, 3, 1), 3),
              ElementsAre(Utc(2026, 7, 1), Utc(2027, 1, 1), Utc(2027, 7, 1)));
  EXPECT_THAT(Fires("0 0 1 MAR-may *", Utc(2026, 3, 1), 3),
              ElementsAre(Utc(2026, 4, 1), Utc(2026, 5, 1), Utc(2027, 3, 1)));
}

TEST(CronTest, DayNamesAnyCase) {
  // 2026-03-06 is a Friday.
  EXPECT_THAT(Fires("0 12 * * mon-FRI", Utc(2026, 3, 6, 13), 2),
              ElementsAre(Utc(2026, 3, 9, 12), Utc(2026, 3, 10, 12)));
  EXPECT_THAT(Fires("0 0 * * Sat,sun", Utc(2026, 3, 5), 3),
              ElementsAre(Utc(2026, 3, 7), Utc(2026, 3, 8), Utc(2026, 3, 14)));
}

TEST(CronTest, SevenAndZeroAreSunday) {
  const absl::Time from = Utc(2026, 3, 5);  // Thursday
  const std::vector<absl::Time> sundays = {Utc(2026, 3, 8), Utc(2026, 3, 15)};
  EXPECT_EQ(Fires("0 0 * * 0", from, 2), sundays);
  EXPECT_EQ(Fires("0 0 * * 7", from, 2), sundays);
  EXPECT_EQ(Fires("0 0 * * SUN", from, 2), sundays);
  EXPECT_EQ(Fires("0 0 * * 7/3", from, 2), sundays);
  EXPECT_THAT(Fires("0 0 * * 5-7", from, 4),
              ElementsAre(Utc(2026, 3, 6), Utc(2026, 3, 7), Utc(2026, 3, 8), Utc(2026, 3, 13)));
}

TEST(CronTest, Macros) {
  const absl::Time from = Utc(2026, 3, 5, 10, 30);  // Thursday
  EXPECT_EQ(NextOf("@yearly", from), Utc(2027, 1, 1));
  EXPECT_EQ(NextOf("@annually", from), Utc(2027, 1, 1));
  EXPECT_EQ(NextOf("@monthly", from), Utc(2026, 4, 1));
  EXPECT_EQ(NextOf("@weekly", from), Utc(2026, 3, 8));
  EXPECT_EQ(NextOf("@daily", from), Utc(2026, 3, 6));
  EXPECT_EQ(NextOf("@midnight", from), Utc(2026, 3, 6));
  EXPECT_EQ(NextOf("@hourly", from), Utc(2026, 3, 5, 11));
  EXPECT_EQ(NextOf(" @DAILY\t", from), Utc(2026, 3, 6));
  absl::StatusOr<CronSchedule> hourly = CronSchedule::Parse("@Hourly");
  ASSERT_OK(hourly);
  EXPECT_EQ(hourly->expression(), "@Hourly");
}

TEST(CronTest, BlanksBetweenFieldsAndExpressionIsVerbatim) {
  const std::string_view expr = "  0\t12   * *  *  ";
  absl::StatusOr<CronSchedule> schedule = CronSchedule::Parse(expr);
  ASSERT_OK(schedule);
  EXPECT_EQ(schedule->expression(), expr);
  EXPECT_EQ(schedule->Next(Utc(2026, 3, 5)), Utc(2026, 3, 5, 12));
}

// --- Day matching -------------------------------------------------------------

TEST(CronTest, RestrictedDayOfMonthAndDayOfWeekMatchEither) {
  // Mondays of March 2026 are the 2nd, 9th, 16th, 23rd and 30th; the 13th is a Friday.
  EXPECT_THAT(Fires("0 0 13 * MON", Utc(2026, 3, 1), 6),
              ElementsAre(Utc(2026, 3, 2), Utc(2026, 3, 9), Utc(2026, 3, 13), Utc(2026, 3, 16),
                          Utc(2026, 3, 23), Utc(2026, 3, 30)));
  // A restricted field that happens to allow every day still widens the match.
  EXPECT_THAT(Fires("0 0 1-31 * MON", Utc(2026, 3, 1), 3),
              ElementsAre(Utc(2026, 3, 2), Utc(2026, 3, 3), Utc(2026, 3, 4)));
}

TEST(CronTest, StarLedFieldRequiresBothLikeVixie) {
  // "*/2" starts with '*': only odd-numbered days that are Mondays.
  EXPECT_THAT(Fires("0 0 */2 * MON", Utc(2026, 3, 1), 3),
              ElementsAre(Utc(2026, 3, 9), Utc(2026, 3, 23), Utc(2026, 4, 13)));
  EXPECT_THAT(Fires("0 0 * * MON", Utc(2026, 3, 1), 2),
              ElementsAre(Utc(2026, 3, 2), Utc(2026, 3, 9)));
  EXPECT_THAT(Fires("0 0 13 * *", Utc(2026, 3, 1), 2),
              ElementsAre(Utc(2026, 3, 13), Utc(2026, 4, 13)));
}

TEST(CronTest, LeapDay) {
  EXPECT_THAT(Fires("0 0 29 2 *", Utc(2026, 1, 1), 3),
              ElementsAre(Utc(2028, 2, 29), Utc(2032, 2, 29), Utc(2036, 2, 29)));
  // 2100 is not a leap year.
  EXPECT_EQ(NextOf("0 0 29 2 *", Utc(2097, 1, 1)), Utc(2104, 2, 29));
}

TEST(CronTest, RareScheduleBeyondFiveYears) {
  // Feb 29 that is a Sunday (AND rule: "*/7" is star-led): 28 years apart.
  EXPECT_THAT(Fires("0 0 29 2 */7", Utc(2026, 1, 1), 2),
              ElementsAre(Utc(2032, 2, 29), Utc(2060, 2, 29)));
}

TEST(CronTest, MonthAndYearRollover) {
  EXPECT_EQ(NextOf("59 23 31 12 *", Utc(2026, 12, 31, 23, 59)), Utc(2027, 12, 31, 23, 59));
  EXPECT_EQ(NextOf("0 0 1 * *", Utc(2026, 12, 31, 23, 59, 59)), Utc(2027, 1, 1));
  EXPECT_EQ(NextOf("* * * * *", Utc(2026, 12, 31, 23, 59, 30)), Utc(2027, 1, 1));
  // The 31st skips the 30-day months.
  EXPECT_THAT(Fires("0 0 31 * *", Utc(2026, 3, 31), 3),
              ElementsAre(Utc(2026, 5, 31), Utc(2026, 7, 31), Utc(2026, 8, 31)));
  // A restricted day-of-week keeps "31 2" alive: Mondays of February.
  EXPECT_EQ(NextOf("0 0 31 2 MON", Utc(2026, 3, 1)), Utc(2027, 2, 1));
}

TEST(CronTest, InfiniteInputs) {
  absl::StatusOr<CronSchedule> schedule = CronSchedule::Parse("* * * * *");
  ASSERT_OK(schedule);
  EXPECT_EQ(schedule->Next(absl::InfiniteFuture()), absl::InfiniteFuture());
  EXPECT_EQ(schedule->Next(absl::InfinitePast()), absl::InfiniteFuture());
  EXPECT_EQ(schedule->Next(absl::UnixEpoch()), absl::UnixEpoch() + absl::Minutes(1));
  EXPECT_EQ(schedule->Next(absl::UnixEpoch() - absl::Seconds(1)), absl::UnixEpoch());
}

// --- Errors ------------------------------------------------------------------

struct BadCase {
  std::string expr;
  std::string field;
  std::string message;  // a fragment of the message
};

void ExpectRejected(const BadCase& c) {
  SCOPED_TRACE(c.expr);
  absl::StatusOr<CronSchedule> schedule = CronSchedule::Parse(c.expr);
  ASSERT_FALSE(schedule.ok());
  EXPECT_EQ(ErrorCodeOf(schedule.status()), ErrorCode::kE1005);
  EXPECT_EQ(schedule.status().code(), Describe(ErrorCode::kE1005).grpc_code);
  const Error error = ErrorFromStatus(schedule.status());
  EXPECT_THAT(error.message, HasSubstr(c.message));
  EXPECT_EQ(error.details.value("field", ""), c.field);
  EXPECT_TRUE(error.details.contains("cron"));
}

TEST(CronTest, RejectsMalformedExpressions) {
  const std::vector<BadCase> cases = {
      {"", "expression", "empty"},
      {" \t ", "expression", "empty"},
      {"* * * *", "expression", "has 4 fields; expected 5"},
      {"* * * * * *", "expression", "has 6 fields"},
      {"0 0 * * * # nightly", "expression", "has 7 fields"},
      {"@reboot", "expression", "unknown macro '@reboot'"},
      {"@every 5m", "expression", "unknown macro"},
      {"@daily 0", "expression", "unknown macro"},
      {"@", "expression", "unknown macro"},
  };
  for (const BadCase& c : cases) ExpectRejected(c);
}

TEST(CronTest, RejectsOutOfRangeValues) {
  const std::vector<BadCase> cases = {
      {"61 * * * *", "minute", "cron minute field: 61 is out of range 0-59"},
      {"60 * * * *", "minute", "60 is out of range 0-59"},
      {"* 24 * * *", "hour", "cron hour field: 24 is out of range 0-23"},
      {"* * 0 * *", "day-of-month", "cron day-of-month field: 0 is out of range 1-31"},
      {"* * 32 * *", "day-of-month", "32 is out of range 1-31"},
      {"* * * 0 *", "month", "cron month field: 0 is out of range 1-12"},
      {"* * * 13 *", "month", "13 is out of range 1-12"},
      {"* * * * 8", "day-of-week", "cron day-of-week field: 8 is out of range 0-7"},
      {"99999999999999999999 * * * *", "minute", "is out of range 0-59"},
      {"1-60 * * * *", "minute", "60 is out of range"},
  };
  for (const BadCase& c : cases) ExpectRejected(c);
}

TEST(CronTest, RejectsBadSteps) {
  const std::vector<BadCase> cases = {
      {"*/0 * * * *", "minute", "step 0 is out of range 1-59"},
      {"* 1-5/0 * * *", "hour", "step 0 is out of range 1-23"},
      {"*/60 * * * *", "minute", "step 60 is out of range 1-59"},
      {"*/ * * * *", "minute", "missing step in '*/'"},
      {"*/5/2 * * * *", "minute", "step '5/2' is not a number"},
      {"* * * */x *", "month", "step 'x' is not a number"},
      {"* * * * */-1", "day-of-week", "step '-1' is not a number"},
  };
  for (const BadCase& c : cases) ExpectRejected(c);
}

TEST(CronTest, RejectsBadTokensAndRanges) {
  const std::vector<BadCase> cases = {
      {"5-1 * * * *", "minute", "range 5-1 is reversed"},
      {"* * * * FRI-MON", "day-of-week", "range FRI-MON is reversed (5 > 1)"},
      {"* * * DEC-JAN *", "month", "reversed"},
      {"5x * * * *", "minute", "'5x' is not a number"},
      {"MON * * * *", "minute", "'MON' is not a number"},
      {"* * * FOO *", "month", "'FOO' is not a number or a month name"},
      {"* * * * MONDAY", "day-of-week", "'MONDAY' is not a number or a day name"},
      {"* * * JAN *x", "day-of-week", "'*x' is not a number or a day name"},
      {"* * * * **", "day-of-week", "'**' is not"},
      {"1,,2 * * * *", "minute", "empty list element in '1,,2'"},
      {"1, * * * *", "minute", "empty list element"},
      {",1 * * * *", "minute", "empty list element"},
      {"-5 * * * *", "minute", "missing value in '-5'"},
      {"5- * * * *", "minute", "missing value in '5-'"},
      {"/5 * * * *", "minute", "missing value in '/5'"},
      {"1-2-3 * * * *", "minute", "'2-3' is not a number"},
      {"+5 * * * *", "minute", "'+5' is not a number"},
      {"* * L * *", "day-of-month", "'L' is not a number"},
      {"* * * * 5#3", "day-of-week", "'5#3' is not"},
  };
  for (const BadCase& c : cases) ExpectRejected(c);
}

TEST(CronTest, RejectsExpressionsThatNeverFire) {
  const std::vector<BadCase> cases = {
      {"0 0 31 2 *", "day-of-month", "never fires"},
      {"0 0 30 2 *", "day-of-month", "never fires"},
      {"0 0 30,31 FEB *", "day-of-month", "never fires"},
      {"0 0 31 4,6,9,11 *", "day-of-month", "never fires"},
  };
  for (const BadCase& c : cases) ExpectRejected(c);
}

TEST(CronTest, RejectsOverlongAndHostileText) {
  std::string long_expr = "* * * * *";
  long_expr.append(kMaxCronExpressionLength, ' ');  // blanks alone would be harmless
  ExpectRejected({long_expr, "expression", "is 265 bytes long; the limit is 256"});
  ExpectRejected({std::string(1 << 20, '*'), "expression", "the limit is 256"});
  ExpectRejected({"* * * * *\n", "expression", "byte 0x0A at offset 9 is not allowed"});
  ExpectRejected({std::string("* *\0 * * *", 10), "expression", "byte 0x00 at offset 3"});
  ExpectRejected({"\xff\xfe * * * *", "expression", "byte 0xFF at offset 0"});

  // Details stay valid JSON text: the bad bytes are escaped.
  const Error error = ErrorFromStatus(CronSchedule::Parse("\xff * * * *").status());
  EXPECT_EQ(error.details.value("cron", ""), "\\xFF * * * *");
  EXPECT_NO_THROW((void)error.ToJson().dump());
  // A long expression is not echoed whole.
  const Error too_long = ErrorFromStatus(CronSchedule::Parse(std::string(1 << 20, '*')).status());
  EXPECT_EQ(too_long.details.value("cron", "").size(), 64U);
}

TEST(CronTest, ExactlyMaxLengthIsAccepted) {
  std::string expr = "0 0 * * *";
  expr.append(kMaxCronExpressionLength - expr.size(), ' ');
  ASSERT_EQ(expr.size(), kMaxCronExpressionLength);
  EXPECT_OK(CronSchedule::Parse(expr));
}

// --- Against a brute-force reference --------------------------------------------

// A field's allowed values as the test itself computes them.
struct FieldModel {
  int min;
  int max;
  int star_max;
  std::span<const char* const> names;
  int names_base;
};

constexpr const char* kMonths[] = {"jan", "FEB", "Mar", "APR", "may", "JUN",
                                   "jul", "AUG", "sep", "OCT", "Nov", "DEC"};
constexpr const char* kDays[] = {"SUN", "mon", "Tue", "WED", "thu", "FRI", "sat"};

constexpr FieldModel kModels[] = {
    {0, 59, 59, {}, 0},      {0, 23, 23, {}, 0},  {1, 31, 31, {}, 0},
    {1, 12, 12, kMonths, 1}, {0, 7, 6, kDays, 0},
};

struct Reference {
  std::string expr;
  std::bitset<64> bits[5];
  bool dom_star = false;
  bool dow_star = false;

  bool DayMatches(absl::CivilDay day) const {
    if (!bits[3][static_cast<size_t>(day.month())]) return false;
    const bool dom = bits[2][static_cast<size_t>(day.day())];
    // 1970-01-04 was a Sunday.
    const auto weekday = static_cast<size_t>(((day - absl::CivilDay(1970, 1, 4)) % 7 + 7) % 7);
    const bool dow = bits[4][weekday];
    return (dom_star || dow_star) ? (dom && dow) : (dom || dow);
  }
  bool Matches(absl::CivilMinute m) const {
    return bits[0][static_cast<size_t>(m.minute())] && bits[1][static_cast<size_t>(m.hour())] &&
           DayMatches(absl::CivilDay(m));
  }
};

class Generator {
 public:
  explicit Generator(uint32_t seed) : rng_(seed) {}

  int Uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }

  Reference Expression() {
    Reference ref;
    for (int f = 0; f < 5; ++f) {
      // Wide day and month fields keep most fires inside the scan horizon.
      const bool star = f >= 2 && Uniform(0, 1) == 0;
      std::string text = star ? "*" : Field(kModels[f], ref.bits[f]);
      if (star) {
        for (int v = kModels[f].min; v <= kModels[f].star_max; ++v) ref.bits[f].set(v);
      }
      if (f == 2) ref.dom_star = text[0] == '*';
      if (f == 4) ref.dow_star = text[0] == '*';
      ref.expr += (f == 0 ? "" : " ") + text;
    }
    if (ref.bits[4][7]) ref.bits[4].set(0);
    return ref;
  }

  absl::CivilMinute Start() {
    return absl::CivilMinute(Uniform(1990, 2150), Uniform(1, 12), Uniform(1, 28), Uniform(0, 23),
                             Uniform(0, 59));
  }

 private:
  std::string Value(const FieldModel& m, int v) {
    const int name = v - m.names_base;
    if (!m.names.empty() && name >= 0 && name < static_cast<int>(m.names.size()) &&
        Uniform(0, 1) == 0) {
      return m.names[static_cast<size_t>(name)];
    }
    return std::to_string(v);
  }

  std::string Field(const FieldModel& m, std::bitset<64>& bits) {
    std::string text;
    const int elements = Uniform(1, 3);
    for (int i = 0; i < elements; ++i) {
      if (i > 0) text += ',';
      int lo = Uniform(m.min, m.max);
      int hi = Uniform(lo, m.max);
      int step = 1;
      switch (Uniform(0, 5)) {
        case 0:  // *
          text += "*";
          lo = m.min;
          hi = m.star_max;
          break;
        case 1:  // a
          text += Value(m, lo);
          hi = lo;
          break;
        case 2:  // a-b
          text += Value(m, lo) + "-" + Value(m, hi);
          break;
        case 3:  // */n
          step = Uniform(1, m.max);
          text += fmt::format("*/{}", step);
          lo = m.min;
          hi = m.star_max;
          break;
        case 4:  // a-b/n
          step = Uniform(1, m.max);
          text += fmt::format("{}-{}/{}", Value(m, lo), Value(m, hi), step);
          break;
        default:  // a/n
          step = Uniform(1, m.max);
          text += fmt::format("{}/{}", Value(m, lo), step);
          hi = std::max(lo, m.star_max);
          break;
      }
      for (int v = lo; v <= hi; v += step) bits.set(static_cast<size_t>(v));
    }
    return text;
  }

  std::mt19937 rng_;
};

TEST(CronTest, RandomExpressionsMatchMinuteByMinuteScan) {
  constexpr int kHorizonMinutes = 40 * 24 * 60;
  Generator gen(20260305);
  int compared = 0;
  for (int iteration = 0; iteration < 300; ++iteration) {
    const Reference ref = gen.Expression();
    SCOPED_TRACE(ref.expr);
    absl::StatusOr<CronSchedule> schedule = CronSchedule::Parse(ref.expr);
    if (!schedule.ok()) {
      // Only an impossible day-of-month/month pair may be refused; 8 years
      // cover every month length, leap day included.
      EXPECT_THAT(std::string(schedule.status().message()), HasSubstr("never fires"));
      for (absl::CivilDay d(2000, 1, 1); d < absl::CivilDay(2008, 1, 1); ++d) {
        ASSERT_FALSE(ref.DayMatches(d)) << d;
      }
      continue;
    }
    absl::CivilMinute t = gen.Start();
    for (int fire = 0; fire < 3; ++fire) {
      const absl::Time after =
          absl::FromCivil(t, absl::UTCTimeZone()) + absl::Seconds(gen.Uniform(0, 59));
      std::optional<absl::CivilMinute> expected;
      for (absl::CivilMinute m = t + 1; m <= t + kHorizonMinutes; ++m) {
        if (ref.Matches(m)) {
          expected = m;
          break;
        }
      }
      const absl::Time got = schedule->Next(after);
      if (!expected) {
        EXPECT_GT(got, absl::FromCivil(t + kHorizonMinutes, absl::UTCTimeZone()));
        break;
      }
      ASSERT_EQ(got, absl::FromCivil(*expected, absl::UTCTimeZone())) << "after " << t;
      ++compared;
      t = *expected;
    }
  }
  EXPECT_GT(compared, 300);  // the horizon is wide enough for the test to mean something
}

TEST(CronTest, RandomTextIsRejectedCleanlyOrFires) {
  static constexpr std::string_view kAlphabet = "0123456789*/-,@ \t   aAjJfFmMsSoOnNdDuUeEyYlL#?\n";
  // Tokens plausible in any field, mixed with ones that are wrong somewhere.
  static constexpr std::string_view kTokens[] = {"*",   "*/5", "1",   "7",   "2/3", "1,2",
                                                 "1-5", "*/2", "3-7", "2,3", "5"};
  static constexpr std::string_view kHostile[] = {
      "61", "5-1", "MON-FRI", "jan", "*/0", ",",  "-",    "/",  "@daily", "@bogus", "FEB", "29",
      "30", "31",  "SUN",     "L",   "0",   "59", "*/60", "1-", "7/",     "**",     "1,,2"};
  Generator gen(7);
  int accepted = 0;
  int rejected = 0;
  for (int i = 0; i < 5000; ++i) {
    std::string expr;
    if (i % 2 == 0) {
      const int length = gen.Uniform(0, 30);
      for (int c = 0; c < length; ++c) {
        expr += kAlphabet[static_cast<size_t>(gen.Uniform(0, kAlphabet.size() - 1))];
      }
    } else {
      const int fields = gen.Uniform(0, 3) == 0 ? gen.Uniform(4, 6) : 5;
      for (int f = 0; f < fields; ++f) {
        if (f > 0) expr += ' ';
        expr += gen.Uniform(0, 4) == 0
                    ? kHostile[static_cast<size_t>(gen.Uniform(0, std::size(kHostile) - 1))]
                    : kTokens[static_cast<size_t>(gen.Uniform(0, std::size(kTokens) - 1))];
      }
    }
    SCOPED_TRACE(expr);
    absl::StatusOr<CronSchedule> schedule = CronSchedule::Parse(expr);
    if (schedule.ok()) {
      ++accepted;
      const absl::Time after = absl::FromCivil(gen.Start(), absl::UTCTimeZone());
      const absl::Time next = schedule->Next(after);
      EXPECT_GT(next, after);
      EXPECT_LT(next, after + absl::Hours(24 * 366 * 401));
    } else {
      ++rejected;
      EXPECT_EQ(ErrorCodeOf(schedule.status()), ErrorCode::kE1005);
      const Error error = ErrorFromStatus(schedule.status());
      EXPECT_THAT(error.message, StartsWith("cron "));
      EXPECT_FALSE(error.details.value("field", "").empty());
    }
  }
  // Both outcomes are exercised.
  EXPECT_GT(accepted, 500);
  EXPECT_GT(rejected, 2000);
}

}  // namespace
}  // namespace magic::scheduler
