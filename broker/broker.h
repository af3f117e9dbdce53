// The broker core: one capability call from a worker, checked and audited.
//
//   Broker broker(registry, policy, verifier, backends, *audit, RealClockInstance());
//   magic::v1::CallReply reply = broker.Call(request);   // from BrokerGrpcService
//
// Order of checks (the first failure is the answer, and is audited):
//   1. the grant: signature, expiry ±30 s, (request id, seq) used once;
//      the version it names is deployed with the digest it names   E2005
//   2. the operation is known (capability attribute + op)           E1005
//   3. the contract declares the capability the operation needs     E2001
//   4. the environment policy does not deny it                      E2002
//   5. the per-controller rate limit of that capability             E2004
//   6. the backend: allowlist E2003, limits E2004, arguments E1005
// Nothing the worker says is trusted beyond the signed grant: the
// contract comes from the broker's own registry, by the grant's version.
//
// Thread-safe: Call() runs on many gRPC threads at once.
#pragma once

#include "broker/audit.h"
#include "broker/backend.h"
#include "broker/grant.h"
#include "broker/policy.h"
#include "common/clock.h"
#include "contracts/registry.h"
#include "magic/v1/broker.pb.h"

#include <absl/status/statusor.h>

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace magic::broker {

// The capability an operation needs: ("db", "query") -> db:read,
// ("cache", "set") -> cache:write, ... nullopt for an unknown operation.
std::optional<contracts::CapabilityKind> RequiredCapability(std::string_view capability,
                                                            std::string_view op);

// Which backend serves each SDK attribute. Null: not configured here (E3005).
struct Backends {
  Backend* db = nullptr;
  Backend* cache = nullptr;
  Backend* queue = nullptr;
  Backend* http = nullptr;
  Backend* secrets = nullptr;
  Backend* fs = nullptr;
};

struct BrokerOptions {
  std::string broker_id = "broker";
  int64_t max_params_bytes = int64_t{2} << 20;  // larger params are E1005
};

// Token buckets per (controller, capability). Thread-safe.
class RateLimiter {
 public:
  explicit RateLimiter(std::map<contracts::CapabilityKind, RateLimit> limits)
      : limits_(std::move(limits)) {}
  // False when the call must be refused (E2004).
  bool Admit(std::string_view controller, contracts::CapabilityKind kind, absl::Time now);

 private:
  struct Bucket {
    double tokens = 0;
    absl::Time refilled = absl::InfinitePast();
  };
  const std::map<contracts::CapabilityKind, RateLimit> limits_;
  std::mutex mu_;
  std::map<std::pair<std::string, contracts::CapabilityKind>, Bucket, std::less<>> buckets_;
};

class Broker {
 public:
  Broker(const contracts::Registry& registry, const Policy& policy, const GrantVerifier& verifier,
         Backends backends, AuditSink& audit, Clock& clock, BrokerOptions options = {});

  magic::v1::CallReply Call(const magic::v1::CallRequest& request);

 private:
  struct Checked;
  absl::StatusOr<nlohmann::json> Run(const magic::v1::CallRequest& request, Checked& checked,
                                     nlohmann::json& fields);
  absl::Status Authorize(const magic::v1::CallRequest& request, Checked& checked);
  Backend* BackendFor(std::string_view capability) const;

  const contracts::Registry& registry_;
  const Policy& policy_;
  const GrantVerifier& verifier_;
  const Backends backends_;
  AuditSink& audit_;
  Clock& clock_;
  const BrokerOptions options_;
  ReplayGuard replays_;
  RateLimiter limiter_;
};

}  // namespace magic::broker
