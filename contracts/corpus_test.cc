// Runs the corpus of broken contracts (testdata/broken): each file must
// yield exactly the first error it announces (code, line:column, pointer),
// in its first line `# expect: E1002 12:5 /resources/memory` or, for JSON,
// in the sibling `.expect` file. Every contract in testdata/valid must load
// without errors. Paths are relative to the repository root (ctest's
// working directory).
#include "contracts/loader.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace magic::contracts {
namespace {

constexpr char kBrokenDir[] = "contracts/testdata/broken";
constexpr char kValidDir[] = "contracts/testdata/valid";

std::vector<std::string> ListContracts(const std::string& dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string ext = entry.path().extension().string();
    if (ext == ".yaml" || ext == ".yml" || ext == ".json") files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string FirstLine(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string line;
  std::getline(in, line);
  return line;
}

// "E1002 12:5 /resources/memory" (pointer optional).
std::string Expectation(const std::string& path) {
  const std::filesystem::path p(path);
  if (p.extension() == ".json") {
    std::filesystem::path expect = p;
    expect.replace_extension(".expect");
    return FirstLine(expect.string());
  }
  const std::string line = FirstLine(path);
  const std::string prefix = "# expect: ";
  return line.starts_with(prefix) ? line.substr(prefix.size()) : "(no expectation)";
}

std::string Describe(const Finding& f) {
  std::ostringstream out;
  out << Describe(f.code).id << " " << f.line << ":" << f.column;
  if (!f.pointer.empty()) out << " " << f.pointer;
  return out.str();
}

std::string TestName(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = std::filesystem::path(info.param).filename().string();
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

class BrokenContractTest : public ::testing::TestWithParam<std::string> {};

TEST_P(BrokenContractTest, FirstErrorIsTheExpectedOne) {
  const std::string& path = GetParam();
  const CheckResult result = LoadContract(path);
  EXPECT_FALSE(result.contract) << path << " loaded";
  const auto first = std::find_if(result.findings.begin(), result.findings.end(),
                                  [](const Finding& f) { return f.severity == Severity::kError; });
  ASSERT_NE(first, result.findings.end()) << path << " has no error";
  EXPECT_EQ(Describe(*first), Expectation(path)) << FormatFinding(*first);
  for (const Finding& f : result.findings) {
    EXPECT_FALSE(f.message.empty()) << FormatFinding(f);
    EXPECT_FALSE(f.hint.empty()) << FormatFinding(f);
    EXPECT_EQ(f.file, path);
  }
}

INSTANTIATE_TEST_SUITE_P(Corpus, BrokenContractTest, ::testing::ValuesIn(ListContracts(kBrokenDir)),
                         TestName);

class ValidContractTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ValidContractTest, LoadsWithoutErrors) {
  const CheckResult result = LoadContract(GetParam());
  for (const Finding& f : result.findings) {
    EXPECT_EQ(f.severity, Severity::kWarning) << FormatFinding(f);
  }
  ASSERT_TRUE(result.contract);
  EXPECT_EQ(result.contract->digest.size(), 64u);
}

INSTANTIATE_TEST_SUITE_P(Corpus, ValidContractTest, ::testing::ValuesIn(ListContracts(kValidDir)),
                         TestName);

TEST(CorpusTest, IsLargeAndCoversBothCodesAndFormats) {
  const std::vector<std::string> broken = ListContracts(kBrokenDir);
  EXPECT_GE(broken.size(), 40u) << "run the test from the repository root";
  int e1001 = 0, e1002 = 0, json = 0;
  for (const std::string& path : broken) {
    const std::string expect = Expectation(path);
    e1001 += expect.starts_with("E1001");
    e1002 += expect.starts_with("E1002");
    json += path.ends_with(".json");
  }
  EXPECT_GE(e1001, 10);
  EXPECT_GE(e1002, 30);
  EXPECT_GE(json, 4);
  EXPECT_EQ(e1001 + e1002, static_cast<int>(broken.size()));
  EXPECT_GE(ListContracts(kValidDir).size(), 2u);
}

TEST(CorpusTest, SpecExamplesAreValidVerbatim) {
  for (const char* name : {"invoice_sync", "customer_lookup"}) {
    const CheckResult result = LoadContract(std::string(kValidDir) + "/" + name + ".contract.yaml");
    EXPECT_TRUE(result.ok(/*strict=*/true)) << name;
  }
}

}  // namespace
}  // namespace magic::contracts
