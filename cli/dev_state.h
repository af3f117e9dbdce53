// Where a running `magic dev` describes itself, so that other verbs
// (`magic secrets`, `magic audit`) reach the same farm without flags:
// $HOME/.cache/magic/dev/state.json with "postgres_url", "master_key_file",
// "redis_url", "grpc", "http", "broker", "kafka" (bootstrap servers),
// "kafka_mock" (true: librdkafka's mock cluster) and "pid".
#pragma once

#include <absl/status/status.h>
#include <nlohmann/json.hpp>

#include <string>

namespace magic::cli {

// $HOME/.cache/magic/dev ("" when HOME is unset).
std::string DevStateDir();
// `path`, or DevStateDir()/state.json when empty.
std::string DevStatePath(const std::string& path = "");
// The state object; {} when there is none or it is not a JSON object.
nlohmann::json ReadDevState(const std::string& path = "");
// A string member of the state ("" when missing).
std::string DevStateString(const nlohmann::json& state, const char* key);
// Writes atomically (mode 0600: it names the master key file).
absl::Status WriteDevState(const std::string& dir, const nlohmann::json& state);

}  // namespace magic::cli
