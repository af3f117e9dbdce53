// KafkaConsumer over librdkafka's high-level consumer, and KafkaMessage.
// The rebalance callback runs inside rd_kafka_consumer_poll() (the owner's
// loop): it looks up the committed offsets, assigns, re-applies a pause and
// calls the owner's hooks.
#include "common/internal/kafka_conf.h"
#include "common/kafka.h"
#include "common/logging.h"
#include "common/status_macros.h"

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>
#include <utility>

namespace magic::kafka {

// ----------------------------------------------------------------------------
// KafkaMessage

KafkaMessage::KafkaMessage(rd_kafka_message_s* message) : message_(message) {
  topic_ = rd_kafka_topic_name(message->rkt);
  partition_ = message->partition;
  offset_ = message->offset;
  if (message->key != nullptr) key_ = {static_cast<const char*>(message->key), message->key_len};
  if (message->payload != nullptr) {
    value_ = {static_cast<const char*>(message->payload), message->len};
  }
  timestamp_ms_ = rd_kafka_message_timestamp(message, nullptr);
  rd_kafka_headers_t* hdrs = nullptr;
  if (rd_kafka_message_headers(message, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
  const char* name = nullptr;
  const void* value = nullptr;
  size_t size = 0;
  for (size_t i = 0;
       rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
    headers_.push_back({name, value == nullptr
                                  ? std::string_view()
                                  : std::string_view(static_cast<const char*>(value), size)});
  }
}

KafkaMessage::KafkaMessage(KafkaMessage&& other) noexcept { *this = std::move(other); }

KafkaMessage& KafkaMessage::operator=(KafkaMessage&& other) noexcept {
  if (this == &other) return *this;
  Reset();
  message_ = std::exchange(other.message_, nullptr);
  topic_ = other.topic_;
  partition_ = other.partition_;
  offset_ = other.offset_;
  key_ = other.key_;
  value_ = other.value_;
  headers_ = std::move(other.headers_);
  timestamp_ms_ = other.timestamp_ms_;
  return *this;
}

KafkaMessage::~KafkaMessage() { Reset(); }

void KafkaMessage::Reset() {
  if (message_ != nullptr) rd_kafka_message_destroy(message_);
  message_ = nullptr;
}

std::optional<std::string_view> KafkaMessage::header(std::string_view key) const {
  for (auto it = headers_.rbegin(); it != headers_.rend(); ++it) {
    if (it->key == key) return it->value;
  }
  return std::nullopt;
}

PartitionOffset KafkaMessage::NextOffset() const {
  return {std::string(topic_), partition_, offset_ + 1};
}

// ----------------------------------------------------------------------------
// The consumer

namespace internal {
namespace {

constexpr std::chrono::milliseconds kWakeTimeout{1000};

std::string RandomSuffix() {
  std::random_device rd;
  return fmt::format("{:08x}{:08x}", rd(), rd());
}

std::vector<TopicPartition> ToTopicPartitions(const rd_kafka_topic_partition_list_t* list) {
  std::vector<TopicPartition> out;
  for (const PartitionOffset& po : FromPartitionList(list)) out.push_back({po.topic, po.partition});
  return out;
}

void OnCommit(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* /*offsets*/,
              void* /*opaque*/) {
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
    MAGIC_LOG(warn, "kafka offset commit failed",
              {{"client", rd_kafka_name(rk)}, {"error", rd_kafka_err2name(err)}});
  }
}

class RdKafkaConsumer final : public KafkaConsumer {
 public:
  RdKafkaConsumer(ConsumerOptions options, bool mock) : options_(std::move(options)), mock_(mock) {}
  RdKafkaConsumer(const RdKafkaConsumer&) = delete;
  RdKafkaConsumer& operator=(const RdKafkaConsumer&) = delete;
  ~RdKafkaConsumer() override {
    if (rk_) Close();
  }

  // Creates the handle with `this` as the rebalance callback's opaque.
  absl::Status Init(ConfPtr conf);

  // KafkaConsumer
  absl::Status Subscribe(const std::vector<std::string>& topics) override;
  absl::Status AssignAll(std::string_view topic, StartAt start,
                         std::chrono::milliseconds timeout) override;
  absl::StatusOr<std::vector<PartitionRange>> AssignAllSince(
      std::string_view topic, int64_t since_ms, std::chrono::milliseconds timeout) override;
  absl::StatusOr<std::optional<KafkaMessage>> Poll(std::chrono::milliseconds timeout) override;
  absl::Status CommitOffsets(const std::vector<PartitionOffset>& next_offsets) override {
    return Commit(next_offsets, /*async=*/false);
  }
  absl::Status CommitOffsetsAsync(const std::vector<PartitionOffset>& next_offsets) override {
    return Commit(next_offsets, /*async=*/true);
  }
  absl::StatusOr<std::vector<PartitionOffset>> Committed(
      const std::vector<TopicPartition>& partitions, std::chrono::milliseconds timeout) override;
  absl::Status Pause() override { return SetPaused(true); }
  absl::Status Resume() override { return SetPaused(false); }
  bool paused() const override {
    std::lock_guard lock(mu_);
    return paused_;
  }
  absl::StatusOr<std::vector<TopicPartition>> Assignment() const override;
  std::optional<std::string> ConfigValue(std::string_view name) const override {
    return ConfValue(rk_.get(), name);
  }
  void Close() override;

 private:
  absl::Status ResolveOffsets(const std::vector<PartitionOffset>& wanted, PartitionListPtr& list,
                              std::chrono::steady_clock::time_point deadline);
  // Assigns `list` (resolved offsets), paused if the consumer is.
  absl::Status AssignList(const rd_kafka_topic_partition_list_t* list);
  static void RebalanceTrampoline(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                                  rd_kafka_topic_partition_list_t* partitions, void* opaque);
  void OnAssign(rd_kafka_topic_partition_list_t* partitions);
  void OnRevoke(rd_kafka_topic_partition_list_t* partitions);
  bool Cooperative() const;
  absl::Status Commit(const std::vector<PartitionOffset>& next_offsets, bool async);
  absl::Status SetPaused(bool paused);
  // Pauses `partitions` if the consumer is paused. Takes mu_.
  void ApplyPause(rd_kafka_topic_partition_list_t* partitions);
  void WakeFetchers(const rd_kafka_topic_partition_list_t* partitions);

  const ConsumerOptions options_;
  const bool mock_;  // librdkafka's mock cluster: no ListOffsets by time
  HandlePtr rk_;
  bool closed_ = false;    // owner thread only
  mutable std::mutex mu_;  // orders Pause/Resume against (re)assignment
  bool paused_ = false;    // guarded by mu_
};

absl::Status RdKafkaConsumer::Init(ConfPtr conf) {
  rd_kafka_conf_set_opaque(conf.get(), this);
  rd_kafka_conf_set_rebalance_cb(conf.get(), &RdKafkaConsumer::RebalanceTrampoline);
  rd_kafka_conf_set_offset_commit_cb(conf.get(), &OnCommit);
  MAGIC_ASSIGN_OR_RETURN(rk_, NewHandle(RD_KAFKA_CONSUMER, std::move(conf)));
  // Errors and rebalances are all served by rd_kafka_consumer_poll().
  return StatusFromError(rd_kafka_poll_set_consumer(rk_.get()), "kafka consumer");
}

void RdKafkaConsumer::RebalanceTrampoline(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                                          rd_kafka_topic_partition_list_t* partitions,
                                          void* opaque) {
  auto* self = static_cast<RdKafkaConsumer*>(opaque);
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    self->OnAssign(partitions);
  } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
    self->OnRevoke(partitions);
  } else {
    MAGIC_LOG(warn, "kafka rebalance error",
              {{"client", rd_kafka_name(rk)}, {"error", rd_kafka_err2name(err)}});
    self->OnRevoke(partitions);
  }
}

bool RdKafkaConsumer::Cooperative() const {
  const char* protocol = rd_kafka_rebalance_protocol(rk_.get());
  return protocol != nullptr && std::strcmp(protocol, "COOPERATIVE") == 0;
}

void RdKafkaConsumer::OnAssign(rd_kafka_topic_partition_list_t* partitions) {
  // Fills in where each partition starts (kNoOffset when nothing committed);
  // on failure the offsets stay "invalid" and librdkafka looks them up.
  const rd_kafka_resp_err_t committed = rd_kafka_committed(rk_.get(), partitions, 10000);
  if (committed != RD_KAFKA_RESP_ERR_NO_ERROR) {
    MAGIC_LOG(warn, "kafka: committed offsets unknown at assignment",
              {{"error", rd_kafka_err2name(committed)}});
  }
  const std::vector<PartitionOffset> assigned = FromPartitionList(partitions);
  absl::Status status;
  if (Cooperative()) {
    rd_kafka_error_t* error = rd_kafka_incremental_assign(rk_.get(), partitions);
    if (error != nullptr) {
      status = absl::InternalError(rd_kafka_error_string(error));
      rd_kafka_error_destroy(error);
    }
  } else {
    status = StatusFromError(rd_kafka_assign(rk_.get(), partitions), "kafka assign");
  }
  if (!status.ok()) {
    MAGIC_LOG(err, "kafka assignment failed", {{"status", status.ToString()}});
    return;
  }
  ApplyPause(partitions);
  if (options_.hooks.on_assign) options_.hooks.on_assign(assigned);
}

void RdKafkaConsumer::OnRevoke(rd_kafka_topic_partition_list_t* partitions) {
  const bool lost = rd_kafka_assignment_lost(rk_.get()) != 0;
  if (options_.hooks.on_revoke) options_.hooks.on_revoke(ToTopicPartitions(partitions), lost);
  if (Cooperative()) {
    rd_kafka_error_t* error = rd_kafka_incremental_unassign(rk_.get(), partitions);
    if (error != nullptr) {
      MAGIC_LOG(warn, "kafka unassign failed", {{"error", rd_kafka_error_string(error)}});
      rd_kafka_error_destroy(error);
    }
  } else {
    rd_kafka_assign(rk_.get(), nullptr);
  }
}

void RdKafkaConsumer::ApplyPause(rd_kafka_topic_partition_list_t* partitions) {
  std::lock_guard lock(mu_);
  if (paused_) rd_kafka_pause_partitions(rk_.get(), partitions);
}

absl::Status RdKafkaConsumer::Subscribe(const std::vector<std::string>& topics) {
  if (options_.group_id.empty()) {
    return absl::FailedPreconditionError("kafka subscribe: the consumer has no group id");
  }
  PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(topics.size())));
  for (const std::string& topic : topics) {
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), RD_KAFKA_PARTITION_UA);
  }
  return StatusFromError(rd_kafka_subscribe(rk_.get(), list.get()), "kafka subscribe");
}

// ListOffsets for every partition in `list` (each offset a timestamp, or
// RD_KAFKA_OFFSET_END / _BEGINNING). Right after a topic is created its
// leaders may still move (NOT_LEADER_FOR_PARTITION, LEADER_NOT_AVAILABLE):
// those are retried until `deadline`.
absl::Status RdKafkaConsumer::ResolveOffsets(const std::vector<PartitionOffset>& wanted,
                                             PartitionListPtr& list,
                                             std::chrono::steady_clock::time_point deadline) {
  while (true) {
    rd_kafka_resp_err_t err =
        rd_kafka_offsets_for_times(rk_.get(), list.get(), RemainingMs(deadline));
    for (int i = 0; err == RD_KAFKA_RESP_ERR_NO_ERROR && i < list->cnt; ++i) {
      err = list->elems[i].err;
    }
    const bool transient = err == RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION ||
                           err == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE ||
                           err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR || !transient ||
        std::chrono::steady_clock::now() >= deadline) {
      return StatusFromError(err, "kafka list offsets");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    list = ToPartitionList(wanted);  // the failed call overwrote the offsets
  }
}

absl::Status RdKafkaConsumer::AssignAll(std::string_view topic, StartAt start,
                                        std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  MAGIC_ASSIGN_OR_RETURN(const int partitions, WaitForPartitions(rk_.get(), topic, deadline));
  std::vector<PartitionOffset> offsets;
  for (int32_t p = 0; p < partitions; ++p) {
    // As a ListOffsets timestamp, RD_KAFKA_OFFSET_END (-1) means "the end".
    offsets.push_back(
        {std::string(topic), p,
         start == StartAt::kBeginning ? RD_KAFKA_OFFSET_BEGINNING : RD_KAFKA_OFFSET_END});
  }
  PartitionListPtr list = ToPartitionList(offsets);
  if (start == StartAt::kEnd) MAGIC_RETURN_IF_ERROR(ResolveOffsets(offsets, list, deadline));
  return AssignList(list.get());
}

absl::Status RdKafkaConsumer::AssignList(const rd_kafka_topic_partition_list_t* list) {
  std::lock_guard lock(mu_);
  MAGIC_RETURN_IF_ERROR(StatusFromError(rd_kafka_assign(rk_.get(), list), "kafka assign"));
  if (paused_) {
    PartitionListPtr copy(rd_kafka_topic_partition_list_copy(list));
    rd_kafka_pause_partitions(rk_.get(), copy.get());
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<PartitionRange>> RdKafkaConsumer::AssignAllSince(
    std::string_view topic, int64_t since_ms, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  MAGIC_ASSIGN_OR_RETURN(const int partitions, WaitForPartitions(rk_.get(), topic, deadline));
  // Negative timestamps are librdkafka's logical offsets (END, BEGINNING).
  const int64_t query = mock_ ? RD_KAFKA_OFFSET_BEGINNING : std::max<int64_t>(since_ms, 0);
  std::vector<PartitionOffset> ends, starts;
  for (int32_t p = 0; p < partitions; ++p) {
    ends.push_back({std::string(topic), p, RD_KAFKA_OFFSET_END});
    starts.push_back({std::string(topic), p, query});
  }
  PartitionListPtr end_list = ToPartitionList(ends);
  MAGIC_RETURN_IF_ERROR(ResolveOffsets(ends, end_list, deadline));
  PartitionListPtr start_list = ToPartitionList(starts);
  MAGIC_RETURN_IF_ERROR(ResolveOffsets(starts, start_list, deadline));
  std::vector<PartitionRange> ranges;
  for (int i = 0; i < start_list->cnt; ++i) {
    rd_kafka_topic_partition_t& start = start_list->elems[i];
    const rd_kafka_topic_partition_t* end =
        rd_kafka_topic_partition_list_find(end_list.get(), start.topic, start.partition);
    if (end == nullptr) return absl::InternalError("kafka list offsets: partition missing");
    // -1: no message at or after since_ms; start at the end.
    if (start.offset < 0 || start.offset > end->offset) start.offset = end->offset;
    ranges.push_back({start.partition, start.offset, end->offset});
  }
  MAGIC_RETURN_IF_ERROR(AssignList(start_list.get()));
  return ranges;
}

absl::StatusOr<std::optional<KafkaMessage>> RdKafkaConsumer::Poll(
    std::chrono::milliseconds timeout) {
  if (closed_) return absl::FailedPreconditionError("kafka consumer is closed");
  rd_kafka_message_t* msg = rd_kafka_consumer_poll(rk_.get(), static_cast<int>(timeout.count()));
  if (msg == nullptr) return std::nullopt;
  if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) return KafkaMessage(msg);
  const rd_kafka_resp_err_t err = msg->err;
  const std::string topic = msg->rkt != nullptr ? rd_kafka_topic_name(msg->rkt) : "";
  const std::string detail = rd_kafka_message_errstr(msg);
  rd_kafka_message_destroy(msg);
  if (err == RD_KAFKA_RESP_ERR__FATAL) return FatalStatus(rk_.get());
  if (err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
    MAGIC_LOG(warn, "kafka consumer error",
              {{"topic", topic}, {"error", rd_kafka_err2name(err)}, {"detail", detail}});
  }
  return std::nullopt;
}

absl::Status RdKafkaConsumer::Commit(const std::vector<PartitionOffset>& next_offsets, bool async) {
  if (options_.group_id.empty()) {
    return absl::FailedPreconditionError("kafka commit: the consumer has no group id");
  }
  if (next_offsets.empty()) return absl::OkStatus();
  PartitionListPtr list = ToPartitionList(next_offsets);
  MAGIC_RETURN_IF_ERROR(
      StatusFromError(rd_kafka_commit(rk_.get(), list.get(), async ? 1 : 0), "kafka commit"));
  for (int i = 0; i < list->cnt; ++i) {
    const rd_kafka_topic_partition_t& p = list->elems[i];
    MAGIC_RETURN_IF_ERROR(StatusFromError(
        p.err, fmt::format("kafka commit {}[{}]@{}", p.topic, p.partition, p.offset)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<PartitionOffset>> RdKafkaConsumer::Committed(
    const std::vector<TopicPartition>& partitions, std::chrono::milliseconds timeout) {
  std::vector<PartitionOffset> query;
  for (const TopicPartition& tp : partitions) query.push_back({tp.topic, tp.partition, kNoOffset});
  PartitionListPtr list = ToPartitionList(query);
  MAGIC_RETURN_IF_ERROR(
      StatusFromError(rd_kafka_committed(rk_.get(), list.get(), static_cast<int>(timeout.count())),
                      "kafka committed"));
  return FromPartitionList(list.get());
}

absl::Status RdKafkaConsumer::SetPaused(bool paused) {
  PartitionListPtr list;
  {
    std::lock_guard lock(mu_);
    paused_ = paused;
    rd_kafka_topic_partition_list_t* raw = nullptr;
    MAGIC_RETURN_IF_ERROR(
        StatusFromError(rd_kafka_assignment(rk_.get(), &raw), "kafka assignment"));
    list.reset(raw);
    if (list->cnt == 0) return absl::OkStatus();
    MAGIC_RETURN_IF_ERROR(StatusFromError(paused
                                              ? rd_kafka_pause_partitions(rk_.get(), list.get())
                                              : rd_kafka_resume_partitions(rk_.get(), list.get()),
                                          paused ? "kafka pause" : "kafka resume"));
  }
  if (!paused) WakeFetchers(list.get());
  return absl::OkStatus();
}

// librdkafka 2.0 does not wake a broker thread whose partitions were all
// paused when they are resumed: fetching would restart only at its next
// periodic wake-up (0.5-1 s). Any request through that broker wakes it; a
// ListOffsets goes to each partition's leader, so every fetcher concerned
// wakes now. The answer is not needed.
void RdKafkaConsumer::WakeFetchers(const rd_kafka_topic_partition_list_t* partitions) {
  PartitionListPtr query(rd_kafka_topic_partition_list_copy(partitions));
  for (int i = 0; i < query->cnt; ++i) query->elems[i].offset = RD_KAFKA_OFFSET_END;
  rd_kafka_offsets_for_times(rk_.get(), query.get(), static_cast<int>(kWakeTimeout.count()));
}

absl::StatusOr<std::vector<TopicPartition>> RdKafkaConsumer::Assignment() const {
  rd_kafka_topic_partition_list_t* raw = nullptr;
  MAGIC_RETURN_IF_ERROR(StatusFromError(rd_kafka_assignment(rk_.get(), &raw), "kafka assignment"));
  PartitionListPtr list(raw);
  return ToTopicPartitions(list.get());
}

void RdKafkaConsumer::Close() {
  if (closed_) return;
  closed_ = true;
  const rd_kafka_resp_err_t err = rd_kafka_consumer_close(rk_.get());
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    MAGIC_LOG(warn, "kafka consumer close", {{"error", rd_kafka_err2name(err)}});
  }
}

}  // namespace
}  // namespace internal

absl::StatusOr<std::unique_ptr<KafkaConsumer>> MakeKafkaConsumer(const KafkaConfig& config,
                                                                 ConsumerOptions options) {
  MAGIC_ASSIGN_OR_RETURN(internal::ConfPtr conf,
                         internal::BuildConf(config, internal::ClientKind::kConsumer));
  // librdkafka wants a group even to assign(); a group-less reader gets a
  // private one that never joins or commits.
  const std::string group = options.group_id.empty()
                                ? fmt::format("magic-assign-{}", internal::RandomSuffix())
                                : options.group_id;
  MAGIC_RETURN_IF_ERROR(internal::SetProperty(conf.get(), "group.id", group));
  MAGIC_RETURN_IF_ERROR(internal::SetProperty(
      conf.get(), "auto.offset.reset",
      options.reset == ConsumerOptions::Reset::kEarliest ? "earliest" : "latest"));
  auto consumer = std::make_unique<internal::RdKafkaConsumer>(std::move(options), config.mock);
  MAGIC_RETURN_IF_ERROR(consumer->Init(std::move(conf)));
  return consumer;
}

}  // namespace magic::kafka
