#include "worker/internal/protocol.h"

#include "common/errors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace magic::worker::internal {
namespace {

using nlohmann::json;

template <typename T>
T Parse(json frame) {
  absl::StatusOr<RunnerMessage> m = ParseRunnerMessage(std::move(frame));
  EXPECT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(m.ok() && std::holds_alternative<T>(*m));
  return m.ok() && std::holds_alternative<T>(*m) ? std::get<T>(*m) : T{};
}

bool Rejected(json frame) { return !ParseRunnerMessage(std::move(frame)).ok(); }

TEST(ProtocolTest, LogRecordsAreBoundedAndNormalised) {
  LogRecord log = Parse<LogRecord>({{"type", "log"},
                                    {"level", "shout"},
                                    {"msg", std::string(20000, 'x')},
                                    {"fields", {{"k", 1}}}});
  EXPECT_EQ(log.level, "info");
  EXPECT_EQ(log.msg.size(), kMaxLogMessageBytes);
  EXPECT_EQ(log.fields, json({{"k", 1}}));
  EXPECT_TRUE(log.request_id.empty());  // never taken from the sandbox

  log = Parse<LogRecord>({{"type", "log"}, {"msg", 42}, {"fields", "not an object"}});
  EXPECT_EQ(log.msg, "42");
  EXPECT_EQ(log.fields, json::object());

  log = Parse<LogRecord>(
      {{"type", "log"}, {"msg", "m"}, {"fields", {{"big", std::string(100000, 'x')}}}});
  EXPECT_EQ(log.fields, json({{"truncated", true}}));
}

TEST(ProtocolTest, TruncateKeepsUtf8Whole) {
  EXPECT_EQ(Truncate("aé", 2), "a");  // é is two bytes
  EXPECT_EQ(Truncate("abc", 5), "abc");
}

TEST(ProtocolTest, MetricsAreChecked) {
  MetricRecord m = Parse<MetricRecord>({{"type", "metric"},
                                        {"name", "sync_total"},
                                        {"kind", "counter"},
                                        {"value", 2},
                                        {"labels", {{"status", "ok"}}}});
  EXPECT_EQ(m.name, "sync_total");
  EXPECT_EQ(m.value, 2);
  // Invalid metrics are dropped with a warning, not treated as a broken runner.
  for (const json& bad :
       {json{{"type", "metric"}, {"name", "bad name"}, {"kind", "counter"}, {"value", 1}},
        json{{"type", "metric"}, {"name", "x"}, {"kind", "weird"}, {"value", 1}},
        json{{"type", "metric"}, {"name", "x"}, {"kind", "gauge"}, {"value", "1"}},
        json{{"type", "metric"},
             {"name", "x"},
             {"kind", "gauge"},
             {"value", 1},
             {"labels", {{"a", 1}}}}}) {
    LogRecord warning = Parse<LogRecord>(bad);
    EXPECT_EQ(warning.level, "warning") << bad;
    EXPECT_EQ(warning.msg, "dropped an invalid metric");
  }
}

TEST(ProtocolTest, CallsAreChecked) {
  CallMessage call = Parse<CallMessage>({{"type", "call"},
                                         {"seq", 7},
                                         {"capability", "db"},
                                         {"op", "query_one"},
                                         {"args", {{"args", {"customers"}}}}});
  EXPECT_EQ(call.seq, 7);
  EXPECT_EQ(call.call.capability, "db");
  EXPECT_EQ(call.call.op, "query_one");
  EXPECT_TRUE(Rejected({{"type", "call"}, {"seq", 0}, {"capability", "db"}, {"op", "x"}}));
  EXPECT_TRUE(Rejected({{"type", "call"}, {"seq", "1"}, {"capability", "db"}, {"op", "x"}}));
  EXPECT_TRUE(Rejected({{"type", "call"}, {"seq", 1}, {"capability", "../db"}, {"op", "x"}}));
  EXPECT_TRUE(
      Rejected({{"type", "call"}, {"seq", 1}, {"capability", "db"}, {"op", "x"}, {"args", 3}}));
}

TEST(ProtocolTest, ErrorFramesKeepAllowedCodesAndTracebacks) {
  ErrorMessage e =
      Parse<ErrorMessage>({{"type", "error"},
                           {"code", "E3003"},
                           {"message", "ZeroDivisionError: division by zero"},
                           {"details", {{"exception", "ZeroDivisionError"}}},
                           {"traceback", "Traceback ...\n  File \"/controller/x.py\""}});
  Error error = ErrorFromStatus(e.status);
  EXPECT_EQ(error.code, ErrorCode::kE3003);
  EXPECT_EQ(error.details["exception"], "ZeroDivisionError");
  EXPECT_THAT(error.details["traceback"].get<std::string>(),
              ::testing::HasSubstr("/controller/x.py"));

  error = ErrorFromStatus(Parse<ErrorMessage>({{"type", "error"}, {"code", "E2001"}}).status);
  EXPECT_EQ(error.code, ErrorCode::kE2001);
}

TEST(ProtocolTest, ErrorFramesCannotClaimInfrastructureCodes) {
  for (const char* code : {"E5001", "E2005", "E3005", "E4003", "nonsense"}) {
    Error error = ErrorFromStatus(Parse<ErrorMessage>({{"type", "error"}, {"code", code}}).status);
    EXPECT_EQ(error.code, ErrorCode::kE3003) << code;
    EXPECT_EQ(error.details["raised_code"], code);
  }
  Error error = ErrorFromStatus(Parse<ErrorMessage>({{"type", "error"}}).status);
  EXPECT_EQ(error.code, ErrorCode::kE3003);
}

TEST(ProtocolTest, OtherFrames) {
  EXPECT_EQ(Parse<ResultMessage>({{"type", "result"}, {"output", {{"a", 1}}}}).output,
            json({{"a", 1}}));
  EXPECT_TRUE(Rejected({{"type", "result"}}));
  EXPECT_TRUE(Rejected({{"type", "surprise"}}));
  EXPECT_EQ(Parse<LoadedMessage>({{"type", "loaded"}, {"kind", "class"}, {"name", "G"}}).name, "G");
  Parse<ReadyMessage>({{"type", "ready"}});
}

TEST(ProtocolTest, WorkerFrames) {
  ControllerBundle bundle;
  bundle.entry_module = "greeter";
  bundle.files = {{"greeter.py", "x = 1\n"}};
  bundle.limits.memory_bytes = 64 << 20;
  json load = MakeLoadFrame(bundle, /*rlimit_memory=*/false);
  EXPECT_EQ(load["type"], "load");
  EXPECT_EQ(load["files"]["greeter.py"], "x = 1\n");
  EXPECT_FALSE(load["limits"].contains("rlimit_as_bytes"));
  EXPECT_EQ(MakeLoadFrame(bundle, true)["limits"]["rlimit_as_bytes"], 64 << 20);

  json invoke = MakeInvokeFrame({"req_1", {{"a", 1}}, absl::Seconds(2)});
  EXPECT_EQ(invoke["deadline_ms"], 2000);
  EXPECT_EQ(invoke["request_id"], "req_1");

  json reply = MakeReplyFrame(3, MakeError(ErrorCode::kE2001, "nope", {{"capability", "db"}}));
  EXPECT_EQ(reply["seq"], 3);
  EXPECT_EQ(reply["error"]["code"], "E2001");
  EXPECT_EQ(reply["error"]["details"]["capability"], "db");
  EXPECT_EQ(MakeReplyFrame(4, json{{"row", 1}})["result"]["row"], 1);
}

}  // namespace
}  // namespace magic::worker::internal
