#include "contracts/contract.h"

#include <algorithm>
#include <array>
#include <utility>

namespace magic::contracts {
namespace {

constexpr std::array<std::pair<CapabilityKind, std::string_view>, kCapabilityKindCount> kNames = {{
    {CapabilityKind::kDbRead, "db:read"},
    {CapabilityKind::kDbWrite, "db:write"},
    {CapabilityKind::kDbRawSql, "db:rawsql"},
    {CapabilityKind::kHttpEgress, "http:egress"},
    {CapabilityKind::kSecretsRead, "secrets:read"},
    {CapabilityKind::kQueuePublish, "queue:publish"},
    {CapabilityKind::kQueueSubscribe, "queue:subscribe"},
    {CapabilityKind::kCacheRead, "cache:read"},
    {CapabilityKind::kCacheWrite, "cache:write"},
    {CapabilityKind::kFsTemp, "fs:temp"},
}};

bool Contains(const std::vector<std::string>& list, std::string_view value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string ToLower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), Lower);
  return out;
}

// "API.Example.com." -> "api.example.com"; "[::1]" -> "::1".
std::string NormalizeHost(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  return ToLower(host);
}

// `pattern` is already lower-case: "api.example.com" or "*.example.com".
bool HostMatches(std::string_view pattern, std::string_view host) {
  if (pattern.starts_with("*.")) {
    const std::string_view suffix = pattern.substr(1);  // ".example.com"
    return host.size() > suffix.size() && host.ends_with(suffix) &&
           host[host.size() - suffix.size() - 1] != '.';
  }
  return pattern == host;
}

}  // namespace

std::string_view CapabilityName(CapabilityKind kind) {
  for (const auto& [k, name] : kNames) {
    if (k == kind) return name;
  }
  return "unknown";
}

std::optional<CapabilityKind> ParseCapabilityName(std::string_view name) {
  for (const auto& [kind, n] : kNames) {
    if (n == name) return kind;
  }
  return std::nullopt;
}

std::string_view MetricTypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
    case MetricType::kSummary:
      return "summary";
  }
  return "unknown";
}

bool Capability::AllowsTable(std::string_view table) const {
  if (kind != CapabilityKind::kDbRead && kind != CapabilityKind::kDbWrite) return false;
  if (table.empty()) return false;
  return tables.empty() || Contains(tables, table);
}

bool Capability::AllowsHost(std::string_view host) const {
  if (kind != CapabilityKind::kHttpEgress) return false;
  const std::string normalized = NormalizeHost(host);
  if (normalized.empty()) return false;
  return std::any_of(allow.begin(), allow.end(), [&](const std::string& pattern) {
    return HostMatches(NormalizeHost(pattern), normalized);
  });
}

bool Capability::AllowsKey(std::string_view key) const {
  return kind == CapabilityKind::kSecretsRead && Contains(keys, key);
}

bool Capability::AllowsQueue(std::string_view queue) const {
  if (kind != CapabilityKind::kQueuePublish && kind != CapabilityKind::kQueueSubscribe) {
    return false;
  }
  return Contains(queues, queue);
}

bool Capability::AllowsCacheKey(std::string_view key) const {
  if (kind != CapabilityKind::kCacheRead && kind != CapabilityKind::kCacheWrite) return false;
  return key.starts_with(prefix);
}

const Capability* Contract::Find(CapabilityKind kind) const {
  for (const Capability& capability : capabilities) {
    if (capability.kind == kind) return &capability;
  }
  return nullptr;
}

}  // namespace magic::contracts
