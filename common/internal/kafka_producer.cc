// KafkaProducer over librdkafka: one handle, one poll thread serving
// delivery reports. Each message carries its DeliveryCallback as the
// per-message opaque; the report callback runs and frees it.
#include "common/internal/kafka_conf.h"
#include "common/kafka.h"
#include "common/logging.h"
#include "common/status_macros.h"

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <utility>

namespace magic::kafka::internal {
namespace {

constexpr std::chrono::milliseconds kPollInterval{100};
constexpr std::chrono::milliseconds kDestroyFlush{5000};
constexpr std::chrono::milliseconds kMetadataTimeout{5000};

void OnDelivery(rd_kafka_t* /*rk*/, const rd_kafka_message_t* msg, void* /*opaque*/) {
  auto* callback = static_cast<DeliveryCallback*>(msg->_private);
  if (callback == nullptr) {
    if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      MAGIC_LOG(warn, "kafka delivery failed",
                {{"topic", rd_kafka_topic_name(msg->rkt)}, {"error", rd_kafka_err2name(msg->err)}});
    }
    return;
  }
  DeliveryReport report;
  report.status = StatusFromError(msg->err, "kafka delivery");
  report.topic = rd_kafka_topic_name(msg->rkt);
  report.partition = msg->partition;
  report.offset = msg->offset;
  (*callback)(report);
  delete callback;  // NOLINT(cppcoreguidelines-owning-memory): owned by the message
}

rd_kafka_headers_t* ToHeaders(const std::vector<HeaderView>& headers) {
  if (headers.empty()) return nullptr;
  rd_kafka_headers_t* hdrs = rd_kafka_headers_new(headers.size());
  for (const HeaderView& h : headers) {
    rd_kafka_header_add(hdrs, h.key.data(), static_cast<ssize_t>(h.key.size()), h.value.data(),
                        static_cast<ssize_t>(h.value.size()));
  }
  return hdrs;
}

class RdKafkaProducer final : public KafkaProducer {
 public:
  explicit RdKafkaProducer(HandlePtr rk) : rk_(std::move(rk)) {
    poller_ = std::thread([this] { PollLoop(); });
    metadata_ = std::thread([this] { MetadataLoop(); });
  }
  RdKafkaProducer(const RdKafkaProducer&) = delete;
  RdKafkaProducer& operator=(const RdKafkaProducer&) = delete;
  ~RdKafkaProducer() override;

  // KafkaProducer
  absl::Status Produce(const ProducerRecord& record, DeliveryCallback on_delivery) override;
  absl::Status Flush(std::chrono::milliseconds timeout) override;
  int64_t InFlight() const override { return rd_kafka_outq_len(rk_.get()); }
  std::optional<std::string> ConfigValue(std::string_view name) const override {
    return ConfValue(rk_.get(), name);
  }

 private:
  void PollLoop();
  // librdkafka 2.0 asks for the metadata of a topic new to this handle only
  // at its next 1 s scan, so the first message to it waits up to a second
  // (a worker's first reply to a new gateway). A helper thread asks at once.
  void LearnTopic(const std::string& topic);
  void MetadataLoop();
  void FetchMetadata(const std::string& topic);

  HandlePtr rk_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable wake_;
  std::unordered_set<std::string> known_topics_;  // guarded by mu_
  std::vector<std::string> unknown_topics_;       // guarded by mu_
  bool stopping_ = false;                         // guarded by mu_
  std::thread poller_;
  std::thread metadata_;
};

void RdKafkaProducer::PollLoop() {
  while (!stop_.load(std::memory_order_acquire)) {
    rd_kafka_poll(rk_.get(), static_cast<int>(kPollInterval.count()));
  }
}

void RdKafkaProducer::LearnTopic(const std::string& topic) {
  {
    std::lock_guard lock(mu_);
    if (!known_topics_.insert(topic).second) return;
    unknown_topics_.push_back(topic);
  }
  wake_.notify_one();
}

void RdKafkaProducer::MetadataLoop() {
  std::unique_lock lock(mu_);
  while (true) {
    wake_.wait(lock, [this] { return stopping_ || !unknown_topics_.empty(); });
    if (stopping_) return;
    std::vector<std::string> topics;
    topics.swap(unknown_topics_);
    lock.unlock();
    for (const std::string& topic : topics) FetchMetadata(topic);
    lock.lock();
  }
}

void RdKafkaProducer::FetchMetadata(const std::string& topic) {
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk_.get(), topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  const rd_kafka_resp_err_t err =
      rd_kafka_metadata(rk_.get(), 0, rkt, &md, static_cast<int>(kMetadataTimeout.count()));
  if (md != nullptr) rd_kafka_metadata_destroy(md);
  rd_kafka_topic_destroy(rkt);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    MAGIC_LOG(debug, "kafka producer: metadata",
              {{"topic", topic}, {"error", rd_kafka_err2name(err)}});
  }
}

RdKafkaProducer::~RdKafkaProducer() {
  const rd_kafka_resp_err_t err =
      rd_kafka_flush(rk_.get(), static_cast<int>(kDestroyFlush.count()));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    MAGIC_LOG(warn, "kafka producer destroyed with undelivered messages",
              {{"count", rd_kafka_outq_len(rk_.get())}});
    rd_kafka_purge(rk_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  }
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_one();
  metadata_.join();
  stop_.store(true, std::memory_order_release);
  rd_kafka_yield(rk_.get());
  poller_.join();
  rd_kafka_flush(rk_.get(), 1000);  // purged messages: run (and free) their callbacks
}

absl::Status RdKafkaProducer::Produce(const ProducerRecord& record, DeliveryCallback on_delivery) {
  auto* callback = on_delivery ? new DeliveryCallback(std::move(on_delivery)) : nullptr;
  rd_kafka_headers_t* headers = ToHeaders(record.headers);
  const std::string topic(record.topic);
  std::array<rd_kafka_vu_t, 7> vus{};
  size_t n = 0;
  const auto add = [&vus, &n](rd_kafka_vtype_t type) -> rd_kafka_vu_t& {
    vus[n].vtype = type;
    return vus[n++];
  };
  add(RD_KAFKA_VTYPE_TOPIC).u.cstr = topic.c_str();
  add(RD_KAFKA_VTYPE_PARTITION).u.i32 = record.partition;
  add(RD_KAFKA_VTYPE_MSGFLAGS).u.i = RD_KAFKA_MSG_F_COPY;
  if (!record.key.empty()) {  // empty: no key
    add(RD_KAFKA_VTYPE_KEY).u.mem = {const_cast<char*>(record.key.data()), record.key.size()};
  }
  add(RD_KAFKA_VTYPE_VALUE).u.mem = {const_cast<char*>(record.value.data()), record.value.size()};
  if (headers != nullptr) add(RD_KAFKA_VTYPE_HEADERS).u.headers = headers;
  add(RD_KAFKA_VTYPE_OPAQUE).u.ptr = callback;
  rd_kafka_error_t* error = rd_kafka_produceva(rk_.get(), vus.data(), n);
  if (error == nullptr) {
    LearnTopic(topic);
    return absl::OkStatus();
  }
  const rd_kafka_resp_err_t err = rd_kafka_error_code(error);
  rd_kafka_error_destroy(error);
  if (headers != nullptr) rd_kafka_headers_destroy(headers);  // not taken on failure
  delete callback;  // NOLINT(cppcoreguidelines-owning-memory)
  if (err == RD_KAFKA_RESP_ERR__FATAL) return FatalStatus(rk_.get());
  return StatusFromError(err, fmt::format("kafka produce to {}", record.topic));
}

absl::Status RdKafkaProducer::Flush(std::chrono::milliseconds timeout) {
  const rd_kafka_resp_err_t err = rd_kafka_flush(rk_.get(), static_cast<int>(timeout.count()));
  if (err == RD_KAFKA_RESP_ERR__TIMED_OUT) {
    return absl::DeadlineExceededError(fmt::format(
        "kafka flush: {} messages still queued after {} ms", InFlight(), timeout.count()));
  }
  return StatusFromError(err, "kafka flush");
}

}  // namespace
}  // namespace magic::kafka::internal

namespace magic::kafka {

absl::StatusOr<std::unique_ptr<KafkaProducer>> MakeKafkaProducer(const KafkaConfig& config) {
  MAGIC_ASSIGN_OR_RETURN(internal::ConfPtr conf,
                         internal::BuildConf(config, internal::ClientKind::kProducer));
  rd_kafka_conf_set_dr_msg_cb(conf.get(), &internal::OnDelivery);
  MAGIC_ASSIGN_OR_RETURN(internal::HandlePtr rk,
                         internal::NewHandle(RD_KAFKA_PRODUCER, std::move(conf)));
  return std::make_unique<internal::RdKafkaProducer>(std::move(rk));
}

absl::Status ProduceAll(KafkaProducer& producer, const std::vector<ProducerRecord>& records,
                        std::chrono::milliseconds timeout) {
  // Shared with the delivery callbacks, which may run after we gave up.
  struct Acks {
    std::mutex mu;
    std::condition_variable cv;
    size_t pending = 0;
    absl::Status first_error;
  };
  auto acks = std::make_shared<Acks>();
  acks->pending = records.size();
  auto settle = [acks](const absl::Status& status) {
    std::lock_guard<std::mutex> lock(acks->mu);
    if (!status.ok() && acks->first_error.ok()) acks->first_error = status;
    if (--acks->pending == 0) acks->cv.notify_all();
  };
  for (const ProducerRecord& record : records) {
    absl::Status queued =
        producer.Produce(record, [settle](const DeliveryReport& report) { settle(report.status); });
    if (!queued.ok()) settle(queued);
  }
  std::unique_lock<std::mutex> lock(acks->mu);
  if (!acks->cv.wait_for(lock, timeout, [&acks] { return acks->pending == 0; })) {
    return absl::DeadlineExceededError(
        fmt::format("{} of {} records not acknowledged by Kafka", acks->pending, records.size()));
  }
  return acks->first_error;
}

}  // namespace magic::kafka
