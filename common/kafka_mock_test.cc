// EmbeddedKafka (librdkafka's mock cluster): the clients of common/kafka.h
// against it, in-process. A unit test: no server needed.
#include "common/kafka.h"
#include "common/testing/status_testing.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>

namespace magic::kafka {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Polls until a message arrives or `timeout` passes.
std::optional<KafkaMessage> PollOne(KafkaConsumer& consumer, milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    absl::StatusOr<std::optional<KafkaMessage>> m = consumer.Poll(milliseconds(100));
    EXPECT_TRUE(m.ok()) << m.status();
    if (m.ok() && m->has_value()) return std::move(*m);
  }
  return std::nullopt;
}

TEST(EmbeddedKafkaTest, StartsAndStops) {
  EmbeddedKafka kafka;
  absl::StatusOr<std::string> bootstrap = kafka.Start();
  ASSERT_TRUE(bootstrap.ok()) << bootstrap.status();
  EXPECT_THAT(*bootstrap, testing::HasSubstr("127.0.0.1:"));
  EXPECT_EQ(kafka.bootstrap_servers(), *bootstrap);
  EXPECT_TRUE(kafka.Config().mock);
  kafka.Stop();
  EXPECT_EQ(kafka.bootstrap_servers(), "");
}

TEST(EmbeddedKafkaTest, ProduceConsumeRoundTripInGroup) {
  EmbeddedKafka kafka;
  ASSERT_OK(kafka.Start());
  const KafkaConfig config = kafka.Config("mock-test");
  ASSERT_OK(EnsureTopics(config, {{.name = "jobs", .partitions = 2}}));
  ASSERT_OK(EnsureTopics(config, {{.name = "jobs", .partitions = 2}}));  // idempotent

  absl::StatusOr<std::unique_ptr<KafkaProducer>> producer = MakeKafkaProducer(config);
  ASSERT_TRUE(producer.ok()) << producer.status();
  std::atomic<bool> delivered{false};
  ASSERT_TRUE((*producer)
                  ->Produce({.topic = "jobs", .key = "k", .value = "v", .headers = {{"h", "1"}}},
                            [&](const DeliveryReport& r) { delivered = r.status.ok(); })
                  .ok());
  ASSERT_OK((*producer)->Flush(seconds(10)));
  EXPECT_TRUE(delivered);

  std::vector<PartitionOffset> assigned;
  ConsumerOptions options{.group_id = "g1"};
  options.hooks.on_assign = [&](const std::vector<PartitionOffset>& a) { assigned = a; };
  absl::StatusOr<std::unique_ptr<KafkaConsumer>> consumer = MakeKafkaConsumer(config, options);
  ASSERT_TRUE(consumer.ok()) << consumer.status();
  ASSERT_OK((*consumer)->Subscribe({"jobs"}));
  std::optional<KafkaMessage> m = PollOne(**consumer, seconds(15));
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->key(), "k");
  EXPECT_EQ(m->value(), "v");
  EXPECT_EQ(m->header("h"), "1");
  EXPECT_EQ(assigned.size(), 2u);
  EXPECT_OK((*consumer)->CommitOffsets({m->NextOffset()}));
  m.reset();  // messages go before their consumer
}

// The mock answers "none" to every ListOffsets by time: AssignAllSince
// starts at the beginning there (the caller filters on timestamps).
TEST(EmbeddedKafkaTest, AssignAllSinceStartsAtTheBeginningOnTheMock) {
  EmbeddedKafka kafka;
  ASSERT_OK(kafka.Start());
  const KafkaConfig config = kafka.Config("mock-test");
  ASSERT_OK(EnsureTopics(config, {{.name = "logs", .partitions = 2}}));
  absl::StatusOr<std::unique_ptr<KafkaProducer>> producer = MakeKafkaProducer(config);
  ASSERT_TRUE(producer.ok()) << producer.status();
  ASSERT_OK((*producer)->Produce({.topic = "logs", .value = "old", .partition = 1}, nullptr));
  ASSERT_OK((*producer)->Flush(seconds(10)));
  absl::StatusOr<std::unique_ptr<KafkaConsumer>> consumer = MakeKafkaConsumer(config, {});
  ASSERT_TRUE(consumer.ok()) << consumer.status();
  absl::StatusOr<std::vector<PartitionRange>> ranges =
      (*consumer)->AssignAllSince("logs", int64_t{1} << 60, seconds(10));
  ASSERT_TRUE(ranges.ok()) << ranges.status();
  EXPECT_THAT(*ranges, testing::ElementsAre(PartitionRange{0, 0, 0}, PartitionRange{1, 0, 1}));
  std::optional<KafkaMessage> m = PollOne(**consumer, seconds(15));
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->value(), "old");
}

TEST(EmbeddedKafkaTest, EnsureTopicsNeedsARunningCluster) {
  KafkaConfig config{.brokers = "127.0.0.1:1", .mock = true};
  EXPECT_EQ(EnsureTopics(config, {{.name = "x"}}).code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace magic::kafka
