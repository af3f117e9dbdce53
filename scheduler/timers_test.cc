// TimerService against the REAL PostgreSQL and Kafka (scripts/services),
// without workers: schedules are checked and stored, due timers fire
// exactly once even with two replicas racing, cron schedules move on,
// retries are scheduled or dead-lettered by the rules of retry.h. Jobs go
// to a per-run topic that the test reads back.
#include "scheduler/timers.h"

#include "common/clock.h"
#include "common/errors.h"
#include "common/ids.h"
#include "common/testing/pg_database.h"
#include "scheduler/result_store.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

namespace magic::scheduler {
namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

class TimersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kafka_.brokers = Env("MAGIC_TEST_KAFKA_BROKERS");
    const std::string url = Env("MAGIC_TEST_POSTGRES_URL");
    ASSERT_FALSE(kafka_.brokers.empty() || url.empty())
        << "MAGIC_TEST_KAFKA_BROKERS / MAGIC_TEST_POSTGRES_URL are not set (scripts/services)";
    auto registry = contracts::LoadDirectoryRegistry(
        (std::filesystem::current_path() / "worker/testdata/controllers").string());
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = *std::move(registry);
    ASSERT_TRUE(kafka::EnsureTopics(
                    kafka_, {{.name = jobs_, .partitions = 2}, {.name = dlq_, .partitions = 1}})
                    .ok());
    // A database of its own: FirePass claims every due timer in the table.
    ASSERT_TRUE(database_.Create(url).ok());
    auto pool = pg::PgPool::Create(database_.url(), 6);
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = *std::move(pool);
    auto store = MakePgResultStore(*pool_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    auto producer = kafka::MakeKafkaProducer(kafka_);
    ASSERT_TRUE(producer.ok());
    producer_ = *std::move(producer);
    timers_ = Open();
    ASSERT_NE(timers_, nullptr);
  }

  std::unique_ptr<TimerService> Open() {
    auto t = TimerService::Open(*pool_, *registry_, nullptr, *producer_, RealClockInstance(),
                                {.jobs_topic = jobs_,
                                 .dlq_topic = dlq_,
                                 .backoff = {.base = absl::Seconds(1), .cap = absl::Seconds(4)}});
    return t.ok() ? *std::move(t) : nullptr;
  }

  // Every job on the per-run topic (request id -> count), read until
  // `want` messages were seen or 20 s passed.
  std::map<std::string, int> Jobs(size_t want,
                                  std::vector<magic::v1::InvocationJob>* all = nullptr) {
    std::map<std::string, int> counts;
    auto consumer = kafka::MakeKafkaConsumer(kafka_, {});
    if (!consumer.ok()) return counts;
    if (!(*consumer)->AssignAll(jobs_, kafka::StartAt::kBeginning, std::chrono::seconds(10)).ok()) {
      return counts;
    }
    size_t seen = 0;
    absl::Time until = absl::Now() + absl::Seconds(20);
    // Until `want` arrived, then 1 s more of silence: a duplicate would show.
    while (absl::Now() < until) {
      if (seen >= want) until = std::min(until, absl::Now() + absl::Seconds(1));
      auto m = (*consumer)->Poll(std::chrono::milliseconds(200));
      if (!m.ok() || !m->has_value()) continue;
      magic::v1::InvocationJob job;
      job.ParseFromArray((**m).value().data(), static_cast<int>((**m).value().size()));
      ++counts[job.request_id()];
      if (all != nullptr) all->push_back(job);
      ++seen;
      if (seen >= want) until = absl::Now() + absl::Seconds(1);
    }
    return counts;
  }

  absl::Status Exec(const std::string& sql) {
    return pool_->WithConnection([&](pqxx::connection& c) -> absl::Status {
      pqxx::nontransaction tx(c);
      tx.exec(sql);
      return absl::OkStatus();
    });
  }

  magic::v1::CreateScheduleRequest Once(absl::Time at,
                                        const std::string& input = R"({"a":1,"b":2})") {
    magic::v1::CreateScheduleRequest r;
    r.set_controller("Adder");
    r.set_input_json(input);
    r.set_run_at_unix_ms(absl::ToUnixMillis(at));
    return r;
  }

  magic::v1::CreateScheduleRequest Cron(const std::string& expr, const std::string& input) {
    magic::v1::CreateScheduleRequest r;
    r.set_controller("Adder");
    r.set_input_json(input);
    r.set_cron(expr);
    return r;
  }

  const std::string run_ = NewId("tt");
  const std::string jobs_ = "magic.invocations." + run_;
  const std::string dlq_ = "magic.dlq." + run_;
  kafka::KafkaConfig kafka_;
  testing::TestDatabase database_;  // destroyed last
  std::unique_ptr<contracts::Registry> registry_;
  std::unique_ptr<pg::PgPool> pool_;
  std::unique_ptr<ResultStore> store_;
  std::unique_ptr<kafka::KafkaProducer> producer_;
  std::unique_ptr<TimerService> timers_;
};

TEST_F(TimersTest, CreateChecksEverythingFirst) {
  auto code = [&](const magic::v1::CreateScheduleRequest& r) {
    absl::StatusOr<magic::v1::Schedule> s = timers_->Create(r);
    if (s.ok()) return std::string("ok");
    const std::optional<ErrorCode> c = ErrorCodeOf(s.status());
    return c.has_value() ? std::string(Describe(*c).id) : s.status().ToString();
  };
  magic::v1::CreateScheduleRequest r = Once(absl::Now());
  r.set_controller("NoSuchController");
  EXPECT_EQ(code(r), "E4003");
  EXPECT_EQ(code(Once(absl::Now(), R"({"a": "x"})")), "E1003");
  EXPECT_EQ(code(Once(absl::Now(), R"({"a": )")), "E1005");
  r = Once(absl::Now());
  r.set_cron("* * * * *");  // both
  EXPECT_EQ(code(r), "E1005");
  r = Once(absl::Now());
  r.clear_run_at_unix_ms();  // neither
  EXPECT_EQ(code(r), "E1005");
  r.set_cron("61 * * * *");
  EXPECT_EQ(code(r), "E1005");
  r.set_cron("0 0 31 2 *");  // never fires
  EXPECT_EQ(code(r), "E1005");
  r = Once(absl::Now());
  r.set_max_attempts(11);
  EXPECT_EQ(code(r), "E1005");
  r = Once(absl::Now());
  r.set_run_at_unix_ms(-5);
  EXPECT_EQ(code(r), "E1005");
  r = Once(absl::Now());
  r.set_input_json("");  // means {} -> Adder needs a and b
  EXPECT_EQ(code(r), "E1003");
  r = Once(absl::Now(), R"({"a": 1, "b": 2, "pad": ")" + std::string(1 << 20, 'x') + "\"}");
  EXPECT_EQ(code(r), "E1005");  // too large
}

TEST_F(TimersTest, ListAndDeleteSchedules) {
  absl::StatusOr<magic::v1::Schedule> c = timers_->Create(Cron("*/5 * * * *", R"({"a":1,"b":1})"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->cron(), "*/5 * * * *");
  EXPECT_TRUE(c->request_id().empty());
  EXPECT_GT(c->next_run_unix_ms(), absl::ToUnixMillis(absl::Now()));
  EXPECT_EQ((c->next_run_unix_ms() / 1000) % 300, 0);  // on a 5-minute boundary
  EXPECT_EQ(c->max_attempts(), kDefaultMaxAttempts);
  absl::StatusOr<magic::v1::Schedule> o = timers_->Create(Once(absl::Now() + absl::Hours(1)));
  ASSERT_TRUE(o.ok());
  EXPECT_FALSE(o->request_id().empty());
  absl::StatusOr<std::vector<magic::v1::Schedule>> all = timers_->List("Adder");
  ASSERT_TRUE(all.ok());
  std::set<std::string> ids;
  for (const auto& s : *all) ids.insert(s.schedule_id());
  EXPECT_TRUE(ids.contains(c->schedule_id()) && ids.contains(o->schedule_id()));
  ASSERT_TRUE(timers_->Delete(c->schedule_id()).ok());
  absl::StatusOr<magic::v1::Invocation> pending = store_->Get(o->request_id());
  ASSERT_TRUE(pending.ok()) << pending.status();
  EXPECT_EQ(pending->state(), magic::v1::QUEUED);  // known before it fires
  ASSERT_TRUE(timers_->Delete(o->schedule_id()).ok());
  pending = store_->Get(o->request_id());
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(pending->state(), magic::v1::CANCELLED);  // removed: its run never comes
  absl::StatusOr<magic::v1::Schedule> again = timers_->Delete(c->schedule_id());
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(*ErrorCodeOf(again.status()), ErrorCode::kE4003);
}

TEST_F(TimersTest, TwoReplicasNeverDoubleFire) {
  // 60 one-off timers already due, two replicas (each its own service and
  // connections) racing through them.
  std::set<std::string> expected;
  for (int i = 0; i < 60; ++i) {
    absl::StatusOr<magic::v1::Schedule> s = timers_->Create(
        Once(absl::Now() - absl::Seconds(1), fmt::format(R"({{"a":{},"b":0}})", i)));
    ASSERT_TRUE(s.ok()) << s.status();
    expected.insert(s->request_id());
  }
  std::unique_ptr<TimerService> other = Open();
  ASSERT_NE(other, nullptr);
  std::atomic<int> fired{0};
  auto drain = [&fired](TimerService* t) {
    for (int pass = 0; pass < 40; ++pass) {
      absl::StatusOr<int> n = t->FirePass();
      if (n.ok()) fired += *n;
    }
  };
  std::thread a(drain, timers_.get());
  std::thread b(drain, other.get());
  a.join();
  b.join();
  std::map<std::string, int> counts = Jobs(expected.size());
  for (const std::string& id : expected) EXPECT_EQ(counts[id], 1) << id;
  EXPECT_GE(fired.load(), 60);
  // Each run is recorded QUEUED with its source.
  absl::StatusOr<magic::v1::Invocation> inv = store_->Get(*expected.begin());
  ASSERT_TRUE(inv.ok());
  EXPECT_EQ(inv->state(), magic::v1::QUEUED);
}

TEST_F(TimersTest, CronFiresOncePerSlotAndMovesOn) {
  absl::StatusOr<magic::v1::Schedule> c = timers_->Create(Cron("* * * * *", R"({"a":7,"b":7})"));
  ASSERT_TRUE(c.ok());
  // Make it due (as if its minute came), then fire from two replicas.
  ASSERT_TRUE(Exec(fmt::format("UPDATE magic.timers SET run_at = now() - interval '90 seconds' "
                               "WHERE timer_id = '{}'",
                               c->schedule_id()))
                  .ok());
  std::unique_ptr<TimerService> other = Open();
  std::thread a([&] { (void)timers_->FirePass(); });
  std::thread b([&] { (void)other->FirePass(); });
  a.join();
  b.join();
  absl::StatusOr<std::vector<magic::v1::Schedule>> after = timers_->List("Adder");
  ASSERT_TRUE(after.ok());
  const magic::v1::Schedule* moved = nullptr;
  for (const auto& s : *after) {
    if (s.schedule_id() == c->schedule_id()) moved = &s;
  }
  ASSERT_NE(moved, nullptr);
  EXPECT_EQ(moved->fired(), 1u);  // a missed slot fires once, not once per miss
  EXPECT_GT(moved->next_run_unix_ms(), absl::ToUnixMillis(absl::Now()));
  EXPECT_EQ(moved->next_run_unix_ms() % 60'000, 0);
  ASSERT_FALSE(moved->last_request_id().empty());
  EXPECT_EQ(moved->last_request_id().rfind(c->schedule_id() + "-", 0), 0u);
  std::vector<magic::v1::InvocationJob> jobs;
  std::map<std::string, int> counts = Jobs(1, &jobs);
  EXPECT_EQ(counts[moved->last_request_id()], 1);
  ASSERT_FALSE(jobs.empty());
  EXPECT_EQ(jobs[0].source(), "timer");
  EXPECT_EQ(jobs[0].retry().max_attempts(), kDefaultMaxAttempts);
  EXPECT_GT(jobs[0].deadline_unix_ms(), absl::ToUnixMillis(absl::Now()));
  ASSERT_TRUE(timers_->Delete(c->schedule_id()).ok());
}

TEST_F(TimersTest, UndeployedControllerFailsTheRunAndDeadLettersIt) {
  absl::StatusOr<magic::v1::Schedule> s = timers_->Create(Once(absl::Now() - absl::Seconds(1)));
  ASSERT_TRUE(s.ok());
  // The controller disappears before it fires.
  ASSERT_TRUE(Exec(fmt::format("UPDATE magic.timers SET controller = 'Gone' WHERE timer_id = '{}'",
                               s->schedule_id()))
                  .ok());
  for (int i = 0; i < 5; ++i) (void)timers_->FirePass();
  absl::StatusOr<magic::v1::Invocation> inv = store_->Get(s->request_id());
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->state(), magic::v1::FAILED);
  EXPECT_EQ(inv->error().code(), "E4003");
}

TEST_F(TimersTest, TakeRetriesSchedulesRetryableFailuresAndDeadLettersTheRest) {
  auto job = [&](const std::string& id, uint32_t max_attempts) {
    magic::v1::InvocationJob j;
    j.set_request_id(id);
    j.set_controller("Adder");
    j.set_version("0.1.0");
    j.set_input_json(R"({"a":1,"b":2})");
    j.set_enqueued_unix_ms(absl::ToUnixMillis(absl::Now()));
    j.set_deadline_unix_ms(absl::ToUnixMillis(absl::Now() + absl::Minutes(5)));
    j.set_source("submit");
    j.mutable_retry()->set_max_attempts(max_attempts);
    return j;
  };
  auto failed = [](const magic::v1::InvocationJob& j, const char* code, uint32_t attempt) {
    magic::v1::InvocationResult r;
    r.set_request_id(j.request_id());
    r.set_controller(j.controller());
    r.set_version(j.version());
    r.set_state(magic::v1::FAILED);
    r.mutable_error()->set_code(code);
    r.set_attempt(attempt);
    r.set_started_unix_ms(1);
    *r.mutable_retry() = j.retry();
    r.set_source(j.source());
    return r;
  };
  const magic::v1::InvocationJob retried = job(NewRequestId(), 3);
  const magic::v1::InvocationJob exhausted = job(NewRequestId(), 2);
  const magic::v1::InvocationJob plain = job(NewRequestId(), 1);
  ASSERT_TRUE(store_->RecordQueuedBatch({retried, exhausted, plain}).ok());
  magic::v1::InvocationResult ok = failed(plain, "", 1);
  ok.set_state(magic::v1::SUCCEEDED);
  ok.set_request_id("other-" + run_);
  absl::StatusOr<std::vector<magic::v1::InvocationResult>> finals = timers_->TakeRetries(
      {failed(retried, "E3005", 1), failed(exhausted, "E3005", 2), failed(plain, "E3003", 1), ok});
  ASSERT_TRUE(finals.ok()) << finals.status();
  std::set<std::string> final_ids;
  for (const auto& r : *finals) final_ids.insert(r.request_id());
  EXPECT_EQ(final_ids,
            (std::set<std::string>{exhausted.request_id(), plain.request_id(), "other-" + run_}));
  // The retry: QUEUED, one attempt used, a retry timer 0.5-1 s out; fired
  // when due, as attempt 2 of the same run with a fresh deadline.
  absl::StatusOr<magic::v1::Invocation> row = store_->Get(retried.request_id());
  ASSERT_TRUE(row.ok());
  EXPECT_EQ(row->state(), magic::v1::QUEUED);
  EXPECT_EQ(row->attempts(), 1u);
  EXPECT_EQ(row->error().code(), "E3005");
  (void)timers_->FirePass();  // not due yet
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  (void)timers_->FirePass();
  std::vector<magic::v1::InvocationJob> jobs;
  std::map<std::string, int> counts = Jobs(1, &jobs);
  EXPECT_EQ(counts[retried.request_id()], 1);
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].attempt(), 2u);
  EXPECT_EQ(jobs[0].input_json(), R"({"a":1,"b":2})");
  EXPECT_EQ(jobs[0].source(), "submit");
  EXPECT_EQ(jobs[0].retry().max_attempts(), 3u);
  // The exhausted one is a dead letter (the plain one had no retry policy).
  auto consumer = kafka::MakeKafkaConsumer(kafka_, {});
  ASSERT_TRUE(consumer.ok());
  ASSERT_TRUE(
      (*consumer)->AssignAll(dlq_, kafka::StartAt::kBeginning, std::chrono::seconds(10)).ok());
  std::map<std::string, nlohmann::json> letters;
  for (int i = 0; i < 25 && letters.empty(); ++i) {
    auto m = (*consumer)->Poll(std::chrono::milliseconds(200));
    if (m.ok() && m->has_value()) {
      letters[std::string((**m).key())] = nlohmann::json::parse((**m).value());
    }
  }
  ASSERT_EQ(letters.size(), 1u);
  ASSERT_TRUE(letters.contains(exhausted.request_id()));
  EXPECT_EQ(letters[exhausted.request_id()]["attempts"], 2);
  EXPECT_EQ(letters[exhausted.request_id()]["reason"]["code"], "E3005");
  EXPECT_EQ(letters[exhausted.request_id()]["input"]["a"], 1);
}

}  // namespace
}  // namespace magic::scheduler
