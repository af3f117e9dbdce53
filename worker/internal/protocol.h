// The messages of the worker <-> runner protocol (worker/README.md), built
// and checked here so the runner code deals in typed values only.
//
// Worker -> runner frames are built from our own data. Runner -> worker
// frames are hostile: ParseRunnerMessage() checks every member's type,
// bounds every string, maps error codes through an allowlist and never
// throws. A frame it rejects is a protocol violation (the runner is killed);
// only an invalid metric is merely dropped (it becomes a warning log record).
#pragma once

#include "worker/sandbox.h"

#include <absl/status/status.h>
#include <absl/status/statusor.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <variant>

namespace magic::worker::internal {

inline constexpr size_t kMaxLogMessageBytes = 8 << 10;
inline constexpr size_t kMaxErrorMessageBytes = 4 << 10;
inline constexpr size_t kMaxTracebackBytes = 64 << 10;

nlohmann::json MakeLoadFrame(const ControllerBundle& bundle, bool rlimit_memory);
nlohmann::json MakeInvokeFrame(const Invocation& invocation);
nlohmann::json MakeReplyFrame(int64_t seq, const absl::StatusOr<nlohmann::json>& result);

struct ReadyMessage {
  std::string python;
};
struct LoadedMessage {
  std::string kind;  // "class" or "function"
  std::string name;
};
struct CallMessage {
  int64_t seq = 0;
  CapabilityCall call;  // request_id left empty
};
struct ResultMessage {
  nlohmann::json output;
};
struct ErrorMessage {
  absl::Status status;  // always an error with an E-code
};

using RunnerMessage = std::variant<ReadyMessage, LoadedMessage, LogRecord, MetricRecord,
                                   CallMessage, ResultMessage, ErrorMessage>;

// InvalidArgument (with a reason) if the frame breaks the protocol.
absl::StatusOr<RunnerMessage> ParseRunnerMessage(nlohmann::json frame);

// The Status for a runner "error" frame: codes a controller may raise
// (E1003, E1004, E2001-E2004, E3001-E3004, E4001) pass; any other code
// becomes E3003 (the original is kept in details.raised_code). The
// traceback goes to details.traceback.
absl::Status StatusFromErrorFrame(const nlohmann::json& frame);

// `text` cut to at most `max_bytes` without splitting a UTF-8 sequence.
std::string Truncate(std::string text, size_t max_bytes);

}  // namespace magic::worker::internal
