#include "worker/log_shipper.h"

#include "common/logging.h"

#include <chrono>

namespace magic::worker {
namespace {

using nlohmann::json;

constexpr int64_t kDropLogIntervalMs = 10'000;

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The longest prefix of `text` of at most `max` bytes that does not split a
// UTF-8 sequence.
std::string_view Utf8Prefix(std::string_view text, size_t max) {
  if (text.size() <= max) return text;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
  return text.substr(0, n);
}

}  // namespace

struct KafkaLogShipper::Counters {
  std::atomic<int64_t> in_flight{0};
  std::atomic<int64_t> shipped{0};
  std::atomic<int64_t> dropped{0};
  std::atomic<int64_t> truncated{0};
  std::atomic<int64_t> last_drop_log_ms{-kDropLogIntervalMs};

  // Counts `n` drops and logs the running total at most every 10 s, so a
  // flood of drops is visible without flooding the log itself.
  void Drop(int64_t n, std::string_view why, std::string_view controller) {
    const int64_t total = dropped.fetch_add(n) + n;
    const int64_t now = SteadyMs();
    int64_t last = last_drop_log_ms.load();
    if (now - last < kDropLogIntervalMs || !last_drop_log_ms.compare_exchange_strong(last, now)) {
      return;
    }
    MAGIC_LOG(warn, "controller log lines dropped",
              {{"reason", why}, {"controller", controller}, {"dropped_total", total}});
  }
};

json LogLineJson(const LogLine& line, std::string_view worker_id) {
  json fields = line.record.fields.is_object() ? line.record.fields : json::object();
  if (line.log_fields.is_object()) {
    for (const auto& [k, v] : line.log_fields.items()) {
      if (!fields.contains(k)) fields[k] = v;
    }
  }
  return {{"ts", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", line.ts, absl::UTCTimeZone())},
          {"controller", line.controller},
          {"version", line.version},
          {"request_id", line.record.request_id},
          {"level", line.record.level},
          {"msg", line.record.msg},
          {"fields", std::move(fields)},
          {"worker_id", worker_id}};
}

KafkaLogShipper::KafkaLogShipper(kafka::KafkaProducer& producer, KafkaLogShipperOptions options)
    : producer_(producer), options_(std::move(options)), counters_(std::make_shared<Counters>()) {}

std::string KafkaLogShipper::Serialize(json value, bool& truncated) const {
  truncated = false;
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() <= options_.max_line_bytes) return text;
  // Keep what identifies the line; cut the message, drop the fields.
  truncated = true;
  const std::string msg = value["msg"].get<std::string>();
  value["msg"] = std::string(Utf8Prefix(msg, options_.max_line_bytes / 2));
  value["fields"] = {{"truncated", true}};
  text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  return text.size() <= options_.max_line_bytes ? text : "";
}

bool KafkaLogShipper::Ship(const LogLine& line) {
  Counters& c = *counters_;
  if (c.in_flight.fetch_add(1) >= options_.max_in_flight) {
    c.in_flight.fetch_sub(1);
    c.Drop(1, "too many lines in flight", line.controller);
    return false;
  }
  bool truncated = false;
  const std::string value = Serialize(LogLineJson(line, options_.worker_id), truncated);
  if (value.empty()) {
    c.in_flight.fetch_sub(1);
    c.Drop(1, "line too long", line.controller);
    return false;
  }
  // The callback holds the counters, not the shipper: it may run after the
  // shipper is gone (the producer flushes when destroyed).
  absl::Status queued =
      producer_.Produce({.topic = options_.topic, .key = line.controller, .value = value},
                        [counters = counters_](const kafka::DeliveryReport& report) {
                          counters->in_flight.fetch_sub(1);
                          if (report.status.ok()) {
                            counters->shipped.fetch_add(1);
                          } else {
                            counters->Drop(1, "delivery failed", "");
                          }
                        });
  if (!queued.ok()) {
    c.in_flight.fetch_sub(1);
    c.Drop(1,
           queued.code() == absl::StatusCode::kResourceExhausted ? "producer queue full"
                                                                 : "produce failed",
           line.controller);
    return false;
  }
  if (truncated) c.truncated.fetch_add(1);
  return true;
}

void KafkaLogShipper::CountDropped(std::string_view controller, std::string_view request_id,
                                   int64_t n) {
  if (n <= 0) return;
  counters_->dropped.fetch_add(n);
  MAGIC_LOG(warn, "controller log lines over the per-invocation cap not shipped",
            {{"controller", controller},
             {"request_id", request_id},
             {"dropped", n},
             {"cap", kMaxLogLinesPerInvocation}});
}

LogShipperStats KafkaLogShipper::stats() const {
  return {.shipped = counters_->shipped.load(),
          .dropped = counters_->dropped.load(),
          .truncated = counters_->truncated.load()};
}

InvocationLogShipping::InvocationLogShipping(LogShipper* shipper, std::string_view controller,
                                             std::string_view version, json log_fields,
                                             int max_lines)
    : shipper_(shipper),
      controller_(controller),
      version_(version),
      log_fields_(std::move(log_fields)),
      max_lines_(max_lines) {}

InvocationLogShipping::~InvocationLogShipping() {
  if (shipper_ != nullptr && over_cap_ > 0) {
    shipper_->CountDropped(controller_, request_id_, over_cap_);
  }
}

void InvocationLogShipping::Ship(const LogRecord& record, absl::Time ts) {
  if (shipper_ == nullptr) return;
  if (request_id_.empty()) request_id_ = record.request_id;
  if (lines_ >= max_lines_) {
    ++over_cap_;
    return;
  }
  ++lines_;
  shipper_->Ship({.ts = ts,
                  .controller = controller_,
                  .version = version_,
                  .record = record,
                  .log_fields = log_fields_});
}

}  // namespace magic::worker
