#include "gateway/kafka_transport.h"

#include "common/errors.h"
#include "common/logging.h"
#include "common/topics.h"

namespace magic::gateway {

KafkaJobSink::KafkaJobSink(kafka::KafkaProducer& producer, std::string jobs_topic,
                           std::string cancellations_topic)
    : producer_(producer),
      jobs_topic_(std::move(jobs_topic)),
      cancellations_topic_(std::move(cancellations_topic)) {}

void KafkaJobSink::Send(const magic::v1::InvocationJob& job,
                        std::function<void(absl::Status)> done) {
  const std::string value = job.SerializeAsString();
  absl::Status queued = producer_.Produce(
      {.topic = jobs_topic_, .key = job.controller(), .value = value},
      [done](const kafka::DeliveryReport& report) {
        done(report.status.ok() ? absl::OkStatus()
                                : MakeError(ErrorCode::kE3005, "the job could not be queued",
                                            {{"kafka", std::string(report.status.message())}}));
      });
  if (!queued.ok()) {
    done(queued.code() == absl::StatusCode::kResourceExhausted
             ? MakeError(ErrorCode::kE3004, "the gateway's job queue is full; retry later")
             : MakeError(ErrorCode::kE3005, "the job could not be queued",
                         {{"kafka", std::string(queued.message())}}));
  }
}

void KafkaJobSink::SendCancel(const std::string& request_id,
                              std::function<void(absl::Status)> done) {
  absl::Status queued =
      producer_.Produce({.topic = cancellations_topic_, .key = request_id, .value = request_id},
                        [done](const kafka::DeliveryReport& report) { done(report.status); });
  if (!queued.ok()) done(queued);
}

ReplyListener::ReplyListener(const kafka::KafkaConfig& config, std::string reply_topic,
                             ReplyRouter& router)
    : config_(config), reply_topic_(std::move(reply_topic)), router_(router) {}

ReplyListener::~ReplyListener() { Stop(); }

absl::Status ReplyListener::Start() {
  auto consumer = kafka::MakeKafkaConsumer(config_, {});
  if (!consumer.ok()) return consumer.status();
  consumer_ = *std::move(consumer);
  absl::Status assigned =
      consumer_->AssignAll(reply_topic_, kafka::StartAt::kEnd, std::chrono::seconds(30));
  if (!assigned.ok()) return assigned;
  thread_ = std::thread([this] { Loop(); });
  return absl::OkStatus();
}

void ReplyListener::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (consumer_) consumer_->Close();
}

void ReplyListener::Loop() {
  while (!stop_) {
    absl::StatusOr<std::optional<kafka::KafkaMessage>> polled =
        consumer_->Poll(std::chrono::milliseconds(100));
    if (!polled.ok()) {
      MAGIC_LOG(err, "reply consumer failed", {{"error", std::string(polled.status().message())}});
      return;
    }
    if (!polled->has_value()) continue;
    magic::v1::InvocationResult result;
    const std::string_view value = (*polled)->value();
    if (!result.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
      ++malformed_;
      continue;
    }
    router_.Deliver(std::move(result));
  }
}

}  // namespace magic::gateway
