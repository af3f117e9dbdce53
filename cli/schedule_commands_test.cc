// `magic schedule`: time and duration parsing, the request `add` builds, the
// printed forms, and the usage checks (no service needed; the end-to-end
// checks drive the binary against `magic dev`).
#include "cli/schedule_commands.h"

#include "cli/commands.h"
#include "common/errors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>
#include <string>

namespace magic::cli {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kSecond = 1000;
constexpr int64_t kMinute = 60 * kSecond;
constexpr int64_t kHour = 60 * kMinute;
constexpr int64_t kDay = 24 * kHour;
// 2026-11-22T10:00:00Z
constexpr int64_t kNov22 = int64_t{1795341600} * 1000;

void ExpectE1005(const absl::Status& status, const std::string& fragment = "") {
  EXPECT_EQ(ErrorCodeOf(status), ErrorCode::kE1005) << status;
  if (!fragment.empty()) {
    EXPECT_THAT(std::string(status.message()), HasSubstr(fragment));
  }
}

TEST(ParseRunAtTest, AcceptsRfc3339InUtc) {
  auto ms = ParseRunAt("2026-11-22T10:00:00Z");
  ASSERT_TRUE(ms.ok()) << ms.status();
  EXPECT_EQ(*ms, kNov22);
}

TEST(ParseRunAtTest, AcceptsFractionsAndOffsets) {
  auto fraction = ParseRunAt("2026-11-22T10:00:00.250Z");
  ASSERT_TRUE(fraction.ok()) << fraction.status();
  EXPECT_EQ(*fraction, kNov22 + 250);
  auto plus = ParseRunAt("2026-11-22T12:00:00+02:00");
  ASSERT_TRUE(plus.ok()) << plus.status();
  EXPECT_EQ(*plus, kNov22);
  auto minus = ParseRunAt("2026-11-22T05:30:00-04:30");
  ASSERT_TRUE(minus.ok()) << minus.status();
  EXPECT_EQ(*minus, kNov22);
}

TEST(ParseRunAtTest, AcceptsThePast) {
  auto ms = ParseRunAt("2001-01-01T00:00:00Z");
  ASSERT_TRUE(ms.ok()) << ms.status();
  EXPECT_EQ(*ms, int64_t{978307200} * 1000);
}

TEST(ParseRunAtTest, RefusesWhatIsNotRfc3339WithAZone) {
  for (const char* text :
       {"", "now", "tomorrow", "2026-11-22", "2026-11-22T10:00:00", "2026-11-22 10:00:00Z",
        "2026-13-01T00:00:00Z", "2026-11-22T25:00:00Z", "2026-11-22T10:00:00Zjunk", "1795341600000",
        "2026-11-22T10:00:00+25:00", "2026-11-22T10:00:00Z\n2026-11-22T10:00:00Z"}) {
    SCOPED_TRACE(text);
    auto ms = ParseRunAt(text);
    EXPECT_FALSE(ms.ok());
    ExpectE1005(ms.status(), "--at");
  }
}

TEST(ParseRunAtTest, RefusesTimesOutOfRange) {
  for (const char* text :
       {"infinite-future", "infinite-past", "1970-01-01T00:00:00Z", "1969-12-31T23:59:59Z",
        "10000-01-01T00:00:00Z", "-0001-01-01T00:00:00Z", "99999999999-01-01T00:00:00Z"}) {
    SCOPED_TRACE(text);
    auto ms = ParseRunAt(text);
    EXPECT_FALSE(ms.ok());
    ExpectE1005(ms.status(), "--at");
  }
  auto first = ParseRunAt("1970-01-01T00:00:00.001Z");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, 1);
}

TEST(ParseRunAtTest, RefusesLongAndControlTextWithoutEchoingIt) {
  const std::string huge(100000, '9');
  auto ms = ParseRunAt(huge);
  ExpectE1005(ms.status(), "too long");
  EXPECT_LT(ms.status().message().size(), 200u);
  auto escaped = ParseRunAt("\x1b[2J2026");
  ExpectE1005(escaped.status());
  EXPECT_EQ(std::string(escaped.status().message()).find('\x1b'), std::string::npos);
}

TEST(ParseDelayMsTest, AcceptsEveryUnitAndSums) {
  const std::pair<const char*, int64_t> cases[] = {
      {"500ms", 500},
      {"90s", 90 * kSecond},
      {"10m", 10 * kMinute},
      {"2h", 2 * kHour},
      {"1d", kDay},
      {"1h30m", 90 * kMinute},
      {"1.5h", 90 * kMinute},
      {"0.5s", 500},
      {"1d2h3m4s5ms", kDay + 2 * kHour + 3 * kMinute + 4 * kSecond + 5},
      {"0s", 0},
      {"3650d", kMaxDelayMs},
      {"007m", 7 * kMinute},
  };
  for (const auto& [text, want] : cases) {
    SCOPED_TRACE(text);
    auto ms = ParseDelayMs(text);
    ASSERT_TRUE(ms.ok()) << ms.status();
    EXPECT_EQ(*ms, want);
  }
}

TEST(ParseDelayMsTest, RefusesWhatIsNotADuration) {
  for (const char* text :
       {"",   "10",  "m",   "ten minutes", "-5m",   "+5m", " 5m",    "5m ",  "5 m",  "5M",   "5min",
        "1w", "inf", "1.h", ".5h",         "1..5h", "5mm", "1h-30m", "5m\n", "1e3s", "0x10s"}) {
    SCOPED_TRACE(text);
    auto ms = ParseDelayMs(text);
    EXPECT_FALSE(ms.ok());
    ExpectE1005(ms.status(), "--in");
  }
}

TEST(ParseDelayMsTest, RefusesHugeValuesWithoutOverflow) {
  for (const char* text : {"3651d", "3650d1ms", "999999999d", "9999999999s",
                           "9223372036854775807ms", "999999999d999999999d", "1.0000000001s"}) {
    SCOPED_TRACE(text);
    auto ms = ParseDelayMs(text);
    EXPECT_FALSE(ms.ok());
    ExpectE1005(ms.status(), "--in");
  }
  // Many small terms add up past the bound, each one fine.
  std::string many;
  for (int i = 0; i < 15; ++i) many += "300d";
  ExpectE1005(ParseDelayMs(many).status(), "--in");
}

ScheduleOptions AddOptions() {
  ScheduleOptions o;
  o.verb = ScheduleOptions::Verb::kAdd;
  o.controller = "InvoiceSync";
  return o;
}

TEST(ScheduleAddUsageErrorTest, WantsExactlyOneWhen) {
  ScheduleOptions o = AddOptions();
  ASSERT_TRUE(ScheduleAddUsageError(o).has_value());
  EXPECT_THAT(*ScheduleAddUsageError(o), HasSubstr("--cron"));
  o.cron = "* * * * *";
  EXPECT_EQ(ScheduleAddUsageError(o), std::nullopt);
  o.in = "5m";
  ASSERT_TRUE(ScheduleAddUsageError(o).has_value());
  EXPECT_THAT(*ScheduleAddUsageError(o), HasSubstr("only one"));
  o.at = "2026-11-22T10:00:00Z";
  EXPECT_TRUE(ScheduleAddUsageError(o).has_value());
  o.cron.reset();
  o.in.reset();
  EXPECT_EQ(ScheduleAddUsageError(o), std::nullopt);
}

TEST(ScheduleAddUsageErrorTest, RefusesInputAndInputFileTogether) {
  ScheduleOptions o = AddOptions();
  o.in = "5m";
  o.input = "{}";
  o.input_file = "in.json";
  ASSERT_TRUE(ScheduleAddUsageError(o).has_value());
  EXPECT_THAT(*ScheduleAddUsageError(o), HasSubstr("--input-file"));
}

TEST(BuildCreateScheduleRequestTest, Cron) {
  ScheduleOptions o = AddOptions();
  o.cron = "*/5 * * * *";
  o.timeout_ms = 2500;
  o.max_attempts = 4;
  auto r = BuildCreateScheduleRequest(o, R"({"day": 1})", kNov22);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->controller(), "InvoiceSync");
  EXPECT_EQ(r->cron(), "*/5 * * * *");
  EXPECT_EQ(r->run_at_unix_ms(), 0);
  EXPECT_EQ(r->input_json(), R"({"day": 1})");
  EXPECT_EQ(r->timeout_ms(), 2500u);
  EXPECT_EQ(r->max_attempts(), 4u);
}

TEST(BuildCreateScheduleRequestTest, AtAndInResolveToATime) {
  ScheduleOptions at = AddOptions();
  at.at = "2026-11-22T10:00:00Z";
  auto r = BuildCreateScheduleRequest(at, "", 0);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->run_at_unix_ms(), kNov22);
  EXPECT_EQ(r->cron(), "");
  EXPECT_EQ(r->input_json(), "");  // the service's {}

  ScheduleOptions in = AddOptions();
  in.in = "1h30m";
  r = BuildCreateScheduleRequest(in, "", kNov22);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->run_at_unix_ms(), kNov22 + 90 * kMinute);
  EXPECT_EQ(r->max_attempts(), 0u);
  EXPECT_EQ(r->timeout_ms(), 0u);

  in.in = "0s";  // now; never 0 on the wire ("no time")
  r = BuildCreateScheduleRequest(in, "", 0);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->run_at_unix_ms(), 1);
}

TEST(BuildCreateScheduleRequestTest, RefusesBadInputJson) {
  ScheduleOptions o = AddOptions();
  o.cron = "* * * * *";
  for (const char* input : {"{", "{'a': 1}", "nope", "{} {}", "[1,]", "\xff"}) {
    SCOPED_TRACE(input);
    o.input = input;
    auto r = BuildCreateScheduleRequest(o, input, kNov22);
    EXPECT_FALSE(r.ok());
    ExpectE1005(r.status(), "not JSON");
    EXPECT_EQ(ErrorFromStatus(r.status()).details.value("flag", ""), "--input");
  }
  // --input '' was given: empty is not JSON either.
  o.input = "";
  ExpectE1005(BuildCreateScheduleRequest(o, "", kNov22).status(), "not JSON");
  // A deep document is only checked, not built: no recursion to overflow.
  o.input.reset();
  o.input_file = "deep.json";
  const std::string deep = std::string(200000, '[') + std::string(200000, ']');
  auto r = BuildCreateScheduleRequest(o, deep, kNov22);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->input_json().size(), deep.size());
  auto bad_file = BuildCreateScheduleRequest(o, "{", kNov22);
  EXPECT_EQ(ErrorFromStatus(bad_file.status()).details.value("flag", ""), "--input-file");
}

TEST(BuildCreateScheduleRequestTest, RefusesBadTimes) {
  ScheduleOptions o = AddOptions();
  o.at = "next tuesday";
  ExpectE1005(BuildCreateScheduleRequest(o, "", kNov22).status(), "--at");
  o = AddOptions();
  o.in = "forever";
  ExpectE1005(BuildCreateScheduleRequest(o, "", kNov22).status(), "--in");
  o = AddOptions();
  o.cron = "   ";
  ExpectE1005(BuildCreateScheduleRequest(o, "", kNov22).status(), "--cron");
  o = AddOptions();  // none: the CLI refuses it first, the builder too
  ExpectE1005(BuildCreateScheduleRequest(o, "", kNov22).status());
  o.cron = "* * * * *";
  o.max_attempts = 11;
  ExpectE1005(BuildCreateScheduleRequest(o, "", kNov22).status(), "--max-attempts");
}

magic::v1::Schedule CronSchedule() {
  magic::v1::Schedule s;
  s.set_schedule_id("sch_1");
  s.set_controller("InvoiceSync");
  s.set_cron("*/5 * * * *");
  s.set_next_run_unix_ms(kNov22);
  s.set_input_json(R"({"day":1})");
  s.set_fired(3);
  s.set_last_request_id("req_9");
  s.set_created_unix_ms(kNov22 - kDay);
  return s;
}

magic::v1::Schedule OnceSchedule() {
  magic::v1::Schedule s;
  s.set_schedule_id("sch_2");
  s.set_controller("Hello");
  s.set_next_run_unix_ms(kNov22);
  s.set_request_id("req_once");
  return s;
}

TEST(FormatTest, ScheduledLine) {
  EXPECT_EQ(FormatScheduled(CronSchedule()),
            "scheduled sch_1: InvoiceSync cron \"*/5 * * * *\", next run 2026-11-22T10:00:00Z\n");
  EXPECT_EQ(FormatScheduled(OnceSchedule()),
            "scheduled sch_2: Hello once at 2026-11-22T10:00:00Z, next run "
            "2026-11-22T10:00:00Z, run id req_once\n");
}

TEST(FormatTest, DescribeWhen) {
  EXPECT_EQ(DescribeWhen(CronSchedule()), "cron \"*/5 * * * *\"");
  EXPECT_EQ(DescribeWhen(OnceSchedule()), "once at 2026-11-22T10:00:00Z");
  magic::v1::Schedule done = OnceSchedule();
  done.set_next_run_unix_ms(0);
  EXPECT_EQ(DescribeWhen(done), "once");
  EXPECT_THAT(FormatScheduled(done), HasSubstr("next run -"));
}

TEST(FormatTest, TableHasHeaderAndRows) {
  magic::v1::ListSchedulesResponse response;
  *response.add_schedules() = CronSchedule();
  *response.add_schedules() = OnceSchedule();
  const std::string table = FormatScheduleTable(response);
  std::istringstream lines(table);
  std::string header, first, second, extra;
  ASSERT_TRUE(std::getline(lines, header));
  ASSERT_TRUE(std::getline(lines, first));
  ASSERT_TRUE(std::getline(lines, second));
  EXPECT_FALSE(std::getline(lines, extra));
  for (const char* column : {"ID", "CONTROLLER", "WHEN", "NEXT RUN", "FIRED", "LAST RUN ID"}) {
    EXPECT_THAT(header, HasSubstr(column));
  }
  EXPECT_THAT(first, HasSubstr("sch_1"));
  EXPECT_THAT(first, HasSubstr("*/5 * * * *"));
  EXPECT_THAT(first, HasSubstr("2026-11-22T10:00:00Z"));
  EXPECT_THAT(first, HasSubstr(" 3 "));
  EXPECT_THAT(first, HasSubstr("req_9"));
  EXPECT_THAT(second, HasSubstr("once"));
  EXPECT_EQ(second.substr(second.size() - 1), "-");  // never fired
}

TEST(FormatTest, EscapesControlCharactersFromTheService) {
  magic::v1::Schedule s = CronSchedule();
  s.set_cron("* * * * *\x1b[2J");
  s.set_controller("Evil\r\nscheduled fake");
  magic::v1::ListSchedulesResponse response;
  *response.add_schedules() = s;
  for (const std::string& text : {FormatScheduled(s), FormatScheduleTable(response)}) {
    EXPECT_EQ(text.find('\x1b'), std::string::npos);
    EXPECT_EQ(text.find('\r'), std::string::npos);
  }
  EXPECT_EQ(FormatScheduled(s).find('\n'), FormatScheduled(s).size() - 1);
}

TEST(ScheduleToJsonTest, CarriesEveryField) {
  const nlohmann::json j = ScheduleToJson(CronSchedule());
  EXPECT_EQ(j["schedule_id"], "sch_1");
  EXPECT_EQ(j["controller"], "InvoiceSync");
  EXPECT_EQ(j["input"], nlohmann::json({{"day", 1}}));
  EXPECT_EQ(j["cron"], "*/5 * * * *");
  EXPECT_EQ(j["next_run"], "2026-11-22T10:00:00Z");
  EXPECT_EQ(j["next_run_unix_ms"], kNov22);
  EXPECT_EQ(j["fired"], 3);
  EXPECT_EQ(j["last_request_id"], "req_9");
  EXPECT_EQ(j["created_at"], "2026-11-21T10:00:00Z");

  const nlohmann::json once = ScheduleToJson(OnceSchedule());
  EXPECT_TRUE(once["cron"].is_null());
  EXPECT_EQ(once["input"], nlohmann::json::object());
  EXPECT_EQ(once["request_id"], "req_once");
  EXPECT_TRUE(once["created_at"].is_null());
}

TEST(ScheduleToJsonTest, KeepsInputThatIsNotJsonAsText) {
  magic::v1::Schedule s = CronSchedule();
  s.set_input_json("{broken");
  EXPECT_EQ(ScheduleToJson(s)["input"], "{broken");
}

TEST(RunScheduleTest, NoVerbIsAUsageError) {
  std::istringstream in;
  std::ostringstream out, err;
  EXPECT_EQ(RunSchedule(ScheduleOptions{}, in, out, err), kExitUsage);
  EXPECT_THAT(err.str(), HasSubstr("add, list or rm"));
}

TEST(RunScheduleTest, AddChecksUsageAndInputBeforeAnyCall) {
  // An address nothing listens on: these must fail before connecting.
  ScheduleOptions o = AddOptions();
  o.addr = "127.0.0.1:1";
  std::istringstream in;
  std::ostringstream out, err;
  EXPECT_EQ(RunSchedule(o, in, out, err), kExitUsage);
  EXPECT_THAT(err.str(), HasSubstr("--cron"));

  o.in = "soon";
  out.str("");
  EXPECT_EQ(RunSchedule(o, in, out, err), kExitInvalid);
  const nlohmann::json e = nlohmann::json::parse(out.str());
  EXPECT_EQ(e["error"]["code"], "E1005");

  o.in = "5m";
  o.input_file = "/nonexistent/dir/input.json";
  err.str("");
  EXPECT_EQ(RunSchedule(o, in, out, err), kExitUsage);
  EXPECT_THAT(err.str(), HasSubstr("cannot read"));

  std::istringstream bad_stdin("{not json");
  o.input_file = "-";
  out.str("");
  EXPECT_EQ(RunSchedule(o, bad_stdin, out, err), kExitInvalid);
  EXPECT_THAT(out.str(), HasSubstr("E1005"));
}

}  // namespace
}  // namespace magic::cli
