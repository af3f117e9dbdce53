// RunLocal (cli/run_command.h) against real sandboxes (label "sandbox").
#include "cli/run_command.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace magic::cli {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

struct Result {
  int code;
  std::string out;
  std::string err;
  json Out() const { return json::parse(out, nullptr, false); }
};

Result RunCli(RunLocalOptions options) {
  std::ostringstream out, err;
  const int code = RunLocal(options, out, err);
  return {code, out.str(), err.str()};
}

RunLocalOptions Options(const std::string& name, std::string input) {
  RunLocalOptions options;
  options.dir = "worker/testdata/controllers/" + name;
  options.input = std::move(input);
  options.request_id = "req_local_test";
  return options;
}

TEST(RunLocalTest, PrintsTheOutputAndLogs) {
  Result r = RunCli(Options("greeter", R"({"name": "CLI"})"));
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.Out(), json({{"greeting", "Hello, CLI!"}, {"request_id", "req_local_test"}}));
  EXPECT_THAT(r.err, HasSubstr("[info] greeting"));
  EXPECT_THAT(r.err, HasSubstr("name=CLI"));
}

TEST(RunLocalTest, JsonModePrintsOneLine) {
  RunLocalOptions options = Options("adder", R"({"a": 1, "b": 2})");
  options.json = true;
  Result r = RunCli(options);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, R"({"request_id":"req_local_test","sum":3})"
                   "\n");
  json log = json::parse(r.err.substr(0, r.err.find('\n')));
  EXPECT_EQ(log["msg"], "adding");
  EXPECT_EQ(log["request_id"], "req_local_test");
}

TEST(RunLocalTest, InputFile) {
  const std::string path = "/tmp/magic_run_local_input.json";
  std::ofstream(path) << R"({"a": 20, "b": 22})";
  RunLocalOptions options = Options("adder", "");
  options.input.reset();
  options.input_file = path;
  Result r = RunCli(options);
  std::remove(path.c_str());
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.Out()["sum"], 42);
}

TEST(RunLocalTest, InvalidInputIsE1003) {
  Result r = RunCli(Options("greeter", R"({"nom": "x"})"));
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.Out()["error"]["code"], "E1003");
  EXPECT_EQ(r.Out()["error"]["request_id"], "req_local_test");
}

TEST(RunLocalTest, MalformedInputIsE1005) {
  Result r = RunCli(Options("greeter", "{nope"));
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.Out()["error"]["code"], "E1005");
}

TEST(RunLocalTest, BadOutputIsE1004) {
  Result r = RunCli(Options("bad_output", R"({"mode": "wrong_type"})"));
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.Out()["error"]["code"], "E1004");
  EXPECT_EQ(r.Out()["error"]["category"], "CONTRACT");
}

TEST(RunLocalTest, ExceptionIsE3003WithTraceback) {
  Result r = RunCli(Options("crasher", R"({"mode": "divide"})"));
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.Out()["error"]["code"], "E3003");
  EXPECT_THAT(r.Out()["error"]["details"]["traceback"].get<std::string>(),
              HasSubstr("/controller/crasher.py"));
}

TEST(RunLocalTest, TimeoutIsE3001) {
  Result r = RunCli(Options("sleeper", R"({"marker": "run-local-timeout"})"));
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.Out()["error"]["code"], "E3001");
}

TEST(RunLocalTest, UsageErrors) {
  RunLocalOptions both = Options("greeter", "{}");
  both.input_file = "x.json";
  EXPECT_EQ(RunCli(both).code, 2);
  RunLocalOptions neither = Options("greeter", "{}");
  neither.input.reset();
  EXPECT_EQ(RunCli(neither).code, 2);
  EXPECT_EQ(RunCli(Options("does_not_exist", "{}")).code, 2);
  Result no_contract = RunCli(Options("adder/helpers", "{}"));
  EXPECT_EQ(no_contract.code, 2);
  EXPECT_EQ(no_contract.Out()["error"]["code"], "E1001");
}

}  // namespace
}  // namespace magic::cli
