// Configuration: defaults, then a YAML file, then MAGIC_* environment
// variables, then command-line flags; later sources win.
//
// Every component declares its keys and their defaults as a JSON tree; a
// key is a dotted path ("gateway.grpc_addr") whose environment name is
// MAGIC_ + upper-cased path with dots as underscores
// (MAGIC_GATEWAY_GRPC_ADDR). Unknown keys in the file or in flags are
// errors (typos do not pass silently); values are converted to the type of
// the default and a mismatch is an error naming the source.
//
//   ConfigLoader loader(R"({"gateway": {"grpc_addr": "127.0.0.1:7070"}})"_json);
//   MAGIC_RETURN_IF_ERROR(loader.LoadFile("/etc/magic.yaml"));
//   MAGIC_RETURN_IF_ERROR(loader.LoadEnvironment(environ));
//   MAGIC_RETURN_IF_ERROR(loader.Set("gateway.grpc_addr", "0.0.0.0:7070", "--set"));
//   const nlohmann::json& tree = loader.tree();
//
// The result is a plain tree; each component turns its subtree into its own
// validated, immutable config object (STYLE.md §5).
#pragma once

#include <absl/status/status.h>
#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace magic {

class ConfigLoader {
 public:
  explicit ConfigLoader(nlohmann::json defaults);

  // Overlays a YAML (or JSON) file. A missing file is NotFound.
  absl::Status LoadFile(const std::string& path);
  // Overlays a YAML document given as text; `source` names it in errors.
  absl::Status LoadYaml(std::string_view text, std::string_view source);
  // Overlays MAGIC_* variables from a null-terminated `environ`-style array.
  // Variables that match no key are ignored (the environment is shared).
  absl::Status LoadEnvironment(const char* const* envp);
  // Sets one key from a string (a flag). `source` names it in errors.
  absl::Status Set(std::string_view key, std::string_view value, std::string_view source);

  const nlohmann::json& tree() const { return tree_; }
  // The value at a dotted key; null if absent.
  const nlohmann::json& Get(std::string_view key) const;

  // The environment variable name for a dotted key.
  static std::string EnvName(std::string_view key);

 private:
  absl::Status Overlay(const nlohmann::json& value, const std::string& prefix,
                       std::string_view source);
  absl::Status Assign(const std::string& key, const nlohmann::json& value, std::string_view source);
  absl::Status AssignString(const std::string& key, std::string_view value,
                            std::string_view source);

  nlohmann::json tree_;
  std::vector<std::string> leaf_keys_;
};

}  // namespace magic
