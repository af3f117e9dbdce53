// The contract model: what a controller declares (spec "Controller Contract
// Specification"). Built only by LoadContract()/ParseContract() in
// loader.h, which check everything; a Contract object is always valid.
// Plain values, cheap to copy, immutable after loading.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace magic::contracts {

enum class CapabilityKind {
  kDbRead,
  kDbWrite,
  kDbRawSql,
  kHttpEgress,
  kSecretsRead,
  kQueuePublish,
  kQueueSubscribe,
  kCacheRead,
  kCacheWrite,
  kFsTemp,
};

inline constexpr int kCapabilityKindCount = 10;

// "db:read" <-> kDbRead, and so on for all ten.
std::string_view CapabilityName(CapabilityKind kind);
std::optional<CapabilityKind> ParseCapabilityName(std::string_view name);

// One declared capability with its options. Which options a kind accepts:
//   db:read, db:write         tables
//   http:egress               allow ("api.example.com", "*.example.com")
//   secrets:read              keys
//   queue:publish/subscribe   queues
//   cache:read                prefix
//   cache:write               prefix, max_ttl
//   fs:temp                   max_size
//   db:rawsql                 (none)
// An empty list means "no restriction declared" for tables (every table in
// the application schema) and "nothing" for allow, keys and queues; see
// docs/adr/0002-capability-defaults.md.
struct Capability {
  CapabilityKind kind = CapabilityKind::kDbRead;
  std::vector<std::string> tables;
  std::vector<std::string> allow;
  std::vector<std::string> keys;
  std::vector<std::string> queues;
  std::string prefix;                      // empty: any key
  std::optional<int64_t> max_ttl_seconds;  // cache:write
  std::optional<int64_t> max_size_bytes;   // fs:temp

  // Allowlist questions the broker asks (pure functions of the options).
  bool AllowsTable(std::string_view table) const;
  bool AllowsHost(std::string_view host) const;  // case-insensitive, *. wildcards
  bool AllowsKey(std::string_view key) const;    // secrets:read
  bool AllowsQueue(std::string_view queue) const;
  bool AllowsCacheKey(std::string_view key) const;  // prefix match
};

// Bounds and defaults from the spec's resource table.
struct ResourceLimits {
  static constexpr double kMinCpu = 0.1, kMaxCpu = 2.0, kDefaultCpu = 0.5;
  static constexpr int64_t kMinMemory = int64_t{64} << 20;
  static constexpr int64_t kMaxMemory = int64_t{2} << 30;
  static constexpr int64_t kDefaultMemory = int64_t{256} << 20;
  static constexpr int64_t kMinTimeoutMs = 1'000, kMaxTimeoutMs = 300'000,
                           kDefaultTimeoutMs = 30'000;

  double cpu = kDefaultCpu;  // cores
  int64_t memory_bytes = kDefaultMemory;
  int64_t timeout_ms = kDefaultTimeoutMs;
};

enum class MetricType { kCounter, kGauge, kHistogram, kSummary };
std::string_view MetricTypeName(MetricType type);

struct MetricSpec {
  std::string name;
  MetricType type = MetricType::kCounter;
  std::string description;
  std::vector<std::string> labels;
  std::vector<double> buckets;  // histogram only, strictly ascending
};

struct Observability {
  std::vector<std::string> log_fields;  // dotted paths into the input
  std::vector<MetricSpec> metrics;
};

struct Contract {
  std::string name;       // PascalCase
  std::string version;    // semver 2.0.0
  nlohmann::json input;   // draft-07 JSON Schema
  nlohmann::json output;  // draft-07 JSON Schema
  std::vector<Capability> capabilities;
  ResourceLimits resources;
  Observability observability;
  // Hex SHA-256 of the canonical JSON form of the whole contract document
  // (sorted keys, no whitespace): equal contracts have equal digests
  // whatever their YAML layout.
  std::string digest;
  // Where it was loaded from ("" when parsed from memory).
  std::string source_path;

  // The declaration of `kind`, or nullptr if not declared.
  const Capability* Find(CapabilityKind kind) const;
  bool Declares(CapabilityKind kind) const { return Find(kind) != nullptr; }
};

}  // namespace magic::contracts
