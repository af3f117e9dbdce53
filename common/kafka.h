// Kafka for Magic: thin, latency-tuned wrappers over librdkafka (C API).
//
//   KafkaProducer  idempotent (enable.idempotence, acks=all), linger.ms=0,
//                  Nagle off; Produce() queues and returns at once, the
//                  delivery report arrives on the producer's poll thread.
//   KafkaConsumer  a consumer group member (Subscribe) or a group-less reader
//                  of every partition of one topic (AssignAll, for reply
//                  topics); no auto-commit: CommitOffsets() after the result
//                  is produced (at-least-once); Pause()/Resume() for
//                  backpressure; rebalance hooks.
//   EnsureTopics   create topics if missing (admin API; tolerates existing).
//   EmbeddedKafka  librdkafka's in-process mock cluster for `magic dev`.
//
// Every call returns absl::Status; nothing throws. Error codes: queue full
// -> RESOURCE_EXHAUSTED carrying E3004; broker unreachable / timed out ->
// UNAVAILABLE or DEADLINE_EXCEEDED; a fatal client error (the idempotent
// producer lost its guarantee, the consumer was fenced) -> FAILED_PRECONDITION:
// drop the object and make a new one.
//
// Thread-safety (all classes):
//   KafkaProducer: every method may be called from any thread.
//   KafkaConsumer: Poll(), Subscribe(), AssignAll() and Close() from one
//     thread at a time (the consumer's loop). CommitOffsets*(), Pause(),
//     Resume(), paused(), Assignment() and ConfigValue() from any thread,
//     including from inside the hooks and the loop.
//   EmbeddedKafka: Start/Stop from one thread; bootstrap_servers() and
//     CreateTopic() from any thread once started.
//   Callbacks (delivery reports, rebalance hooks) run on the library's
//     threads named below; they must not block for long and must not destroy
//     the object that called them.
#pragma once

#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct rd_kafka_message_s;  // librdkafka's rd_kafka_message_t

namespace magic::kafka {

// Where to connect and how. The tuned defaults (see internal/kafka_conf.cc)
// are applied first, then `properties` (any librdkafka property), so a
// deployment can override every one of them.
struct KafkaConfig {
  // Bootstrap servers, "host:port,host:port".
  std::string brokers;
  std::string client_id = "magic";
  // `brokers` is an EmbeddedKafka in this process: tune for the mock (it
  // waits fetch.wait.max.ms before answering an empty fetch) and let
  // EnsureTopics() create topics through the mock's own API.
  bool mock = false;
  std::map<std::string, std::string> properties;
};

// A header as a pair of views: the producer copies them during Produce();
// on a consumed message they point into the message.
struct HeaderView {
  std::string_view key;
  std::string_view value;
};

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;
  friend bool operator==(const TopicPartition&, const TopicPartition&) = default;
};

// librdkafka's RD_KAFKA_OFFSET_INVALID: "no committed offset".
inline constexpr int64_t kNoOffset = -1001;
// Let the partitioner choose (murmur2 of the key, like the Java client).
inline constexpr int32_t kAnyPartition = -1;

// A partition and an offset. For commits the offset is the NEXT offset to
// read (last processed + 1), as in Kafka itself.
struct PartitionOffset {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = kNoOffset;
  friend bool operator==(const PartitionOffset&, const PartitionOffset&) = default;
};

// ----------------------------------------------------------------------------
// Producer

// What to produce. An empty key means "no key".
struct ProducerRecord {
  std::string_view topic;
  std::string_view key;
  std::string_view value;
  std::vector<HeaderView> headers;
  int32_t partition = kAnyPartition;
};

// The outcome of one Produce(). The views are valid during the callback.
struct DeliveryReport {
  absl::Status status;
  std::string_view topic;
  int32_t partition = -1;
  int64_t offset = -1;
};
using DeliveryCallback = std::function<void(const DeliveryReport&)>;

// Idempotent producer (enable.idempotence=true, acks=all). Owns one
// librdkafka handle and two threads: the poll thread that serves delivery
// reports, and one that fetches metadata for topics new to this producer
// (librdkafka 2.0 alone would hold their first message up to 1 s).
// Destruction flushes for up to 5 s, then drops what is left (their
// callbacks run with an error). Call Flush() first when delivery matters.
class KafkaProducer {
 public:
  virtual ~KafkaProducer() = default;

  // Queues `record` and returns at once. Never blocks: when the local queue
  // is full it returns RESOURCE_EXHAUSTED (E3004) and `on_delivery` is not
  // called. Otherwise `on_delivery` (may be empty) runs exactly once, on
  // the poll thread (or a thread inside Flush()).
  virtual absl::Status Produce(const ProducerRecord& record, DeliveryCallback on_delivery) = 0;

  // Waits until every queued message is delivered (or failed) and its
  // callback has run; DEADLINE_EXCEEDED when `timeout` passes first.
  virtual absl::Status Flush(std::chrono::milliseconds timeout) = 0;

  // Messages queued or in flight.
  virtual int64_t InFlight() const = 0;

  // The effective value of a librdkafka property ("enable.idempotence").
  virtual std::optional<std::string> ConfigValue(std::string_view name) const = 0;
};

absl::StatusOr<std::unique_ptr<KafkaProducer>> MakeKafkaProducer(const KafkaConfig& config);

// Produces every record and waits until all are acknowledged: OK, or the
// first failure, or DEADLINE_EXCEEDED after `timeout` (records may still be
// delivered later: callers that give up must tolerate a duplicate).
absl::Status ProduceAll(KafkaProducer& producer, const std::vector<ProducerRecord>& records,
                        std::chrono::milliseconds timeout);

// ----------------------------------------------------------------------------
// Consumer

// One consumed message; move-only. It holds librdkafka memory: destroy it
// before the consumer it came from.
class KafkaMessage {
 public:
  // Takes ownership of `message` (for the adapter; not for users).
  explicit KafkaMessage(rd_kafka_message_s* message);
  KafkaMessage(KafkaMessage&& other) noexcept;
  KafkaMessage& operator=(KafkaMessage&& other) noexcept;
  KafkaMessage(const KafkaMessage&) = delete;
  KafkaMessage& operator=(const KafkaMessage&) = delete;
  ~KafkaMessage();

  std::string_view topic() const { return topic_; }
  int32_t partition() const { return partition_; }
  int64_t offset() const { return offset_; }
  std::string_view key() const { return key_; }
  std::string_view value() const { return value_; }
  const std::vector<HeaderView>& headers() const { return headers_; }
  // The last header named `key`, if any.
  std::optional<std::string_view> header(std::string_view key) const;
  // Producer (CreateTime) or broker (LogAppendTime) timestamp; -1 unknown.
  int64_t timestamp_ms() const { return timestamp_ms_; }
  // {topic, partition, offset + 1}: what to commit once this one is done.
  PartitionOffset NextOffset() const;

 private:
  void Reset();

  rd_kafka_message_s* message_ = nullptr;
  std::string_view topic_;
  int32_t partition_ = -1;
  int64_t offset_ = -1;
  std::string_view key_;
  std::string_view value_;
  std::vector<HeaderView> headers_;
  int64_t timestamp_ms_ = -1;
};

// Called on the thread inside Poll()/Close(), never concurrently.
struct RebalanceHooks {
  // After partitions were assigned, before any of their messages is
  // returned. Each carries the committed offset it starts at (kNoOffset:
  // none committed, auto.offset.reset applies). With the cooperative
  // protocol only the partitions added.
  std::function<void(const std::vector<PartitionOffset>& assigned)> on_assign;
  // Before partitions are taken away: commit what is done now. `lost` is
  // true when the group already gave them to another member (session
  // timeout): commits would fail, and the work may run twice.
  std::function<void(const std::vector<TopicPartition>& revoked, bool lost)> on_revoke;
};

struct ConsumerOptions {
  // Consumer group; required for Subscribe() and commits. May be empty for
  // AssignAll()-only readers (they get a private group id that never joins:
  // librdkafka 2.0 refuses assign() without one).
  std::string group_id;
  // Where a partition without committed offset starts.
  enum class Reset { kEarliest, kLatest };
  Reset reset = Reset::kEarliest;
  RebalanceHooks hooks;
};

// Where AssignAll() starts every partition.
enum class StartAt { kBeginning, kEnd };

// What AssignAllSince() assigned for one partition: it reads from `start`;
// `end` is the next offset to be written as of the call (the high
// watermark). A reader has caught up with the partition once it has seen
// offset end - 1 (nothing to catch up when start >= end).
struct PartitionRange {
  int32_t partition = 0;
  int64_t start = 0;
  int64_t end = 0;
  friend bool operator==(const PartitionRange&, const PartitionRange&) = default;
};

// A KafkaConsumer owns one librdkafka consumer handle; it has no thread of
// its own (the owner's loop calls Poll()). Destruction calls Close().
class KafkaConsumer {
 public:
  virtual ~KafkaConsumer() = default;

  // Joins the group and subscribes (regex topics start with '^').
  virtual absl::Status Subscribe(const std::vector<std::string>& topics) = 0;

  // Without a group: reads every partition of `topic`. kEnd resolves the
  // end offsets before returning, so every message produced after this
  // call returns is seen. NOT_FOUND when the topic does not exist.
  virtual absl::Status AssignAll(std::string_view topic, StartAt start,
                                 std::chrono::milliseconds timeout) = 0;

  // Without a group: reads every partition of `topic` from its first
  // message whose timestamp is >= `since_ms` (Unix ms; ListOffsets by time,
  // like Java's offsetsForTimes), or from its end when there is none.
  // Returns each partition's [start, end). The mock cluster cannot look up
  // by time (it answers "none"): with `KafkaConfig::mock` every partition
  // starts at its beginning instead, so filter on timestamp_ms() too.
  // NOT_FOUND when the topic does not exist.
  virtual absl::StatusOr<std::vector<PartitionRange>> AssignAllSince(
      std::string_view topic, int64_t since_ms, std::chrono::milliseconds timeout) = 0;

  // The next message, or nullopt when `timeout` passes (or a transient
  // error was logged). Runs the rebalance hooks. An error Status only for
  // fatal conditions (FAILED_PRECONDITION: make a new consumer).
  virtual absl::StatusOr<std::optional<KafkaMessage>> Poll(std::chrono::milliseconds timeout) = 0;

  // Commits `next_offsets` (last processed + 1) for the group and waits
  // for the broker's answer.
  virtual absl::Status CommitOffsets(const std::vector<PartitionOffset>& next_offsets) = 0;
  // Same, without waiting; a failure is logged.
  virtual absl::Status CommitOffsetsAsync(const std::vector<PartitionOffset>& next_offsets) = 0;
  // The group's committed offsets for `partitions` (kNoOffset when none).
  virtual absl::StatusOr<std::vector<PartitionOffset>> Committed(
      const std::vector<TopicPartition>& partitions, std::chrono::milliseconds timeout) = 0;

  // Stops fetching from every assigned partition, and from partitions
  // assigned later, until Resume(). Messages fetched but not yet returned
  // are held back too (librdkafka fetches them again after Resume()).
  // Resume() wakes the fetchers at once (one ListOffsets round trip per
  // leader; librdkafka 2.0 alone would idle up to 1 s).
  virtual absl::Status Pause() = 0;
  virtual absl::Status Resume() = 0;
  virtual bool paused() const = 0;

  virtual absl::StatusOr<std::vector<TopicPartition>> Assignment() const = 0;
  virtual std::optional<std::string> ConfigValue(std::string_view name) const = 0;

  // Leaves the group (on_revoke runs) and stops fetching. Idempotent.
  virtual void Close() = 0;
};

absl::StatusOr<std::unique_ptr<KafkaConsumer>> MakeKafkaConsumer(const KafkaConfig& config,
                                                                 ConsumerOptions options);

// ----------------------------------------------------------------------------
// Topics

struct TopicSpec {
  std::string name;
  int partitions = 4;
  // -1: the broker's default.replication.factor.
  int replication_factor = -1;
  // Topic configs, e.g. {"cleanup.policy", "compact"}.
  std::map<std::string, std::string> config;
};

// Creates the topics that do not exist yet and waits until every one has a
// leader for each partition. Existing topics are left as they are (their
// partition count and config are not changed). Uses the admin API, or the
// mock's API when `config.mock`.
absl::Status EnsureTopics(const KafkaConfig& config, const std::vector<TopicSpec>& topics,
                          std::chrono::milliseconds timeout = std::chrono::seconds(30));

// ----------------------------------------------------------------------------
// Embedded (mock) cluster

// librdkafka's mock cluster: speaks the Kafka protocol on loopback ports,
// in this process, on librdkafka's own threads; data lives in memory.
// Supports produce/fetch, idempotence, consumer groups and commits; not
// compaction or retention. For `magic dev` and unit tests.
class EmbeddedKafka {
 public:
  EmbeddedKafka();
  EmbeddedKafka(const EmbeddedKafka&) = delete;
  EmbeddedKafka& operator=(const EmbeddedKafka&) = delete;
  ~EmbeddedKafka();  // Stop()

  // Starts `brokers` mock brokers; returns the bootstrap servers string.
  absl::StatusOr<std::string> Start(int brokers = 1);
  // Empty before Start().
  std::string bootstrap_servers() const;
  // A KafkaConfig pointing at this cluster (mock = true).
  KafkaConfig Config(std::string client_id = "magic") const;
  // Creates `spec` (partitions only) unless it exists.
  absl::Status CreateTopic(const TopicSpec& spec);
  // Destroys the cluster; clients still connected see it go away.
  void Stop();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace magic::kafka
