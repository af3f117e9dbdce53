#include "broker/policy.h"

#include "common/absl_compat.h"
#include "common/errors.h"
#include "common/status_macros.h"
#include "contracts/internal/yaml_document.h"
#include "contracts/loader.h"

#include <fmt/format.h>

#include <fstream>
#include <sstream>

namespace magic::broker {

using contracts::CapabilityKind;
using nlohmann::json;

std::string_view EnvironmentName(Environment environment) {
  return environment == Environment::kProduction ? "production" : "development";
}

Policy Policy::Defaults(Environment environment) {
  Policy policy;
  policy.environment = environment;
  if (environment == Environment::kProduction) policy.denied.insert(CapabilityKind::kDbRawSql);
  return policy;
}

std::string QueueTopic(const QueuePolicy& policy, std::string_view queue) {
  return policy.topic_prefix + std::string(queue);
}

namespace {

// Reads one policy document; every error names the key (as a JSON
// pointer) and its line:column.
class PolicyReader {
 public:
  explicit PolicyReader(const contracts::internal::YamlDocument& doc) : doc_(doc) {}

  absl::Status Error(const std::string& pointer, std::string_view what) const {
    const contracts::internal::Position at = doc_.Locate(pointer);
    return MakeError(ErrorCode::kE1005,
                     fmt::format("policy {} (line {}:{}): {}", pointer.empty() ? "/" : pointer,
                                 at.line, at.column, what),
                     {{"key", pointer}, {"line", at.line}, {"column", at.column}});
  }

  // Checks that `node` is an object with only `allowed` keys.
  absl::Status Object(const json& node, const std::string& pointer,
                      std::initializer_list<std::string_view> allowed) const {
    if (!node.is_object()) return Error(pointer, "must be a mapping");
    for (const auto& [key, value] : node.items()) {
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        return Error(pointer + "/" + key, "unknown key");
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> String(const json& node, const std::string& pointer) const {
    if (!node.is_string()) return Error(pointer, "must be a string");
    return node.get<std::string>();
  }

  absl::StatusOr<std::vector<std::string>> Strings(const json& node,
                                                   const std::string& pointer) const {
    if (!node.is_array()) return Error(pointer, "must be a list of strings");
    std::vector<std::string> out;
    for (size_t i = 0; i < node.size(); ++i) {
      MAGIC_ASSIGN_OR_RETURN(std::string s, String(node[i], fmt::format("{}/{}", pointer, i)));
      out.push_back(std::move(s));
    }
    return out;
  }

  absl::StatusOr<bool> Bool(const json& node, const std::string& pointer) const {
    if (!node.is_boolean()) return Error(pointer, "must be true or false");
    return node.get<bool>();
  }

  absl::StatusOr<int64_t> Count(const json& node, const std::string& pointer, int64_t min,
                                int64_t max) const {
    if (!node.is_number_integer() || node.get<int64_t>() < min || node.get<int64_t>() > max) {
      return Error(pointer, fmt::format("must be an integer in [{}, {}]", min, max));
    }
    return node.get<int64_t>();
  }

  absl::StatusOr<int64_t> Bytes(const json& node, const std::string& pointer) const {
    std::optional<int64_t> bytes;
    if (node.is_number_integer() && node.get<int64_t>() >= 0) bytes = node.get<int64_t>();
    if (node.is_string()) bytes = contracts::ParseByteSize(node.get<std::string>());
    if (!bytes || *bytes <= 0) return Error(pointer, "must be a size such as 1Mi or 65536");
    return *bytes;
  }

  absl::StatusOr<absl::Duration> Duration(const json& node, const std::string& pointer) const {
    std::optional<int64_t> ms;
    if (node.is_number_integer() && node.get<int64_t>() > 0) ms = node.get<int64_t>() * 1000;
    if (node.is_string()) ms = contracts::ParseDurationMs(node.get<std::string>());
    if (!ms || *ms <= 0) return Error(pointer, "must be a duration such as 5s or 500ms");
    return absl::Milliseconds(*ms);
  }

  absl::StatusOr<int64_t> Seconds(const json& node, const std::string& pointer) const {
    if (node.is_number_integer()) return Count(node, pointer, 1, int64_t{10} * 365 * 86400);
    MAGIC_ASSIGN_OR_RETURN(absl::Duration d, Duration(node, pointer));
    return absl::ToInt64Seconds(d);
  }

  absl::StatusOr<CapabilityKind> Kind(const json& node, const std::string& pointer) const {
    MAGIC_ASSIGN_OR_RETURN(std::string name, String(node, pointer));
    std::optional<CapabilityKind> kind = contracts::ParseCapabilityName(name);
    if (!kind) return Error(pointer, fmt::format("unknown capability '{}'", name));
    return *kind;
  }

  absl::Status Http(const json& node, HttpPolicy& http) const {
    const std::string p = "/http";
    MAGIC_RETURN_IF_ERROR(
        Object(node, p,
               {"allow_hosts", "deny_hosts", "allow_private_networks", "allow_cidrs", "connect_to",
                "ca_file", "max_request_bytes", "max_response_bytes", "max_redirects"}));
    for (const auto& [key, value] : node.items()) {
      const std::string at = p + "/" + key;
      if (key == "allow_hosts") {
        MAGIC_ASSIGN_OR_RETURN(http.allow_hosts, Strings(value, at));
      }
      if (key == "deny_hosts") {
        MAGIC_ASSIGN_OR_RETURN(http.deny_hosts, Strings(value, at));
      }
      if (key == "allow_private_networks") {
        MAGIC_ASSIGN_OR_RETURN(http.allow_private_networks, Bool(value, at));
      }
      if (key == "allow_cidrs") {
        MAGIC_ASSIGN_OR_RETURN(http.allow_cidrs, Strings(value, at));
      }
      if (key == "ca_file") {
        MAGIC_ASSIGN_OR_RETURN(http.ca_file, String(value, at));
      }
      if (key == "max_request_bytes") {
        MAGIC_ASSIGN_OR_RETURN(http.max_request_bytes, Bytes(value, at));
      }
      if (key == "max_response_bytes") {
        MAGIC_ASSIGN_OR_RETURN(http.max_response_bytes, Bytes(value, at));
      }
      if (key == "max_redirects") {
        MAGIC_ASSIGN_OR_RETURN(int64_t n, Count(value, at, 0, 20));
        http.max_redirects = static_cast<int>(n);
      }
      if (key == "connect_to") {
        if (!value.is_object()) return Error(at, "must map \"host:port\" to \"ip:port\"");
        for (const auto& [from, to] : value.items()) {
          MAGIC_ASSIGN_OR_RETURN(http.connect_to[from], String(to, at + "/" + from));
        }
      }
    }
    return absl::OkStatus();
  }

  absl::Status Sections(const json& root, Policy& policy) const {
    for (const auto& [key, value] : root.items()) {
      const std::string at = "/" + key;
      if (key == "http") MAGIC_RETURN_IF_ERROR(Http(value, policy.http));
      if (key == "db") {
        MAGIC_RETURN_IF_ERROR(Object(value, at, {"schema", "max_rows", "statement_timeout"}));
        if (value.contains("schema")) {
          MAGIC_ASSIGN_OR_RETURN(policy.db.schema, String(value["schema"], at + "/schema"));
        }
        if (value.contains("max_rows")) {
          MAGIC_ASSIGN_OR_RETURN(policy.db.max_rows,
                                 Count(value["max_rows"], at + "/max_rows", 1, 1'000'000));
        }
        if (value.contains("statement_timeout")) {
          MAGIC_ASSIGN_OR_RETURN(policy.db.statement_timeout,
                                 Duration(value["statement_timeout"], at + "/statement_timeout"));
        }
      }
      if (key == "cache") {
        MAGIC_RETURN_IF_ERROR(Object(value, at, {"max_ttl", "max_value_bytes", "namespace"}));
        if (value.contains("max_ttl")) {
          MAGIC_ASSIGN_OR_RETURN(policy.cache.max_ttl_seconds,
                                 Seconds(value["max_ttl"], at + "/max_ttl"));
        }
        if (value.contains("max_value_bytes")) {
          MAGIC_ASSIGN_OR_RETURN(policy.cache.max_value_bytes,
                                 Bytes(value["max_value_bytes"], at + "/max_value_bytes"));
        }
        if (value.contains("namespace")) {
          MAGIC_ASSIGN_OR_RETURN(policy.cache.key_namespace,
                                 String(value["namespace"], at + "/namespace"));
        }
      }
      if (key == "queue") {
        MAGIC_RETURN_IF_ERROR(Object(value, at, {"topic_prefix", "max_message_bytes"}));
        if (value.contains("topic_prefix")) {
          MAGIC_ASSIGN_OR_RETURN(policy.queue.topic_prefix,
                                 String(value["topic_prefix"], at + "/topic_prefix"));
        }
        if (value.contains("max_message_bytes")) {
          MAGIC_ASSIGN_OR_RETURN(policy.queue.max_message_bytes,
                                 Bytes(value["max_message_bytes"], at + "/max_message_bytes"));
        }
      }
    }
    return absl::OkStatus();
  }

  absl::Status Controls(const json& root, Policy& policy) const {
    if (root.contains("deny")) {
      MAGIC_ASSIGN_OR_RETURN(std::vector<std::string> names, Strings(root["deny"], "/deny"));
      policy.denied.clear();
      for (size_t i = 0; i < names.size(); ++i) {
        MAGIC_ASSIGN_OR_RETURN(CapabilityKind kind,
                               Kind(root["deny"][i], fmt::format("/deny/{}", i)));
        policy.denied.insert(kind);
      }
    }
    if (root.contains("rate_limits")) {
      const json& limits = root["rate_limits"];
      if (!limits.is_object()) return Error("/rate_limits", "must be a mapping");
      for (const auto& [name, value] : limits.items()) {
        const std::string at = "/rate_limits/" + name;
        MAGIC_ASSIGN_OR_RETURN(CapabilityKind kind, Kind(json(name), at));
        MAGIC_RETURN_IF_ERROR(Object(value, at, {"per_second", "burst"}));
        RateLimit limit;
        if (!value.contains("per_second") || !value["per_second"].is_number() ||
            value["per_second"].get<double>() <= 0) {
          return Error(at + "/per_second", "must be a positive number");
        }
        limit.per_second = value["per_second"].get<double>();
        limit.burst = std::max(1.0, limit.per_second);
        if (value.contains("burst")) {
          if (!value["burst"].is_number() || value["burst"].get<double>() < 1) {
            return Error(at + "/burst", "must be a number >= 1");
          }
          limit.burst = value["burst"].get<double>();
        }
        policy.rate_limits[kind] = limit;
      }
    }
    return absl::OkStatus();
  }

 private:
  const contracts::internal::YamlDocument& doc_;
};

}  // namespace

absl::StatusOr<Policy> ParsePolicy(std::string_view text) {
  const contracts::internal::YamlDocument doc =
      contracts::internal::ParseYamlDocument(text, /*json=*/false);
  if (!doc.ok()) {
    return MakeError(ErrorCode::kE1005,
                     fmt::format("policy is not valid YAML/JSON: {}",
                                 doc.findings.empty() ? "" : doc.findings.front().message));
  }
  PolicyReader reader(doc);
  const json& root = doc.root;
  MAGIC_RETURN_IF_ERROR(reader.Object(
      root, "", {"environment", "deny", "rate_limits", "http", "db", "cache", "queue"}));
  Environment environment = Environment::kProduction;
  if (root.contains("environment")) {
    MAGIC_ASSIGN_OR_RETURN(std::string name, reader.String(root["environment"], "/environment"));
    if (name == "development") {
      environment = Environment::kDevelopment;
    } else if (name != "production") {
      return reader.Error("/environment", "must be production or development");
    }
  }
  Policy policy = Policy::Defaults(environment);
  MAGIC_RETURN_IF_ERROR(reader.Controls(root, policy));
  MAGIC_RETURN_IF_ERROR(reader.Sections(root, policy));
  return policy;
}

absl::StatusOr<Policy> LoadPolicy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeError(ErrorCode::kE1005, fmt::format("policy file {} cannot be read", path));
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<Policy> policy = ParsePolicy(text.str());
  if (!policy.ok()) {
    return MakeError(ErrorCode::kE1005,
                     fmt::format("{}: {}", path, FromAbsl(policy.status().message())),
                     ErrorFromStatus(policy.status()).details);
  }
  return policy;
}

}  // namespace magic::broker
