// EnsureTopics() over the admin API, and the metadata helpers the consumer
// shares.
#include "common/internal/kafka_conf.h"
#include "common/kafka.h"
#include "common/status_macros.h"

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <array>
#include <thread>
#include <utility>

namespace magic::kafka::internal {
namespace {

constexpr std::chrono::milliseconds kMetadataRetry{50};

struct TopicDeleter {
  void operator()(rd_kafka_topic_t* rkt) const { rd_kafka_topic_destroy(rkt); }
};
struct MetadataDeleter {
  void operator()(const rd_kafka_metadata_t* md) const { rd_kafka_metadata_destroy(md); }
};
struct NewTopicDeleter {
  void operator()(rd_kafka_NewTopic_t* t) const { rd_kafka_NewTopic_destroy(t); }
};
struct OptionsDeleter {
  void operator()(rd_kafka_AdminOptions_t* o) const { rd_kafka_AdminOptions_destroy(o); }
};
struct QueueDeleter {
  void operator()(rd_kafka_queue_t* q) const { rd_kafka_queue_destroy(q); }
};
struct EventDeleter {
  void operator()(rd_kafka_event_t* e) const { rd_kafka_event_destroy(e); }
};
using NewTopicPtr = std::unique_ptr<rd_kafka_NewTopic_t, NewTopicDeleter>;

// One metadata request for `topic`: its partition count when every
// partition has a leader, else the reason it is not ready.
absl::StatusOr<int> PartitionsOnce(rd_kafka_t* rk, const std::string& topic, int timeout_ms) {
  std::unique_ptr<rd_kafka_topic_t, TopicDeleter> rkt(
      rd_kafka_topic_new(rk, topic.c_str(), nullptr));
  const rd_kafka_metadata_t* raw = nullptr;
  MAGIC_RETURN_IF_ERROR(
      StatusFromError(rd_kafka_metadata(rk, 0, rkt.get(), &raw, std::max(timeout_ms, 1)),
                      fmt::format("kafka metadata of {}", topic)));
  std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter> md(raw);
  if (md->topic_cnt != 1) return absl::NotFoundError(fmt::format("kafka topic {} unknown", topic));
  const rd_kafka_metadata_topic_t& t = md->topics[0];
  MAGIC_RETURN_IF_ERROR(StatusFromError(t.err, fmt::format("kafka topic {}", topic)));
  if (t.partition_cnt == 0) {
    return absl::UnavailableError(fmt::format("kafka topic {} has no partitions yet", topic));
  }
  for (int i = 0; i < t.partition_cnt; ++i) {
    if (t.partitions[i].err != RD_KAFKA_RESP_ERR_NO_ERROR || t.partitions[i].leader < 0) {
      return absl::UnavailableError(
          fmt::format("kafka topic {} partition {} has no leader yet", topic, i));
    }
  }
  return t.partition_cnt;
}

NewTopicPtr NewTopic(const TopicSpec& spec, absl::Status& status) {
  std::array<char, 512> err{};
  NewTopicPtr topic(rd_kafka_NewTopic_new(spec.name.c_str(), spec.partitions,
                                          spec.replication_factor, err.data(), err.size()));
  if (!topic) {
    status = absl::InvalidArgumentError(fmt::format("kafka topic {}: {}", spec.name, err.data()));
    return nullptr;
  }
  for (const auto& [name, value] : spec.config) {
    status = StatusFromError(rd_kafka_NewTopic_set_config(topic.get(), name.c_str(), value.c_str()),
                             fmt::format("kafka topic {} config {}", spec.name, name));
    if (!status.ok()) return nullptr;
  }
  return topic;
}

// Per-topic results of a CreateTopics event; existing topics are fine.
absl::Status CheckCreateResult(rd_kafka_event_t* event) {
  MAGIC_RETURN_IF_ERROR(StatusFromError(rd_kafka_event_error(event), "kafka create topics"));
  const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(event);
  if (result == nullptr) return absl::InternalError("kafka create topics: unexpected event");
  size_t count = 0;
  const rd_kafka_topic_result_t** topics = rd_kafka_CreateTopics_result_topics(result, &count);
  for (size_t i = 0; i < count; ++i) {
    const rd_kafka_resp_err_t err = rd_kafka_topic_result_error(topics[i]);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      continue;
    }
    const char* why = rd_kafka_topic_result_error_string(topics[i]);
    return StatusFromError(
        err, fmt::format("kafka create topic {} ({})", rd_kafka_topic_result_name(topics[i]),
                         why != nullptr ? why : ""));
  }
  return absl::OkStatus();
}

absl::Status CreateTopics(rd_kafka_t* rk, const std::vector<TopicSpec>& specs,
                          std::chrono::steady_clock::time_point deadline) {
  std::vector<NewTopicPtr> owned;
  std::vector<rd_kafka_NewTopic_t*> topics;
  for (const TopicSpec& spec : specs) {
    absl::Status status;
    owned.push_back(NewTopic(spec, status));
    MAGIC_RETURN_IF_ERROR(status);
    topics.push_back(owned.back().get());
  }
  std::unique_ptr<rd_kafka_AdminOptions_t, OptionsDeleter> options(
      rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS));
  std::array<char, 512> err{};
  const int timeout_ms = RemainingMs(deadline);
  rd_kafka_AdminOptions_set_request_timeout(options.get(), timeout_ms, err.data(), err.size());
  rd_kafka_AdminOptions_set_operation_timeout(options.get(), timeout_ms, err.data(), err.size());
  std::unique_ptr<rd_kafka_queue_t, QueueDeleter> queue(rd_kafka_queue_new(rk));
  rd_kafka_CreateTopics(rk, topics.data(), topics.size(), options.get(), queue.get());
  std::unique_ptr<rd_kafka_event_t, EventDeleter> event(
      rd_kafka_queue_poll(queue.get(), timeout_ms + 1000));
  if (!event) return absl::DeadlineExceededError("kafka create topics: no answer in time");
  return CheckCreateResult(event.get());
}

}  // namespace

int RemainingMs(std::chrono::steady_clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return static_cast<int>(std::max<int64_t>(left.count(), 0));
}

absl::StatusOr<int> WaitForPartitions(rd_kafka_t* rk, std::string_view topic,
                                      std::chrono::steady_clock::time_point deadline) {
  const std::string name(topic);
  while (true) {
    absl::StatusOr<int> count = PartitionsOnce(rk, name, RemainingMs(deadline));
    if (count.ok() || std::chrono::steady_clock::now() + kMetadataRetry >= deadline) return count;
    std::this_thread::sleep_for(kMetadataRetry);
  }
}

}  // namespace magic::kafka::internal

namespace magic::kafka {

absl::Status EnsureTopics(const KafkaConfig& config, const std::vector<TopicSpec>& topics,
                          std::chrono::milliseconds timeout) {
  if (topics.empty()) return absl::OkStatus();
  if (config.mock) return internal::EnsureMockTopics(config.brokers, topics);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  MAGIC_ASSIGN_OR_RETURN(internal::ConfPtr conf,
                         internal::BuildConf(config, internal::ClientKind::kAdmin));
  MAGIC_ASSIGN_OR_RETURN(internal::HandlePtr rk,
                         internal::NewHandle(RD_KAFKA_PRODUCER, std::move(conf)));
  MAGIC_RETURN_IF_ERROR(internal::CreateTopics(rk.get(), topics, deadline));
  for (const TopicSpec& spec : topics) {
    MAGIC_RETURN_IF_ERROR(internal::WaitForPartitions(rk.get(), spec.name, deadline).status());
  }
  return absl::OkStatus();
}

}  // namespace magic::kafka
