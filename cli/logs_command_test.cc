// `magic logs`: the line format and the argument checks (no Kafka needed;
// the end-to-end checks are in tests/cli/dev_smoke.sh).
#include "cli/logs_command.h"

#include "cli/commands.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <sstream>

namespace magic::cli {
namespace {

using nlohmann::json;

TEST(FormatLogLineTest, PrintsTsLevelRequestMsgAndSortedFields) {
  const json line = {{"ts", "2025-01-02T03:04:05.678Z"},
                     {"controller", "VisitCounter"},
                     {"version", "0.1.0"},
                     {"request_id", "req_1"},
                     {"level", "info"},
                     {"msg", "visit counted"},
                     {"fields", {{"visits", 2}, {"page", "home"}, {"note", "two words"}}},
                     {"worker_id", "wk_1"}};
  EXPECT_EQ(FormatLogLine(line),
            "2025-01-02T03:04:05.678Z info req_1 visit counted note=\"two words\" page=home "
            "visits=2");
}

TEST(FormatLogLineTest, EscapesControlCharactersEverywhere) {
  const json line = {{"ts", "t"},
                     {"level", "warning"},
                     {"request_id", "req\x1b[2J"},
                     {"msg", "line1\nline2\r\x07 \xC2\x9B bidi\xE2\x80\xAE"},
                     {"fields", {{"k\x1b", "v\x1b"}}}};
  const std::string text = FormatLogLine(line);
  EXPECT_EQ(text.find('\x1b'), std::string::npos);
  EXPECT_EQ(text.find('\n'), std::string::npos);
  EXPECT_THAT(text, testing::HasSubstr("req\\x1b[2J"));
  EXPECT_THAT(text, testing::HasSubstr("line1\\x0aline2\\x0d\\x07 \\u009b bidi\\u202e"));
  EXPECT_THAT(text, testing::HasSubstr("k\\x1b=v\\x1b"));
}

TEST(FormatLogLineTest, MissingOrOddMembersDoNotThrow) {
  EXPECT_EQ(FormatLogLine(json::object()), "- - - ");
  EXPECT_EQ(FormatLogLine({{"ts", 5}, {"level", nullptr}, {"msg", {1, 2}}, {"fields", "x"}}),
            "5 null - [1,2]");
}

TEST(RunLogsTest, BadSinceIsAUsageError) {
  std::ostringstream out, err;
  LogsOptions options{.controller = "C", .since = "ten minutes", .kafka = "127.0.0.1:1"};
  EXPECT_EQ(RunLogs(options, out, err), kExitUsage);
  EXPECT_THAT(err.str(), testing::HasSubstr("--since wants a duration"));
  options.since = "-5m";
  EXPECT_EQ(RunLogs(options, out, err), kExitUsage);
  EXPECT_TRUE(out.str().empty());
}

TEST(RunLogsTest, NoKafkaAnywhereIsAUsageError) {
  ::unsetenv("MAGIC_KAFKA_BROKERS");
  ::setenv("HOME", "/nonexistent-magic-logs-test", 1);
  std::ostringstream out, err;
  EXPECT_EQ(RunLogs({.controller = "C"}, out, err), kExitUsage);
  EXPECT_THAT(err.str(), testing::HasSubstr("no Kafka to read"));
}

}  // namespace
}  // namespace magic::cli
