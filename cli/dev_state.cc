#include "cli/dev_state.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace magic::cli {

std::string DevStateDir() {
  const char* home = std::getenv("HOME");
  if (home == nullptr || *home == '\0') return "";
  return std::string(home) + "/.cache/magic/dev";
}

std::string DevStatePath(const std::string& path) {
  if (!path.empty()) return path;
  const std::string dir = DevStateDir();
  return dir.empty() ? "" : dir + "/state.json";
}

nlohmann::json ReadDevState(const std::string& path) {
  const std::string file = DevStatePath(path);
  if (file.empty()) return nlohmann::json::object();
  std::ifstream in(file);
  if (!in) return nlohmann::json::object();
  nlohmann::json state = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  return state.is_object() ? state : nlohmann::json::object();
}

std::string DevStateString(const nlohmann::json& state, const char* key) {
  auto it = state.find(key);
  return it != state.end() && it->is_string() ? it->get<std::string>() : "";
}

absl::Status WriteDevState(const std::string& dir, const nlohmann::json& state) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  const std::string tmp = dir + "/state.json.tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << state.dump(2) << "\n";
    if (!out) return absl::UnavailableError(fmt::format("cannot write {}", tmp));
  }
  ::chmod(tmp.c_str(), 0600);
  if (std::rename(tmp.c_str(), (dir + "/state.json").c_str()) != 0) {
    return absl::UnavailableError(fmt::format("cannot write {}/state.json", dir));
  }
  return absl::OkStatus();
}

}  // namespace magic::cli
