// common/kafka.h against a real Apache Kafka broker (scripts/services):
// needs MAGIC_TEST_KAFKA_BROKERS and fails without it. Topic and group
// names are unique per run.
#include "common/kafka.h"

#include "common/errors.h"
#include "common/testing/server_env.h"
#include "common/testing/status_testing.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <thread>
#include <unistd.h>
#include <vector>

namespace magic::kafka {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

std::string RunId() {
  static const std::string id =
      std::to_string(getpid()) + "-" +
      std::to_string(Clock::now().time_since_epoch().count() % 1000000007);
  return id;
}

class KafkaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.brokers = magic::testing::ServerEnv("MAGIC_TEST_KAFKA_BROKERS");
    ASSERT_FALSE(config_.brokers.empty());
    config_.client_id = "kafka-test";
  }

  // A fresh topic for this test and run.
  std::string Topic(std::string_view name, int partitions = 1) {
    const std::string topic = fmt::format("test.{}.{}", name, RunId());
    const absl::Status s = EnsureTopics(config_, {{.name = topic, .partitions = partitions}});
    EXPECT_TRUE(s.ok()) << s;
    return topic;
  }

  std::unique_ptr<KafkaProducer> Producer() {
    absl::StatusOr<std::unique_ptr<KafkaProducer>> p = MakeKafkaProducer(config_);
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? std::move(*p) : nullptr;
  }

  std::unique_ptr<KafkaConsumer> Consumer(ConsumerOptions options = {}) {
    absl::StatusOr<std::unique_ptr<KafkaConsumer>> c = MakeKafkaConsumer(config_, options);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? std::move(*c) : nullptr;
  }

  static std::optional<KafkaMessage> PollOne(KafkaConsumer& consumer, milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      absl::StatusOr<std::optional<KafkaMessage>> m = consumer.Poll(milliseconds(50));
      EXPECT_TRUE(m.ok()) << m.status();
      if (m.ok() && m->has_value()) return std::move(*m);
    }
    return std::nullopt;
  }

  static void ProduceSync(KafkaProducer& producer, const ProducerRecord& record) {
    ASSERT_OK(producer.Produce(record, nullptr));
    ASSERT_OK(producer.Flush(seconds(10)));
  }

  KafkaConfig config_;
};

TEST_F(KafkaTest, ProduceConsumeRoundTripWithHeaders) {
  const std::string topic = Topic("roundtrip");
  auto producer = Producer();
  auto consumer = Consumer();
  ASSERT_OK(consumer->AssignAll(topic, StartAt::kBeginning, seconds(10)));

  std::mutex mu;
  std::optional<DeliveryReport> report;
  std::string report_topic;
  ASSERT_TRUE(producer
                  ->Produce({.topic = topic,
                             .key = "req-1",
                             .value = "{\"x\":1}",
                             .headers = {{"content-type", "json"}, {"attempt", "1"}}},
                            [&](const DeliveryReport& r) {
                              std::lock_guard lock(mu);
                              report = r;
                              report_topic = std::string(r.topic);
                            })
                  .ok());
  ASSERT_OK(producer->Flush(seconds(10)));
  {
    std::lock_guard lock(mu);
    ASSERT_TRUE(report.has_value());
    EXPECT_TRUE(report->status.ok()) << report->status;
    EXPECT_EQ(report_topic, topic);
    EXPECT_EQ(report->offset, 0);
  }
  std::optional<KafkaMessage> m = PollOne(*consumer, seconds(10));
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->topic(), topic);
  EXPECT_EQ(m->key(), "req-1");
  EXPECT_EQ(m->value(), "{\"x\":1}");
  ASSERT_EQ(m->headers().size(), 2u);
  EXPECT_EQ(m->header("content-type"), "json");
  EXPECT_EQ(m->header("attempt"), "1");
  EXPECT_EQ(m->header("missing"), std::nullopt);
  EXPECT_GT(m->timestamp_ms(), 0);
  EXPECT_EQ(m->NextOffset(), (PartitionOffset{topic, 0, 1}));
}

TEST_F(KafkaTest, ProducerIsIdempotentAndConsumerDoesNotAutoCommit) {
  auto producer = Producer();
  EXPECT_EQ(producer->ConfigValue("enable.idempotence"), "true");
  EXPECT_THAT(producer->ConfigValue("acks"), ::testing::Optional(::testing::AnyOf("all", "-1")));
  EXPECT_EQ(producer->ConfigValue("linger.ms"), "0");
  EXPECT_EQ(producer->ConfigValue("socket.nagle.disable"), "true");
  auto consumer = Consumer({.group_id = "cfg-" + RunId()});
  EXPECT_EQ(consumer->ConfigValue("enable.auto.commit"), "false");
  EXPECT_EQ(consumer->ConfigValue("enable.auto.offset.store"), "false");
  EXPECT_EQ(consumer->ConfigValue("fetch.wait.max.ms"), "10");
  EXPECT_EQ(consumer->ConfigValue("no.such.property"), std::nullopt);
}

// At-least-once: what was not committed is delivered again to the next
// member of the group, which learns its start offset in on_assign.
TEST_F(KafkaTest, UncommittedMessagesAreRedeliveredAfterRestart) {
  const std::string topic = Topic("redeliver");
  const std::string group = "redeliver-" + RunId();
  auto producer = Producer();
  for (const char* v : {"a", "b", "c"}) ProduceSync(*producer, {.topic = topic, .value = v});
  {
    auto first = Consumer({.group_id = group});
    ASSERT_OK(first->Subscribe({topic}));
    std::optional<KafkaMessage> a = PollOne(*first, seconds(20));
    ASSERT_TRUE(a.has_value());
    EXPECT_EQ(a->value(), "a");
    std::optional<KafkaMessage> b = PollOne(*first, seconds(5));
    ASSERT_TRUE(b.has_value());
    EXPECT_EQ(b->value(), "b");
    // Only "a" is done (its result was produced); "b" was in progress.
    ASSERT_OK(first->CommitOffsets({a->NextOffset()}));
  }  // crash-like restart: b is not committed
  std::vector<PartitionOffset> assigned;
  ConsumerOptions options{.group_id = group};
  options.hooks.on_assign = [&](const std::vector<PartitionOffset>& a) { assigned = a; };
  auto second = Consumer(options);
  ASSERT_OK(second->Subscribe({topic}));
  std::optional<KafkaMessage> again = PollOne(*second, seconds(20));
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->value(), "b");
  EXPECT_THAT(assigned, ::testing::ElementsAre(PartitionOffset{topic, 0, 1}));
  absl::StatusOr<std::vector<PartitionOffset>> committed =
      second->Committed({{topic, 0}}, seconds(5));
  ASSERT_TRUE(committed.ok()) << committed.status();
  EXPECT_THAT(*committed, ::testing::ElementsAre(PartitionOffset{topic, 0, 1}));
}

TEST_F(KafkaTest, RevokeHookRunsOnClose) {
  const std::string topic = Topic("revoke");
  std::vector<TopicPartition> revoked;
  ConsumerOptions options{.group_id = "revoke-" + RunId()};
  options.hooks.on_revoke = [&](const std::vector<TopicPartition>& r, bool lost) {
    revoked = r;
    EXPECT_FALSE(lost);
  };
  auto consumer = Consumer(options);
  ASSERT_OK(consumer->Subscribe({topic}));
  const auto deadline = Clock::now() + seconds(20);
  while (Clock::now() < deadline && consumer->Assignment()->empty()) {
    ASSERT_OK(consumer->Poll(milliseconds(50)));
  }
  ASSERT_EQ(consumer->Assignment()->size(), 1u);
  consumer->Close();
  EXPECT_THAT(revoked, ::testing::ElementsAre(TopicPartition{topic, 0}));
  EXPECT_EQ(consumer->Poll(milliseconds(1)).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(KafkaTest, PauseStopsDeliveryUntilResume) {
  const std::string topic = Topic("pause");
  auto producer = Producer();
  auto consumer = Consumer();
  ASSERT_OK(consumer->AssignAll(topic, StartAt::kEnd, seconds(10)));
  ASSERT_OK(consumer->Pause());
  EXPECT_TRUE(consumer->paused());
  ProduceSync(*producer, {.topic = topic, .value = "held"});
  EXPECT_FALSE(PollOne(*consumer, milliseconds(1500)).has_value());
  ASSERT_OK(consumer->Resume());
  EXPECT_FALSE(consumer->paused());
  std::optional<KafkaMessage> m = PollOne(*consumer, seconds(10));
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->value(), "held");
}

TEST_F(KafkaTest, AssignAllAtEndSeesOnlyNewMessages) {
  const std::string topic = Topic("replies", 3);
  auto producer = Producer();
  ProduceSync(*producer, {.topic = topic, .key = "old", .value = "old"});
  auto consumer = Consumer();
  ASSERT_OK(consumer->AssignAll(topic, StartAt::kEnd, seconds(10)));
  EXPECT_EQ(consumer->Assignment()->size(), 3u);
  ProduceSync(*producer, {.topic = topic, .value = "new", .partition = 2});
  std::optional<KafkaMessage> m = PollOne(*consumer, seconds(10));
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->value(), "new");
  EXPECT_EQ(m->partition(), 2);
}

int64_t NowMs() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TEST_F(KafkaTest, AssignAllSinceStartsAtTheFirstMessageAtOrAfterTheTime) {
  const std::string topic = Topic("since", 3);
  auto producer = Producer();
  ProduceSync(*producer, {.topic = topic, .value = "old", .partition = 0});
  std::this_thread::sleep_for(milliseconds(50));
  const int64_t since = NowMs();
  std::this_thread::sleep_for(milliseconds(10));
  ProduceSync(*producer, {.topic = topic, .value = "new0", .partition = 0});
  ProduceSync(*producer, {.topic = topic, .value = "new1", .partition = 1});

  auto consumer = Consumer();
  absl::StatusOr<std::vector<PartitionRange>> ranges =
      consumer->AssignAllSince(topic, since, seconds(10));
  ASSERT_TRUE(ranges.ok()) << ranges.status();
  EXPECT_THAT(*ranges, ::testing::ElementsAre(PartitionRange{0, 1, 2}, PartitionRange{1, 0, 1},
                                              PartitionRange{2, 0, 0}));
  std::vector<std::string> seen;
  for (int i = 0; i < 2; ++i) {
    std::optional<KafkaMessage> m = PollOne(*consumer, seconds(10));
    ASSERT_TRUE(m.has_value());
    seen.emplace_back(m->value());
  }
  EXPECT_THAT(seen, ::testing::UnorderedElementsAre("new0", "new1"));

  // Nothing that recent: every partition starts at its end.
  auto later = Consumer();
  ranges = later->AssignAllSince(topic, NowMs() + 3'600'000, seconds(10));
  ASSERT_TRUE(ranges.ok()) << ranges.status();
  EXPECT_THAT(*ranges, ::testing::ElementsAre(PartitionRange{0, 2, 2}, PartitionRange{1, 1, 1},
                                              PartitionRange{2, 0, 0}));
  EXPECT_EQ(
      Consumer()->AssignAllSince("test.missing." + RunId(), 0, milliseconds(500)).status().code(),
      absl::StatusCode::kNotFound);
}

TEST_F(KafkaTest, AssignAllOfMissingTopicIsNotFound) {
  auto consumer = Consumer();
  EXPECT_EQ(consumer->AssignAll("test.missing." + RunId(), StartAt::kEnd, milliseconds(500)).code(),
            absl::StatusCode::kNotFound);
}

TEST_F(KafkaTest, EnsureTopicsIsIdempotent) {
  const std::string name = "test.ensure." + RunId();
  const std::vector<TopicSpec> specs = {
      {.name = name, .partitions = 3, .config = {{"cleanup.policy", "compact"}}},
      {.name = name + ".plain", .partitions = 2}};
  ASSERT_OK(EnsureTopics(config_, specs));
  ASSERT_OK(EnsureTopics(config_, specs));
  auto consumer = Consumer();
  ASSERT_OK(consumer->AssignAll(name, StartAt::kBeginning, seconds(10)));
  EXPECT_EQ(consumer->Assignment()->size(), 3u);
  EXPECT_EQ(EnsureTopics(config_, {{.name = "bad name!"}}).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(KafkaTest, FullLocalQueueIsE3004AndNeverBlocks) {
  KafkaConfig small = config_;
  small.properties["queue.buffering.max.messages"] = "5";
  absl::StatusOr<std::unique_ptr<KafkaProducer>> producer = MakeKafkaProducer(small);
  ASSERT_OK(producer);
  const std::string topic = Topic("queuefull");
  absl::Status last;
  const auto start = Clock::now();
  for (int i = 0; i < 200 && last.ok(); ++i) {
    last = (*producer)->Produce({.topic = topic, .value = "x"}, nullptr);
  }
  EXPECT_LT(Clock::now() - start, seconds(1));
  EXPECT_EQ(last.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ErrorCodeOf(last), ErrorCode::kE3004);
  EXPECT_OK((*producer)->Flush(seconds(10)));
}

// librdkafka 2.0 alone would hold the first message to a topic new to the
// producer until its 1 s metadata scan; the producer asks at once.
TEST_F(KafkaTest, FirstMessageToANewTopicIsNotHeldBack) {
  const std::vector<std::string> topics = {Topic("first-a"), Topic("first-b")};
  auto producer = Producer();
  for (const std::string& topic : topics) {
    std::atomic<bool> delivered{false};
    const auto start = Clock::now();
    ASSERT_OK(producer->Produce({.topic = topic, .value = "x"},
                                [&](const DeliveryReport& r) { delivered = r.status.ok(); }));
    while (!delivered && Clock::now() - start < seconds(5)) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    const auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
    std::cout << fmt::format("first message to {}: {} ms\n", topic, took.count());
    EXPECT_TRUE(delivered);
    EXPECT_LT(took, milliseconds(400)) << "waited for librdkafka's periodic metadata scan";
  }
}

// Measures (prints, does not assert) produce -> consume latency, one
// message at a time, with the tuned settings.
TEST_F(KafkaTest, RoundTripLatency) {
  const std::string topic = Topic("latency");
  auto producer = Producer();
  auto consumer = Consumer();
  ASSERT_OK(consumer->AssignAll(topic, StartAt::kEnd, seconds(10)));
  constexpr int kWarmup = 50;
  constexpr int kCount = 1000;
  std::vector<double> micros;
  for (int i = 0; i < kWarmup + kCount; ++i) {
    const std::string value = std::to_string(i);
    const auto start = Clock::now();
    ASSERT_OK(producer->Produce({.topic = topic, .key = "k", .value = value}, nullptr));
    std::optional<KafkaMessage> m = PollOne(*consumer, seconds(5));
    ASSERT_TRUE(m.has_value());
    ASSERT_EQ(m->value(), value);
    if (i >= kWarmup) {
      micros.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
    }
  }
  std::sort(micros.begin(), micros.end());
  const auto pct = [&](double p) { return micros[static_cast<size_t>(p * (micros.size() - 1))]; };
  std::cout << fmt::format(
      "kafka round trip, {} sequential messages: p50 {:.0f} us, p90 {:.0f} us, "
      "p99 {:.0f} us, max {:.0f} us\n",
      kCount, pct(0.5), pct(0.9), pct(0.99), micros.back());
  RecordProperty("p50_us", static_cast<int>(pct(0.5)));
  RecordProperty("p99_us", static_cast<int>(pct(0.99)));
}

}  // namespace
}  // namespace magic::kafka
