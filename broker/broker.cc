#include "broker/broker.h"

#include "common/absl_compat.h"
#include "common/errors.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "proto/wire_errors.h"

#include <fmt/format.h>

#include <algorithm>

namespace magic::broker {

using contracts::CapabilityKind;
using nlohmann::json;

namespace {

struct OpRule {
  std::string_view capability;
  std::string_view op;
  CapabilityKind kind;
};

constexpr OpRule kOps[] = {
    {"db", "query", CapabilityKind::kDbRead},
    {"db", "query_one", CapabilityKind::kDbRead},
    {"db", "insert", CapabilityKind::kDbWrite},
    {"db", "update", CapabilityKind::kDbWrite},
    {"db", "delete", CapabilityKind::kDbWrite},
    {"db", "raw", CapabilityKind::kDbRawSql},
    {"http", "get", CapabilityKind::kHttpEgress},
    {"http", "post", CapabilityKind::kHttpEgress},
    {"http", "put", CapabilityKind::kHttpEgress},
    {"http", "patch", CapabilityKind::kHttpEgress},
    {"http", "delete", CapabilityKind::kHttpEgress},
    {"http", "head", CapabilityKind::kHttpEgress},
    {"secrets", "get", CapabilityKind::kSecretsRead},
    {"cache", "get", CapabilityKind::kCacheRead},
    {"cache", "exists", CapabilityKind::kCacheRead},
    {"cache", "ttl", CapabilityKind::kCacheRead},
    {"cache", "set", CapabilityKind::kCacheWrite},
    {"cache", "delete", CapabilityKind::kCacheWrite},
    {"cache", "incr", CapabilityKind::kCacheWrite},
    {"queue", "publish", CapabilityKind::kQueuePublish},
    {"fs", "open", CapabilityKind::kFsTemp},
    {"fs", "remove", CapabilityKind::kFsTemp},
    {"fs", "list", CapabilityKind::kFsTemp},
    {"fs", "mkdir", CapabilityKind::kFsTemp},
};

std::string Bounded(std::string_view text) { return std::string(text.substr(0, 64)); }

}  // namespace

std::optional<CapabilityKind> RequiredCapability(std::string_view capability, std::string_view op) {
  for (const OpRule& rule : kOps) {
    if (rule.capability == capability && rule.op == op) return rule.kind;
  }
  return std::nullopt;
}

bool RateLimiter::Admit(std::string_view controller, CapabilityKind kind, absl::Time now) {
  const auto limit = limits_.find(kind);
  if (limit == limits_.end()) return true;
  std::lock_guard lock(mu_);
  auto [it, inserted] = buckets_.try_emplace(std::make_pair(std::string(controller), kind));
  Bucket& bucket = it->second;
  if (inserted) {
    bucket.tokens = limit->second.burst;
  } else {
    const double elapsed = absl::ToDoubleSeconds(now - bucket.refilled);
    bucket.tokens = std::min(limit->second.burst,
                             bucket.tokens + std::max(0.0, elapsed) * limit->second.per_second);
  }
  bucket.refilled = now;
  if (bucket.tokens < 1) return false;
  bucket.tokens -= 1;
  return true;
}

// What the checks established about one call.
struct Broker::Checked {
  magic::v1::GrantClaims claims;
  CallContext ctx;
  std::optional<CapabilityKind> kind;
  std::shared_ptr<const contracts::ControllerVersion> version;
};

Broker::Broker(const contracts::Registry& registry, const Policy& policy,
               const GrantVerifier& verifier, Backends backends, AuditSink& audit, Clock& clock,
               BrokerOptions options)
    : registry_(registry),
      policy_(policy),
      verifier_(verifier),
      backends_(backends),
      audit_(audit),
      clock_(clock),
      options_(std::move(options)),
      limiter_(policy.rate_limits) {}

Backend* Broker::BackendFor(std::string_view capability) const {
  if (capability == "db") return backends_.db;
  if (capability == "cache") return backends_.cache;
  if (capability == "queue") return backends_.queue;
  if (capability == "http") return backends_.http;
  if (capability == "secrets") return backends_.secrets;
  if (capability == "fs") return backends_.fs;
  return nullptr;
}

absl::Status Broker::Authorize(const magic::v1::CallRequest& request, Checked& checked) {
  const absl::Time now = clock_.Now();
  MAGIC_ASSIGN_OR_RETURN(checked.claims, verifier_.Verify(request.grant(), now));
  const magic::v1::GrantClaims& claims = checked.claims;
  checked.ctx.request_id = claims.request_id();
  checked.ctx.controller = claims.controller();
  checked.ctx.version = claims.version();
  checked.ctx.deadline = absl::FromUnixMillis(claims.deadline_unix_ms());
  if (request.seq() == 0) return MakeError(ErrorCode::kE2005, "grant refused: call sequence 0");
  if (!replays_.FirstUse(claims.request_id(), request.seq(), checked.ctx.deadline + kGrantClockSkew,
                         now)) {
    return MakeError(ErrorCode::kE2005, "grant refused: call replayed", {{"seq", request.seq()}});
  }
  absl::StatusOr<std::shared_ptr<const contracts::ControllerVersion>> version =
      registry_.Get(claims.controller(), claims.version());
  if (!version.ok() || (*version)->digest != claims.contract_digest()) {
    return MakeError(ErrorCode::kE2005,
                     "grant refused: it names a version this broker does not have");
  }
  checked.version = *std::move(version);

  checked.kind = RequiredCapability(request.capability(), request.op());
  if (!checked.kind) {
    return MakeError(ErrorCode::kE1005,
                     fmt::format("unknown operation {}.{}", Bounded(request.capability()),
                                 Bounded(request.op())));
  }
  const std::string_view name = contracts::CapabilityName(*checked.kind);
  checked.ctx.kind = *checked.kind;
  checked.ctx.declared = checked.version->contract().Find(*checked.kind);
  if (checked.ctx.declared == nullptr) {
    return MakeError(ErrorCode::kE2001,
                     fmt::format("{}.{} needs capability {}, which the contract of {} does not "
                                 "declare",
                                 request.capability(), request.op(), name, claims.controller()),
                     {{"capability", name}, {"operation", request.op()}});
  }
  if (policy_.Denies(*checked.kind)) {
    return MakeError(ErrorCode::kE2002,
                     fmt::format("capability {} is denied by the {} policy", name,
                                 EnvironmentName(policy_.environment)),
                     {{"capability", name}, {"environment", EnvironmentName(policy_.environment)}});
  }
  if (!limiter_.Admit(claims.controller(), *checked.kind, now)) {
    return MakeError(ErrorCode::kE2004,
                     fmt::format("rate limit of {} reached for {}", name, claims.controller()),
                     {{"capability", name}, {"limit", "rate"}});
  }
  if (now >= checked.ctx.deadline) {
    return MakeError(ErrorCode::kE3001, "the invocation's deadline has passed");
  }
  return absl::OkStatus();
}

absl::StatusOr<json> Broker::Run(const magic::v1::CallRequest& request, Checked& checked,
                                 json& fields) {
  MAGIC_RETURN_IF_ERROR(Authorize(request, checked));
  Backend* backend = BackendFor(request.capability());
  if (backend == nullptr) {
    return MakeError(ErrorCode::kE3005, fmt::format("no {} backend is configured on this broker",
                                                    contracts::CapabilityName(*checked.kind)));
  }
  if (static_cast<int64_t>(request.params_json().size()) > options_.max_params_bytes) {
    return MakeError(ErrorCode::kE1005, "call arguments too large",
                     {{"limit_bytes", options_.max_params_bytes}});
  }
  json params = request.params_json().empty()
                    ? json::object()
                    : json::parse(request.params_json(), nullptr, /*allow_exceptions=*/false);
  if (!params.is_object()) {
    return MakeError(ErrorCode::kE1005, "call arguments must be a JSON object");
  }
  return backend->Call(checked.ctx, request.op(), params, fields);
}

magic::v1::CallReply Broker::Call(const magic::v1::CallRequest& request) {
  const absl::Time start = clock_.Now();
  Checked checked;
  json fields = json::object();
  absl::StatusOr<json> result = Run(request, checked, fields);

  magic::v1::AuditRecord record;
  record.set_time_unix_us(absl::ToUnixMicros(start));
  record.set_request_id(checked.ctx.request_id);
  record.set_controller(checked.ctx.controller);
  record.set_version(checked.ctx.version);
  if (checked.kind) record.set_capability(std::string(contracts::CapabilityName(*checked.kind)));
  record.set_operation(Bounded(request.op()));
  record.set_allowed(result.ok());
  record.set_seq(request.seq());
  record.set_worker_id(Bounded(request.worker_id()));
  if (!result.ok()) {
    const Error error = ErrorFromStatus(result.status());
    record.set_code(std::string(Describe(error.code).id));
    if (checked.kind) fields["attribute"] = Bounded(request.capability());
  }
  record.set_latency_us(absl::ToInt64Microseconds(clock_.Now() - start));
  record.set_fields_json(fields.dump(-1, ' ', false, json::error_handler_t::replace));

  absl::Status audited = audit_.Record(std::move(record));
  if (!audited.ok()) {
    MAGIC_LOG(err, "capability call not audited: refused",
              {{"request_id", checked.ctx.request_id}, {"error", audited.ToString()}});
    result = audited;
  }

  magic::v1::CallReply reply;
  if (result.ok()) {
    reply.set_result_json(result->dump(-1, ' ', false, json::error_handler_t::replace));
  } else {
    *reply.mutable_error() = ToWireError(ErrorFromStatus(result.status(), checked.ctx.request_id));
  }
  return reply;
}

}  // namespace magic::broker
