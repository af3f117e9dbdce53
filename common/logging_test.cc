#include "common/logging.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <sstream>

namespace magic::logging {
namespace {

class LoggingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sink_ = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    SetSinkForTesting(sink_);
  }
  nlohmann::json LastLine() {
    std::string text = out_.str();
    EXPECT_FALSE(text.empty());
    text.pop_back();  // trailing newline
    return nlohmann::json::parse(text.substr(text.rfind('\n') + 1));
  }
  std::ostringstream out_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
};

TEST_F(LoggingTest, WritesOneJsonObjectPerLine) {
  MAGIC_LOG(info, "job produced", {{"request_id", "req-1"}, {"partition", 3}});
  nlohmann::json line = LastLine();
  EXPECT_EQ(line["msg"], "job produced");
  EXPECT_EQ(line["level"], "info");
  EXPECT_EQ(line["request_id"], "req-1");
  EXPECT_EQ(line["partition"], 3);
  EXPECT_TRUE(line["ts"].get<std::string>().ends_with("Z"));
  EXPECT_TRUE(line.contains("component"));
}

TEST_F(LoggingTest, EscapesHostileText) {
  MAGIC_LOG(warn, "quote \" and\nnewline", {{"k", "\x01\xff"}});
  nlohmann::json line = LastLine();
  EXPECT_EQ(line["msg"], "quote \" and\nnewline");
  EXPECT_EQ(line["level"], "warning");
}

TEST_F(LoggingTest, ReservedFieldsCannotBeOverwritten) {
  MAGIC_LOG(err, "real", {{"msg", "fake"}, {"level", "info"}});
  nlohmann::json line = LastLine();
  EXPECT_EQ(line["msg"], "real");
  EXPECT_EQ(line["level"], "error");
}

TEST(LogFieldsTest, PicksNamedAndNestedFields) {
  nlohmann::json input = {
      {"customer_id", "c1"}, {"secret", "s"}, {"invoice", {{"id", 7}, {"amount", 3}}}};
  nlohmann::json picked =
      LogFieldsFrom(input, {"customer_id", "invoice.id", "missing", "invoice.x"});
  EXPECT_EQ(picked, nlohmann::json({{"customer_id", "c1"}, {"invoice.id", 7}}));
}

TEST(InitTest, RejectsUnknownLevel) {
  std::string error;
  EXPECT_FALSE(Init({.component = "t", .level = "loud", .file = ""}, &error));
  EXPECT_NE(error.find("loud"), std::string::npos);
  EXPECT_TRUE(Init({.component = "t", .level = "debug", .file = ""}, &error));
}

}  // namespace
}  // namespace magic::logging
