#include "cli/commands.h"
#include "contracts/loader.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <ostream>
#include <system_error>

namespace magic::cli {
namespace {

namespace fs = std::filesystem;

bool IsContractFileName(const std::string& name) {
  static const char* const kSuffixes[] = {".contract.yaml", ".contract.yml", ".contract.json"};
  static const char* const kPlain[] = {"contract.yaml", "contract.yml", "contract.json"};
  for (const char* plain : kPlain) {
    if (name == plain) return true;
  }
  for (const char* suffix : kSuffixes) {
    if (name.size() > std::char_traits<char>::length(suffix) && name.ends_with(suffix)) return true;
  }
  return false;
}

bool SkippedDirectory(const fs::path& path) {
  const std::string name = path.filename().string();
  return name.starts_with(".") || name == "node_modules" || name == "__pycache__" ||
         name.starts_with("build");
}

contracts::Finding MissingPathFinding(const std::string& path, const std::string& why) {
  contracts::Finding f;
  f.code = ErrorCode::kE1001;
  f.file = path;
  f.message = why;
  f.hint =
      "Give a contract file (*.contract.yaml, *.contract.json, contract.yaml) or a "
      "directory that contains one.";
  return f;
}

struct FileReport {
  std::string file;
  contracts::CheckResult result;
};

nlohmann::json ReportJson(const FileReport& r, bool strict) {
  nlohmann::json findings = nlohmann::json::array();
  for (const auto& f : r.result.findings) findings.push_back(f.ToJson());
  nlohmann::json j = {{"file", r.file}, {"valid", r.result.ok(strict)}, {"findings", findings}};
  if (r.result.contract) {
    j["name"] = r.result.contract->name;
    j["version"] = r.result.contract->version;
    j["digest"] = r.result.contract->digest;
  }
  return j;
}

void PrintHuman(const FileReport& r, bool strict, std::ostream& out) {
  for (const auto& f : r.result.findings) out << contracts::FormatFinding(f) << "\n";
  if (r.result.ok(strict)) {
    out << "ok " << r.file;
    if (r.result.contract) {
      out << " (" << r.result.contract->name << " " << r.result.contract->version << ")";
    }
    out << "\n";
  } else {
    out << "invalid " << r.file << ": " << r.result.errors() << " error(s), " << r.result.warnings()
        << " warning(s)" << (strict ? " [strict]" : "") << "\n";
  }
}

std::vector<FileReport> CheckPaths(const std::vector<std::string>& paths) {
  std::vector<FileReport> reports;
  for (const std::string& path : paths) {
    std::error_code ec;
    if (fs::is_directory(path, ec)) {
      std::vector<std::string> files = FindContractFiles(path);
      if (files.empty()) {
        FileReport r{path, {}};
        r.result.findings.push_back(
            MissingPathFinding(path, "no contract file found in directory"));
        reports.push_back(std::move(r));
      }
      for (const std::string& file : files)
        reports.push_back({file, contracts::LoadContract(file)});
    } else if (fs::exists(path, ec)) {
      reports.push_back({path, contracts::LoadContract(path)});
    } else {
      FileReport r{path, {}};
      r.result.findings.push_back(MissingPathFinding(path, "no such file or directory"));
      reports.push_back(std::move(r));
    }
  }
  return reports;
}

}  // namespace

std::vector<std::string> FindContractFiles(const std::string& dir) {
  std::vector<std::string> files;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_directory(ec)) {
      if (SkippedDirectory(it->path())) it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file(ec) && IsContractFileName(it->path().filename().string())) {
      files.push_back(it->path().string());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

int RunValidate(const ValidateOptions& options, std::ostream& out, std::ostream& err) {
  if (options.paths.empty()) {
    err << "magic validate: give at least one PATH\n";
    return kExitUsage;
  }
  std::vector<FileReport> reports = CheckPaths(options.paths);
  int invalid = 0;
  for (const FileReport& r : reports) invalid += r.result.ok(options.strict) ? 0 : 1;
  const int total = static_cast<int>(reports.size());
  if (options.json) {
    nlohmann::json files = nlohmann::json::array();
    for (const FileReport& r : reports) files.push_back(ReportJson(r, options.strict));
    nlohmann::json doc = {{"contracts", files},
                          {"summary",
                           {{"checked", total},
                            {"valid", total - invalid},
                            {"invalid", invalid},
                            {"strict", options.strict}}}};
    out << doc.dump(2) << "\n";
  } else {
    for (const FileReport& r : reports) PrintHuman(r, options.strict, out);
    out << total << " contract(s) checked: " << (total - invalid) << " valid, " << invalid
        << " invalid\n";
  }
  return invalid == 0 ? kExitOk : kExitInvalid;
}

}  // namespace magic::cli
