// The audit log against real servers (scripts/services): needs
// MAGIC_TEST_POSTGRES_URL (connecting as a superuser, for the tampering
// test) and MAGIC_TEST_KAFKA_BROKERS, and fails without them.
// magic.audit_log is shared with other runs: tests on it filter by unique
// request ids; tests that need absolute chain positions, or that tamper,
// use a scratch schema of their own, dropped at the end.
#include "broker/audit.h"

#include "broker/internal/audit_chain.h"
#include "common/errors.h"
#include "common/logging.h"
#include "common/testing/status_testing.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <set>
#include <sstream>
#include <thread>
#include <unistd.h>

namespace magic::broker {
namespace {

using magic::v1::AuditRecord;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::HasSubstr;

std::string RunId() {
  static const std::string id = fmt::format(
      "{}_{}", getpid(), std::chrono::steady_clock::now().time_since_epoch().count() % 1000000007);
  return id;
}

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

AuditRecord Call(const std::string& request_id, int i, const std::string& controller = "auditee") {
  AuditRecord r;
  r.set_request_id(request_id);
  r.set_controller(controller);
  r.set_version("1.2.0");
  r.set_capability(i % 2 == 0 ? "db:read" : "http:egress");
  r.set_operation(i % 2 == 0 ? "query" : "post");
  r.set_allowed(i % 3 != 2);
  r.set_code(i % 3 != 2 ? "" : "E2003");
  r.set_latency_us(100 + i);
  r.set_seq(static_cast<uint64_t>(i));
  r.set_worker_id("wk_test");
  r.set_fields_json(fmt::format(R"({{"table":"customers","query_hash":"h{}","i":{}}})", i, i));
  return r;
}

class AuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = Env("MAGIC_TEST_POSTGRES_URL");
    ASSERT_FALSE(url_.empty()) << "MAGIC_TEST_POSTGRES_URL is not set (scripts/services start)";
    pool_ = NewPool();
    ASSERT_NE(pool_, nullptr);
  }
  void TearDown() override {
    for (const std::string& schema : scratch_) {
      EXPECT_OK(pool_->WithConnection([&schema](pqxx::connection& conn) -> absl::Status {
        pqxx::nontransaction tx(conn);
        tx.exec0(fmt::format("DROP SCHEMA IF EXISTS {} CASCADE", schema));
        return absl::OkStatus();
      }));
    }
  }

  std::unique_ptr<pg::PgPool> NewPool() {
    absl::StatusOr<std::unique_ptr<pg::PgPool>> pool = pg::PgPool::Create(url_, 4);
    EXPECT_OK(pool);
    return pool.ok() ? std::move(pool).value() : nullptr;
  }
  // A fresh schema name, dropped in TearDown().
  std::string Scratch() {
    scratch_.push_back(fmt::format("audit_test_{}_{}_{}", RunId(), nonce_, scratch_.size()));
    return scratch_.back();
  }
  // Unique per test run and per test (also under --gtest_repeat).
  std::string Id(std::string_view what) const {
    return fmt::format("req_audit_{}_{}_{}", RunId(), nonce_, what);
  }

  std::unique_ptr<AuditSink> Log(AuditLogOptions options,
                                 kafka::KafkaProducer* producer = nullptr) {
    absl::StatusOr<std::unique_ptr<AuditSink>> log = MakeAuditLog(*pool_, producer, options);
    EXPECT_OK(log);
    return log.ok() ? std::move(log).value() : nullptr;
  }
  static AuditLogOptions PgOnly(std::string schema = std::string(kAuditSchema)) {
    AuditLogOptions options;
    options.topic = "";
    options.schema = std::move(schema);
    return options;
  }
  // Runs `sql` (as the test's superuser); the status it ends with.
  absl::Status Exec(const std::string& sql) {
    return pool_->WithConnection([&sql](pqxx::connection& conn) -> absl::Status {
      pqxx::nontransaction tx(conn);
      tx.exec(sql);
      return absl::OkStatus();
    });
  }
  // Writes n records to a scratch schema and returns its name.
  std::string ScratchWithRows(int n) {
    const std::string schema = Scratch();
    std::unique_ptr<AuditSink> log = Log(PgOnly(schema));
    for (int i = 0; i < n; ++i) EXPECT_OK(log->Record(Call(Id("scratch"), i)));
    EXPECT_OK(log->Flush(absl::Seconds(10)));
    return schema;
  }

  std::string url_;
  std::unique_ptr<pg::PgPool> pool_;
  std::vector<std::string> scratch_;
  const int nonce_ = next_nonce_++;
  static inline int next_nonce_ = 0;
};

TEST_F(AuditTest, RecordsAreReadBackWithAllFields) {
  std::unique_ptr<AuditSink> log = Log(PgOnly());
  ASSERT_NE(log, nullptr);
  const std::string request = Id("fields");
  AuditRecord first = Call(request, 0);
  first.set_fields_json(
      R"({"host":"api.example.com","big":1e16,"neg":-0.0,"pi":3.14159,"nested":{"b":[1,"x"]},)"
      R"("nul":"a\u0000b","utf8":"caf\u00e9 \ud83d\ude00"})");
  first.set_operation(std::string("op\0name\xff", 8));  // NUL and a stray byte: sanitized
  AuditRecord second = Call(request, 2);
  second.set_id(fmt::format("aud_given_{}_{}", RunId(), nonce_));
  second.set_time_unix_us(1'700'000'000'000'001);
  ASSERT_OK(log->Record(first));
  ASSERT_OK(log->Record(second));
  ASSERT_OK(log->Flush(absl::Seconds(10)));

  absl::StatusOr<std::vector<AuditRecord>> rows = ReadAuditRecords(*pool_, {.request_id = request});
  ASSERT_OK(rows);
  ASSERT_EQ(rows->size(), 2u);
  const AuditRecord& a = (*rows)[0];
  EXPECT_THAT(a.id(), testing::StartsWith("aud_"));
  EXPECT_GT(a.time_unix_us(), 1'700'000'000'000'000);
  EXPECT_EQ(a.request_id(), request);
  EXPECT_EQ(a.controller(), "auditee");
  EXPECT_EQ(a.version(), "1.2.0");
  EXPECT_EQ(a.capability(), "db:read");
  EXPECT_EQ(a.operation(), "op\xEF\xBF\xBDname\xEF\xBF\xBD");
  EXPECT_TRUE(a.allowed());
  EXPECT_EQ(a.code(), "");
  EXPECT_EQ(a.latency_us(), 100);
  EXPECT_EQ(a.seq(), 0u);
  EXPECT_EQ(a.worker_id(), "wk_test");
  const json fields = json::parse(a.fields_json());
  EXPECT_EQ(fields["host"], "api.example.com");
  EXPECT_EQ(fields["big"], 10000000000000000);
  EXPECT_EQ(fields["neg"], 0);
  EXPECT_EQ(fields["pi"], 3.14159);
  EXPECT_EQ(fields["nested"], json::parse(R"({"b":[1,"x"]})"));
  EXPECT_EQ(fields["nul"],
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(fields["utf8"], "caf\xC3\xA9 \xF0\x9F\x98\x80");

  const AuditRecord& b = (*rows)[1];
  EXPECT_EQ(b.id(), second.id());
  EXPECT_EQ(b.time_unix_us(), 1'700'000'000'000'001);
  EXPECT_FALSE(b.allowed());
  EXPECT_EQ(b.code(), "E2003");
  const json j = AuditRecordToJson(b);
  EXPECT_EQ(j["decision"], "denied");
  EXPECT_EQ(j["time"], "2023-11-14T22:13:20.000001Z");
  EXPECT_EQ(j["fields"]["query_hash"], "h2");

  // The shared chain, with these rows (and everyone else's), is intact.
  absl::StatusOr<ChainReport> report = VerifyAuditChain(*pool_);
  ASSERT_OK(report);
  EXPECT_TRUE(report->intact) << report->problem << " at " << report->first_bad_seq;
  EXPECT_GE(report->rows, 2);
}

TEST_F(AuditTest, QueriesFilterByControllerAndKeepTheMostRecent) {
  std::unique_ptr<AuditSink> log = Log(PgOnly());
  const std::string controller = fmt::format("ctl_{}_{}", RunId(), nonce_);
  for (int i = 0; i < 5; ++i)
    ASSERT_OK(log->Record(Call(Id(fmt::format("c{}", i)), i, controller)));
  ASSERT_OK(log->Record(Call(Id("other"), 9)));
  ASSERT_OK(log->Flush(absl::Seconds(10)));
  absl::StatusOr<std::vector<AuditRecord>> rows =
      ReadAuditRecords(*pool_, {.controller = controller, .limit = 3});
  ASSERT_OK(rows);
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ((*rows)[0].seq(), 2u);  // the three most recent, oldest first
  EXPECT_EQ((*rows)[2].seq(), 4u);
  rows = ReadAuditRecords(*pool_, {.request_id = Id("c1"), .controller = controller});
  ASSERT_OK(rows);
  EXPECT_EQ(rows->size(), 1u);
  rows = ReadAuditRecords(*pool_, {.request_id = Id("nothing")});
  ASSERT_OK(rows);
  EXPECT_TRUE(rows->empty());
}

TEST_F(AuditTest, ThousandRecordsTakeTwoInserts) {
  AuditLogOptions options = PgOnly();
  options.max_batch = 500;
  options.max_delay = absl::Seconds(30);  // only a full batch or Flush() sends
  std::unique_ptr<AuditSink> log = Log(options);
  const std::string request = Id("batch");
  for (int i = 0; i < 1000; ++i) ASSERT_OK(log->Record(Call(request, i)));
  ASSERT_OK(log->Flush(absl::Seconds(30)));
  const AuditLogStats stats = GetAuditLogStats(*log);
  EXPECT_EQ(stats.records_written, 1000);
  EXPECT_EQ(stats.batches_written, 2);
  EXPECT_EQ(stats.write_failures, 0);
  absl::StatusOr<std::vector<AuditRecord>> rows =
      ReadAuditRecords(*pool_, {.request_id = request, .limit = 2000});
  ASSERT_OK(rows);
  ASSERT_EQ(rows->size(), 1000u);
  for (size_t i = 0; i < rows->size(); ++i) EXPECT_EQ((*rows)[i].seq(), i) << "order";
}

TEST_F(AuditTest, TwoWritersExtendOneIntactChain) {
  const std::string schema = Scratch();
  std::unique_ptr<pg::PgPool> other_pool = NewPool();
  AuditLogOptions options = PgOnly(schema);
  options.max_batch = 25;
  options.max_delay = absl::Milliseconds(1);
  absl::StatusOr<std::unique_ptr<AuditSink>> a = MakeAuditLog(*pool_, nullptr, options);
  absl::StatusOr<std::unique_ptr<AuditSink>> b = MakeAuditLog(*other_pool, nullptr, options);
  ASSERT_OK(a);
  ASSERT_OK(b);
  auto write = [this](AuditSink& log, const std::string& who) {
    for (int i = 0; i < 600; ++i) {
      EXPECT_OK(log.Record(Call(Id(who), i)));
      if (i % 50 == 0) std::this_thread::sleep_for(milliseconds(1));  // let batches interleave
    }
  };
  std::thread ta(write, std::ref(**a), "a");
  std::thread tb(write, std::ref(**b), "b");
  ta.join();
  tb.join();
  ASSERT_OK((*a)->Flush(absl::Seconds(30)));
  ASSERT_OK((*b)->Flush(absl::Seconds(30)));
  EXPECT_GE(GetAuditLogStats(**a).batches_written, 2);
  absl::StatusOr<ChainReport> report = VerifyAuditChain(*pool_, schema);
  ASSERT_OK(report);
  EXPECT_EQ(report->rows, 1200);
  EXPECT_TRUE(report->intact) << report->problem << " at " << report->first_bad_seq;
}

TEST_F(AuditTest, ConcurrentMigrationsAllSucceed) {
  const std::string schema = Scratch();
  std::vector<std::unique_ptr<pg::PgPool>> pools;
  for (int i = 0; i < 4; ++i) pools.push_back(NewPool());
  std::vector<absl::Status> results(pools.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < pools.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = MigrateAuditLog(*pools[i], schema); });
  }
  for (std::thread& t : threads) t.join();
  for (const absl::Status& s : results) EXPECT_OK(s);
  EXPECT_OK(MigrateAuditLog(*pool_, schema));  // and again, idempotent
}

TEST_F(AuditTest, UpdateDeleteAndTruncateAreRefused) {
  const std::string schema = ScratchWithRows(2);
  for (const std::string& sql :
       {fmt::format("UPDATE {}.audit_log SET latency_us = 0", schema),
        fmt::format("DELETE FROM {}.audit_log WHERE chain_seq = 2", schema),
        fmt::format("TRUNCATE {}.audit_log", schema)}) {
    const absl::Status status = Exec(sql);
    EXPECT_TRUE(absl::IsFailedPrecondition(status)) << sql << ": " << status;
    EXPECT_THAT(std::string(status.message()), HasSubstr("append-only")) << sql;
  }
  absl::StatusOr<ChainReport> report = VerifyAuditChain(*pool_, schema);
  ASSERT_OK(report);
  EXPECT_TRUE(report->intact);
  EXPECT_EQ(report->rows, 2);
}

// A superuser can switch the trigger off; the chain still shows the edit.
absl::Status Tamper(const std::function<absl::Status(const std::string&)>& exec,
                    const std::string& schema, const std::string& change) {
  return exec(
      fmt::format("BEGIN; ALTER TABLE {0}.audit_log DISABLE TRIGGER USER; {1}; "
                  "ALTER TABLE {0}.audit_log ENABLE TRIGGER USER; COMMIT;",
                  schema, change));
}

TEST_F(AuditTest, EditedRowIsDetected) {
  const std::string schema = ScratchWithRows(5);
  auto exec = [this](const std::string& sql) { return Exec(sql); };
  ASSERT_OK(Tamper(
      exec, schema,
      fmt::format("UPDATE {}.audit_log SET allowed = NOT allowed WHERE chain_seq = 3", schema)));
  absl::StatusOr<ChainReport> report = VerifyAuditChain(*pool_, schema);
  ASSERT_OK(report);
  EXPECT_FALSE(report->intact);
  EXPECT_EQ(report->first_bad_seq, 3);
  EXPECT_THAT(report->problem, HasSubstr("edited"));
}

TEST_F(AuditTest, EditWithRecomputedHashIsDetectedAtTheNextRow) {
  const std::string schema = ScratchWithRows(5);
  absl::StatusOr<std::vector<AuditRecord>> rows = ReadAuditRecords(*pool_, {.schema = schema});
  ASSERT_OK(rows);
  ASSERT_EQ(rows->size(), 5u);
  // Row 3 with a forged latency and a hash that is right for it.
  AuditRecord forged = (*rows)[2];
  forged.set_latency_us(1);
  const std::string prev_sql =
      fmt::format("SELECT encode(prev_hash, 'hex') FROM {}.audit_log WHERE chain_seq = 3", schema);
  absl::StatusOr<std::string> prev_hex =
      pool_->WithConnection([&prev_sql](pqxx::connection& conn) -> absl::StatusOr<std::string> {
        pqxx::nontransaction tx(conn);
        return tx.exec1(prev_sql)[0].as<std::string>();
      });
  ASSERT_OK(prev_hex);
  internal::Hash prev{};
  ASSERT_TRUE(internal::HexDecode(*prev_hex, prev));
  const std::string hash =
      internal::HexEncode(internal::ChainHash(prev, AuditCanonicalBytes(forged, 3)));
  auto exec = [this](const std::string& sql) { return Exec(sql); };
  ASSERT_OK(Tamper(exec, schema,
                   fmt::format("UPDATE {}.audit_log SET latency_us = 1, hash = decode('{}', 'hex') "
                               "WHERE chain_seq = 3",
                               schema, hash)));
  absl::StatusOr<ChainReport> report = VerifyAuditChain(*pool_, schema);
  ASSERT_OK(report);
  EXPECT_FALSE(report->intact);
  EXPECT_EQ(report->first_bad_seq, 4);
  EXPECT_THAT(report->problem, HasSubstr("prev_hash"));
}

TEST_F(AuditTest, DeletedRowIsDetected) {
  const std::string schema = ScratchWithRows(5);
  auto exec = [this](const std::string& sql) { return Exec(sql); };
  ASSERT_OK(
      Tamper(exec, schema, fmt::format("DELETE FROM {}.audit_log WHERE chain_seq = 2", schema)));
  absl::StatusOr<ChainReport> report = VerifyAuditChain(*pool_, schema);
  ASSERT_OK(report);
  EXPECT_FALSE(report->intact);
  EXPECT_EQ(report->first_bad_seq, 2);
  EXPECT_THAT(report->problem, HasSubstr("missing"));
}

TEST_F(AuditTest, RecordsReachTheTopicAsJsonKeyedByRequestId) {
  const std::string brokers = Env("MAGIC_TEST_KAFKA_BROKERS");
  ASSERT_FALSE(brokers.empty()) << "MAGIC_TEST_KAFKA_BROKERS is not set (scripts/services start)";
  const kafka::KafkaConfig config{.brokers = brokers, .client_id = "audit-test"};
  const std::string topic = fmt::format("test.audit.{}_{}", RunId(), nonce_);
  ASSERT_OK(kafka::EnsureTopics(config, {{.name = topic, .partitions = 2}}));
  auto producer = std::move(kafka::MakeKafkaProducer(config)).value();
  AuditLogOptions options;
  options.topic = topic;
  std::unique_ptr<AuditSink> log = Log(options, producer.get());
  const std::string request = Id("kafka");
  for (int i = 0; i < 3; ++i) ASSERT_OK(log->Record(Call(request, i)));
  ASSERT_OK(log->Flush(absl::Seconds(30)));
  const AuditLogStats stats = GetAuditLogStats(*log);
  EXPECT_EQ(stats.kafka_delivered, 3);
  EXPECT_EQ(stats.kafka_failures, 0);

  auto consumer = std::move(kafka::MakeKafkaConsumer(config, {})).value();
  ASSERT_OK(consumer->AssignAll(topic, kafka::StartAt::kBeginning, seconds(10)));
  std::vector<json> values;
  const auto deadline = std::chrono::steady_clock::now() + seconds(30);
  while (values.size() < 3 && std::chrono::steady_clock::now() < deadline) {
    absl::StatusOr<std::optional<kafka::KafkaMessage>> m = consumer->Poll(milliseconds(200));
    ASSERT_OK(m);
    if (!m->has_value()) continue;
    EXPECT_EQ((*m)->key(), request);
    values.push_back(json::parse((*m)->value()));
  }
  ASSERT_EQ(values.size(), 3u);
  absl::StatusOr<std::vector<AuditRecord>> rows = ReadAuditRecords(*pool_, {.request_id = request});
  ASSERT_OK(rows);
  ASSERT_EQ(rows->size(), 3u);
  for (const json& value : values) {
    EXPECT_EQ(value["request_id"], request);
    EXPECT_EQ(value["fields"]["table"], "customers");
    // The topic carries exactly the stored record.
    const int64_t seq = value["seq"].get<int64_t>();
    EXPECT_EQ(value, AuditRecordToJson((*rows)[static_cast<size_t>(seq)]));
  }
}

// Captures the log lines of a scope.
class LogCapture {
 public:
  LogCapture() {
    logging::SetSinkForTesting(std::make_shared<spdlog::sinks::ostream_sink_mt>(out_));
  }
  ~LogCapture() { logging::SetSinkForTesting(std::make_shared<spdlog::sinks::stderr_sink_mt>()); }
  std::string text() const { return out_.str(); }

 private:
  std::ostringstream out_;
};

TEST_F(AuditTest, FullBacklogRefusesWithE3005AndShutdownReportsTheLoss) {
  LogCapture logs;
  AuditLogOptions options = PgOnly();
  options.max_backlog = 5;
  options.shutdown_timeout = absl::Milliseconds(200);
  options.fault_for_testing = [](std::string_view) {
    return absl::UnavailableError("PostgreSQL is down (injected)");
  };
  std::unique_ptr<AuditSink> log = Log(options);
  for (int i = 0; i < 5; ++i) ASSERT_OK(log->Record(Call(Id("backlog"), i)));
  const absl::Status full = log->Record(Call(Id("backlog"), 5));
  EXPECT_EQ(ErrorCodeOf(full), ErrorCode::kE3005) << full;
  const absl::Status flush = log->Flush(absl::Milliseconds(100));
  EXPECT_EQ(ErrorCodeOf(flush), ErrorCode::kE3001) << flush;
  log.reset();
  const std::string text = logs.text();
  EXPECT_THAT(text, HasSubstr("AUDIT RECORDS LOST"));
  EXPECT_THAT(text, HasSubstr(R"("lost":5)"));
  EXPECT_THAT(text, HasSubstr("injected"));  // each failed attempt is logged with its error
  absl::StatusOr<std::vector<AuditRecord>> rows =
      ReadAuditRecords(*pool_, {.request_id = Id("backlog")});
  ASSERT_OK(rows);
  EXPECT_TRUE(rows->empty());
}

TEST_F(AuditTest, FailedWritesAreRetriedWithTheBatchKept) {
  std::atomic<int> failures{0};
  AuditLogOptions options = PgOnly();
  options.fault_for_testing = [&failures](std::string_view stage) {
    if (stage == "before" && failures.fetch_add(1) < 2) return absl::UnavailableError("injected");
    return absl::OkStatus();
  };
  std::unique_ptr<AuditSink> log = Log(options);
  const std::string request = Id("retry");
  for (int i = 0; i < 3; ++i) ASSERT_OK(log->Record(Call(request, i)));
  ASSERT_OK(log->Flush(absl::Seconds(30)));
  const AuditLogStats stats = GetAuditLogStats(*log);
  EXPECT_EQ(stats.write_failures, 2);
  EXPECT_EQ(stats.records_written, 3);
  absl::StatusOr<std::vector<AuditRecord>> rows = ReadAuditRecords(*pool_, {.request_id = request});
  ASSERT_OK(rows);
  EXPECT_EQ(rows->size(), 3u);
}

TEST_F(AuditTest, LostCommitAnswerDoesNotWriteTwice) {
  const std::string schema = Scratch();
  std::atomic<bool> failed{false};
  AuditLogOptions options = PgOnly(schema);
  options.fault_for_testing = [&failed](std::string_view stage) {
    if (stage == "after" && !failed.exchange(true)) return absl::UnknownError("commit answer lost");
    return absl::OkStatus();
  };
  std::unique_ptr<AuditSink> log = Log(options);
  for (int i = 0; i < 4; ++i) ASSERT_OK(log->Record(Call(Id("commit"), i)));
  ASSERT_OK(log->Flush(absl::Seconds(30)));
  EXPECT_EQ(GetAuditLogStats(*log).write_failures, 1);
  absl::StatusOr<ChainReport> report = VerifyAuditChain(*pool_, schema);
  ASSERT_OK(report);
  EXPECT_EQ(report->rows, 4);  // not 8
  EXPECT_TRUE(report->intact);
}

TEST_F(AuditTest, CallerChosenIdsThatCollideAreRenamedNotStuck) {
  const std::string schema = Scratch();
  std::unique_ptr<AuditSink> log = Log(PgOnly(schema));
  const std::string taken = fmt::format("aud_taken_{}_{}", RunId(), nonce_);
  AuditRecord first = Call(Id("ids"), 0);
  first.set_id(taken);
  ASSERT_OK(log->Record(first));
  ASSERT_OK(log->Flush(absl::Seconds(10)));
  // The same id again (another record), and twice within one batch.
  for (int i = 1; i <= 3; ++i) {
    AuditRecord again = Call(Id("ids"), i);
    again.set_id(taken);
    ASSERT_OK(log->Record(again));
  }
  ASSERT_OK(log->Flush(absl::Seconds(10)));
  absl::StatusOr<std::vector<AuditRecord>> rows = ReadAuditRecords(*pool_, {.schema = schema});
  ASSERT_OK(rows);
  ASSERT_EQ(rows->size(), 4u);
  EXPECT_EQ((*rows)[0].id(), taken);
  std::set<std::string> ids;
  for (const AuditRecord& r : *rows) ids.insert(r.id());
  EXPECT_EQ(ids.size(), 4u);
  absl::StatusOr<ChainReport> report = VerifyAuditChain(*pool_, schema);
  ASSERT_OK(report);
  EXPECT_TRUE(report->intact);
}

TEST_F(AuditTest, DestructionFlushes) {
  const std::string request = Id("destroy");
  {
    AuditLogOptions options = PgOnly();
    options.max_delay = absl::Seconds(30);  // nothing would be sent before shutdown
    std::unique_ptr<AuditSink> log = Log(options);
    for (int i = 0; i < 7; ++i) ASSERT_OK(log->Record(Call(request, i)));
  }
  absl::StatusOr<std::vector<AuditRecord>> rows = ReadAuditRecords(*pool_, {.request_id = request});
  ASSERT_OK(rows);
  EXPECT_EQ(rows->size(), 7u);
}

TEST_F(AuditTest, HostileArgumentsGetErrorCodes) {
  std::unique_ptr<AuditSink> log = Log(PgOnly());
  AuditRecord r = Call(Id("hostile"), 0);
  r.set_time_unix_us(-5);
  EXPECT_EQ(ErrorCodeOf(log->Record(r)), ErrorCode::kE3005);
  r.set_time_unix_us(int64_t{1} << 62);
  EXPECT_EQ(ErrorCodeOf(log->Record(r)), ErrorCode::kE3005);
  EXPECT_EQ(ErrorCodeOf(ReadAuditRecords(*pool_, {.limit = 0}).status()), ErrorCode::kE1005);
  EXPECT_EQ(ErrorCodeOf(ReadAuditRecords(*pool_, {.schema = "x; DROP TABLE y"}).status()),
            ErrorCode::kE1005);
  EXPECT_EQ(ErrorCodeOf(VerifyAuditChain(*pool_, "Magic").status()), ErrorCode::kE1005);
  AuditLogOptions bad = PgOnly();
  bad.max_batch = 0;
  EXPECT_TRUE(absl::IsInvalidArgument(MakeAuditLog(*pool_, nullptr, bad).status()));
}

TEST_F(AuditTest, MissingTableIsAnEmptyIntactLog) {
  const std::string schema = Scratch();  // never migrated
  absl::StatusOr<std::vector<AuditRecord>> rows = ReadAuditRecords(*pool_, {.schema = schema});
  ASSERT_OK(rows);
  EXPECT_TRUE(rows->empty());
  absl::StatusOr<ChainReport> report = VerifyAuditChain(*pool_, schema);
  ASSERT_OK(report);
  EXPECT_TRUE(report->intact);
  EXPECT_EQ(report->rows, 0);
}

}  // namespace
}  // namespace magic::broker
