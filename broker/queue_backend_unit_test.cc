// QueueBackend with a fake producer: deadlines and delivery failures that a
// real cluster does not produce on demand.
#include "broker/queue_backend.h"
#include "common/errors.h"
#include "common/testing/status_testing.h"

#include <gtest/gtest.h>

#include <mutex>
#include <thread>

namespace magic::broker {
namespace {

using contracts::Capability;
using contracts::CapabilityKind;
using nlohmann::json;

// Answers each Produce() as told: report now (ok or an error), never, or
// refuse it.
class FakeProducer final : public kafka::KafkaProducer {
 public:
  enum class Mode { kDeliver, kFailDelivery, kNeverReport, kRefuse };
  Mode mode = Mode::kDeliver;
  absl::Status refusal = absl::ResourceExhaustedError("queue full");
  std::vector<std::string> values;
  std::vector<std::vector<std::pair<std::string, std::string>>> headers;
  std::vector<kafka::DeliveryCallback> held;  // kNeverReport

  ~FakeProducer() override {
    for (auto& callback : held) callback({.status = absl::CancelledError("shutdown")});
  }

  absl::Status Produce(const kafka::ProducerRecord& record,
                       kafka::DeliveryCallback on_delivery) override {
    if (mode == Mode::kRefuse) return refusal;
    values.emplace_back(record.value);
    auto& h = headers.emplace_back();
    for (const kafka::HeaderView& v : record.headers) h.emplace_back(v.key, v.value);
    switch (mode) {
      case Mode::kDeliver:
        on_delivery({.topic = record.topic, .partition = 0, .offset = next_++});
        break;
      case Mode::kFailDelivery:
        on_delivery({.status = absl::UnavailableError("broker down"), .topic = record.topic});
        break;
      default:
        held.push_back(std::move(on_delivery));
    }
    return absl::OkStatus();
  }
  absl::Status Flush(std::chrono::milliseconds) override { return absl::OkStatus(); }
  int64_t InFlight() const override { return 0; }
  std::optional<std::string> ConfigValue(std::string_view) const override { return std::nullopt; }

 private:
  int64_t next_ = 100;
};

class QueueBackendUnitTest : public ::testing::Test {
 protected:
  QueueBackendUnitTest() {
    declared_.kind = CapabilityKind::kQueuePublish;
    declared_.queues = {"orders"};
  }
  absl::StatusOr<json> Publish(const json& params, absl::Duration budget = absl::Seconds(5)) {
    const CallContext ctx{.request_id = "req_1",
                          .controller = "OrderSync",
                          .kind = CapabilityKind::kQueuePublish,
                          .declared = &declared_,
                          .deadline = absl::Now() + budget};
    audit_ = json::object();
    return backend_.Call(ctx, "publish", params, audit_);
  }

  FakeProducer producer_;
  QueueBackend backend_{producer_, QueuePolicy{.max_message_bytes = 200}};
  Capability declared_;
  json audit_;
};

TEST_F(QueueBackendUnitTest, ResultListsOffsetsInOrderAndMagicHeadersAreAdded) {
  absl::StatusOr<json> out =
      Publish({{"queue", "orders"}, {"messages", {1, "two", {{"three", 3}}}}});
  ASSERT_OK(out);
  EXPECT_EQ(*out, json({{"topic", "magic.queue.orders"},
                        {"count", 3},
                        {"offsets",
                         {{{"partition", 0}, {"offset", 100}},
                          {{"partition", 0}, {"offset", 101}},
                          {{"partition", 0}, {"offset", 102}}}}}));
  EXPECT_EQ(producer_.values, (std::vector<std::string>{"1", "\"two\"", R"({"three":3})"}));
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"magic-request-id", "req_1"}, {"magic-controller", "OrderSync"}};
  EXPECT_EQ(producer_.headers[0], expected);
  EXPECT_EQ(audit_, json({{"queue_name", "orders"}, {"message_count", 3}}));
}

TEST_F(QueueBackendUnitTest, NoDeliveryReportBeforeTheDeadlineIsE3001) {
  producer_.mode = FakeProducer::Mode::kNeverReport;
  const absl::Time start = absl::Now();
  absl::StatusOr<json> out =
      Publish({{"queue", "orders"}, {"message", 1}}, absl::Milliseconds(200));
  EXPECT_EQ(ErrorCodeOf(out.status()), ErrorCode::kE3001);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(150));
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
}

TEST_F(QueueBackendUnitTest, AFailedDeliveryIsE3005) {
  producer_.mode = FakeProducer::Mode::kFailDelivery;
  EXPECT_EQ(ErrorCodeOf(Publish({{"queue", "orders"}, {"message", 1}}).status()),
            ErrorCode::kE3005);
}

TEST_F(QueueBackendUnitTest, ProduceRefusalsKeepOrGetACode) {
  producer_.mode = FakeProducer::Mode::kRefuse;
  producer_.refusal = MakeError(ErrorCode::kE3004, "queue full");
  EXPECT_EQ(ErrorCodeOf(Publish({{"queue", "orders"}, {"message", 1}}).status()),
            ErrorCode::kE3004);
  producer_.refusal = absl::InvalidArgumentError(
      "kafka produce: Broker: Message size too large (MSG_SIZE_TOO_LARGE)");
  EXPECT_EQ(ErrorCodeOf(Publish({{"queue", "orders"}, {"message", 1}}).status()),
            ErrorCode::kE2004);
  producer_.refusal = absl::UnavailableError("down");
  EXPECT_EQ(ErrorCodeOf(Publish({{"queue", "orders"}, {"message", 1}}).status()),
            ErrorCode::kE3005);
}

TEST_F(QueueBackendUnitTest, SizeCountsKeyAndHeaders) {
  const std::string body(100, 'x');  // 102 bytes of JSON
  EXPECT_OK(Publish({{"queue", "orders"}, {"message", body}}));
  EXPECT_EQ(ErrorCodeOf(Publish({{"queue", "orders"},
                                 {"message", body},
                                 {"headers", {{"trace", std::string(80, 't')}}}})
                            .status()),
            ErrorCode::kE2004);
  EXPECT_EQ(
      ErrorCodeOf(Publish({{"queue", "orders"}, {"message", body}, {"key", std::string(90, 'k')}})
                      .status()),
      ErrorCode::kE2004);
}

TEST_F(QueueBackendUnitTest, DeadlineAlreadyPassedProducesNothing) {
  EXPECT_EQ(ErrorCodeOf(Publish({{"queue", "orders"}, {"message", 1}}, -absl::Seconds(1)).status()),
            ErrorCode::kE3001);
  EXPECT_TRUE(producer_.values.empty());
}

TEST(QueueNameTest, Pattern) {
  EXPECT_TRUE(QueueBackend::IsValidQueueName("order-events"));
  EXPECT_TRUE(QueueBackend::IsValidQueueName("a.b_C-9"));
  EXPECT_TRUE(QueueBackend::IsValidQueueName(std::string(200, 'q')));
  EXPECT_FALSE(QueueBackend::IsValidQueueName(std::string(201, 'q')));
  EXPECT_FALSE(QueueBackend::IsValidQueueName(""));
  EXPECT_FALSE(QueueBackend::IsValidQueueName("a/b"));
  EXPECT_FALSE(QueueBackend::IsValidQueueName("é"));
}

}  // namespace
}  // namespace magic::broker
