// The interface every capability backend implements (db, cache, queue,
// http, secrets, fs). The Broker (broker.h) has already checked the grant,
// that the contract declares the capability, the policy's deny list and
// the rate limit; a backend checks the rest: the declared allowlist
// (E2003), limits (E2004), its arguments (E1005), then calls the real
// server.
//
//   absl::StatusOr<nlohmann::json> out = backend.Call(ctx, "query", params, audit);
//
// Backends are shared by all broker threads: Call() must be thread-safe.
#pragma once

#include "contracts/contract.h"

#include <absl/status/statusor.h>
#include <absl/time/time.h>
#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace magic::broker {

struct CallContext {
  std::string request_id;
  std::string controller;
  std::string version;
  contracts::CapabilityKind kind = contracts::CapabilityKind::kDbRead;
  // The contract's declaration of `kind` (never null while Call runs).
  const contracts::Capability* declared = nullptr;
  // The invocation's deadline: no backend call may outlive it.
  absl::Time deadline = absl::InfiniteFuture();
};

class Backend {
 public:
  virtual ~Backend() = default;

  // Runs `op` with named arguments `params` (a JSON object, as the SDK sent
  // it; hostile until checked). Returns the JSON result, or an error
  // Status with an E-code:
  //   E1005 bad arguments (missing, wrong type, unknown operator), or the
  //         backend server refused the statement (details.sqlstate, ...)
  //   E2003 outside the declared allowlist (table, column, host, key, queue, prefix)
  //   E2004 a limit (ttl, size, rows, rate)
  //   E3001 the deadline passed
  //   E3005 the backend server is unavailable
  // `audit` (a JSON object) receives the capability's audit fields (spec
  // audit table), filled as far as known even when the call fails. It
  // never holds secret values or raw row data.
  virtual absl::StatusOr<nlohmann::json> Call(const CallContext& ctx, std::string_view op,
                                              const nlohmann::json& params,
                                              nlohmann::json& audit) = 0;
};

}  // namespace magic::broker
