#include "common/errors.h"

#include "common/absl_compat.h"

#include <absl/strings/cord.h>

namespace magic {
namespace {

using C = ErrorCategory;
using S = absl::StatusCode;

// The catalog, in ErrorCode order (DESIGN.md "Errors").
constexpr ErrorInfo kCatalog[kErrorCodeCount] = {
    {ErrorCode::kE1001, "E1001", C::kContract, "contract file unreadable or not YAML/JSON",
     "Fix the syntax at the reported line and column; the file must be UTF-8 YAML or JSON.", 400,
     S::kInvalidArgument},
    {ErrorCode::kE1002, "E1002", C::kContract, "contract breaks the contract schema",
     "Fix the field at the reported JSON pointer; `magic validate` lists every problem.", 400,
     S::kInvalidArgument},
    {ErrorCode::kE1003, "E1003", C::kContract, "input validation failed",
     "Send an input that matches the controller's input schema (details name the field).", 400,
     S::kInvalidArgument},
    {ErrorCode::kE1004, "E1004", C::kContract, "output validation failed",
     "The controller returned data that breaks its output schema: fix the controller.", 500,
     S::kInternal},
    {ErrorCode::kE1005, "E1005", C::kContract, "request malformed or too large",
     "Send well-formed JSON within the size limit.", 400, S::kInvalidArgument},
    {ErrorCode::kE2001, "E2001", C::kCapability, "capability not declared in the contract",
     "Declare the capability in the contract's capabilities list and redeploy.", 403,
     S::kPermissionDenied},
    {ErrorCode::kE2002, "E2002", C::kCapability, "capability denied by environment policy",
     "Ask an operator to allow it in the environment policy, or avoid the call.", 403,
     S::kPermissionDenied},
    {ErrorCode::kE2003, "E2003", C::kCapability,
     "resource outside the declared allowlist (table, host, key, queue, prefix)",
     "Add the resource to the capability's allowlist in the contract, or use an allowed one.", 403,
     S::kPermissionDenied},
    {ErrorCode::kE2004, "E2004", C::kCapability, "capability limit exceeded (ttl, size, rate)",
     "Stay within the declared and policy limits (ttl, size, rate).", 403, S::kPermissionDenied},
    {ErrorCode::kE2005, "E2005", C::kCapability, "grant invalid, expired or replayed",
     "Internal trust failure: check clocks (±30 s) and that workers run the current release.", 403,
     S::kPermissionDenied},
    {ErrorCode::kE3001, "E3001", C::kExecution, "timeout",
     "Make the controller faster or raise resources.timeout (at most 300s).", 504,
     S::kDeadlineExceeded},
    {ErrorCode::kE3002, "E3002", C::kExecution, "memory limit exceeded",
     "Use less memory or raise resources.memory (at most 2Gi).", 500, S::kResourceExhausted},
    {ErrorCode::kE3003, "E3003", C::kExecution, "unhandled exception in the controller",
     "Read the traceback in details and fix the controller.", 500, S::kInternal},
    {ErrorCode::kE3004, "E3004", C::kExecution, "concurrency or rate limit reached",
     "Retry later with backoff, or ask for a higher limit.", 429, S::kResourceExhausted},
    {ErrorCode::kE3005, "E3005", C::kExecution, "sandbox or worker failure",
     "Retry; if it persists, the operators should check the workers.", 500, S::kUnavailable},
    {ErrorCode::kE4001, "E4001", C::kDeployment, "bundle invalid",
     "Run `magic validate` on the controller directory and fix what it reports.", 400,
     S::kInvalidArgument},
    {ErrorCode::kE4002, "E4002", C::kDeployment, "version already deployed",
     "Bump the contract's version; deployed versions are immutable.", 400, S::kAlreadyExists},
    {ErrorCode::kE4003, "E4003", C::kDeployment, "controller or version not found",
     "Check the name with `magic list`.", 404, S::kNotFound},
    {ErrorCode::kE4004, "E4004", C::kDeployment, "rollback target not found",
     "Roll back to a version that `magic list` shows as deployed.", 400, S::kFailedPrecondition},
    {ErrorCode::kE4005, "E4005", C::kDeployment, "deployment storage failure",
     "Retry; if it persists, the operators should check PostgreSQL.", 500, S::kInternal},
    {ErrorCode::kE5001, "E5001", C::kAuth, "credentials missing",
     "Send an API key (authorization: Bearer <key>).", 401, S::kUnauthenticated},
    {ErrorCode::kE5002, "E5002", C::kAuth, "credentials invalid", "Check the API key.", 401,
     S::kUnauthenticated},
    {ErrorCode::kE5003, "E5003", C::kAuth, "scope does not allow this call",
     "Use a key whose scopes include this call.", 403, S::kPermissionDenied},
    {ErrorCode::kE5004, "E5004", C::kAuth, "credentials expired or revoked", "Get a new API key.",
     401, S::kUnauthenticated},
    {ErrorCode::kE5005, "E5005", C::kAuth, "tenant or namespace access denied",
     "Use a key of the tenant that owns the controller.", 403, S::kPermissionDenied},
};

}  // namespace

const ErrorInfo& Describe(ErrorCode code) { return kCatalog[static_cast<int>(code)]; }

const ErrorInfo* Catalog() { return kCatalog; }

std::optional<ErrorCode> ParseErrorCode(std::string_view id) {
  for (const ErrorInfo& info : kCatalog) {
    if (info.id == id) return info.code;
  }
  return std::nullopt;
}

std::string_view CategoryName(ErrorCategory category) {
  switch (category) {
    case ErrorCategory::kContract:
      return "CONTRACT";
    case ErrorCategory::kCapability:
      return "CAPABILITY";
    case ErrorCategory::kExecution:
      return "EXECUTION";
    case ErrorCategory::kDeployment:
      return "DEPLOYMENT";
    case ErrorCategory::kAuth:
      return "AUTH";
  }
  return "EXECUTION";
}

nlohmann::json Error::ToJson() const {
  const ErrorInfo& i = info();
  nlohmann::json body = {
      {"code", std::string(i.id)},
      {"category", std::string(CategoryName(i.category))},
      {"message", message.empty() ? std::string(i.title) : message},
  };
  if (details.is_object() ? !details.empty() : !details.is_null()) body["details"] = details;
  if (!request_id.empty()) body["request_id"] = request_id;
  return {{"error", std::move(body)}};
}

std::optional<Error> Error::FromJson(const nlohmann::json& j) {
  if (!j.is_object()) return std::nullopt;
  auto it = j.find("error");
  if (it == j.end() || !it->is_object()) return std::nullopt;
  auto code_it = it->find("code");
  if (code_it == it->end() || !code_it->is_string()) return std::nullopt;
  std::optional<ErrorCode> code = ParseErrorCode(code_it->get_ref<const std::string&>());
  if (!code) return std::nullopt;
  Error e;
  e.code = *code;
  if (auto m = it->find("message"); m != it->end() && m->is_string()) e.message = *m;
  if (auto d = it->find("details"); d != it->end()) e.details = *d;
  if (auto r = it->find("request_id"); r != it->end() && r->is_string()) e.request_id = *r;
  return e;
}

absl::Status MakeError(ErrorCode code, std::string_view message, const nlohmann::json& details) {
  const ErrorInfo& i = Describe(code);
  absl::Status status(i.grpc_code, ToAbsl(message.empty() ? i.title : message));
  nlohmann::json payload = {{"code", std::string(i.id)}, {"details", details}};
  status.SetPayload(ToAbsl(kErrorPayloadUrl), absl::Cord(payload.dump()));
  return status;
}

namespace {

struct Payload {
  ErrorCode code;
  nlohmann::json details;
};

std::optional<Payload> ReadPayload(const absl::Status& status) {
  absl::optional<absl::Cord> raw = status.GetPayload(ToAbsl(kErrorPayloadUrl));
  if (!raw) return std::nullopt;
  nlohmann::json j = nlohmann::json::parse(std::string(*raw), nullptr, false);
  if (!j.is_object() || !j.contains("code") || !j["code"].is_string()) return std::nullopt;
  std::optional<ErrorCode> code = ParseErrorCode(j["code"].get_ref<const std::string&>());
  if (!code) return std::nullopt;
  return Payload{*code, j.value("details", nlohmann::json::object())};
}

}  // namespace

std::optional<ErrorCode> ErrorCodeOf(const absl::Status& status) {
  std::optional<Payload> p = ReadPayload(status);
  if (!p) return std::nullopt;
  return p->code;
}

Error ErrorFromStatus(const absl::Status& status, std::string_view request_id) {
  Error e;
  e.request_id = std::string(request_id);
  e.message = status.ok() ? "no error" : std::string(status.message());
  if (std::optional<Payload> p = ReadPayload(status)) {
    e.code = p->code;
    e.details = std::move(p->details);
  }
  return e;
}

}  // namespace magic
