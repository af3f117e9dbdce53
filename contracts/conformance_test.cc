// Runs the official JSON-Schema-Test-Suite (draft7) through SchemaValidator:
// every required file in tests/draft7/ plus the optional/format files for the
// formats we check. Remote refs ("http://localhost:1234/...") are served from
// the suite's remotes/ directory through CompileOptions::fetcher.
//
// The suite lives beside the repository (tests run from /work/main):
// ../shared/conformance/json-schema-test-suite, or $MAGIC_CONFORMANCE_DIR.
//
// A case that fails makes the test fail unless it is listed in
// kKnownFailures below with the reason; a listed case that passes fails the
// test too, so the list cannot go stale.
#include "contracts/schema.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace magic::contracts {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// "file|group description|test description" -> why it fails.
const std::map<std::string, std::string>& KnownFailures() {
  static const auto* const kKnown = new std::map<std::string, std::string>{};
  return *kKnown;
}

// The optional/format files for the formats SchemaValidator checks.
constexpr const char* kFormatFiles[] = {"uuid", "email", "date-time", "date", "time",
                                        "ipv4", "ipv6",  "hostname",  "uri"};

fs::path SuiteDir() {
  if (const char* env = std::getenv("MAGIC_CONFORMANCE_DIR"); env != nullptr && *env != '\0') {
    return env;
  }
  return "../shared/conformance/json-schema-test-suite";
}

std::optional<json> ReadJson(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  try {
    return json::parse(in);
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

// Serves http://localhost:1234/<path> from remotes/<path>, and the draft-07
// meta-schema under its own URI.
SchemaFetcher SuiteFetcher(const fs::path& remotes) {
  return [remotes](const std::string& uri) -> std::optional<json> {
    const std::string local = "http://localhost:1234/";
    if (uri.rfind(local, 0) == 0) return ReadJson(remotes / uri.substr(local.size()));
    if (uri.rfind("http://json-schema.org/draft-07/schema", 0) == 0) return Draft07MetaSchema();
    return std::nullopt;
  };
}

struct Tally {
  int passed = 0;
  int total = 0;
};

class SuiteRunner {
 public:
  explicit SuiteRunner(const fs::path& root) : options_{SuiteFetcher(root / "remotes")} {}

  // Runs one test file; `name` is its path relative to tests/draft7.
  Tally RunFile(const fs::path& path, const std::string& name) {
    Tally tally;
    const std::optional<json> groups = ReadJson(path);
    if (!groups || !groups->is_array()) {
      ADD_FAILURE() << "cannot read " << path;
      return tally;
    }
    for (const json& group : *groups) RunGroup(group, name, tally);
    return tally;
  }

  const std::vector<std::string>& unexpected() const { return unexpected_; }
  const std::set<std::string>& failed_known() const { return failed_known_; }

 private:
  void RunGroup(const json& group, const std::string& name, Tally& tally) {
    const std::string prefix = name + "|" + group.value("description", "") + "|";
    const absl::StatusOr<SchemaValidator> validator =
        SchemaValidator::Compile(group.at("schema"), options_);
    for (const json& test : group.at("tests")) {
      const std::string key = prefix + test.value("description", "");
      const bool expected = test.at("valid").get<bool>();
      std::string problem;
      if (!validator.ok()) {
        problem = "schema did not compile: " + std::string(validator.status().message());
      } else {
        problem = CheckCase(*validator, test.at("data"), expected);
      }
      ++tally.total;
      if (problem.empty()) {
        ++tally.passed;
        continue;
      }
      if (KnownFailures().count(key) != 0) {
        failed_known_.insert(key);
      } else {
        unexpected_.push_back(key + ": " + problem);
      }
    }
  }

  // "" when IsValid, Check and Validate all agree with `expected`.
  static std::string CheckCase(const SchemaValidator& validator, const json& data, bool expected) {
    const bool valid = validator.IsValid(data);
    if (valid != expected)
      return expected ? "rejected a valid instance" : "accepted an invalid one";
    const std::vector<Violation> violations = validator.Check(data);
    if (violations.empty() != expected) return "Check() disagrees with IsValid()";
    if (validator.Validate(data, ErrorCode::kE1003).ok() != expected) {
      return "Validate() disagrees with IsValid()";
    }
    return "";
  }

  CompileOptions options_;
  std::vector<std::string> unexpected_;
  std::set<std::string> failed_known_;
};

std::vector<fs::path> RequiredFiles(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file() && entry.path().extension() == ".json") {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

TEST(ConformanceTest, Draft7Suite) {
  const fs::path root = SuiteDir();
  const fs::path draft7 = root / "tests" / "draft7";
  ASSERT_TRUE(fs::is_directory(draft7))
      << "JSON-Schema-Test-Suite not found at " << fs::absolute(root)
      << " (run from the repository root, or set MAGIC_CONFORMANCE_DIR)";
  SuiteRunner runner(root);
  Tally required, optional;
  for (const fs::path& file : RequiredFiles(draft7)) {
    const Tally t = runner.RunFile(file, file.filename().string());
    std::cout << "draft7/" << file.filename().string() << ": " << t.passed << "/" << t.total
              << "\n";
    required.passed += t.passed;
    required.total += t.total;
  }
  for (const char* format : kFormatFiles) {
    const fs::path file = draft7 / "optional" / "format" / (std::string(format) + ".json");
    if (!fs::exists(file)) continue;
    const std::string name = "optional/format/" + std::string(format) + ".json";
    const Tally t = runner.RunFile(file, name);
    std::cout << "draft7/" << name << ": " << t.passed << "/" << t.total << "\n";
    optional.passed += t.passed;
    optional.total += t.total;
  }
  std::cout << "conformance: draft7 required " << required.passed << "/" << required.total
            << " passed, optional/format " << optional.passed << "/" << optional.total
            << " passed\n";
  EXPECT_GT(required.total, 0);
  for (const std::string& failure : runner.unexpected()) ADD_FAILURE() << failure;
  for (const auto& [key, reason] : KnownFailures()) {
    EXPECT_EQ(runner.failed_known().count(key), 1u)
        << "known failure now passes (or no longer exists); remove it: " << key;
  }
}

}  // namespace
}  // namespace magic::contracts
