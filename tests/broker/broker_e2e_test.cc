// The capability broker end to end, in one process, against the REAL
// servers that scripts/services starts (Kafka, PostgreSQL, Redis): gateway
// (signs the grant) -> Kafka -> worker -> sandbox -> SDK -> worker relay ->
// broker (policy, backends, audit) -> real backends. The gateway, worker
// and result store are a testing::Farm; the broker works on the farm's own
// database. Outside services the controllers reach: a Stripe-like HTTPS
// server and a plain HTTP server on 127.0.0.2, which the test policy allows
// (127.0.0.1 stays refused, so the SSRF cases are real refusals).
#include "broker/audit.h"
#include "broker/db_backend.h"
#include "broker/grant.h"
#include "broker/policy.h"
#include "broker/secrets_store.h"
#include "broker/server.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/ids.h"
#include "common/internal/child_process.h"
#include "common/kafka.h"
#include "common/logging.h"
#include "common/postgres.h"
#include "magic/v1/broker.grpc.pb.h"
#include "proto/wire_errors.h"
#include "tests/farm/testing/farm.h"
#include "worker/broker_relay.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <httplib.h>
#include <optional>
#include <signal.h>
#include <sstream>
#include <thread>

namespace magic {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A grant signer for the farm's gateway, the broker trusting its public key;
// nullopt when no key pair could be made (Start() reports it).
std::optional<broker::GrantSigner> NewSigner(std::string* public_key) {
  auto pair = broker::GenerateGrantKeyPair();
  if (!pair.ok()) return std::nullopt;
  auto signer = broker::GrantSigner::FromSeed(pair->seed);
  if (!signer.ok()) return std::nullopt;
  *public_key = pair->public_key;
  return *std::move(signer);
}

// The farm, its broker, and the outside world the test controllers talk to.
// Members are destroyed in reverse: the broker before the farm (it reads the
// farm's registry), the call handlers and signer after it.
struct BrokerFarm {
  std::string dir;
  std::string log_file;
  std::string redis_url;
  // Values the test later searches for in results, logs and audit records.
  std::string tour_token = "tok_" + NewId("s") + "_never_printed";
  std::string stripe_key = "sk_test_" + NewId("s") + "_never_printed";
  std::string public_key;
  std::optional<broker::GrantSigner> signer = NewSigner(&public_key);
  std::unique_ptr<worker::BrokerCallHandlerFactory> calls;
  testing::Farm farm{{.controllers = {"tests/broker/controllers/capability_tour",
                                      "tests/broker/controllers/no_caps", "examples/invoice_sync"},
                      .generic_runners = 1,
                      .signer = signer ? &*signer : nullptr}};
  std::unique_ptr<broker::BrokerServer> broker;
  pid_t https_pid = -1;
  int https_port = 0;
  httplib::Server plain;
  std::thread plain_thread;
  int plain_port = 0;
  std::string error;

  std::string audit_topic() const { return "magic.audit." + farm.run; }

  bool Fail(const absl::Status& s) {
    error = std::string(s.message());
    return false;
  }
  bool Fail(const std::string& s) {
    error = s;
    return false;
  }

  // The Stripe-like HTTPS server (certificate for api.stripe.com) and a
  // plain server with redirects, both on 127.0.0.2.
  bool StartOutsideServers() {
    const std::string certs = dir + "/certs";
    if (std::system(("broker/testdata/make_test_cert.sh " + certs + " api.stripe.com").c_str()) !=
        0) {
      return Fail("make_test_cert.sh failed");
    }
    auto pid = internal::SpawnChild(
        {"/usr/bin/python3", fs::absolute("broker/testdata/https_server.py").string(), "--cert",
         certs + "/server.pem", "--key", certs + "/server.key", "--host", "127.0.0.2",
         "--port-file", dir + "/https.port"},
        std::nullopt, dir + "/https.log", SIGTERM);
    if (!pid.ok()) return Fail(pid.status());
    https_pid = *pid;
    for (int i = 0; i < 200 && https_port == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
      const std::string port = ReadFile(dir + "/https.port");
      if (!port.empty()) https_port = std::atoi(port.c_str());
    }
    if (https_port == 0)
      return Fail("https_server.py did not start: " + ReadFile(dir + "/https.log"));

    plain.Get("/hello", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"id":"hello","greeting":"hi"})", "application/json");
    });
    plain.Get("/to-loopback", [](const httplib::Request&, httplib::Response& res) {
      res.set_redirect("http://127.0.0.1:1/secret");
    });
    plain.Get("/to-metadata", [](const httplib::Request&, httplib::Response& res) {
      res.set_redirect("http://169.254.169.254/latest/meta-data/");
    });
    plain_port = plain.bind_to_any_port("127.0.0.2");
    if (plain_port <= 0) return Fail("cannot bind 127.0.0.2");
    plain_thread = std::thread([this] { plain.listen_after_bind(); });
    return true;
  }

  broker::Policy TestPolicy() const {
    broker::Policy policy = broker::Policy::Defaults(broker::Environment::kProduction);
    policy.http.allow_cidrs = {"127.0.0.2/32"};
    policy.http.connect_to = {{"api.stripe.com:443", fmt::format("127.0.0.2:{}", https_port)},
                              {"api.tour.test:80", fmt::format("127.0.0.2:{}", plain_port)}};
    policy.http.ca_file = dir + "/certs/ca.pem";
    policy.cache.key_namespace = farm.run + ":";
    policy.queue.topic_prefix = farm.queue_prefix();
    return policy;
  }

  // Secrets and the app tables, in the farm's database.
  bool PrepareData() {
    pg::PgPool& pool = *farm.pool;
    auto key = broker::GenerateMasterKeyFile(dir + "/master.key");
    if (!key.ok()) return Fail(key.status());
    if (auto s = broker::MigrateSecrets(pool); !s.ok()) return Fail(s);
    broker::SecretStore secrets(pool, *std::move(key));
    if (auto s = secrets.Set("TOUR_TOKEN", tour_token); !s.ok()) return Fail(s);
    if (auto s = secrets.Set("STRIPE_API_KEY", stripe_key); !s.ok()) return Fail(s);
    if (auto s = broker::MigrateAppSchema(pool, broker::DbPolicy{}); !s.ok()) return Fail(s);
    return pool.WithConnection([](pqxx::connection& conn) -> absl::Status {
                 pqxx::work tx(conn);
                 tx.exec0(
                     "CREATE TABLE IF NOT EXISTS app.tour_items (id text PRIMARY KEY, name text, "
                     "qty integer, created_at timestamptz DEFAULT now())");
                 tx.exec0(
                     "CREATE TABLE IF NOT EXISTS app.customers (id uuid PRIMARY KEY, email text "
                     "NOT NULL, name text)");
                 tx.exec0(
                     "INSERT INTO app.customers VALUES ('7f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d', "
                     "'ada@example.com', 'Ada') ON CONFLICT DO NOTHING");
                 tx.exec0("GRANT ALL ON ALL TABLES IN SCHEMA app TO magic_app");
                 tx.commit();
                 return absl::OkStatus();
               })
               .ok() ||
           Fail("app tables");
  }

  // The farm's data first, then the broker on it, then the farm's services,
  // whose worker calls the broker.
  bool Start() {
    redis_url = Env("MAGIC_TEST_REDIS_URL");
    if (redis_url.empty()) {
      return Fail(
          "MAGIC_TEST_REDIS_URL is not set: run `scripts/services start` and load its env file "
          "(scripts/test does)");
    }
    if (!signer) return Fail("cannot make a grant key pair");
    dir = (fs::temp_directory_path() / ("broker_e2e_" + farm.run)).string();
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return Fail(dir + ": " + ec.message());
    if (!StartOutsideServers()) return false;
    log_file = dir + "/farm.log";
    logging::Init({.component = "broker-e2e", .level = "debug", .file = log_file});
    if (!farm.Prepare()) return Fail(farm.error);
    if (auto s = kafka::EnsureTopics(
            farm.kafka, {{.name = audit_topic(), .partitions = 1},
                         {.name = farm.queue_prefix() + "tour-events", .partitions = 1}});
        !s.ok()) {
      return Fail(s);
    }
    if (!PrepareData()) return false;

    Clock& clock = RealClockInstance();
    broker::BrokerServerOptions bo;
    bo.grpc_addr = "127.0.0.1:0";
    bo.policy = TestPolicy();
    bo.postgres_url = farm.database.url();
    bo.postgres_pool_size = 4;
    bo.redis_url = redis_url;
    bo.kafka = farm.kafka;
    bo.audit_topic = audit_topic();
    bo.master_key_file = dir + "/master.key";
    bo.grant_public_keys = {public_key};
    auto b = broker::BrokerServer::Start(bo, *farm.registry, clock);
    if (!b.ok()) return Fail(b.status());
    broker = *std::move(b);
    calls = std::make_unique<worker::BrokerCallHandlerFactory>(
        worker::MakeBrokerStub(broker->address()), "wk_" + farm.run, clock);
    farm.calls = calls.get();
    return farm.Start() || Fail(farm.error);
  }

  void Stop() {
    farm.Stop();  // first: its worker calls the broker
    if (broker) broker->Stop();
    if (https_pid > 0) internal::StopChild(https_pid, SIGTERM, std::chrono::seconds(5));
    plain.stop();
    if (plain_thread.joinable()) plain_thread.join();
    std::error_code ec;
    if (!dir.empty()) fs::remove_all(dir, ec);
  }
};

BrokerFarm* world = nullptr;

class BrokerE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    world = new BrokerFarm();
    started_ = world->Start();
  }
  static void TearDownTestSuite() {
    world->Stop();
    delete world;
    world = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(started_) << world->error;
    stub_ = world->farm.GatewayStub();
  }

  struct Outcome {
    std::string request_id;
    json output;  // on success
    Error error;  // on failure
    bool ok = false;
  };

  Outcome Invoke(const std::string& controller, const json& input) {
    magic::v1::InvokeRequest req;
    req.set_controller(controller);
    req.set_input_json(input.dump());
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    magic::v1::InvokeResponse response;
    grpc::Status s = stub_->Invoke(&ctx, req, &response);
    Outcome out;
    auto id = ctx.GetServerInitialMetadata().find("x-request-id");
    if (id != ctx.GetServerInitialMetadata().end()) {
      out.request_id = std::string(id->second.data(), id->second.size());
    }
    out.ok = s.ok();
    if (s.ok()) {
      out.output = json::parse(response.output_json());
      return out;
    }
    auto trailer = ctx.GetServerTrailingMetadata().find("magic-error-bin");
    if (trailer != ctx.GetServerTrailingMetadata().end()) {
      magic::v1::Error wire;
      wire.ParseFromArray(trailer->second.data(), static_cast<int>(trailer->second.size()));
      out.error = FromWireError(wire);
    }
    return out;
  }

  // Runs the tour; returns one result object per step.
  json Tour(const json& steps, std::string* request_id = nullptr) {
    Outcome out = Invoke("CapabilityTour", {{"steps", steps}});
    EXPECT_TRUE(out.ok) << out.error.message;
    if (request_id != nullptr) *request_id = out.request_id;
    return out.ok ? out.output["results"] : json::array();
  }

  // The audit records of one request, waiting for the batch writer.
  std::vector<magic::v1::AuditRecord> Audit(const std::string& request_id, size_t want) {
    std::vector<magic::v1::AuditRecord> rows;
    for (int i = 0; i < 200; ++i) {
      auto read = broker::ReadAuditRecords(*world->farm.pool, {.request_id = request_id});
      if (read.ok()) rows = *std::move(read);
      if (rows.size() >= want) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    return rows;
  }

  static json Step(const std::string& cap, const std::string& op, json args,
                   json kwargs = json::object()) {
    return {{"cap", cap}, {"op", op}, {"args", std::move(args)}, {"kwargs", std::move(kwargs)}};
  }

  static bool started_;
  std::unique_ptr<magic::v1::Gateway::Stub> stub_;
};

bool BrokerE2eTest::started_ = false;

TEST_F(BrokerE2eTest, EveryCapabilityWorksThroughTheBroker) {
  const std::string item = "item-" + world->farm.run;
  const std::string cache_key = "tour:" + world->farm.run;
  const json steps = json::array({
      Step("db", "insert", {"tour_items", {{"id", item}, {"name", "widget"}, {"qty", 3}}},
           {{"returning", {"id", "qty"}}}),
      Step("db", "query", {"tour_items"}, {{"where", {{"id", item}}}, {"columns", {"id", "name"}}}),
      Step("db", "update", {"tour_items", {{"id", item}}, {{"qty", 5}}}),
      Step("db", "query_one", {"tour_items"}, {{"where", {{"qty", {{"$gte", 5}}}, {"id", item}}}}),
      Step("cache", "set", {cache_key, {{"a", 1}}}),
      Step("cache", "get", {cache_key}),
      Step("cache", "incr", {cache_key + ":n"}),
      Step("queue", "publish", {"tour-events", {{"item", item}}}, {{"key", item}}),
      Step("secrets", "get", {"TOUR_TOKEN"}),
      Step("http", "get", {"http://api.tour.test/hello"}),
      Step("fs", "write_text", {"notes/a.txt", "hello"}),
      Step("fs", "read_text", {"notes/a.txt"}),
      Step("db", "delete", {"tour_items", {{"id", item}}}),
  });
  std::string request_id;
  const json results = Tour(steps, &request_id);
  ASSERT_EQ(results.size(), steps.size()) << results.dump();
  for (size_t i = 0; i < results.size(); ++i) {
    EXPECT_TRUE(results[i]["ok"].get<bool>()) << i << ": " << results[i].dump();
  }
  EXPECT_EQ(results[0]["value"]["row_count"], 1);
  EXPECT_EQ(results[1]["value"][0]["name"], "widget");
  EXPECT_EQ(results[3]["value"]["qty"], 5);
  EXPECT_EQ(results[5]["value"], (json{{"a", 1}}));
  EXPECT_EQ(results[6]["value"], 1);
  EXPECT_EQ(results[8]["value"]["length"], world->tour_token.size());
  EXPECT_EQ(results[9]["value"]["status"], 200);
  EXPECT_EQ(results[11]["value"], "hello");
  EXPECT_EQ(results[12]["value"]["row_count"], 1);

  // One audit record per call, in order, all allowed, with their fields.
  std::vector<magic::v1::AuditRecord> audit = Audit(request_id, steps.size());
  ASSERT_EQ(audit.size(), steps.size());  // fs.write_text and read_text: one "open" each
  const std::vector<std::string> capabilities = {
      "db:write",   "db:read",     "db:write",      "db:read",      "cache:write",
      "cache:read", "cache:write", "queue:publish", "secrets:read", "http:egress",
      "fs:temp",    "fs:temp",     "db:write"};
  for (size_t i = 0; i < capabilities.size(); ++i) {
    EXPECT_EQ(audit[i].capability(), capabilities[i]) << i;
    EXPECT_TRUE(audit[i].allowed()) << i;
    EXPECT_EQ(audit[i].controller(), "CapabilityTour");
    EXPECT_EQ(audit[i].version(), "1.0.0");
    EXPECT_EQ(audit[i].seq(), i + 1);
  }
  const json db_fields = json::parse(audit[0].fields_json());
  EXPECT_EQ(db_fields["table"], "tour_items");
  EXPECT_EQ(db_fields["row_count"], 1);
  EXPECT_EQ(json::parse(audit[8].fields_json())["key_name"], "TOUR_TOKEN");
  const json http_fields = json::parse(audit[9].fields_json());
  EXPECT_EQ(http_fields["host"], "api.tour.test");
  EXPECT_EQ(http_fields["method"], "GET");
  EXPECT_EQ(http_fields["status"], 200);
  EXPECT_EQ(json::parse(audit[7].fields_json())["queue_name"], "tour-events");

  // The message is on the mapped topic with Magic's headers.
  auto consumer =
      kafka::MakeKafkaConsumer(world->farm.kafka, {.group_id = "check." + world->farm.run});
  ASSERT_TRUE(consumer.ok()) << consumer.status();
  ASSERT_TRUE((*consumer)->Subscribe({world->farm.queue_prefix() + "tour-events"}).ok());
  std::optional<kafka::KafkaMessage> message;
  for (int i = 0; i < 100 && !message; ++i) {
    auto polled = (*consumer)->Poll(std::chrono::milliseconds(100));
    if (polled.ok() && polled->has_value()) message = std::move(**polled);
  }
  ASSERT_TRUE(message.has_value());
  EXPECT_EQ(message->key(), item);
  EXPECT_EQ(json::parse(message->value()), (json{{"item", item}}));
  EXPECT_EQ(message->header("magic-request-id").value_or(""), request_id);
}

TEST_F(BrokerE2eTest, RefusalsCarryTheirCodesAndAreAudited) {
  struct Case {
    json step;
    std::string code;
  };
  const std::vector<Case> cases = {
      {Step("db", "raw", {"SELECT 1"}), "E2002"},                       // production policy
      {Step("db", "query", {"customers"}), "E2003"},                    // table not declared
      {Step("cache", "set", {"other:1", 1}), "E2003"},                  // prefix
      {Step("cache", "set", {"tour:x", 1}, {{"ttl", 3600}}), "E2004"},  // over max_ttl 60
      {Step("queue", "publish", {"other-queue", 1}), "E2003"},
      {Step("secrets", "get", {"OTHER_KEY"}), "E2003"},
      {Step("secrets", "get", {"MISSING_TOKEN"}), "E4003"},
      {Step("http", "get", {"https://evil.example.com/"}), "E2003"},       // host not declared
      {Step("http", "get", {"http://127.0.0.1:1/"}), "E2003"},             // loopback
      {Step("http", "get", {"http://169.254.169.254/latest/"}), "E2003"},  // metadata
      {Step("http", "get", {"http://10.0.0.1/"}), "E2003"},                // private
      {Step("http", "get", {"http://api.tour.test/to-loopback"}), "E2003"},
      {Step("http", "get", {"http://api.tour.test/to-metadata"}), "E2003"},
      {Step("fs", "write_text", {"../escape.txt", "x"}), "E2003"},
  };
  json steps = json::array();
  for (const Case& c : cases) steps.push_back(c.step);
  std::string request_id;
  const json results = Tour(steps, &request_id);
  ASSERT_EQ(results.size(), cases.size()) << results.dump();
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_FALSE(results[i]["ok"].get<bool>()) << i << ": " << results[i].dump();
    EXPECT_EQ(results[i].value("code", ""), cases[i].code) << i << ": " << results[i].dump();
  }
  // The fs escape is refused by the SDK before any call: every other step
  // has a denied audit record with the same code.
  std::vector<magic::v1::AuditRecord> audit = Audit(request_id, cases.size() - 1);
  ASSERT_EQ(audit.size(), cases.size() - 1);
  for (size_t i = 0; i + 1 < cases.size(); ++i) {
    EXPECT_FALSE(audit[i].allowed()) << i;
    EXPECT_EQ(audit[i].code(), cases[i].code) << i;
  }
}

TEST_F(BrokerE2eTest, SqlInjectionThroughTheFarmChangesNothing) {
  const std::string item = "inj-" + world->farm.run;
  const std::string evil = "x'); DROP TABLE tour_items; --";
  const json steps = json::array({
      Step("db", "insert", {"tour_items", {{"id", item}, {"name", evil}, {"qty", 1}}}),
      Step("db", "query", {"tour_items; DROP TABLE tour_items"}),
      Step("db", "query", {"tour_items"}, {{"where", {{"id = id; DROP TABLE tour_items; --", 1}}}}),
      Step("db", "query", {"tour_items"}, {{"order_by", "id; DROP TABLE tour_items"}}),
      Step("db", "query", {"tour_items"}, {{"columns", {"id, (SELECT 1)"}}}),
      Step("db", "query", {"tour_items"}, {{"where", {{"id", {{"$or 1=1", 1}}}}}}),
      Step("db", "query_one", {"tour_items"}, {{"where", {{"name", evil}}}}),
  });
  const json results = Tour(steps);
  ASSERT_EQ(results.size(), steps.size());
  EXPECT_TRUE(results[0]["ok"].get<bool>());
  for (size_t i = 1; i <= 5; ++i) {
    EXPECT_FALSE(results[i]["ok"].get<bool>()) << i;
    const std::string code = results[i].value("code", "");
    EXPECT_TRUE(code == "E2003" || code == "E1005") << i << ": " << results[i].dump();
  }
  ASSERT_TRUE(results[6]["ok"].get<bool>()) << results[6].dump();
  EXPECT_EQ(results[6]["value"]["name"], evil);  // stored and read back as data
  const absl::Status still_there = world->farm.pool->WithConnection([](pqxx::connection& conn) {
    pqxx::work tx(conn);
    tx.exec1("SELECT count(*) FROM app.tour_items");
    return absl::OkStatus();
  });
  EXPECT_TRUE(still_there.ok()) << still_there;
}

TEST_F(BrokerE2eTest, UndeclaredCapabilityFailsTheInvocationWithE2001) {
  Outcome out = Invoke("NoCaps", json::object());
  ASSERT_FALSE(out.ok);
  EXPECT_EQ(out.error.code, ErrorCode::kE2001) << out.error.message;
  std::vector<magic::v1::AuditRecord> audit = Audit(out.request_id, 1);
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0].code(), "E2001");
  EXPECT_EQ(audit[0].capability(), "db:read");
  EXPECT_EQ(audit[0].controller(), "NoCaps");
}

TEST_F(BrokerE2eTest, ForgedExpiredOrReplayedGrantsAreE2005) {
  auto stub = magic::v1::Broker::NewStub(
      grpc::CreateChannel(world->broker->address(), grpc::InsecureChannelCredentials()));
  auto version = world->farm.registry->Active("CapabilityTour").value();
  magic::v1::InvocationJob job;
  job.set_request_id("req_forged_" + world->farm.run);
  job.set_controller("CapabilityTour");
  job.set_version("1.0.0");
  job.set_contract_digest(version->digest);
  job.set_deadline_unix_ms(absl::ToUnixMillis(absl::Now() + absl::Seconds(30)));
  auto call = [&](const std::string& grant, uint64_t seq) {
    magic::v1::CallRequest request;
    request.set_grant(grant);
    request.set_seq(seq);
    request.set_capability("cache");
    request.set_op("get");
    request.set_params_json(R"({"key":"tour:x"})");
    magic::v1::CallReply reply;
    grpc::ClientContext ctx;
    EXPECT_TRUE(stub->Call(&ctx, request, &reply).ok());
    return reply.has_error() ? reply.error().code() : std::string();
  };
  const std::string good = world->signer->Sign(job, absl::Now());
  EXPECT_EQ(call(good, 1), "");
  EXPECT_EQ(call(good, 1), "E2005");  // replayed
  broker::GrantSigner other =
      broker::GrantSigner::FromSeed(broker::GenerateGrantKeyPair()->seed).value();
  EXPECT_EQ(call(other.Sign(job, absl::Now()), 2), "E2005");  // not the gateway's key
  job.set_deadline_unix_ms(absl::ToUnixMillis(absl::Now() - absl::Minutes(2)));
  EXPECT_EQ(call(world->signer->Sign(job, absl::Now() - absl::Minutes(3)), 3), "E2005");  // expired
  EXPECT_EQ(call("", 4), "E2005");
  std::vector<magic::v1::AuditRecord> audit = Audit(job.request_id(), 2);
  ASSERT_GE(audit.size(), 2u);  // the two with a verified grant name the request
  EXPECT_TRUE(audit[0].allowed());
  EXPECT_EQ(audit[1].code(), "E2005");
}

TEST_F(BrokerE2eTest, InvoiceSyncRunsAsWritten) {
  const json input = json::parse(ReadFile("examples/invoice_sync/sample_input.json"));
  Outcome out = Invoke("InvoiceSync", input);
  ASSERT_TRUE(out.ok) << out.error.message << " " << out.error.details.dump();
  EXPECT_EQ(out.output["status"], "completed");
  EXPECT_TRUE(out.output["stripe_invoice_id"].get<std::string>().starts_with("in_test_"));
  EXPECT_EQ(out.output["sync_id"], out.output["stripe_invoice_id"]);
  EXPECT_EQ(out.output["request_id"], out.request_id);
  std::vector<magic::v1::AuditRecord> audit = Audit(out.request_id, 3);
  ASSERT_EQ(audit.size(), 3u);
  EXPECT_EQ(audit[0].capability(), "db:read");
  EXPECT_EQ(audit[1].capability(), "secrets:read");
  EXPECT_EQ(audit[2].capability(), "http:egress");
  const json http = json::parse(audit[2].fields_json());
  EXPECT_EQ(http["host"], "api.stripe.com");
  EXPECT_EQ(http["method"], "POST");
  EXPECT_EQ(http["status"], 200);
}

TEST_F(BrokerE2eTest, SecretValuesAppearNowhere) {
  // Run both secret readers (again), then search everything we keep.
  Tour(json::array({Step("secrets", "get", {"TOUR_TOKEN"})}));
  Invoke("InvoiceSync", json::parse(ReadFile("examples/invoice_sync/sample_input.json")));
  logging::Logger().flush();
  const std::string logs = ReadFile(world->log_file);
  EXPECT_FALSE(logs.empty());
  EXPECT_EQ(logs.find(world->tour_token), std::string::npos);
  EXPECT_EQ(logs.find(world->stripe_key), std::string::npos);
  for (const std::string& secret : {world->tour_token, world->stripe_key}) {
    const absl::Status none = world->farm.pool->WithConnection([&](pqxx::connection& conn) {
      pqxx::work tx(conn);
      const pqxx::row audit = tx.exec_params1(
          "SELECT count(*) FROM magic.audit_log WHERE fields::text LIKE '%' || $1 || '%'", secret);
      const pqxx::row results = tx.exec_params1(
          "SELECT count(*) FROM magic.invocations WHERE output_json::text LIKE '%' || $1 || '%' "
          "OR error_json::text LIKE '%' || $1 || '%'",
          secret);
      const pqxx::row stored = tx.exec_params1(
          "SELECT count(*) FROM magic.secrets WHERE position(convert_to($1, 'UTF8') in "
          "ciphertext) > 0",
          secret);
      EXPECT_EQ(audit[0].as<int64_t>(), 0);
      EXPECT_EQ(results[0].as<int64_t>(), 0);
      EXPECT_EQ(stored[0].as<int64_t>(), 0);
      return absl::OkStatus();
    });
    EXPECT_TRUE(none.ok()) << none;
  }
}

}  // namespace
}  // namespace magic
