#include "contracts/contract.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace magic::contracts {
namespace {

using ::testing::Eq;
using ::testing::Optional;

Capability Make(CapabilityKind kind) {
  Capability c;
  c.kind = kind;
  return c;
}

TEST(CapabilityNameTest, RoundTripsAllTen) {
  for (int i = 0; i < kCapabilityKindCount; ++i) {
    const auto kind = static_cast<CapabilityKind>(i);
    EXPECT_THAT(ParseCapabilityName(CapabilityName(kind)), Optional(Eq(kind)));
  }
}

TEST(CapabilityNameTest, SpecNames) {
  EXPECT_EQ(CapabilityName(CapabilityKind::kDbRead), "db:read");
  EXPECT_EQ(CapabilityName(CapabilityKind::kDbRawSql), "db:rawsql");
  EXPECT_EQ(CapabilityName(CapabilityKind::kHttpEgress), "http:egress");
  EXPECT_EQ(CapabilityName(CapabilityKind::kQueueSubscribe), "queue:subscribe");
  EXPECT_EQ(CapabilityName(CapabilityKind::kFsTemp), "fs:temp");
}

TEST(CapabilityNameTest, RejectsUnknownAndNearMisses) {
  EXPECT_EQ(ParseCapabilityName(""), std::nullopt);
  EXPECT_EQ(ParseCapabilityName("db:reads"), std::nullopt);
  EXPECT_EQ(ParseCapabilityName("DB:READ"), std::nullopt);
  EXPECT_EQ(ParseCapabilityName(" db:read"), std::nullopt);
  EXPECT_EQ(ParseCapabilityName("http"), std::nullopt);
}

TEST(MetricTypeNameTest, Names) {
  EXPECT_EQ(MetricTypeName(MetricType::kCounter), "counter");
  EXPECT_EQ(MetricTypeName(MetricType::kGauge), "gauge");
  EXPECT_EQ(MetricTypeName(MetricType::kHistogram), "histogram");
  EXPECT_EQ(MetricTypeName(MetricType::kSummary), "summary");
}

TEST(AllowsHostTest, ExactMatchIsCaseInsensitive) {
  Capability c = Make(CapabilityKind::kHttpEgress);
  c.allow = {"api.stripe.com"};
  EXPECT_TRUE(c.AllowsHost("api.stripe.com"));
  EXPECT_TRUE(c.AllowsHost("API.Stripe.COM"));
  EXPECT_TRUE(c.AllowsHost("api.stripe.com."));  // fully qualified form
  EXPECT_FALSE(c.AllowsHost("stripe.com"));
  EXPECT_FALSE(c.AllowsHost("evil-api.stripe.com"));
  EXPECT_FALSE(c.AllowsHost("api.stripe.com.evil.net"));
  EXPECT_FALSE(c.AllowsHost(""));
}

TEST(AllowsHostTest, WildcardMatchesSubdomainsButNotTheDomain) {
  Capability c = Make(CapabilityKind::kHttpEgress);
  c.allow = {"*.example.com"};
  EXPECT_TRUE(c.AllowsHost("a.example.com"));
  EXPECT_TRUE(c.AllowsHost("a.b.example.com"));
  EXPECT_TRUE(c.AllowsHost("A.Example.Com"));
  EXPECT_FALSE(c.AllowsHost("example.com"));
  EXPECT_FALSE(c.AllowsHost(".example.com"));
  EXPECT_FALSE(c.AllowsHost("badexample.com"));
  EXPECT_FALSE(c.AllowsHost("example.com.evil.net"));
  EXPECT_FALSE(c.AllowsHost("a.example.org"));
}

TEST(AllowsHostTest, EmptyAllowReachesNothing) {
  const Capability c = Make(CapabilityKind::kHttpEgress);
  EXPECT_FALSE(c.AllowsHost("api.stripe.com"));
}

TEST(AllowsHostTest, IpLiterals) {
  Capability c = Make(CapabilityKind::kHttpEgress);
  c.allow = {"10.0.0.1", "::1"};
  EXPECT_TRUE(c.AllowsHost("10.0.0.1"));
  EXPECT_TRUE(c.AllowsHost("[::1]"));
  EXPECT_FALSE(c.AllowsHost("10.0.0.2"));
}

TEST(AllowsTableTest, ExactAndEmptyMeansEveryTable) {
  Capability c = Make(CapabilityKind::kDbRead);
  EXPECT_TRUE(c.AllowsTable("customers"));  // no tables declared: every table
  c.tables = {"customers", "billing.invoices"};
  EXPECT_TRUE(c.AllowsTable("customers"));
  EXPECT_TRUE(c.AllowsTable("billing.invoices"));
  EXPECT_FALSE(c.AllowsTable("Customers"));
  EXPECT_FALSE(c.AllowsTable("invoices"));
  EXPECT_FALSE(c.AllowsTable(""));
}

TEST(AllowsKeyTest, Exact) {
  Capability c = Make(CapabilityKind::kSecretsRead);
  EXPECT_FALSE(c.AllowsKey("STRIPE_API_KEY"));
  c.keys = {"STRIPE_API_KEY"};
  EXPECT_TRUE(c.AllowsKey("STRIPE_API_KEY"));
  EXPECT_FALSE(c.AllowsKey("stripe_api_key"));
  EXPECT_FALSE(c.AllowsKey("STRIPE_API_KEY_2"));
}

TEST(AllowsQueueTest, ExactForBothDirections) {
  for (CapabilityKind kind : {CapabilityKind::kQueuePublish, CapabilityKind::kQueueSubscribe}) {
    Capability c = Make(kind);
    EXPECT_FALSE(c.AllowsQueue("order-events"));
    c.queues = {"order-events"};
    EXPECT_TRUE(c.AllowsQueue("order-events"));
    EXPECT_FALSE(c.AllowsQueue("order-events-2"));
  }
}

TEST(AllowsCacheKeyTest, PrefixMatchAndEmptyPrefixIsAny) {
  Capability c = Make(CapabilityKind::kCacheWrite);
  EXPECT_TRUE(c.AllowsCacheKey("anything"));
  c.prefix = "customer:";
  EXPECT_TRUE(c.AllowsCacheKey("customer:42"));
  EXPECT_TRUE(c.AllowsCacheKey("customer:"));
  EXPECT_FALSE(c.AllowsCacheKey("customer"));
  EXPECT_FALSE(c.AllowsCacheKey("order:42"));
}

TEST(AllowsTest, OptionsOfAnotherKindAllowNothing) {
  Capability c = Make(CapabilityKind::kHttpEgress);
  c.tables = {"customers"};
  c.keys = {"K"};
  c.queues = {"q"};
  EXPECT_FALSE(c.AllowsTable("customers"));
  EXPECT_FALSE(c.AllowsKey("K"));
  EXPECT_FALSE(c.AllowsQueue("q"));
  EXPECT_FALSE(c.AllowsCacheKey("x"));
  Capability db = Make(CapabilityKind::kDbRead);
  db.allow = {"api.stripe.com"};
  EXPECT_FALSE(db.AllowsHost("api.stripe.com"));
}

TEST(ContractTest, FindAndDeclares) {
  Contract contract;
  Capability egress = Make(CapabilityKind::kHttpEgress);
  egress.allow = {"api.stripe.com"};
  contract.capabilities = {Make(CapabilityKind::kDbRead), egress};
  ASSERT_NE(contract.Find(CapabilityKind::kHttpEgress), nullptr);
  EXPECT_EQ(contract.Find(CapabilityKind::kHttpEgress)->allow, egress.allow);
  EXPECT_TRUE(contract.Declares(CapabilityKind::kDbRead));
  EXPECT_FALSE(contract.Declares(CapabilityKind::kDbWrite));
  EXPECT_EQ(contract.Find(CapabilityKind::kFsTemp), nullptr);
}

TEST(ResourceLimitsTest, DefaultsFromTheSpec) {
  const ResourceLimits limits;
  EXPECT_DOUBLE_EQ(limits.cpu, 0.5);
  EXPECT_EQ(limits.memory_bytes, 256 << 20);
  EXPECT_EQ(limits.timeout_ms, 30'000);
}

}  // namespace
}  // namespace magic::contracts
