#include "scheduler/cron.h"

#include "common/errors.h"
#include "common/status_macros.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <span>

namespace magic::scheduler {
namespace {

// The Gregorian calendar (leap years and weekdays alike) repeats every 400
// years, so a schedule that fires at all fires within any 400-year window.
// Rare schedules are real: "0 0 29 2 */7" (Vixie AND rule) fires once every
// 28 years, so a shorter horizon would make Next() wrong for them.
constexpr absl::civil_year_t kSearchYears = 401;

constexpr std::string_view kWholeExpression = "expression";

constexpr std::array<std::string_view, 12> kMonthNames = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<std::string_view, 7> kDayNames = {"SUN", "MON", "TUE", "WED",
                                                       "THU", "FRI", "SAT"};

struct FieldSpec {
  std::string_view name;  // as in messages and the "field" detail
  int min;
  int max;
  int star_max;  // the top of `*` and of `a/n`; below max only for day-of-week (7 = 0)
  std::span<const std::string_view> names = {};  // names[i] is value names_base + i
  int names_base = 0;
  std::string_view what = "a number";  // what a value must be, for messages
};

constexpr FieldSpec kMinute{"minute", 0, 59, 59};
constexpr FieldSpec kHour{"hour", 0, 23, 23};
constexpr FieldSpec kDayOfMonth{"day-of-month", 1, 31, 31};
constexpr FieldSpec kMonth{
    "month", 1, 12, 12, kMonthNames, 1, "a number or a month name (JAN-DEC)"};
constexpr FieldSpec kDayOfWeek{
    "day-of-week", 0, 7, 6, kDayNames, 0, "a number or a day name (SUN-SAT)"};

struct Macro {
  std::string_view name;
  std::string_view expansion;
};

constexpr std::array<Macro, 7> kMacros = {{{"@yearly", "0 0 1 1 *"},
                                           {"@annually", "0 0 1 1 *"},
                                           {"@monthly", "0 0 1 * *"},
                                           {"@weekly", "0 0 * * 0"},
                                           {"@daily", "0 0 * * *"},
                                           {"@midnight", "0 0 * * *"},
                                           {"@hourly", "0 * * * *"}}};

bool IsBlank(char c) { return c == ' ' || c == '\t'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
char ToUpper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ToUpper(a[i]) != ToUpper(b[i])) return false;
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsBlank(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsBlank(s.back())) s.remove_suffix(1);
  return s;
}

// Error details are JSON, whose strings must be valid UTF-8: bytes outside
// printable ASCII are shown as \xNN.
std::string Printable(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7f) {
      out.push_back(c);
    } else {
      out += fmt::format("\\x{:02X}", byte);
    }
  }
  return out;
}

absl::Status CronError(std::string_view expr, std::string_view field, std::string_view message) {
  return MakeError(ErrorCode::kE1005, message,
                   {{"cron", Printable(expr)}, {"field", std::string(field)}});
}

// Length and alphabet, before anything else looks at the text.
absl::Status CheckText(std::string_view expr) {
  if (expr.size() > kMaxCronExpressionLength) {
    return CronError(expr.substr(0, 64), kWholeExpression,
                     fmt::format("cron expression is {} bytes long; the limit is {}", expr.size(),
                                 kMaxCronExpressionLength));
  }
  for (size_t i = 0; i < expr.size(); ++i) {
    const auto byte = static_cast<unsigned char>(expr[i]);
    if (byte == '\t' || (byte >= 0x20 && byte < 0x7f)) continue;
    return CronError(
        expr, kWholeExpression,
        fmt::format("cron expression: byte 0x{:02X} at offset {} is not allowed", byte, i));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string_view> ExpandMacro(std::string_view expr, std::string_view body) {
  for (const Macro& macro : kMacros) {
    if (EqualsIgnoreCase(body, macro.name)) return macro.expansion;
  }
  return CronError(expr, kWholeExpression,
                   fmt::format("cron expression: unknown macro '{}' (known: @yearly @annually "
                               "@monthly @weekly @daily @midnight @hourly)",
                               body));
}

// Splits on runs of blanks into `fields`; returns how many fields there are,
// which may exceed fields.size() (the extra ones are only counted).
size_t SplitFields(std::string_view body, std::array<std::string_view, 5>& fields) {
  size_t count = 0;
  size_t i = 0;
  while (i < body.size()) {
    while (i < body.size() && IsBlank(body[i])) ++i;
    if (i == body.size()) break;
    const size_t start = i;
    while (i < body.size() && !IsBlank(body[i])) ++i;
    if (count < fields.size()) fields[count] = body.substr(start, i - start);
    ++count;
  }
  return count;
}

// Parses one field into bits (bit v set = value v allowed).
class FieldParser {
 public:
  FieldParser(std::string_view expr, const FieldSpec& spec) : expr_(expr), spec_(spec) {}

  absl::StatusOr<std::bitset<64>> Parse(std::string_view text) const {
    std::bitset<64> bits;
    size_t begin = 0;
    while (true) {
      const size_t comma = text.find(',', begin);
      const std::string_view element =
          text.substr(begin, comma == std::string_view::npos ? comma : comma - begin);
      if (element.empty()) return Error(fmt::format("empty list element in '{}'", text));
      MAGIC_RETURN_IF_ERROR(AddElement(element, bits));
      if (comma == std::string_view::npos) return bits;
      begin = comma + 1;
    }
  }

 private:
  // One list element: `*`, `a`, or `a-b`, optionally followed by `/n`.
  absl::Status AddElement(std::string_view element, std::bitset<64>& bits) const {
    const size_t slash = element.find('/');
    const std::string_view range = element.substr(0, slash);
    const bool stepped = slash != std::string_view::npos;
    int step = 1;
    if (stepped) {
      MAGIC_ASSIGN_OR_RETURN(step, Step(element.substr(slash + 1), element));
    }
    int low = spec_.min;
    int high = spec_.star_max;
    if (range != "*") {
      const size_t dash = range.find('-');
      MAGIC_ASSIGN_OR_RETURN(low, Value(range.substr(0, dash), element));
      if (dash != std::string_view::npos) {
        MAGIC_ASSIGN_OR_RETURN(high, Value(range.substr(dash + 1), element));
        if (low > high) {
          return Error(fmt::format("range {} is reversed ({} > {})", range, low, high));
        }
      } else if (!stepped) {
        high = low;
      } else {
        high = std::max(low, spec_.star_max);  // `a/n` runs from a to the top; "7/2" is Sunday
      }
    }
    for (int v = low; v <= high; v += step) bits.set(static_cast<size_t>(v));
    return absl::OkStatus();
  }

  absl::StatusOr<int> Value(std::string_view token, std::string_view element) const {
    if (token.empty()) return Error(fmt::format("missing value in '{}'", element));
    if (IsNumber(token)) {
      // More than 3 digits is out of range for every field, and cannot overflow.
      const int v = token.size() > 3 ? spec_.max + 1 : ToInt(token);
      if (v < spec_.min || v > spec_.max) {
        return Error(fmt::format("{} is out of range {}-{}", token, spec_.min, spec_.max));
      }
      return v;
    }
    for (size_t i = 0; i < spec_.names.size(); ++i) {
      if (EqualsIgnoreCase(token, spec_.names[i])) return spec_.names_base + static_cast<int>(i);
    }
    return Error(fmt::format("'{}' is not {}", token, spec_.what));
  }

  absl::StatusOr<int> Step(std::string_view token, std::string_view element) const {
    if (token.empty()) return Error(fmt::format("missing step in '{}'", element));
    if (!IsNumber(token)) return Error(fmt::format("step '{}' is not a number", token));
    const int v = token.size() > 3 ? spec_.max + 1 : ToInt(token);
    if (v < 1 || v > spec_.max) {
      return Error(fmt::format("step {} is out of range 1-{}", token, spec_.max));
    }
    return v;
  }

  static bool IsNumber(std::string_view token) {
    for (char c : token) {
      if (!IsDigit(c)) return false;
    }
    return true;
  }

  static int ToInt(std::string_view digits) {
    int v = 0;
    for (char c : digits) v = v * 10 + (c - '0');
    return v;
  }

  absl::Status Error(std::string_view message) const {
    return CronError(expr_, spec_.name, fmt::format("cron {} field: {}", spec_.name, message));
  }

  std::string_view expr_;
  const FieldSpec& spec_;
};

// Cron's day of week (0 = Sunday) of `day`.
size_t CronWeekday(absl::CivilDay day) {
  // absl::Weekday runs monday (0) .. sunday (6).
  return (static_cast<size_t>(absl::GetWeekday(day)) + 1) % 7;
}

}  // namespace

absl::StatusOr<CronSchedule> CronSchedule::Parse(std::string_view expr) {
  MAGIC_RETURN_IF_ERROR(CheckText(expr));
  std::string_view body = Trim(expr);
  if (body.empty()) return CronError(expr, kWholeExpression, "cron expression is empty");
  if (body.front() == '@') {
    MAGIC_ASSIGN_OR_RETURN(body, ExpandMacro(expr, body));
  }
  std::array<std::string_view, 5> fields;
  if (const size_t count = SplitFields(body, fields); count != fields.size()) {
    return CronError(expr, kWholeExpression,
                     fmt::format("cron expression has {} fields; expected 5 (minute hour "
                                 "day-of-month month day-of-week)",
                                 count));
  }
  MAGIC_ASSIGN_OR_RETURN(const std::bitset<64> minutes,
                         FieldParser(expr, kMinute).Parse(fields[0]));
  MAGIC_ASSIGN_OR_RETURN(const std::bitset<64> hours, FieldParser(expr, kHour).Parse(fields[1]));
  MAGIC_ASSIGN_OR_RETURN(const std::bitset<64> doms,
                         FieldParser(expr, kDayOfMonth).Parse(fields[2]));
  MAGIC_ASSIGN_OR_RETURN(const std::bitset<64> months, FieldParser(expr, kMonth).Parse(fields[3]));
  MAGIC_ASSIGN_OR_RETURN(std::bitset<64> dows, FieldParser(expr, kDayOfWeek).Parse(fields[4]));
  if (dows[7]) dows.set(0);  // 7 is Sunday too

  CronSchedule schedule;
  schedule.expression_ = std::string(expr);
  // std::bitset<N>(unsigned long long) keeps the low N bits.
  schedule.minutes_ = std::bitset<60>(minutes.to_ullong());
  schedule.hours_ = std::bitset<24>(hours.to_ullong());
  schedule.days_of_month_ = std::bitset<32>(doms.to_ullong());
  schedule.months_ = std::bitset<13>(months.to_ullong());
  schedule.days_of_week_ = std::bitset<7>(dows.to_ullong());
  schedule.day_of_month_star_ = fields[2].front() == '*';
  schedule.day_of_week_star_ = fields[4].front() == '*';
  // Only day-of-month against month can make a schedule impossible (a
  // restricted day-of-week always meets its days; a `*` one always
  // contains the 1st), and a 401-year search from anywhere finds any fire.
  if (!schedule.NextMatch(absl::CivilMinute(2000, 1, 1, 0, 0))) {
    return CronError(expr, kDayOfMonth.name,
                     "cron expression never fires: none of its months has any of its days");
  }
  return schedule;
}

absl::Time CronSchedule::Next(absl::Time after) const {
  if (after == absl::InfiniteFuture() || after == absl::InfinitePast()) {
    return absl::InfiniteFuture();
  }
  const absl::TimeZone utc = absl::UTCTimeZone();
  // Truncating to the minute and adding one makes the result strictly later.
  const absl::CivilMinute from = absl::CivilMinute(absl::ToCivilSecond(after, utc)) + 1;
  const std::optional<absl::CivilMinute> next = NextMatch(from);
  return next ? absl::FromCivil(*next, utc) : absl::InfiniteFuture();
}

std::optional<absl::CivilMinute> CronSchedule::NextMatch(absl::CivilMinute from) const {
  const absl::civil_year_t last_year = from.year() + kSearchYears;
  absl::CivilDay day(from);
  int hour = from.hour();
  int minute = from.minute();
  while (day.year() <= last_year) {
    if (!months_[static_cast<size_t>(day.month())]) {
      day = absl::CivilDay(absl::CivilMonth(day) + 1);  // skip the whole month
    } else {
      if (DayMatches(day)) {
        if (std::optional<int> time = FirstTimeOfDay(hour, minute)) {
          return absl::CivilMinute(day) + *time;
        }
      }
      ++day;
    }
    hour = 0;
    minute = 0;
  }
  return std::nullopt;
}

bool CronSchedule::DayMatches(absl::CivilDay day) const {
  const bool dom = days_of_month_[static_cast<size_t>(day.day())];
  const bool dow = days_of_week_[CronWeekday(day)];
  // Vixie cron: a `*`-led field narrows nothing, so both must hold;
  // two restricted fields each add days.
  return (day_of_month_star_ || day_of_week_star_) ? (dom && dow) : (dom || dow);
}

std::optional<int> CronSchedule::FirstTimeOfDay(int hour, int minute) const {
  for (int h = hour; h < 24; ++h) {
    if (!hours_[static_cast<size_t>(h)]) continue;
    for (int m = (h == hour ? minute : 0); m < 60; ++m) {
      if (minutes_[static_cast<size_t>(m)]) return h * 60 + m;
    }
  }
  return std::nullopt;
}

}  // namespace magic::scheduler
