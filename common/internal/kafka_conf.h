// Shared by the librdkafka adapters: building a tuned rd_kafka_conf_t,
// creating handles, and turning rd_kafka_resp_err_t into absl::Status.
// Not for use outside common/internal.
#pragma once

#include "common/kafka.h"

#include <absl/status/status.h>
#include <absl/status/statusor.h>
#include <librdkafka/rdkafka.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace magic::kafka::internal {

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* conf) const { rd_kafka_conf_destroy(conf); }
};
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;

struct HandleDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
using HandlePtr = std::unique_ptr<rd_kafka_t, HandleDeleter>;

struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* list) const {
    rd_kafka_topic_partition_list_destroy(list);
  }
};
using PartitionListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;

enum class ClientKind { kProducer, kConsumer, kAdmin };

// The tuned defaults for `kind`, then config.properties. Installs the log
// callback (librdkafka's log lines go to MAGIC_LOG) and an error callback
// that logs.
absl::StatusOr<ConfPtr> BuildConf(const KafkaConfig& config, ClientKind kind);

absl::Status SetProperty(rd_kafka_conf_t* conf, const std::string& name, const std::string& value);

// rd_kafka_new(); takes `conf` (consumed on success and on failure).
absl::StatusOr<HandlePtr> NewHandle(rd_kafka_type_t type, ConfPtr conf);

// "context: Broker: Not leader for partition (NOT_LEADER_FOR_PARTITION)"
// with the status code that says what the caller can do about it.
absl::Status StatusFromError(rd_kafka_resp_err_t err, std::string_view context);

// The fatal error of `rk`, if one was raised (FAILED_PRECONDITION).
absl::Status FatalStatus(rd_kafka_t* rk);

// The effective value of property `name` of `rk`.
std::optional<std::string> ConfValue(rd_kafka_t* rk, std::string_view name);

// Milliseconds left until `deadline` (0 when past), for librdkafka timeouts.
int RemainingMs(std::chrono::steady_clock::time_point deadline);

// The partition count of `topic` once every partition has a leader; retried
// until `deadline` (NOT_FOUND / UNAVAILABLE then).
absl::StatusOr<int> WaitForPartitions(rd_kafka_t* rk, std::string_view topic,
                                      std::chrono::steady_clock::time_point deadline);

// EnsureTopics() for an EmbeddedKafka of this process (kafka_mock.cc):
// FAILED_PRECONDITION when no running EmbeddedKafka has `bootstrap`.
absl::Status EnsureMockTopics(const std::string& bootstrap, const std::vector<TopicSpec>& topics);

PartitionListPtr ToPartitionList(const std::vector<PartitionOffset>& offsets);
std::vector<PartitionOffset> FromPartitionList(const rd_kafka_topic_partition_list_t* list);

}  // namespace magic::kafka::internal
