#include "common/service_config.h"

#include "common/config.h"
#include "common/errors.h"
#include "common/logging.h"
#include "common/status_macros.h"

#include <fmt/format.h>

#include <iostream>
#include <ostream>
#include <string_view>

namespace magic {
namespace {

void PrintKeys(const nlohmann::json& node, const std::string& prefix, std::ostream& out) {
  if (node.is_object() && !node.empty()) {
    for (const auto& [key, value] : node.items()) {
      PrintKeys(value, prefix.empty() ? key : prefix + "." + key, out);
    }
    return;
  }
  out << fmt::format("  {:<32} {:<40} ${}\n", prefix, node.dump(), ConfigLoader::EnvName(prefix));
}

}  // namespace

absl::StatusOr<nlohmann::json> LoadServiceConfig(int argc, const char* const* argv,
                                                 const char* const* envp,
                                                 const nlohmann::json& defaults,
                                                 std::ostream& help_out) {
  ConfigLoader loader(defaults);
  std::string file;
  std::vector<std::pair<std::string, std::string>> sets;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      help_out << fmt::format(
          "usage: {} [--config FILE] [--set KEY=VALUE]...\n\nkeys (default, "
          "environment):\n",
          argv[0]);
      PrintKeys(defaults, "", help_out);
      return absl::CancelledError("help");
    }
    if ((arg == "--config" || arg == "--set") && i + 1 < argc) {
      const std::string value = argv[++i];
      if (arg == "--config") {
        file = value;
        continue;
      }
      const size_t eq = value.find('=');
      if (eq == std::string::npos) {
        return absl::InvalidArgumentError(fmt::format("--set {}: expected KEY=VALUE", value));
      }
      sets.emplace_back(value.substr(0, eq), value.substr(eq + 1));
      continue;
    }
    return absl::InvalidArgumentError(fmt::format("unknown argument '{}' (see --help)", arg));
  }
  if (!file.empty()) MAGIC_RETURN_IF_ERROR(loader.LoadFile(file));
  MAGIC_RETURN_IF_ERROR(loader.LoadEnvironment(envp));
  for (const auto& [key, value] : sets) MAGIC_RETURN_IF_ERROR(loader.Set(key, value, "--set"));
  return loader.tree();
}

nlohmann::json CommonServiceDefaults(int postgres_pool_size) {
  return {
      {"kafka", {{"brokers", "127.0.0.1:9092"}}},
      {"postgres",
       {{"url", "postgresql://postgres@127.0.0.1:5432/magic"}, {"pool_size", postgres_pool_size}}},
      {"log", {{"level", "info"}}}};
}

StopSignals::StopSignals() {
  sigemptyset(&set_);
  sigaddset(&set_, SIGINT);
  sigaddset(&set_, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set_, nullptr);
}

int StopSignals::Wait() {
  int signal_number = 0;
  sigwait(&set_, &signal_number);
  return signal_number;
}

int ServiceMain(std::string_view binary, std::string_view component, int argc,
                const char* const* argv, const char* const* envp, const nlohmann::json& defaults,
                const ServiceBody& body) {
  absl::StatusOr<nlohmann::json> config = LoadServiceConfig(argc, argv, envp, defaults, std::cout);
  if (!config.ok()) {
    if (config.status().code() == absl::StatusCode::kCancelled) return 0;  // --help
    return FailStart(binary, "config", config.status());
  }
  // Before body starts any thread: they inherit the blocked signals.
  StopSignals stop;
  const std::string level =
      config->value(nlohmann::json::json_pointer("/log/level"), std::string("info"));
  if (std::string why;
      !logging::Init({.component = std::string(component), .level = level, .file = ""}, &why)) {
    return FailStart(
        binary, "config",
        MakeError(ErrorCode::kE1005, fmt::format("log.level: {} (trace, debug, info, warn, error, "
                                                 "critical or off)",
                                                 why)));
  }
  return body(*config, stop);
}

int FailStart(std::string_view binary, std::string_view what, const absl::Status& status) {
  std::cerr << binary << ": " << what << ": " << status.message() << "\n";
  return 2;
}

}  // namespace magic
