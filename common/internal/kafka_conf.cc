// Tuned librdkafka defaults and error mapping (see kafka_conf.h).
#include "common/internal/kafka_conf.h"

#include "common/errors.h"
#include "common/logging.h"
#include "common/status_macros.h"

#include <fmt/format.h>

#include <array>
#include <utility>
#include <vector>

namespace magic::kafka::internal {
namespace {

using Property = std::pair<const char*, const char*>;

// Every client: small, latency-first. Nagle off matters most: with it on,
// a lone small request waits for the previous ACK (~40 ms).
constexpr std::array kCommon = {
    Property{"socket.nagle.disable", "true"},
    Property{"reconnect.backoff.ms", "20"},
    Property{"reconnect.backoff.max.ms", "2000"},
    Property{"socket.keepalive.enable", "true"},
};

// linger.ms=0: send at once; under load batches still form while up to 5
// requests are in flight. A bounded local queue (64 MiB / 100k messages)
// turns overload into E3004 instead of memory growth. murmur2 places keys
// where the Java client does. Idempotence implies acks=all, retries and
// max.in.flight<=5 with ordering kept.
constexpr std::array kProducer = {
    Property{"enable.idempotence", "true"},
    Property{"acks", "all"},
    Property{"linger.ms", "0"},
    Property{"batch.num.messages", "10000"},
    Property{"batch.size", "1000000"},
    Property{"queue.buffering.max.messages", "100000"},
    Property{"queue.buffering.max.kbytes", "65536"},
    Property{"message.timeout.ms", "30000"},
    Property{"partitioner", "murmur2_random"},
    Property{"retry.backoff.ms", "20"},
};

// A real broker answers a waiting fetch as soon as data arrives
// (fetch.min.bytes=1), so fetch.wait.max.ms only bounds idle round trips.
// No auto commit and no auto offset store: the owner commits after the
// result is produced. A 10 s session notices a dead worker quickly.
constexpr std::array kConsumer = {
    Property{"fetch.wait.max.ms", "10"},           Property{"fetch.min.bytes", "1"},
    Property{"fetch.error.backoff.ms", "20"},      Property{"enable.auto.commit", "false"},
    Property{"enable.auto.offset.store", "false"}, Property{"enable.partition.eof", "false"},
    Property{"session.timeout.ms", "10000"},       Property{"heartbeat.interval.ms", "1000"},
};

// The mock answers an empty fetch only after fetch.wait.max.ms.
constexpr std::array kMockConsumer = {
    Property{"fetch.wait.max.ms", "5"},
};

spdlog::level::level_enum LevelFor(int syslog_level) {
  if (syslog_level <= 3) return spdlog::level::warn;  // broker down etc.: not our error
  if (syslog_level <= 5) return spdlog::level::info;
  return spdlog::level::debug;
}

void LogCallback(const rd_kafka_t* rk, int level, const char* facility, const char* buf) {
  const auto lvl = LevelFor(level);
  if (!logging::Logger().should_log(lvl)) return;
  logging::Write(lvl, "librdkafka",
                 {{"client", rd_kafka_name(rk)}, {"facility", facility}, {"detail", buf}});
}

void ErrorCallback(rd_kafka_t* rk, int err, const char* reason, void* /*opaque*/) {
  if (err == RD_KAFKA_RESP_ERR__FATAL) {
    MAGIC_LOG(err, "kafka fatal error",
              {{"client", rd_kafka_name(rk)}, {"status", FatalStatus(rk).ToString()}});
    return;
  }
  // The log callback already reported transport problems.
  MAGIC_LOG(debug, "kafka error",
            {{"client", rd_kafka_name(rk)},
             {"error", rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err))},
             {"reason", reason}});
}

template <size_t N>
absl::Status Apply(rd_kafka_conf_t* conf, const std::array<Property, N>& props) {
  for (const auto& [name, value] : props) MAGIC_RETURN_IF_ERROR(SetProperty(conf, name, value));
  return absl::OkStatus();
}

absl::Status ApplyDefaults(rd_kafka_conf_t* conf, const KafkaConfig& config, ClientKind kind) {
  MAGIC_RETURN_IF_ERROR(SetProperty(conf, "bootstrap.servers", config.brokers));
  MAGIC_RETURN_IF_ERROR(SetProperty(conf, "client.id", config.client_id));
  MAGIC_RETURN_IF_ERROR(Apply(conf, kCommon));
  if (kind == ClientKind::kProducer) MAGIC_RETURN_IF_ERROR(Apply(conf, kProducer));
  if (kind == ClientKind::kConsumer) {
    MAGIC_RETURN_IF_ERROR(Apply(conf, kConsumer));
    if (config.mock) MAGIC_RETURN_IF_ERROR(Apply(conf, kMockConsumer));
  }
  return absl::OkStatus();
}

// Unavailable: the cluster is (for now) not able to serve; retry later.
bool IsUnavailable(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR__WAIT_COORD:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR:
      return true;
    default:
      return false;
  }
}

absl::StatusCode CodeFor(rd_kafka_resp_err_t err) {
  if (IsUnavailable(err)) return absl::StatusCode::kUnavailable;
  switch (err) {
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
      return absl::StatusCode::kDeadlineExceeded;
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
      return absl::StatusCode::kResourceExhausted;
    case RD_KAFKA_RESP_ERR__FATAL:
    case RD_KAFKA_RESP_ERR__FENCED:
    case RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID:
    case RD_KAFKA_RESP_ERR_PRODUCER_FENCED:
    case RD_KAFKA_RESP_ERR__STATE:
      return absl::StatusCode::kFailedPrecondition;
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__NOENT:
      return absl::StatusCode::kNotFound;
    case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS:
      return absl::StatusCode::kAlreadyExists;
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
      return absl::StatusCode::kPermissionDenied;
    case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
    case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
    case RD_KAFKA_RESP_ERR__DESTROY:
      return absl::StatusCode::kCancelled;
    case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID:
    case RD_KAFKA_RESP_ERR__ASSIGNMENT_LOST:
      return absl::StatusCode::kAborted;
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR_INVALID_PARTITIONS:
    case RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR:
    case RD_KAFKA_RESP_ERR_INVALID_CONFIG:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
      return absl::StatusCode::kInvalidArgument;
    default:
      return absl::StatusCode::kInternal;
  }
}

}  // namespace

absl::Status SetProperty(rd_kafka_conf_t* conf, const std::string& name, const std::string& value) {
  std::array<char, 512> err{};
  if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), err.data(), err.size()) !=
      RD_KAFKA_CONF_OK) {
    return absl::InvalidArgumentError(
        fmt::format("kafka property {}={}: {}", name, value, err.data()));
  }
  return absl::OkStatus();
}

absl::StatusOr<ConfPtr> BuildConf(const KafkaConfig& config, ClientKind kind) {
  if (config.brokers.empty()) return absl::InvalidArgumentError("kafka: no brokers configured");
  ConfPtr conf(rd_kafka_conf_new());
  MAGIC_RETURN_IF_ERROR(ApplyDefaults(conf.get(), config, kind));
  for (const auto& [name, value] : config.properties) {
    MAGIC_RETURN_IF_ERROR(SetProperty(conf.get(), name, value));
  }
  rd_kafka_conf_set_log_cb(conf.get(), &LogCallback);
  rd_kafka_conf_set_error_cb(conf.get(), &ErrorCallback);
  return conf;
}

absl::StatusOr<HandlePtr> NewHandle(rd_kafka_type_t type, ConfPtr conf) {
  std::array<char, 512> err{};
  rd_kafka_t* rk = rd_kafka_new(type, conf.get(), err.data(), err.size());
  if (rk == nullptr) {
    return absl::InvalidArgumentError(fmt::format("kafka: cannot create client: {}", err.data()));
  }
  (void)conf.release();  // rd_kafka_new() took it
  return HandlePtr(rk);
}

absl::Status StatusFromError(rd_kafka_resp_err_t err, std::string_view context) {
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return absl::OkStatus();
  const std::string message =
      fmt::format("{}: {} ({})", context, rd_kafka_err2str(err), rd_kafka_err2name(err));
  if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
    return MakeError(ErrorCode::kE3004, message, {{"reason", "kafka producer queue full"}});
  }
  return {CodeFor(err), message};
}

absl::Status FatalStatus(rd_kafka_t* rk) {
  std::array<char, 512> reason{};
  const rd_kafka_resp_err_t err = rd_kafka_fatal_error(rk, reason.data(), reason.size());
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return absl::OkStatus();
  return absl::FailedPreconditionError(
      fmt::format("kafka client {} is unusable (fatal {}: {}); make a new one", rd_kafka_name(rk),
                  rd_kafka_err2name(err), reason.data()));
}

std::optional<std::string> ConfValue(rd_kafka_t* rk, std::string_view name) {
  const std::string key(name);
  size_t size = 0;
  const rd_kafka_conf_t* conf = rd_kafka_conf(rk);
  if (rd_kafka_conf_get(conf, key.c_str(), nullptr, &size) != RD_KAFKA_CONF_OK) return std::nullopt;
  std::string value(size, '\0');
  if (rd_kafka_conf_get(conf, key.c_str(), value.data(), &size) != RD_KAFKA_CONF_OK) {
    return std::nullopt;
  }
  value.resize(size > 0 ? size - 1 : 0);  // size counts the NUL
  return value;
}

PartitionListPtr ToPartitionList(const std::vector<PartitionOffset>& offsets) {
  PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(offsets.size())));
  for (const PartitionOffset& po : offsets) {
    rd_kafka_topic_partition_list_add(list.get(), po.topic.c_str(), po.partition)->offset =
        po.offset;
  }
  return list;
}

std::vector<PartitionOffset> FromPartitionList(const rd_kafka_topic_partition_list_t* list) {
  std::vector<PartitionOffset> out;
  if (list == nullptr) return out;
  out.reserve(static_cast<size_t>(list->cnt));
  for (int i = 0; i < list->cnt; ++i) {
    const rd_kafka_topic_partition_t& p = list->elems[i];
    out.push_back({p.topic, p.partition, p.offset});
  }
  return out;
}

}  // namespace magic::kafka::internal
