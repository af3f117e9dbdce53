#include "cli/commands.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace magic::cli {
namespace {

namespace fs = std::filesystem;

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("magic_cli_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void Write(const std::string& name, const std::string& text) {
    fs::create_directories((dir_ / name).parent_path());
    std::ofstream(dir_ / name) << text;
  }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  fs::path dir_;
  std::ostringstream out_, err_;
};

constexpr char kGood[] = R"(name: Good
version: 1.0.0
input:
  type: object
  required: [id]
  properties:
    id: {type: string, format: uuid}
output:
  type: object
  required: [ok]
  properties:
    ok: {type: boolean}
)";

TEST_F(CliTest, ValidateExamplesFromTheSpec) {
  EXPECT_EQ(RunValidate({.paths = {"examples"}, .strict = false, .json = false}, out_, err_),
            kExitOk)
      << out_.str();
  EXPECT_NE(out_.str().find("ok examples/invoice_sync/invoice_sync.contract.yaml (InvoiceSync "
                            "1.2.0)"),
            std::string::npos)
      << out_.str();
  EXPECT_NE(out_.str().find("(CustomerLookup 1.0.0)"), std::string::npos);
}

TEST_F(CliTest, ValidateFindsContractsRecursivelyAndReportsJson) {
  Write("a/good.contract.yaml", kGood);
  Write("b/c/contract.yaml", "name: bad\nversion: 1\n");
  Write("b/notes.yaml", "not: a contract\n");
  EXPECT_EQ(FindContractFiles(dir_.string()).size(), 2u);
  EXPECT_EQ(RunValidate({.paths = {dir_.string()}, .strict = false, .json = true}, out_, err_),
            kExitInvalid);
  nlohmann::json doc = nlohmann::json::parse(out_.str());
  EXPECT_EQ(doc["summary"]["checked"], 2);
  EXPECT_EQ(doc["summary"]["valid"], 1);
  EXPECT_EQ(doc["summary"]["invalid"], 1);
  const nlohmann::json& bad = doc["contracts"][1];
  EXPECT_FALSE(bad["valid"].get<bool>());
  ASSERT_FALSE(bad["findings"].empty());
  EXPECT_EQ(bad["findings"][0]["code"], "E1002");
}

TEST_F(CliTest, ValidateMissingPathIsE1001) {
  EXPECT_EQ(RunValidate({.paths = {Path("nope.yaml")}, .strict = false, .json = true}, out_, err_),
            kExitInvalid);
  nlohmann::json doc = nlohmann::json::parse(out_.str());
  EXPECT_EQ(doc["contracts"][0]["findings"][0]["code"], "E1001");
}

TEST_F(CliTest, ValidateWithoutPathsIsUsage) {
  EXPECT_EQ(RunValidate({.paths = {}, .strict = false, .json = false}, out_, err_), kExitUsage);
}

TEST_F(CliTest, StrictTurnsWarningsIntoErrors) {
  // db:read without tables is a warning (every table allowed).
  Write("w.contract.yaml", std::string(kGood) + "capabilities:\n  - db:read\n");
  EXPECT_EQ(
      RunValidate({.paths = {Path("w.contract.yaml")}, .strict = false, .json = false}, out_, err_),
      kExitOk)
      << out_.str();
  EXPECT_EQ(
      RunValidate({.paths = {Path("w.contract.yaml")}, .strict = true, .json = false}, out_, err_),
      kExitInvalid);
}

TEST_F(CliTest, CheckInputValidAndInvalid) {
  Write("good.contract.yaml", kGood);
  std::istringstream in;
  CheckOptions ok{.contract = Path("good.contract.yaml"),
                  .value = R"({"id": "3f1c2a9e-8b1d-4c5e-9f3a-2b7d6e1c0a44"})",
                  .value_file = std::nullopt,
                  .direction = Direction::kInput};
  EXPECT_EQ(RunCheck(ok, in, out_, err_), kExitOk) << out_.str() << err_.str();

  std::ostringstream out2;
  CheckOptions bad = ok;
  bad.value = R"({"id": "not-a-uuid"})";
  EXPECT_EQ(RunCheck(bad, in, out2, err_), kExitInvalid);
  nlohmann::json e = nlohmann::json::parse(out2.str());
  EXPECT_EQ(e["error"]["code"], "E1003");
  EXPECT_EQ(e["error"]["details"]["field"], "id");
  EXPECT_EQ(e["error"]["details"]["constraint"], "format");
  EXPECT_EQ(e["error"]["details"]["expected"], "uuid");
}

TEST_F(CliTest, CheckOutputUsesE1004AndAcceptsDirectories) {
  Write("ctl/ctl.contract.yaml", kGood);
  std::istringstream in(R"({"ok": "yes"})");
  CheckOptions bad{.contract = Path("ctl"),
                   .value = std::nullopt,
                   .value_file = "-",
                   .direction = Direction::kOutput};
  EXPECT_EQ(RunCheck(bad, in, out_, err_), kExitInvalid) << err_.str();
  EXPECT_EQ(nlohmann::json::parse(out_.str())["error"]["code"], "E1004");
}

TEST_F(CliTest, CheckRejectsMalformedJsonWithE1005) {
  Write("good.contract.yaml", kGood);
  std::istringstream in;
  CheckOptions bad{.contract = Path("good.contract.yaml"),
                   .value = "{not json",
                   .value_file = std::nullopt,
                   .direction = Direction::kInput};
  EXPECT_EQ(RunCheck(bad, in, out_, err_), kExitInvalid);
  EXPECT_EQ(nlohmann::json::parse(out_.str())["error"]["code"], "E1005");
}

TEST_F(CliTest, CheckWithBrokenContractIsUsage) {
  Write("bad.contract.yaml", "name: [\n");
  std::istringstream in;
  CheckOptions c{.contract = Path("bad.contract.yaml"),
                 .value = "{}",
                 .value_file = std::nullopt,
                 .direction = Direction::kInput};
  EXPECT_EQ(RunCheck(c, in, out_, err_), kExitUsage);
  EXPECT_EQ(nlohmann::json::parse(out_.str())["error"]["code"], "E1001");
}

TEST_F(CliTest, CheckNeedsExactlyOneValueSource) {
  std::istringstream in;
  CheckOptions c{.contract = "x", .value = "{}", .value_file = "f", .direction = Direction::kInput};
  EXPECT_EQ(RunCheck(c, in, out_, err_), kExitUsage);
}

TEST_F(CliTest, NewControllerScaffoldValidates) {
  ASSERT_EQ(RunNewController({.name = "OrderSummary", .dir = dir_.string()}, out_, err_), kExitOk)
      << err_.str();
  for (const char* f : {"order_summary.contract.yaml", "order_summary.py", "sample_input.json",
                        "test_order_summary.py"}) {
    EXPECT_TRUE(fs::exists(dir_ / "order_summary" / f)) << f;
  }
  std::ostringstream out2;
  EXPECT_EQ(
      RunValidate({.paths = {Path("order_summary")}, .strict = true, .json = false}, out2, err_),
      kExitOk)
      << out2.str();
  // The sample input satisfies the scaffolded contract.
  std::istringstream in;
  CheckOptions c{.contract = Path("order_summary"),
                 .value = std::nullopt,
                 .value_file = Path("order_summary/sample_input.json"),
                 .direction = Direction::kInput};
  std::ostringstream out3;
  EXPECT_EQ(RunCheck(c, in, out3, err_), kExitOk) << out3.str();
}

TEST_F(CliTest, NewControllerRefusesBadNamesAndOverwrites) {
  EXPECT_EQ(RunNewController({.name = "order_summary", .dir = dir_.string()}, out_, err_),
            kExitUsage);
  ASSERT_EQ(RunNewController({.name = "Twice", .dir = dir_.string()}, out_, err_), kExitOk);
  EXPECT_EQ(RunNewController({.name = "Twice", .dir = dir_.string()}, out_, err_), kExitUsage);
}

}  // namespace
}  // namespace magic::cli
