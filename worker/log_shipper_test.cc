// KafkaLogShipper and InvocationLogShipping against the real Kafka
// (MAGIC_TEST_KAFKA_BROKERS): a fresh topic per run.
#include "worker/log_shipper.h"

#include "common/testing/status_testing.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <unistd.h>

namespace magic::worker {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

std::string RunId() {
  static const std::string id = fmt::format(
      "{}-{}", getpid(), std::chrono::steady_clock::now().time_since_epoch().count() % 1000000007);
  return id;
}

class LogShipperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* brokers = std::getenv("MAGIC_TEST_KAFKA_BROKERS");
    ASSERT_TRUE(brokers != nullptr && *brokers != '\0')
        << "MAGIC_TEST_KAFKA_BROKERS is not set (source /tmp/magic-services/env)";
    config_ = {.brokers = brokers, .client_id = "log-shipper-test"};
    topic_ = fmt::format("test.logs.{}.{}",
                         ::testing::UnitTest::GetInstance()->current_test_info()->name(), RunId());
    ASSERT_OK(kafka::EnsureTopics(config_, {{.name = topic_, .partitions = 2}}));
    auto producer = kafka::MakeKafkaProducer(config_);
    ASSERT_TRUE(producer.ok()) << producer.status();
    producer_ = *std::move(producer);
  }

  KafkaLogShipperOptions Options() { return {.topic = topic_, .worker_id = "wk_test"}; }

  // Every message of the topic, as (key, JSON value), after a flush.
  std::vector<std::pair<std::string, json>> ReadAll(size_t expected) {
    EXPECT_OK(producer_->Flush(seconds(10)));
    auto consumer = kafka::MakeKafkaConsumer(config_, {});
    EXPECT_TRUE(consumer.ok()) << consumer.status();
    std::vector<std::pair<std::string, json>> out;
    if (!consumer.ok()) return out;
    EXPECT_OK((*consumer)->AssignAll(topic_, kafka::StartAt::kBeginning, seconds(10)));
    const auto deadline = std::chrono::steady_clock::now() + seconds(10);
    while (out.size() < expected && std::chrono::steady_clock::now() < deadline) {
      auto m = (*consumer)->Poll(milliseconds(100));
      EXPECT_TRUE(m.ok()) << m.status();
      if (!m.ok() || !m->has_value()) continue;
      out.emplace_back(std::string((*m)->key()), json::parse((*m)->value()));
    }
    // Anything beyond `expected` would be a bug too.
    auto extra = (*consumer)->Poll(milliseconds(300));
    EXPECT_TRUE(extra.ok() && !extra->has_value()) << "more lines than expected";
    return out;
  }

  kafka::KafkaConfig config_;
  std::string topic_;
  std::unique_ptr<kafka::KafkaProducer> producer_;
};

TEST_F(LogShipperTest, ShipsOneJsonLineWithEveryFieldKeyedByController) {
  KafkaLogShipper shipper(*producer_, Options());
  const LogRecord record{.request_id = "req_abc",
                         .level = "info",
                         .msg = "visit counted",
                         .fields = {{"page", "home"}, {"visits", 2}}};
  const json log_fields = {{"tenant", "t1"}, {"page", "from-input"}};
  EXPECT_TRUE(shipper.Ship({.ts = absl::FromUnixMillis(1'700'000'000'123),
                            .controller = "VisitCounter",
                            .version = "0.1.0",
                            .record = record,
                            .log_fields = log_fields}));
  auto lines = ReadAll(1);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].first, "VisitCounter");
  EXPECT_EQ(lines[0].second, json({{"ts", "2023-11-14T22:13:20.123Z"},
                                   {"controller", "VisitCounter"},
                                   {"version", "0.1.0"},
                                   {"request_id", "req_abc"},
                                   {"level", "info"},
                                   {"msg", "visit counted"},
                                   // the record's own page wins over the input's
                                   {"fields", {{"page", "home"}, {"visits", 2}, {"tenant", "t1"}}},
                                   {"worker_id", "wk_test"}}));
  EXPECT_EQ(shipper.stats().shipped, 1);
  EXPECT_EQ(shipper.stats().dropped, 0);
}

TEST_F(LogShipperTest, PerInvocationCapDropsAndCountsTheRest) {
  KafkaLogShipper shipper(*producer_, Options());
  {
    InvocationLogShipping shipping(&shipper, "Chatty", "1.0.0", json::object(), /*max_lines=*/3);
    for (int i = 0; i < 5; ++i) {
      shipping.Ship(
          {.request_id = "req_chatty", .level = "debug", .msg = fmt::format("line {}", i)},
          absl::Now());
    }
    EXPECT_EQ(shipper.stats().dropped, 0);  // reported when the invocation ends
  }
  EXPECT_EQ(shipper.stats().dropped, 2);
  auto lines = ReadAll(3);
  ASSERT_EQ(lines.size(), 3u);
  // One key, so one partition, so in order.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(lines[i].second["msg"], fmt::format("line {}", i));
  EXPECT_EQ(shipper.stats().shipped, 3);
}

TEST_F(LogShipperTest, LongLinesAreCutAndLinesThatCannotFitAreDropped) {
  KafkaLogShipperOptions options = Options();
  options.max_line_bytes = 512;
  KafkaLogShipper shipper(*producer_, options);
  // "é" is two bytes: the cut must not split it.
  std::string long_msg;
  for (int i = 0; i < 400; ++i) long_msg += "\xC3\xA9";
  const LogRecord record{.request_id = "req_long",
                         .level = "warning",
                         .msg = long_msg,
                         .fields = {{"blob", std::string(2000, 'x')}}};
  const json none = json::object();
  EXPECT_TRUE(shipper.Ship({.ts = absl::Now(),
                            .controller = "Long",
                            .version = "1",
                            .record = record,
                            .log_fields = none}));
  const std::string huge_name(1000, 'N');  // even the cut line cannot fit
  EXPECT_FALSE(shipper.Ship({.ts = absl::Now(),
                             .controller = huge_name,
                             .version = "1",
                             .record = record,
                             .log_fields = none}));
  auto lines = ReadAll(1);
  ASSERT_EQ(lines.size(), 1u);
  const json& line = lines[0].second;
  EXPECT_EQ(line["request_id"], "req_long");
  EXPECT_EQ(line["fields"], json({{"truncated", true}}));
  const std::string msg = line["msg"];
  EXPECT_EQ(msg.size(), 256u);
  EXPECT_EQ(msg, long_msg.substr(0, 256));
  EXPECT_LE(line.dump().size(), 512u);
  EXPECT_EQ(shipper.stats().truncated, 1);
  EXPECT_EQ(shipper.stats().dropped, 1);
  EXPECT_EQ(shipper.stats().shipped, 1);
}

TEST_F(LogShipperTest, OverTheInFlightBudgetLinesAreDroppedNotQueued) {
  KafkaLogShipperOptions options = Options();
  options.max_in_flight = 0;
  KafkaLogShipper shipper(*producer_, options);
  const LogRecord record{.request_id = "req_x", .level = "info", .msg = "m"};
  const json none = json::object();
  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(shipper.Ship({.ts = absl::Now(),
                               .controller = "Busy",
                               .version = "1",
                               .record = record,
                               .log_fields = none}));
  }
  EXPECT_EQ(shipper.stats().dropped, 3);
  EXPECT_EQ(producer_->InFlight(), 0);
  EXPECT_TRUE(ReadAll(0).empty());
}

TEST(InvocationLogShippingTest, WithoutAShipperNothingHappens) {
  InvocationLogShipping shipping(nullptr, "C", "1", json::object());
  shipping.Ship({.request_id = "r", .level = "info", .msg = "m"}, absl::Now());
  SUCCEED() << "no shipper, no crash";
}

}  // namespace
}  // namespace magic::worker
