#include "common/config.h"

#include "common/absl_compat.h"
#include "common/status_macros.h"

#include <absl/strings/ascii.h>
#include <absl/strings/numbers.h>
#include <absl/strings/str_split.h>
#include <absl/strings/strip.h>
#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <sstream>

namespace magic {
namespace {

void CollectLeaves(const nlohmann::json& node, const std::string& prefix,
                   std::vector<std::string>& out) {
  if (node.is_object() && !node.empty()) {
    for (const auto& [key, value] : node.items()) {
      CollectLeaves(value, prefix.empty() ? key : prefix + "." + key, out);
    }
    return;
  }
  out.push_back(prefix);
}

nlohmann::json::json_pointer PointerOf(std::string_view key) {
  std::string pointer;
  for (char c : key) {
    if (c == '.') {
      pointer += '/';
    } else if (c == '~') {
      pointer += "~0";
    } else if (c == '/') {
      pointer += "~1";
    } else {
      pointer += c;
    }
  }
  return nlohmann::json::json_pointer("/" + pointer);
}

// YAML -> JSON for configuration files: scalars are kept as strings and
// converted to the default's type by Assign().
absl::StatusOr<nlohmann::json> YamlToJson(const YAML::Node& node, std::string_view source) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      nlohmann::json out = nlohmann::json::object();
      for (const auto& kv : node) {
        MAGIC_ASSIGN_OR_RETURN(out[kv.first.Scalar()], YamlToJson(kv.second, source));
      }
      return out;
    }
    case YAML::NodeType::Sequence: {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& item : node) {
        MAGIC_ASSIGN_OR_RETURN(nlohmann::json v, YamlToJson(item, source));
        out.push_back(std::move(v));
      }
      return out;
    }
    case YAML::NodeType::Scalar:
      return nlohmann::json(node.Scalar());
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nlohmann::json();
  }
  return absl::InvalidArgumentError(fmt::format("{}: unsupported YAML node", source));
}

}  // namespace

ConfigLoader::ConfigLoader(nlohmann::json defaults) : tree_(std::move(defaults)) {
  CollectLeaves(tree_, "", leaf_keys_);
}

const nlohmann::json& ConfigLoader::Get(std::string_view key) const {
  static const nlohmann::json kNull;
  const auto pointer = PointerOf(key);
  return tree_.contains(pointer) ? tree_.at(pointer) : kNull;
}

std::string ConfigLoader::EnvName(std::string_view key) {
  std::string name = "MAGIC_";
  for (char c : key) name += (c == '.' || c == '-') ? '_' : absl::ascii_toupper(c);
  return name;
}

absl::Status ConfigLoader::LoadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(fmt::format("config file {}: cannot open", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return LoadYaml(buffer.str(), path);
}

absl::Status ConfigLoader::LoadYaml(std::string_view text, std::string_view source) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        fmt::format("{}:{}:{}: {}", source, e.mark.line + 1, e.mark.column + 1, e.msg));
  }
  if (root.IsNull()) return absl::OkStatus();
  if (!root.IsMap()) {
    return absl::InvalidArgumentError(fmt::format("{}: top level must be a mapping", source));
  }
  MAGIC_ASSIGN_OR_RETURN(nlohmann::json doc, YamlToJson(root, source));
  return Overlay(doc, "", source);
}

absl::Status ConfigLoader::Overlay(const nlohmann::json& value, const std::string& prefix,
                                   std::string_view source) {
  if (value.is_object()) {
    const nlohmann::json& current = Get(prefix);
    // An object default with members is a section; anything else is a leaf.
    if (prefix.empty() || (current.is_object() && !current.empty())) {
      for (const auto& [key, child] : value.items()) {
        MAGIC_RETURN_IF_ERROR(Overlay(child, prefix.empty() ? key : prefix + "." + key, source));
      }
      return absl::OkStatus();
    }
  }
  return Assign(prefix, value, source);
}

absl::Status ConfigLoader::LoadEnvironment(const char* const* envp) {
  for (const std::string& key : leaf_keys_) {
    const std::string name = EnvName(key);
    for (const char* const* e = envp; e != nullptr && *e != nullptr; ++e) {
      std::string_view entry(*e);
      if (entry.size() > name.size() && entry.substr(0, name.size()) == name &&
          entry[name.size()] == '=') {
        MAGIC_RETURN_IF_ERROR(AssignString(key, entry.substr(name.size() + 1), name));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ConfigLoader::Set(std::string_view key, std::string_view value,
                               std::string_view source) {
  return AssignString(std::string(key), value, source);
}

absl::Status ConfigLoader::AssignString(const std::string& key, std::string_view value,
                                        std::string_view source) {
  const nlohmann::json& current = Get(key);
  if (current.is_array()) {
    nlohmann::json parsed = nlohmann::json::parse(value, nullptr, false);
    if (!parsed.is_array()) {
      nlohmann::json list = nlohmann::json::array();
      for (absl::string_view part : absl::StrSplit(ToAbsl(value), ',', absl::SkipEmpty())) {
        list.push_back(std::string(absl::StripAsciiWhitespace(part)));
      }
      parsed = std::move(list);
    }
    return Assign(key, parsed, source);
  }
  return Assign(key, nlohmann::json(std::string(value)), source);
}

absl::Status ConfigLoader::Assign(const std::string& key, const nlohmann::json& value,
                                  std::string_view source) {
  const auto pointer = PointerOf(key);
  if (key.empty() || !tree_.contains(pointer)) {
    return absl::InvalidArgumentError(
        fmt::format("{}: unknown configuration key '{}'", source, key));
  }
  nlohmann::json& slot = tree_[pointer];
  auto bad = [&](std::string_view want) {
    return absl::InvalidArgumentError(
        fmt::format("{}: {} must be {}, got {}", source, key, want, value.dump()));
  };
  const std::string text = value.is_string() ? value.get<std::string>() : value.dump();
  if (slot.is_boolean()) {
    const std::string lower = absl::AsciiStrToLower(text);
    if (lower == "true" || lower == "1" || lower == "yes" || lower == "on") {
      slot = true;
    } else if (lower == "false" || lower == "0" || lower == "no" || lower == "off") {
      slot = false;
    } else {
      return bad("a boolean");
    }
  } else if (slot.is_number_integer()) {
    int64_t n = 0;
    if (!absl::SimpleAtoi(text, &n)) return bad("an integer");
    slot = n;
  } else if (slot.is_number()) {
    double d = 0;
    if (!absl::SimpleAtod(text, &d)) return bad("a number");
    slot = d;
  } else if (slot.is_array()) {
    if (!value.is_array()) return bad("a list");
    slot = value;
  } else if (slot.is_string() || slot.is_null()) {
    if (!value.is_string()) return bad("a string");
    slot = value;
  } else {
    return bad("a section");
  }
  return absl::OkStatus();
}

}  // namespace magic
