// The environment policy (issue "capability broker", DESIGN.md "broker/"):
// what this farm allows on top of each contract's declarations. The
// effective permission of a call is the contract's capability ∩ this file.
//
//   MAGIC_ASSIGN_OR_RETURN(Policy policy, LoadPolicy("/etc/magic/policy.yaml"));
//   if (policy.Denies(CapabilityKind::kDbRawSql)) ...  // E2002
//
// YAML shape (every key optional; docs/policy.md documents each one):
//
//   environment: production          # or development
//   deny: [db:rawsql]                # production default; development: []
//   rate_limits:                     # per controller and capability
//     http:egress: {per_second: 50, burst: 100}
//   http:
//     allow_hosts: []                # when non-empty, a host must also match one
//     deny_hosts: ["*.corp.example"] # always refused
//     allow_private_networks: false  # loopback, RFC 1918, link-local, ULA, CGNAT
//     allow_cidrs: []                # e.g. ["127.0.0.1/32"]: allowed although private
//     connect_to: {}                 # "host:port" -> "ip:port" (tests, dev)
//     ca_file: ""                    # extra CA bundle (PEM)
//     max_request_bytes: 1Mi
//     max_response_bytes: 4Mi
//     max_redirects: 5
//   db: {schema: app, max_rows: 1000, statement_timeout: 5s}
//   cache: {max_ttl: 86400, max_value_bytes: 1Mi, namespace: ""}
//   queue: {topic_prefix: "magic.queue.", max_message_bytes: 1Mi}
//
// Unknown keys and bad values are E1005 errors naming the key. Immutable
// after loading: thread-safe.
#pragma once

#include "contracts/contract.h"

#include <absl/status/statusor.h>
#include <absl/time/time.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace magic::broker {

enum class Environment { kProduction, kDevelopment };
std::string_view EnvironmentName(Environment environment);

struct RateLimit {
  double per_second = 0;  // sustained calls per second
  double burst = 0;       // bucket size (>= 1)
};

struct HttpPolicy {
  std::vector<std::string> allow_hosts;  // exact or "*.suffix"; empty: no global restriction
  std::vector<std::string> deny_hosts;   // exact or "*.suffix"
  bool allow_private_networks = false;
  std::vector<std::string> allow_cidrs;  // "10.1.2.0/24", "::1/128"
  // "api.stripe.com:443" -> "127.0.0.1:18443": connect there instead (the
  // Host header and TLS name stay the original ones). The target address is
  // still checked against the private-network rules.
  std::map<std::string, std::string> connect_to;
  std::string ca_file;
  int64_t max_request_bytes = int64_t{1} << 20;
  int64_t max_response_bytes = int64_t{4} << 20;  // body + parsed json must fit a 16 MiB frame
  int max_redirects = 5;
};

struct DbPolicy {
  std::string schema = "app";  // the application schema; Magic's own tables are elsewhere
  int64_t max_rows = 1000;     // query limit cap and default
  absl::Duration statement_timeout = absl::Seconds(5);
};

struct CachePolicy {
  int64_t max_ttl_seconds = 86400;  // cap over every contract's max_ttl
  int64_t max_value_bytes = int64_t{1} << 20;
  std::string key_namespace;  // prepended to every Redis key ("" = none)
};

struct QueuePolicy {
  std::string topic_prefix = "magic.queue.";  // queue "order-events" -> "magic.queue.order-events"
  int64_t max_message_bytes = int64_t{1} << 20;
};

struct Policy {
  Environment environment = Environment::kProduction;
  std::set<contracts::CapabilityKind> denied;
  std::map<contracts::CapabilityKind, RateLimit> rate_limits;
  HttpPolicy http;
  DbPolicy db;
  CachePolicy cache;
  QueuePolicy queue;

  bool Denies(contracts::CapabilityKind kind) const { return denied.contains(kind); }

  // The defaults of an environment: production denies db:rawsql;
  // development denies nothing. Both refuse private-network egress.
  static Policy Defaults(Environment environment);
};

// Parses a policy document (YAML or JSON). E1005 with details.key on any
// unknown key or bad value.
absl::StatusOr<Policy> ParsePolicy(std::string_view text);
absl::StatusOr<Policy> LoadPolicy(const std::string& path);

// The topic a queue name maps to (QueuePolicy::topic_prefix + name).
std::string QueueTopic(const QueuePolicy& policy, std::string_view queue);

}  // namespace magic::broker
