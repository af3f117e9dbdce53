// The broker core with fakes of our own interfaces (backends, audit sink,
// registry): the order of checks and one audit record per call. The real
// backends have their own tests against the real servers.
#include "broker/broker.h"

#include "broker/fs_backend.h"
#include "common/errors.h"
#include "common/testing/status_testing.h"
#include "contracts/loader.h"
#include "contracts/schema.h"
#include "proto/wire_errors.h"

#include <gtest/gtest.h>

#include <mutex>
#include <vector>

namespace magic::broker {
namespace {

using nlohmann::json;

constexpr char kContract[] = R"(
name: Caller
version: 1.0.0
input: {type: object}
output: {type: object}
capabilities:
  - db:read: {tables: [customers]}
  - db:rawsql
  - cache:read: {prefix: "c:"}
  - fs:temp
)";

class FakeRegistry final : public contracts::Registry {
 public:
  FakeRegistry() {
    contracts::CheckResult parsed = contracts::ParseContract(kContract);
    EXPECT_TRUE(parsed.contract.has_value());
    auto version = std::make_shared<contracts::ControllerVersion>();
    version->compiled = contracts::CompiledContract::Compile(*parsed.contract).value();
    version->digest = "digest-1";
    version_ = version;
  }
  absl::StatusOr<std::shared_ptr<const contracts::ControllerVersion>> Active(
      std::string_view name) const override {
    return Get(name, "1.0.0");
  }
  absl::StatusOr<std::shared_ptr<const contracts::ControllerVersion>> Get(
      std::string_view name, std::string_view version) const override {
    if (name != "Caller" || version != "1.0.0") {
      return MakeError(ErrorCode::kE4003, "no such version");
    }
    return version_;
  }
  std::vector<std::string> List() const override { return {"Caller"}; }

 private:
  std::shared_ptr<const contracts::ControllerVersion> version_;
};

class RecordingBackend final : public Backend {
 public:
  absl::StatusOr<json> Call(const CallContext& ctx, std::string_view op, const json& params,
                            json& audit) override {
    std::lock_guard lock(mu);
    calls.push_back({std::string(op), params, ctx.declared != nullptr ? ctx.declared->prefix : ""});
    audit["table"] = "customers";
    if (params.contains("fail")) return MakeError(ErrorCode::kE2003, "outside the allowlist");
    return json{{"rows", json::array()}};
  }
  struct Seen {
    std::string op;
    json params;
    std::string prefix;
  };
  std::mutex mu;
  std::vector<Seen> calls;
};

class MemoryAudit final : public AuditSink {
 public:
  absl::Status Record(magic::v1::AuditRecord record) override {
    if (refuse) return MakeError(ErrorCode::kE3005, "audit backlog full");
    records.push_back(std::move(record));
    return absl::OkStatus();
  }
  absl::Status Flush(absl::Duration) override { return absl::OkStatus(); }
  std::vector<magic::v1::AuditRecord> records;
  bool refuse = false;
};

class BrokerTest : public ::testing::Test {
 protected:
  BrokerTest()
      : pair_(GenerateGrantKeyPair().value()),
        signer_(GrantSigner::FromSeed(pair_.seed).value()),
        verifier_(GrantVerifier::FromPublicKeys({pair_.public_key}).value()) {}

  void SetUp() override { Rebuild(Policy::Defaults(Environment::kDevelopment)); }

  void Rebuild(Policy policy) {
    policy_ = std::move(policy);
    broker_ = std::make_unique<Broker>(registry_, policy_, verifier_,
                                       Backends{.db = &db_, .cache = &cache_, .fs = &fs_}, audit_,
                                       clock_);
  }

  std::string Grant(std::string request_id = "req_1", std::string digest = "digest-1") {
    magic::v1::InvocationJob job;
    job.set_request_id(std::move(request_id));
    job.set_controller("Caller");
    job.set_version("1.0.0");
    job.set_contract_digest(std::move(digest));
    job.set_deadline_unix_ms(absl::ToUnixMillis(clock_.Now() + absl::Seconds(10)));
    return signer_.Sign(job, clock_.Now());
  }

  magic::v1::CallReply Call(std::string capability, std::string op, json params,
                            std::string grant = "") {
    magic::v1::CallRequest request;
    request.set_grant(grant.empty() ? Grant() : grant);
    request.set_seq(++seq_);
    request.set_capability(std::move(capability));
    request.set_op(std::move(op));
    request.set_params_json(params.dump());
    request.set_worker_id("wk_test");
    return broker_->Call(request);
  }

  static std::string CodeOf(const magic::v1::CallReply& reply) {
    return reply.has_error() ? reply.error().code() : "";
  }

  GrantKeyPair pair_;
  GrantSigner signer_;
  GrantVerifier verifier_;
  FakeRegistry registry_;
  RecordingBackend db_, cache_;
  FsBackend fs_;
  MemoryAudit audit_;
  FakeClock clock_;
  Policy policy_;
  std::unique_ptr<Broker> broker_;
  uint64_t seq_ = 0;
};

TEST_F(BrokerTest, AllowedCallReachesTheBackendAndIsAudited) {
  magic::v1::CallReply reply = Call("db", "query", {{"table", "customers"}});
  ASSERT_FALSE(reply.has_error()) << reply.error().message();
  EXPECT_EQ(json::parse(reply.result_json()), (json{{"rows", json::array()}}));
  ASSERT_EQ(db_.calls.size(), 1u);
  EXPECT_EQ(db_.calls[0].op, "query");
  EXPECT_EQ(db_.calls[0].params["table"], "customers");
  ASSERT_EQ(audit_.records.size(), 1u);
  const magic::v1::AuditRecord& record = audit_.records[0];
  EXPECT_EQ(record.request_id(), "req_1");
  EXPECT_EQ(record.controller(), "Caller");
  EXPECT_EQ(record.version(), "1.0.0");
  EXPECT_EQ(record.capability(), "db:read");
  EXPECT_EQ(record.operation(), "query");
  EXPECT_TRUE(record.allowed());
  EXPECT_EQ(record.code(), "");
  EXPECT_EQ(record.seq(), 1u);
  EXPECT_EQ(record.worker_id(), "wk_test");
  EXPECT_EQ(json::parse(record.fields_json())["table"], "customers");
}

TEST_F(BrokerTest, UndeclaredCapabilityIsE2001) {
  magic::v1::CallReply reply = Call("db", "insert", {{"table", "customers"}});
  EXPECT_EQ(CodeOf(reply), "E2001");
  EXPECT_EQ(reply.error().request_id(), "req_1");
  EXPECT_TRUE(db_.calls.empty());
  ASSERT_EQ(audit_.records.size(), 1u);
  EXPECT_FALSE(audit_.records[0].allowed());
  EXPECT_EQ(audit_.records[0].code(), "E2001");
  EXPECT_EQ(audit_.records[0].capability(), "db:write");
  // cache:write is not implied by cache:read
  EXPECT_EQ(CodeOf(Call("cache", "set", {{"key", "c:1"}, {"value", 1}})), "E2001");
}

TEST_F(BrokerTest, PolicyDenialIsE2002) {
  Rebuild(Policy::Defaults(Environment::kProduction));
  EXPECT_EQ(CodeOf(Call("db", "raw", {{"sql", "select 1"}})), "E2002");
  EXPECT_TRUE(db_.calls.empty());
  EXPECT_EQ(audit_.records.back().code(), "E2002");
  Rebuild(Policy::Defaults(Environment::kDevelopment));
  EXPECT_EQ(CodeOf(Call("db", "raw", {{"sql", "select 1"}})), "");
}

TEST_F(BrokerTest, BackendRefusalIsPassedOnAndAudited) {
  EXPECT_EQ(CodeOf(Call("db", "query", {{"table", "x"}, {"fail", true}})), "E2003");
  EXPECT_EQ(audit_.records.back().code(), "E2003");
  EXPECT_EQ(json::parse(audit_.records.back().fields_json())["table"], "customers");
}

TEST_F(BrokerTest, RateLimitIsE2004) {
  Policy policy = Policy::Defaults(Environment::kDevelopment);
  policy.rate_limits[contracts::CapabilityKind::kCacheRead] = {.per_second = 1, .burst = 2};
  Rebuild(policy);
  EXPECT_EQ(CodeOf(Call("cache", "get", {{"key", "c:1"}})), "");
  EXPECT_EQ(CodeOf(Call("cache", "get", {{"key", "c:1"}})), "");
  EXPECT_EQ(CodeOf(Call("cache", "get", {{"key", "c:1"}})), "E2004");
  EXPECT_EQ(CodeOf(Call("db", "query", {{"table", "customers"}})), "");  // other capability
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(CodeOf(Call("cache", "get", {{"key", "c:1"}})), "");
  EXPECT_EQ(cache_.calls.size(), 3u);
  EXPECT_EQ(cache_.calls[0].prefix, "c:");  // the backend sees the declaration
}

TEST_F(BrokerTest, GrantProblemsAreE2005) {
  // replay of (request id, seq)
  magic::v1::CallRequest request;
  request.set_grant(Grant());
  request.set_seq(7);
  request.set_capability("db");
  request.set_op("query");
  request.set_params_json(R"({"table":"customers"})");
  EXPECT_EQ(CodeOf(broker_->Call(request)), "");
  EXPECT_EQ(CodeOf(broker_->Call(request)), "E2005");
  // expired
  const std::string grant = Grant("req_2");
  clock_.Advance(absl::Seconds(41));
  EXPECT_EQ(CodeOf(Call("db", "query", {{"table", "customers"}}, grant)), "E2005");
  // a digest the registry does not have; garbage; no grant
  EXPECT_EQ(CodeOf(Call("db", "query", {{"table", "customers"}}, Grant("req_3", "other"))),
            "E2005");
  EXPECT_EQ(CodeOf(Call("db", "query", {{"table", "customers"}}, "garbage")), "E2005");
  // another signer
  GrantSigner other = GrantSigner::FromSeed(GenerateGrantKeyPair()->seed).value();
  magic::v1::InvocationJob job;
  job.set_request_id("req_4");
  job.set_controller("Caller");
  job.set_version("1.0.0");
  job.set_contract_digest("digest-1");
  job.set_deadline_unix_ms(absl::ToUnixMillis(clock_.Now() + absl::Seconds(10)));
  EXPECT_EQ(CodeOf(Call("db", "query", {{"table", "customers"}}, other.Sign(job, clock_.Now()))),
            "E2005");
  EXPECT_EQ(db_.calls.size(), 1u);
  for (size_t i = 1; i < audit_.records.size(); ++i) {
    EXPECT_EQ(audit_.records[i].code(), "E2005");
  }
  EXPECT_EQ(audit_.records.size(), 6u);
}

TEST_F(BrokerTest, UnknownOperationsAndBadParamsAreE1005) {
  EXPECT_EQ(CodeOf(Call("db", "drop_everything", json::object())), "E1005");
  EXPECT_EQ(CodeOf(Call("shell", "exec", json::object())), "E1005");
  magic::v1::CallRequest request;
  request.set_grant(Grant());
  request.set_seq(99);
  request.set_capability("db");
  request.set_op("query");
  request.set_params_json("[1,2");
  EXPECT_EQ(CodeOf(broker_->Call(request)), "E1005");
  EXPECT_EQ(audit_.records.size(), 3u);
}

TEST_F(BrokerTest, UnconfiguredBackendIsE3005) {
  Rebuild(Policy::Defaults(Environment::kDevelopment));
  Broker bare(registry_, policy_, verifier_, Backends{}, audit_, clock_);
  magic::v1::CallRequest request;
  request.set_grant(Grant());
  request.set_seq(1);
  request.set_capability("db");
  request.set_op("query");
  EXPECT_EQ(CodeOf(bare.Call(request)), "E3005");
}

TEST_F(BrokerTest, AuditFailureRefusesTheCall) {
  audit_.refuse = true;
  EXPECT_EQ(CodeOf(Call("db", "query", {{"table", "customers"}})), "E3005");
}

TEST_F(BrokerTest, FsOperationsAreCheckedAndHashed) {
  magic::v1::CallReply reply = Call("fs", "open", {{"path", "out/report.csv"}, {"mode", "w"}});
  EXPECT_EQ(CodeOf(reply), "");
  const json fields = json::parse(audit_.records.back().fields_json());
  EXPECT_EQ(fields["operation"], "open");
  EXPECT_EQ(fields["path_hash"].get<std::string>().size(), 16u);
  EXPECT_EQ(audit_.records.back().fields_json().find("report"), std::string::npos);
  EXPECT_EQ(CodeOf(Call("fs", "open", {{"path", "../etc/passwd"}})), "E2003");
  EXPECT_EQ(CodeOf(Call("fs", "open", {{"path", "/etc/passwd"}})), "E2003");
  EXPECT_EQ(CodeOf(Call("fs", "open", {{"path", 3}})), "E1005");
}

TEST(RequiredCapabilityTest, MapsEveryOperation) {
  using contracts::CapabilityKind;
  EXPECT_EQ(RequiredCapability("db", "query_one"), CapabilityKind::kDbRead);
  EXPECT_EQ(RequiredCapability("db", "delete"), CapabilityKind::kDbWrite);
  EXPECT_EQ(RequiredCapability("db", "raw"), CapabilityKind::kDbRawSql);
  EXPECT_EQ(RequiredCapability("http", "head"), CapabilityKind::kHttpEgress);
  EXPECT_EQ(RequiredCapability("secrets", "get"), CapabilityKind::kSecretsRead);
  EXPECT_EQ(RequiredCapability("cache", "ttl"), CapabilityKind::kCacheRead);
  EXPECT_EQ(RequiredCapability("cache", "incr"), CapabilityKind::kCacheWrite);
  EXPECT_EQ(RequiredCapability("queue", "publish"), CapabilityKind::kQueuePublish);
  EXPECT_EQ(RequiredCapability("fs", "open"), CapabilityKind::kFsTemp);
  EXPECT_EQ(RequiredCapability("queue", "subscribe"), std::nullopt);
  EXPECT_EQ(RequiredCapability("secrets", "set"), std::nullopt);
}

}  // namespace
}  // namespace magic::broker
