#include "worker/internal/protocol.h"

#include "common/errors.h"

#include <fmt/format.h>

#include <cmath>

namespace magic::worker::internal {
namespace {

using nlohmann::json;

constexpr size_t kMaxFieldsBytes = 16 << 10;
constexpr size_t kMaxDetailsBytes = 64 << 10;
constexpr size_t kMaxNameBytes = 200;
constexpr size_t kMaxLabels = 32;

absl::Status Violation(std::string_view what) {
  return absl::InvalidArgumentError(fmt::format("protocol violation: {}", what));
}

// The string member `key`, or `fallback` when absent or not a string.
std::string StringOr(const json& frame, const char* key, std::string fallback = "") {
  auto it = frame.find(key);
  return it != frame.end() && it->is_string() ? it->get<std::string>() : std::move(fallback);
}

bool IsIdentifier(std::string_view s, size_t max_len, bool allow_colon) {
  if (s.empty() || s.size() > max_len) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || (allow_colon && c == ':');
    if (!ok) return false;
  }
  return !(s[0] >= '0' && s[0] <= '9');
}

// `value` if it is an object whose serialised form fits `max_bytes`.
json BoundedObject(const json* value, size_t max_bytes) {
  if (value == nullptr || !value->is_object()) return json::object();
  if (value->dump(-1, ' ', false, json::error_handler_t::replace).size() > max_bytes) {
    return {{"truncated", true}};
  }
  return *value;
}

const json* Member(const json& frame, const char* key) {
  auto it = frame.find(key);
  return it == frame.end() ? nullptr : &*it;
}

absl::StatusOr<RunnerMessage> ParseLog(const json& frame) {
  LogRecord record;
  record.level = StringOr(frame, "level", "info");
  if (record.level != "debug" && record.level != "info" && record.level != "warning" &&
      record.level != "error") {
    record.level = "info";
  }
  const json* msg = Member(frame, "msg");
  record.msg =
      Truncate(msg == nullptr     ? std::string()
               : msg->is_string() ? msg->get<std::string>()
                                  : msg->dump(-1, ' ', false, json::error_handler_t::replace),
               kMaxLogMessageBytes);
  record.fields = BoundedObject(Member(frame, "fields"), kMaxFieldsBytes);
  return RunnerMessage(std::move(record));
}

absl::StatusOr<RunnerMessage> ParseMetric(const json& frame) {
  MetricRecord record;
  record.name = StringOr(frame, "name");
  if (!IsIdentifier(record.name, kMaxNameBytes, /*allow_colon=*/true)) {
    return Violation("metric name");
  }
  record.kind = StringOr(frame, "kind");
  if (record.kind != "counter" && record.kind != "gauge" && record.kind != "histogram") {
    return Violation("metric kind");
  }
  const json* value = Member(frame, "value");
  if (value == nullptr || !value->is_number() || !std::isfinite(value->get<double>())) {
    return Violation("metric value");
  }
  record.value = value->get<double>();
  const json* labels = Member(frame, "labels");
  if (labels != nullptr && labels->is_object() && labels->size() <= kMaxLabels) {
    for (const auto& [key, label] : labels->items()) {
      if (!label.is_string() || !IsIdentifier(key, kMaxNameBytes, false)) {
        return Violation("metric labels");
      }
      record.labels[key] = Truncate(label.get<std::string>(), 256);
    }
  } else if (labels != nullptr && !labels->is_null()) {
    return Violation("metric labels");
  }
  return RunnerMessage(std::move(record));
}

absl::StatusOr<RunnerMessage> ParseCall(const json& frame) {
  CallMessage message;
  const json* seq = Member(frame, "seq");
  if (seq == nullptr || !seq->is_number_integer() || seq->get<int64_t>() <= 0) {
    return Violation("call seq");
  }
  message.seq = seq->get<int64_t>();
  message.call.capability = StringOr(frame, "capability");
  message.call.op = StringOr(frame, "op");
  if (!IsIdentifier(message.call.capability, 64, false) ||
      !IsIdentifier(message.call.op, 64, false)) {
    return Violation("call capability/op");
  }
  const json* args = Member(frame, "args");
  if (args != nullptr && args->is_object()) {
    message.call.args = *args;
  } else if (args != nullptr && !args->is_null()) {
    return Violation("call args");
  }
  return RunnerMessage(std::move(message));
}

bool ControllerMayRaise(ErrorCode code) {
  switch (code) {
    case ErrorCode::kE1003:
    case ErrorCode::kE1004:
    case ErrorCode::kE2001:
    case ErrorCode::kE2002:
    case ErrorCode::kE2003:
    case ErrorCode::kE2004:
    case ErrorCode::kE3001:
    case ErrorCode::kE3002:
    case ErrorCode::kE3003:
    case ErrorCode::kE3004:
    case ErrorCode::kE4001:
      return true;
    default:
      return false;
  }
}

}  // namespace

std::string Truncate(std::string text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  size_t cut = max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  text.resize(cut);
  return text;
}

json MakeLoadFrame(const ControllerBundle& bundle, bool rlimit_memory) {
  json limits = {{"memory_bytes", bundle.limits.memory_bytes}};
  if (rlimit_memory) limits["rlimit_as_bytes"] = bundle.limits.memory_bytes;
  return {{"type", "load"},
          {"files", bundle.files},
          {"entry", bundle.entry_module},
          {"limits", std::move(limits)}};
}

json MakeInvokeFrame(const Invocation& invocation) {
  return {{"type", "invoke"},
          {"request_id", invocation.request_id},
          {"input", invocation.input},
          {"deadline_ms", absl::ToInt64Milliseconds(invocation.timeout)}};
}

json MakeReplyFrame(int64_t seq, const absl::StatusOr<json>& result) {
  if (result.ok()) return {{"type", "reply"}, {"seq", seq}, {"result", *result}};
  const Error error = ErrorFromStatus(result.status());
  json body = {{"code", std::string(error.info().id)},
               {"message", error.message.empty() ? std::string(error.info().title) : error.message},
               {"details", error.details.is_object() ? error.details : json::object()}};
  return {{"type", "reply"}, {"seq", seq}, {"error", std::move(body)}};
}

absl::Status StatusFromErrorFrame(const json& frame) {
  const std::string raised = Truncate(StringOr(frame, "code"), 16);
  std::optional<ErrorCode> code = ParseErrorCode(raised);
  json details = BoundedObject(Member(frame, "details"), kMaxDetailsBytes);
  if (!code || !ControllerMayRaise(*code)) {
    code = ErrorCode::kE3003;
    details["raised_code"] = raised;
  }
  const std::string traceback = StringOr(frame, "traceback");
  if (!traceback.empty()) details["traceback"] = Truncate(traceback, kMaxTracebackBytes);
  return MakeError(*code, Truncate(StringOr(frame, "message"), kMaxErrorMessageBytes), details);
}

absl::StatusOr<RunnerMessage> ParseRunnerMessage(json frame) {
  const std::string type = StringOr(frame, "type");
  if (type == "log") return ParseLog(frame);
  if (type == "metric") {
    // A bad metric is the controller's mistake, not a broken runner: drop it.
    absl::StatusOr<RunnerMessage> metric = ParseMetric(frame);
    if (metric.ok()) return metric;
    return RunnerMessage(LogRecord{"",
                                   "warning",
                                   "dropped an invalid metric",
                                   {{"reason", std::string(metric.status().message())},
                                    {"metric", Truncate(StringOr(frame, "name"), 200)}}});
  }
  if (type == "call") return ParseCall(frame);
  if (type == "result") {
    auto it = frame.find("output");
    if (it == frame.end()) return Violation("result without output");
    return RunnerMessage(ResultMessage{std::move(*it)});
  }
  if (type == "error") return RunnerMessage(ErrorMessage{StatusFromErrorFrame(frame)});
  if (type == "ready") return RunnerMessage(ReadyMessage{Truncate(StringOr(frame, "python"), 64)});
  if (type == "loaded") {
    return RunnerMessage(LoadedMessage{Truncate(StringOr(frame, "kind"), 16),
                                       Truncate(StringOr(frame, "name"), 200)});
  }
  return Violation(fmt::format("unknown frame type '{}'", Truncate(type, 32)));
}

}  // namespace magic::worker::internal
