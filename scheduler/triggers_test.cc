// The event envelope and run ids of queue:subscribe triggers (pure parts).
#include "scheduler/triggers.h"

#include "common/ids.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace magic::scheduler {
namespace {

QueueMessage Message(std::string_view value) {
  return {.queue = "orders",
          .partition = 2,
          .offset = 41,
          .key = "cust-7",
          .value = value,
          .headers = {{"trace", "abc"}},
          .timestamp_ms = 1'766'000'000'000};
}

TEST(EventEnvelopeTest, JsonPayloadAndCoordinates) {
  const nlohmann::json e = nlohmann::json::parse(EventEnvelope(Message(R"({"id": 7})")));
  EXPECT_EQ(e["queue"], "orders");
  EXPECT_EQ(e["message_id"], "orders/2/41");
  EXPECT_EQ(e["partition"], 2);
  EXPECT_EQ(e["offset"], 41);
  EXPECT_EQ(e["key"], "cust-7");
  EXPECT_EQ(e["headers"], nlohmann::json({{"trace", "abc"}}));
  EXPECT_EQ(e["published_at_ms"], 1'766'000'000'000);
  EXPECT_EQ(e["payload"], nlohmann::json({{"id", 7}}));
}

TEST(EventEnvelopeTest, TextEmptyAndMissingParts) {
  QueueMessage m = Message("not json {");
  m.key = "";
  m.headers.clear();
  m.timestamp_ms = -1;
  nlohmann::json e = nlohmann::json::parse(EventEnvelope(m));
  EXPECT_EQ(e["payload"], "not json {");
  EXPECT_TRUE(e["key"].is_null());
  EXPECT_TRUE(e["published_at_ms"].is_null());
  EXPECT_TRUE(e["headers"].is_object() && e["headers"].empty());
  e = nlohmann::json::parse(EventEnvelope(Message("")));
  EXPECT_TRUE(e["payload"].is_null());
  e = nlohmann::json::parse(EventEnvelope(Message("42")));
  EXPECT_EQ(e["payload"], 42);
}

TEST(EventEnvelopeTest, InvalidUtf8IsReplacedNotACrash) {
  const std::string bad = std::string("a\xff\xfe") + '\0' + "b";
  QueueMessage m = Message(bad);
  m.key = bad;
  m.headers = {{std::string_view("h\xc3"), std::string_view(bad)}};
  const std::string text = EventEnvelope(m);
  const nlohmann::json e = nlohmann::json::parse(text);  // valid JSON, valid UTF-8
  EXPECT_TRUE(e["payload"].is_string());
  EXPECT_NE(e["payload"].get<std::string>().find("\xEF\xBF\xBD"), std::string::npos);
  EXPECT_TRUE(e["key"].is_string());
}

TEST(EventRequestIdTest, DeterministicValidAndDistinct) {
  const QueueMessage m = Message("{}");
  const std::string id = EventRequestId("Billing", m);
  EXPECT_EQ(id, "evt-Billing-orders-2-41");
  EXPECT_EQ(id, EventRequestId("Billing", m));
  EXPECT_NE(id, EventRequestId("Shipping", m));
  QueueMessage next = m;
  next.offset = 42;
  EXPECT_NE(id, EventRequestId("Billing", next));
  QueueMessage other = m;
  other.partition = 3;
  EXPECT_NE(id, EventRequestId("Billing", other));
}

TEST(EventRequestIdTest, LongOrOddNamesFallBackToADigest) {
  QueueMessage m = Message("{}");
  const std::string long_queue(200, 'q');
  m.queue = long_queue;
  const std::string id = EventRequestId("Billing", m);
  EXPECT_TRUE(IsValidRequestId(id)) << id;
  EXPECT_EQ(id.rfind("evt-", 0), 0u);
  m.queue = "orders/with space";
  EXPECT_TRUE(IsValidRequestId(EventRequestId("Billing", m)));
  QueueMessage other = m;
  other.queue = "orders/with spacf";
  EXPECT_NE(EventRequestId("Billing", m), EventRequestId("Billing", other));
}

}  // namespace
}  // namespace magic::scheduler
