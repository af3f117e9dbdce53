// Log shipping: every controller log line (the sandbox's `log` frames) goes
// to the `magic.logs` topic as one JSON object, keyed by the controller name
// (one controller's lines stay ordered within their partition), so that
// `magic logs NAME [--follow]` can read them from any machine:
//
//   {"ts": "2025-01-02T03:04:05.678Z", "controller": "VisitCounter",
//    "version": "0.1.0", "request_id": "req_...", "level": "info",
//    "msg": "visit counted", "fields": {"page": "home"}, "worker_id": "wk_..."}
//
// Shipping never blocks an invocation: Produce() only queues, and when the
// shipper's own in-flight budget or the producer's queue is full the line is
// dropped. Bounded: at most kMaxLogLinesPerInvocation lines per invocation
// (the same cap as the result's log_lines) and max_line_bytes per line (a
// longer line is shipped with its msg cut and its fields dropped, marked
// "truncated": true). Every drop is counted (stats()) and logged (rate
// limited), never silent.
//
// Thread-safe: Ship() runs on every executor thread at once.
#pragma once

#include "common/kafka.h"
#include "worker/sandbox.h"

#include <absl/time/time.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace magic::worker {

// Lines per invocation kept in the result's log_lines and shipped.
inline constexpr int kMaxLogLinesPerInvocation = 200;

// One controller log line, as the executor sees it.
struct LogLine {
  absl::Time ts;
  std::string_view controller;
  std::string_view version;
  const LogRecord& record;           // request_id, level, msg, fields
  const nlohmann::json& log_fields;  // the contract's log_fields from the input
};

class LogShipper {
 public:
  virtual ~LogShipper() = default;
  // Queues one line; never blocks. False when it was dropped (counted).
  virtual bool Ship(const LogLine& line) = 0;
  // Counts `n` lines the caller dropped before Ship() (the per-invocation
  // cap), so that stats() tell the whole story.
  virtual void CountDropped(std::string_view controller, std::string_view request_id,
                            int64_t n) = 0;
};

// The JSON object of `line` on magic.logs (fields: the record's fields,
// then the log_fields the record does not set).
nlohmann::json LogLineJson(const LogLine& line, std::string_view worker_id);

struct KafkaLogShipperOptions {
  std::string topic = "magic.logs";
  std::string worker_id;
  // Serialized line, bytes; longer lines are cut (see above).
  size_t max_line_bytes = 16 * 1024;
  // Lines queued in the producer and not yet delivered; beyond, lines are
  // dropped so that logs can never crowd results out of a shared producer.
  int64_t max_in_flight = 10'000;
};

struct LogShipperStats {
  int64_t shipped = 0;    // delivered
  int64_t dropped = 0;    // over a cap, queue full or delivery failed
  int64_t truncated = 0;  // shipped cut to max_line_bytes
};

// Ships through `producer` (borrowed; it must outlive the shipper's
// in-flight lines: delivery callbacks hold only the shipper's shared
// counters, so destroying the shipper first is safe).
class KafkaLogShipper final : public LogShipper {
 public:
  KafkaLogShipper(kafka::KafkaProducer& producer, KafkaLogShipperOptions options);

  // LogShipper
  bool Ship(const LogLine& line) override;
  void CountDropped(std::string_view controller, std::string_view request_id, int64_t n) override;

  LogShipperStats stats() const;

 private:
  struct Counters;
  // Fits `value` into max_line_bytes; "" when even the cut line does not.
  std::string Serialize(nlohmann::json value, bool& truncated) const;

  kafka::KafkaProducer& producer_;
  const KafkaLogShipperOptions options_;
  std::shared_ptr<Counters> counters_;
};

// One invocation's view: applies the per-invocation cap and reports the
// lines it dropped (once, when destroyed). Not thread-safe (one invocation
// runs on one thread). A null shipper ships nothing.
class InvocationLogShipping {
 public:
  InvocationLogShipping(LogShipper* shipper, std::string_view controller, std::string_view version,
                        nlohmann::json log_fields, int max_lines = kMaxLogLinesPerInvocation);
  InvocationLogShipping(const InvocationLogShipping&) = delete;
  InvocationLogShipping& operator=(const InvocationLogShipping&) = delete;
  ~InvocationLogShipping();

  void Ship(const LogRecord& record, absl::Time ts);

 private:
  LogShipper* const shipper_;
  const std::string controller_;
  const std::string version_;
  const nlohmann::json log_fields_;
  const int max_lines_;
  int lines_ = 0;
  int64_t over_cap_ = 0;
  std::string request_id_;
};

}  // namespace magic::worker
