// QueueBackend against a real Kafka (scripts/services): needs
// MAGIC_TEST_KAFKA_BROKERS and fails without it. Topics are unique per
// run ("magic.test-queue.<name>-<run>").
#include "broker/queue_backend.h"

#include "common/errors.h"
#include "common/testing/status_testing.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <unistd.h>

namespace magic::broker {
namespace {

using contracts::Capability;
using contracts::CapabilityKind;
using kafka::KafkaConsumer;
using kafka::KafkaMessage;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

std::string RunId() {
  static const std::string id = fmt::format(
      "{}-{}", getpid(), std::chrono::steady_clock::now().time_since_epoch().count() % 1000000007);
  return id;
}

class QueueBackendTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const char* brokers = std::getenv("MAGIC_TEST_KAFKA_BROKERS");
    if (brokers == nullptr || *brokers == '\0') return;
    config_ = new kafka::KafkaConfig{.brokers = brokers, .client_id = "queue-backend-test"};
    policy_ = new QueuePolicy{.topic_prefix = "magic.test-queue.", .max_message_bytes = 4096};
    orders_ = new std::string("orders-" + RunId());
    const absl::Status s =
        kafka::EnsureTopics(*config_, {{.name = QueueTopic(*policy_, *orders_), .partitions = 3}});
    ASSERT_OK(s);
    absl::StatusOr<std::unique_ptr<kafka::KafkaProducer>> p = kafka::MakeKafkaProducer(*config_);
    ASSERT_OK(p);
    producer_ = p->release();
  }
  static void TearDownTestSuite() {
    delete producer_;
    delete config_;
    delete policy_;
    delete orders_;
  }

  void SetUp() override {
    ASSERT_NE(config_, nullptr) << "set MAGIC_TEST_KAFKA_BROKERS (source /tmp/magic-services/env)";
    ASSERT_NE(producer_, nullptr);
    declared_.kind = CapabilityKind::kQueuePublish;
    declared_.queues = {*orders_};
    queue_ = std::make_unique<QueueBackend>(*producer_, *policy_);
  }

  CallContext Ctx() const {
    return {.request_id = "req_queue_" + RunId(),
            .controller = "OrderSync",
            .version = "1.0.0",
            .kind = CapabilityKind::kQueuePublish,
            .declared = &declared_,
            .deadline = absl::Now() + absl::Seconds(15)};
  }

  absl::StatusOr<json> Publish(const json& params) {
    audit_ = json::object();
    return queue_->Call(Ctx(), "publish", params, audit_);
  }

  // A reader of every partition of the orders topic, from the end.
  std::unique_ptr<KafkaConsumer> Reader() {
    absl::StatusOr<std::unique_ptr<KafkaConsumer>> c = kafka::MakeKafkaConsumer(*config_, {});
    EXPECT_OK(c);
    if (!c.ok()) return nullptr;
    EXPECT_OK((*c)->AssignAll(QueueTopic(*policy_, *orders_), kafka::StartAt::kEnd, seconds(10)));
    return std::move(*c);
  }

  static std::vector<KafkaMessage> Read(KafkaConsumer& consumer, size_t n) {
    std::vector<KafkaMessage> out;
    const auto deadline = std::chrono::steady_clock::now() + seconds(15);
    while (out.size() < n && std::chrono::steady_clock::now() < deadline) {
      absl::StatusOr<std::optional<KafkaMessage>> m = consumer.Poll(milliseconds(50));
      EXPECT_OK(m);
      if (m.ok() && m->has_value()) out.push_back(std::move(**m));
    }
    return out;
  }

  static kafka::KafkaConfig* config_;
  static QueuePolicy* policy_;
  static std::string* orders_;
  static kafka::KafkaProducer* producer_;
  Capability declared_;
  std::unique_ptr<QueueBackend> queue_;
  json audit_;
};

kafka::KafkaConfig* QueueBackendTest::config_ = nullptr;
QueuePolicy* QueueBackendTest::policy_ = nullptr;
std::string* QueueBackendTest::orders_ = nullptr;
kafka::KafkaProducer* QueueBackendTest::producer_ = nullptr;

std::optional<ErrorCode> CodeOf(const absl::StatusOr<json>& r) { return ErrorCodeOf(r.status()); }

TEST_F(QueueBackendTest, PublishesOneMessageWithKeyAndHeaders) {
  auto reader = Reader();
  ASSERT_NE(reader, nullptr);
  const json message = {{"order_id", 42}, {"items", {"a", "b"}}};
  absl::StatusOr<json> out = Publish({{"queue", *orders_},
                                      {"message", message},
                                      {"key", "customer-7"},
                                      {"headers", {{"content-type", "application/json"}}}});
  ASSERT_OK(out);
  EXPECT_EQ((*out)["topic"], "magic.test-queue." + *orders_);
  EXPECT_EQ((*out)["count"], 1);
  ASSERT_EQ((*out)["offsets"].size(), 1u);
  EXPECT_EQ(audit_, json({{"queue_name", *orders_}, {"message_count", 1}}));

  std::vector<KafkaMessage> got = Read(*reader, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(json::parse(got[0].value()), message);
  EXPECT_EQ(got[0].key(), "customer-7");
  EXPECT_EQ(got[0].header("content-type"), "application/json");
  EXPECT_EQ(got[0].header("magic-request-id"), Ctx().request_id);
  EXPECT_EQ(got[0].header("magic-controller"), "OrderSync");
  EXPECT_EQ(got[0].partition(), (*out)["offsets"][0]["partition"].get<int32_t>());
  EXPECT_EQ(got[0].offset(), (*out)["offsets"][0]["offset"].get<int64_t>());
}

TEST_F(QueueBackendTest, PublishesABatchInOrder) {
  auto reader = Reader();
  ASSERT_NE(reader, nullptr);
  json messages = json::array();
  for (int i = 0; i < 25; ++i) messages.push_back({{"seq", i}});
  absl::StatusOr<json> out =
      Publish({{"queue", *orders_}, {"messages", messages}, {"key", "batch-" + RunId()}});
  ASSERT_OK(out);
  EXPECT_EQ((*out)["count"], 25);
  EXPECT_EQ(audit_["message_count"], 25);
  const json& offsets = (*out)["offsets"];
  ASSERT_EQ(offsets.size(), 25u);
  for (size_t i = 1; i < offsets.size(); ++i) {  // one key: one partition, consecutive
    EXPECT_EQ(offsets[i]["partition"], offsets[0]["partition"]);
    EXPECT_EQ(offsets[i]["offset"].get<int64_t>(), offsets[i - 1]["offset"].get<int64_t>() + 1);
  }
  std::vector<KafkaMessage> got = Read(*reader, 25);
  ASSERT_EQ(got.size(), 25u);
  for (int i = 0; i < 25; ++i) {
    EXPECT_EQ(json::parse(got[static_cast<size_t>(i)].value()), json({{"seq", i}}));
    EXPECT_EQ(got[static_cast<size_t>(i)].header("magic-request-id"), Ctx().request_id);
  }
}

TEST_F(QueueBackendTest, UndeclaredQueueIsE2003) {
  EXPECT_EQ(CodeOf(Publish({{"queue", "payments"}, {"message", 1}})), ErrorCode::kE2003);
  EXPECT_EQ(audit_["queue_name"], "payments");
}

TEST_F(QueueBackendTest, BadQueueNameIsE1005) {
  for (const json& name : {json(""), json("a b"), json("../x"), json("q*"),
                           json(std::string(201, 'q')), json(7), json(nullptr)}) {
    EXPECT_EQ(CodeOf(Publish({{"queue", name}, {"message", 1}})), ErrorCode::kE1005) << name;
  }
}

TEST_F(QueueBackendTest, OversizeMessageIsE2004) {
  EXPECT_EQ(CodeOf(Publish({{"queue", *orders_}, {"message", std::string(5000, 'x')}})),
            ErrorCode::kE2004);
  json messages = json::array();
  for (int i = 0; i < 101; ++i) messages.push_back(i);
  EXPECT_EQ(CodeOf(Publish({{"queue", *orders_}, {"messages", messages}})), ErrorCode::kE2004);
}

TEST_F(QueueBackendTest, ReservedHeadersAreRefused) {
  for (const char* name : {"magic-x", "Magic-Request-Id", "MAGIC-controller"}) {
    EXPECT_EQ(CodeOf(Publish({{"queue", *orders_}, {"message", 1}, {"headers", {{name, "v"}}}})),
              ErrorCode::kE1005)
        << name;
  }
}

TEST_F(QueueBackendTest, MalformedArgumentsAreE1005) {
  const std::vector<json> bad = {
      json::array(),
      {{"queue", *orders_}},                                           // no message
      {{"queue", *orders_}, {"message", 1}, {"messages", {1}}},        // both
      {{"queue", *orders_}, {"messages", json::array()}},              // empty batch
      {{"queue", *orders_}, {"messages", 1}},                          // not an array
      {{"queue", *orders_}, {"message", 1}, {"key", 5}},               // key not a string
      {{"queue", *orders_}, {"message", 1}, {"headers", {1, 2}}},      // headers not an object
      {{"queue", *orders_}, {"message", 1}, {"headers", {{"a", 1}}}},  // value not a string
      {{"queue", *orders_}, {"message", 1}, {"headers", {{"", "v"}}}},
  };
  for (const json& params : bad) {
    EXPECT_EQ(CodeOf(Publish(params)), ErrorCode::kE1005) << params;
  }
  json audit;
  EXPECT_EQ(ErrorCodeOf(queue_->Call(Ctx(), "consume", {{"queue", *orders_}}, audit).status()),
            ErrorCode::kE1005);
}

}  // namespace
}  // namespace magic::broker
