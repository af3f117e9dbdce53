// The gateway's Kafka side: KafkaJobSink produces jobs (key = controller)
// and cancellations; ReplyListener reads this gateway's reply topic and
// hands each result to the ReplyRouter.
//
// Threads: KafkaJobSink has none of its own (delivery callbacks run on the
// producer's poll thread). ReplyListener owns one thread, from Start() to
// Stop() (or destruction).
#pragma once

#include "common/kafka.h"
#include "gateway/invocation_service.h"
#include "gateway/reply_router.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>

namespace magic::gateway {

class KafkaJobSink final : public JobSink {
 public:
  // Borrows `producer`.
  KafkaJobSink(kafka::KafkaProducer& producer, std::string jobs_topic,
               std::string cancellations_topic);

  // JobSink
  void Send(const magic::v1::InvocationJob& job, std::function<void(absl::Status)> done) override;
  void SendCancel(const std::string& request_id, std::function<void(absl::Status)> done) override;

 private:
  kafka::KafkaProducer& producer_;
  const std::string jobs_topic_;
  const std::string cancellations_topic_;
};

class ReplyListener {
 public:
  ReplyListener(const kafka::KafkaConfig& config, std::string reply_topic, ReplyRouter& router);
  ~ReplyListener();
  ReplyListener(const ReplyListener&) = delete;
  ReplyListener& operator=(const ReplyListener&) = delete;

  // Assigns the reply topic at its end (every reply produced after Start()
  // returns is seen) and starts the thread.
  absl::Status Start();
  void Stop();
  uint64_t malformed() const { return malformed_; }

 private:
  void Loop();

  const kafka::KafkaConfig config_;
  const std::string reply_topic_;
  ReplyRouter& router_;
  std::unique_ptr<kafka::KafkaConsumer> consumer_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> malformed_{0};
  std::thread thread_;
};

}  // namespace magic::gateway
