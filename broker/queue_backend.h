// queue:publish on Kafka.
//
//   QueueBackend queue(*producer, policy.queue);
//   queue.Call(ctx, "publish", {{"queue", "order-events"}, {"message", {{"id", 7}}}}, audit);
//
// Operation publish, two forms:
//   {queue, message: any JSON, key?: string, headers?: {string: string}}
//   {queue, messages: [any JSON, ... at most 100], key?, headers?}
// In the batch form `key` and `headers` apply to every message (one key:
// one partition, so the batch stays in order). Result:
//   {"topic": "magic.queue.order-events", "count": n,
//    "offsets": [{"partition": p, "offset": o}, ...]}   (message order)
//
// Queue names and topics: a queue is `[A-Za-z0-9._-]{1,200}` (else E1005)
// and must be listed in the contract's queue:publish `queues` (else E2003).
// It maps to the Kafka topic QueueTopic(policy, queue) = policy.topic_prefix
// + name ("magic.queue.order-events" by default). The backend never creates
// topics: in production they are created by whoever operates Kafka (their
// partition count and retention are decisions for the consumers); a topic
// that does not exist makes the publish fail (E3005, or E3001 when the
// deadline comes first). Tests and `magic dev` create them with
// kafka::EnsureTopics.
//
// Each message's value is its JSON text. Headers: the controller's, plus
// "magic-request-id" and "magic-controller" set by Magic; a controller
// header named "magic-..." (any case) is E1005. A message (value + key +
// headers) larger than policy.max_message_bytes is E2004.
//
// The call returns once Kafka acknowledged every message (idempotent
// producer, acks=all), or at ctx.deadline with E3001 (the messages may
// still be delivered afterwards: at-least-once, never silently lost).
//
// Audit fields: {"queue_name", "message_count"}.
//
// Thread-safe (the producer is). The producer must outlive the backend.
#pragma once

#include "broker/backend.h"
#include "broker/policy.h"
#include "common/clock.h"
#include "common/kafka.h"

#include <cstddef>
#include <string_view>

namespace magic::broker {

class QueueBackend final : public Backend {
 public:
  static constexpr size_t kMaxBatch = 100;
  static constexpr size_t kMaxQueueNameBytes = 200;
  static constexpr size_t kMaxHeaders = 64;

  QueueBackend(kafka::KafkaProducer& producer, const QueuePolicy& policy,
               Clock& clock = RealClockInstance());

  // Backend
  absl::StatusOr<nlohmann::json> Call(const CallContext& ctx, std::string_view op,
                                      const nlohmann::json& params, nlohmann::json& audit) override;

  // [A-Za-z0-9._-]{1,200}
  static bool IsValidQueueName(std::string_view name);

 private:
  kafka::KafkaProducer& producer_;
  const QueuePolicy policy_;
  Clock& clock_;
};

}  // namespace magic::broker
