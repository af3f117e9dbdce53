#include "broker/queue_backend.h"

#include "common/absl_compat.h"
#include "common/errors.h"
#include "common/status_macros.h"

#include <absl/strings/ascii.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace magic::broker {
namespace {

using nlohmann::json;

constexpr std::string_view kReservedHeaderPrefix = "magic-";
constexpr size_t kMaxHeaderNameBytes = 255;
// librdkafka reports every message within message.timeout.ms (30 s); a
// little more so that an infinite deadline still ends.
constexpr absl::Duration kMaxWait = absl::Seconds(35);

absl::Status BadArgument(std::string_view message, const json& details = json::object()) {
  return MakeError(ErrorCode::kE1005, message, details);
}

// A publish request, checked; the views point into the params.
struct Publish {
  std::string_view queue;
  std::vector<std::string> values;  // JSON texts
  std::string_view key;
  std::vector<kafka::HeaderView> headers;  // the controller's, then Magic's
  size_t header_bytes = 0;
};

bool StartsWithReserved(std::string_view name) {
  if (name.size() < kReservedHeaderPrefix.size()) return false;
  for (size_t i = 0; i < kReservedHeaderPrefix.size(); ++i) {
    if (absl::ascii_tolower(static_cast<unsigned char>(name[i])) != kReservedHeaderPrefix[i]) {
      return false;
    }
  }
  return true;
}

absl::Status ParseHeaders(const json& params, Publish& out) {
  auto it = params.find("headers");
  if (it == params.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_object()) return BadArgument("headers must be an object of strings");
  if (it->size() > QueueBackend::kMaxHeaders) {
    return BadArgument(fmt::format("at most {} headers", QueueBackend::kMaxHeaders),
                       {{"headers", it->size()}});
  }
  for (const auto& [name, value] : it->items()) {
    if (name.empty() || name.size() > kMaxHeaderNameBytes) {
      return BadArgument("a header name must be 1 to 255 bytes");
    }
    if (StartsWithReserved(name)) {
      return BadArgument("headers named magic-* are set by Magic", {{"header", name}});
    }
    if (!value.is_string()) return BadArgument("header values must be strings", {{"header", name}});
    const std::string& text = value.get_ref<const std::string&>();
    out.headers.push_back({name, text});
    out.header_bytes += name.size() + text.size();
  }
  return absl::OkStatus();
}

absl::Status ParseValues(const json& params, Publish& out) {
  auto message = params.find("message");
  auto messages = params.find("messages");
  if ((message == params.end()) == (messages == params.end())) {
    return BadArgument("give exactly one of message and messages");
  }
  std::vector<const json*> items;
  if (message != params.end()) {
    items.push_back(&*message);
  } else {
    if (!messages->is_array() || messages->empty()) {
      return BadArgument("messages must be a non-empty array");
    }
    if (messages->size() > QueueBackend::kMaxBatch) {
      return MakeError(ErrorCode::kE2004,
                       fmt::format("at most {} messages per publish", QueueBackend::kMaxBatch),
                       {{"count", messages->size()}, {"max", QueueBackend::kMaxBatch}});
    }
    for (const json& item : *messages) items.push_back(&item);
  }
  out.values.reserve(items.size());
  for (const json* item : items) {
    try {
      out.values.push_back(item->dump());
    } catch (const json::exception&) {
      return BadArgument("a message is not valid JSON text (bad UTF-8)");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Publish> ParsePublish(const json& params) {
  Publish out;
  auto queue = params.find("queue");
  if (queue == params.end() || !queue->is_string()) return BadArgument("queue must be a string");
  out.queue = queue->get_ref<const std::string&>();
  if (!QueueBackend::IsValidQueueName(out.queue)) {
    return BadArgument("a queue name is 1 to 200 of [A-Za-z0-9._-]", {{"queue", out.queue}});
  }
  if (auto key = params.find("key"); key != params.end() && !key->is_null()) {
    if (!key->is_string()) return BadArgument("key must be a string");
    out.key = key->get_ref<const std::string&>();
  }
  MAGIC_RETURN_IF_ERROR(ParseHeaders(params, out));
  MAGIC_RETURN_IF_ERROR(ParseValues(params, out));
  return out;
}

// Delivery reports of one publish; shared with the callbacks, which may
// run after Call() gave up waiting.
struct Deliveries {
  explicit Deliveries(size_t n) : reports(n) {}
  struct Report {
    absl::Status status;
    int32_t partition = -1;
    int64_t offset = -1;
  };
  std::mutex mu;
  std::condition_variable done;
  size_t pending = 0;           // guarded by mu
  std::vector<Report> reports;  // guarded by mu
};

absl::Status PublishFailed(std::string_view queue, const absl::Status& cause) {
  if (ErrorCodeOf(cause)) return cause;  // E3004 queue full
  const bool too_large = cause.message().find("MSG_SIZE_TOO_LARGE") != absl::string_view::npos;
  return MakeError(too_large ? ErrorCode::kE2004 : ErrorCode::kE3005,
                   fmt::format("publish to queue {} failed: {}", queue, FromAbsl(cause.message())),
                   {{"queue", queue}});
}

}  // namespace

QueueBackend::QueueBackend(kafka::KafkaProducer& producer, const QueuePolicy& policy, Clock& clock)
    : producer_(producer), policy_(policy), clock_(clock) {}

bool QueueBackend::IsValidQueueName(std::string_view name) {
  if (name.empty() || name.size() > kMaxQueueNameBytes) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

absl::StatusOr<json> QueueBackend::Call(const CallContext& ctx, std::string_view op,
                                        const json& params, json& audit) {
  if (op != "publish" || ctx.declared == nullptr) {
    return BadArgument(fmt::format("unknown queue operation '{}'", op), {{"operation", op}});
  }
  if (!params.is_object()) return BadArgument("the arguments must be an object");
  if (auto q = params.find("queue"); q != params.end() && q->is_string()) audit["queue_name"] = *q;
  if (auto m = params.find("messages"); m != params.end() && m->is_array()) {
    audit["message_count"] = m->size();
  } else {
    audit["message_count"] = 1;
  }
  MAGIC_ASSIGN_OR_RETURN(Publish publish, ParsePublish(params));
  if (!ctx.declared->AllowsQueue(publish.queue)) {
    return MakeError(ErrorCode::kE2003, "the queue is not declared in the contract",
                     {{"queue", publish.queue}});
  }
  publish.headers.push_back({"magic-request-id", ctx.request_id});
  publish.headers.push_back({"magic-controller", ctx.controller});
  const size_t overhead =
      publish.key.size() + publish.header_bytes + ctx.request_id.size() + ctx.controller.size();
  for (const std::string& value : publish.values) {
    if (static_cast<int64_t>(value.size() + overhead) > policy_.max_message_bytes) {
      return MakeError(
          ErrorCode::kE2004, "the message is too large",
          {{"bytes", value.size() + overhead}, {"max_message_bytes", policy_.max_message_bytes}});
    }
  }
  if (clock_.Now() >= ctx.deadline) {
    return MakeError(ErrorCode::kE3001, "the invocation deadline passed before the publish");
  }

  const std::string topic = QueueTopic(policy_, publish.queue);
  auto deliveries = std::make_shared<Deliveries>(publish.values.size());
  size_t queued = 0;
  absl::Status produce_error;
  for (const std::string& value : publish.values) {
    {
      std::lock_guard lock(deliveries->mu);
      ++deliveries->pending;
    }
    const size_t index = queued;
    produce_error = producer_.Produce(
        {.topic = topic, .key = publish.key, .value = value, .headers = publish.headers},
        [deliveries, index](const kafka::DeliveryReport& report) {
          std::lock_guard lock(deliveries->mu);
          deliveries->reports[index] = {report.status, report.partition, report.offset};
          --deliveries->pending;
          deliveries->done.notify_all();
        });
    if (!produce_error.ok()) {
      std::lock_guard lock(deliveries->mu);
      --deliveries->pending;  // this one never calls back
      break;
    }
    ++queued;
  }

  std::unique_lock lock(deliveries->mu);
  const absl::Duration wait = std::min(ctx.deadline - clock_.Now(), kMaxWait);
  const bool all_reported = deliveries->done.wait_for(
      lock, absl::ToChronoNanoseconds(std::max(wait, absl::ZeroDuration())),
      [&] { return deliveries->pending == 0; });
  if (!produce_error.ok()) return PublishFailed(publish.queue, produce_error);
  if (!all_reported) {
    return MakeError(ErrorCode::kE3001, "Kafka did not acknowledge the publish before the deadline",
                     {{"queue", publish.queue}, {"unacknowledged", deliveries->pending}});
  }
  json offsets = json::array();
  for (const Deliveries::Report& report : deliveries->reports) {
    if (!report.status.ok()) return PublishFailed(publish.queue, report.status);
    offsets.push_back({{"partition", report.partition}, {"offset", report.offset}});
  }
  return json{{"topic", topic}, {"count", publish.values.size()}, {"offsets", std::move(offsets)}};
}

}  // namespace magic::broker
