// The Magic error catalog (DESIGN.md "Errors"): the 25 E-codes, their
// category, HTTP status and gRPC code, and the one JSON error shape every
// component emits:
//
//   {"error": {"code", "category", "message", "details", "request_id"}}
//
// Errors travel between our layers as absl::Status. MakeError() builds a
// Status whose canonical code is the catalog's gRPC code and whose payload
// carries the E-code and details; ErrorFromStatus() recovers them (a Status
// without a payload becomes E3005 with the Status message).
#pragma once

#include <absl/status/status.h>
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace magic {

enum class ErrorCode {
  kE1001,  // contract file unreadable or not YAML/JSON
  kE1002,  // contract breaks the contract schema
  kE1003,  // input validation failed
  kE1004,  // output validation failed
  kE1005,  // request malformed or too large
  kE2001,  // capability not declared
  kE2002,  // capability denied by environment policy
  kE2003,  // resource outside the declared allowlist
  kE2004,  // capability limit exceeded
  kE2005,  // grant invalid, expired or replayed
  kE3001,  // timeout
  kE3002,  // memory limit exceeded
  kE3003,  // unhandled exception in the controller
  kE3004,  // concurrency or rate limit reached
  kE3005,  // sandbox or worker failure
  kE4001,  // bundle invalid
  kE4002,  // version already deployed
  kE4003,  // controller or version not found
  kE4004,  // rollback target not found
  kE4005,  // deployment storage failure
  kE5001,  // credentials missing
  kE5002,  // credentials invalid
  kE5003,  // scope does not allow this call
  kE5004,  // credentials expired or revoked
  kE5005,  // tenant or namespace access denied
};

inline constexpr int kErrorCodeCount = 25;

enum class ErrorCategory { kContract, kCapability, kExecution, kDeployment, kAuth };

// One row of the catalog. All strings are static.
struct ErrorInfo {
  ErrorCode code;
  std::string_view id;  // "E1003"
  ErrorCategory category;
  std::string_view title;       // "input validation failed"
  std::string_view resolution;  // what the caller can do about it
  int http_status;              // 400
  absl::StatusCode grpc_code;   // numerically equal to grpc::StatusCode
};

// The catalog row for `code`. Never fails.
const ErrorInfo& Describe(ErrorCode code);
// All 25 rows, in code order.
const ErrorInfo* Catalog();
// "E1003" -> kE1003; nullopt for anything else.
std::optional<ErrorCode> ParseErrorCode(std::string_view id);
// "CONTRACT", "CAPABILITY", "EXECUTION", "DEPLOYMENT", "AUTH".
std::string_view CategoryName(ErrorCategory category);

// A user-facing error: what goes into the JSON error shape.
struct Error {
  ErrorCode code = ErrorCode::kE3005;
  std::string message;
  nlohmann::json details = nlohmann::json::object();
  std::string request_id;

  const ErrorInfo& info() const { return Describe(code); }
  // {"error": {...}} exactly as DESIGN.md gives it. `details` is omitted
  // when empty, `request_id` when unknown.
  nlohmann::json ToJson() const;
  // Inverse of ToJson(); nullopt if `j` is not an error document.
  static std::optional<Error> FromJson(const nlohmann::json& j);
};

// The Status payload URL under which MakeError() stores the E-code.
inline constexpr std::string_view kErrorPayloadUrl = "type.magic.dev/magic.v1.Error";

// A Status with the catalog's canonical code for `code`, `message`, and a
// payload carrying the E-code and `details`.
absl::Status MakeError(ErrorCode code, std::string_view message,
                       const nlohmann::json& details = nlohmann::json::object());

// The E-code and details stored by MakeError(); a Status without payload maps
// to E3005 (our own failure, never blamed on the caller). `request_id` is
// copied into the result.
Error ErrorFromStatus(const absl::Status& status, std::string_view request_id = {});

// The E-code of `status`, if it carries one.
std::optional<ErrorCode> ErrorCodeOf(const absl::Status& status);

}  // namespace magic
