#include "broker/policy.h"

#include "common/errors.h"
#include "common/testing/status_testing.h"

#include <gtest/gtest.h>

namespace magic::broker {
namespace {

using contracts::CapabilityKind;

TEST(PolicyTest, ProductionDeniesRawSqlByDefault) {
  EXPECT_TRUE(Policy::Defaults(Environment::kProduction).Denies(CapabilityKind::kDbRawSql));
  EXPECT_FALSE(Policy::Defaults(Environment::kDevelopment).Denies(CapabilityKind::kDbRawSql));
  EXPECT_FALSE(Policy::Defaults(Environment::kDevelopment).http.allow_private_networks);
}

TEST(PolicyTest, EmptyDocumentIsProduction) {
  absl::StatusOr<Policy> policy = ParsePolicy("{}");
  ASSERT_OK(policy);
  EXPECT_EQ(policy->environment, Environment::kProduction);
  EXPECT_TRUE(policy->Denies(CapabilityKind::kDbRawSql));
}

TEST(PolicyTest, ParsesEverySection) {
  absl::StatusOr<Policy> policy = ParsePolicy(R"(
environment: development
deny: [http:egress, cache:write]
rate_limits:
  db:read: {per_second: 10, burst: 20}
  queue:publish: {per_second: 2.5}
http:
  allow_hosts: ["*.example.com"]
  deny_hosts: [evil.example.com]
  allow_private_networks: true
  allow_cidrs: [127.0.0.1/32]
  connect_to: {"api.stripe.com:443": "127.0.0.1:18443"}
  ca_file: /tmp/ca.pem
  max_request_bytes: 2Mi
  max_response_bytes: 65536
  max_redirects: 2
db: {schema: apps, max_rows: 50, statement_timeout: 2s}
cache: {max_ttl: 1h, max_value_bytes: 4Ki, namespace: "t1:"}
queue: {topic_prefix: "q.", max_message_bytes: 128Ki}
)");
  ASSERT_OK(policy);
  EXPECT_EQ(policy->environment, Environment::kDevelopment);
  EXPECT_TRUE(policy->Denies(CapabilityKind::kHttpEgress));
  EXPECT_TRUE(policy->Denies(CapabilityKind::kCacheWrite));
  EXPECT_FALSE(policy->Denies(CapabilityKind::kDbRawSql));  // deny replaces the default
  EXPECT_EQ(policy->rate_limits.at(CapabilityKind::kDbRead).burst, 20);
  EXPECT_EQ(policy->rate_limits.at(CapabilityKind::kQueuePublish).per_second, 2.5);
  EXPECT_EQ(policy->rate_limits.at(CapabilityKind::kQueuePublish).burst, 2.5);
  EXPECT_EQ(policy->http.allow_hosts, std::vector<std::string>{"*.example.com"});
  EXPECT_EQ(policy->http.deny_hosts, std::vector<std::string>{"evil.example.com"});
  EXPECT_TRUE(policy->http.allow_private_networks);
  EXPECT_EQ(policy->http.connect_to.at("api.stripe.com:443"), "127.0.0.1:18443");
  EXPECT_EQ(policy->http.ca_file, "/tmp/ca.pem");
  EXPECT_EQ(policy->http.max_request_bytes, 2 << 20);
  EXPECT_EQ(policy->http.max_response_bytes, 65536);
  EXPECT_EQ(policy->http.max_redirects, 2);
  EXPECT_EQ(policy->db.schema, "apps");
  EXPECT_EQ(policy->db.max_rows, 50);
  EXPECT_EQ(policy->db.statement_timeout, absl::Seconds(2));
  EXPECT_EQ(policy->cache.max_ttl_seconds, 3600);
  EXPECT_EQ(policy->cache.max_value_bytes, 4096);
  EXPECT_EQ(policy->cache.key_namespace, "t1:");
  EXPECT_EQ(QueueTopic(policy->queue, "order-events"), "q.order-events");
  EXPECT_EQ(policy->queue.max_message_bytes, 128 << 10);
}

TEST(PolicyTest, DefaultQueueTopic) {
  EXPECT_EQ(QueueTopic(QueuePolicy{}, "invoice-events"), "magic.queue.invoice-events");
}

struct BadCase {
  const char* text;
  const char* key;
};

TEST(PolicyTest, BadDocumentsNameTheKey) {
  const BadCase cases[] = {
      {"environment: staging", "/environment"},
      {"envronment: production", "/envronment"},
      {"deny: [db:everything]", "/deny/0"},
      {"deny: db:rawsql", "/deny"},
      {"rate_limits: {db:read: {per_second: 0}}", "/rate_limits/db:read/per_second"},
      {"rate_limits: {db:read: {per_second: 1, burst: 0.5}}", "/rate_limits/db:read/burst"},
      {"rate_limits: {dbread: {per_second: 1}}", "/rate_limits/dbread"},
      {"http: {allow_private: true}", "/http/allow_private"},
      {"http: {allow_private_networks: yes please}", "/http/allow_private_networks"},
      {"http: {max_redirects: 100}", "/http/max_redirects"},
      {"http: {max_response_bytes: lots}", "/http/max_response_bytes"},
      {"http: {connect_to: [a]}", "/http/connect_to"},
      {"db: {max_rows: -1}", "/db/max_rows"},
      {"db: {statement_timeout: forever}", "/db/statement_timeout"},
      {"cache: {max_ttl: 0}", "/cache/max_ttl"},
      {"queue: {topic_prefix: 3}", "/queue/topic_prefix"},
      {"fs: {max_size: 1Mi}", "/fs"},
  };
  for (const BadCase& c : cases) {
    absl::StatusOr<Policy> policy = ParsePolicy(c.text);
    ASSERT_FALSE(policy.ok()) << c.text;
    const Error error = ErrorFromStatus(policy.status());
    EXPECT_EQ(error.code, ErrorCode::kE1005) << c.text;
    EXPECT_EQ(error.details.value("key", ""), c.key) << c.text << ": " << policy.status();
  }
}

TEST(PolicyTest, NotYamlIsE1005) {
  EXPECT_EQ(ErrorCodeOf(ParsePolicy("a: [").status()), ErrorCode::kE1005);
  EXPECT_EQ(ErrorCodeOf(ParsePolicy("- just\n- a list").status()), ErrorCode::kE1005);
  EXPECT_EQ(ErrorCodeOf(LoadPolicy("/nonexistent/policy.yaml").status()), ErrorCode::kE1005);
}

}  // namespace
}  // namespace magic::broker
