// The scheduler end to end against the REAL servers (scripts/services):
// retries with backoff then the dead-letter topic, idempotent Submit, the
// timing breakdown in Get, delayed runs, queue:subscribe triggers fed by an
// outside Kafka producer, and the watchdog re-queueing a run whose worker
// died. Everything runs in one testing::Farm with the scheduler's timers
// and triggers; topics carry a per-run suffix.
#include "common/errors.h"
#include "common/ids.h"
#include "proto/wire_errors.h"
#include "scheduler/internal/pg_result_store.h"
#include "tests/farm/testing/farm.h"

#include <fmt/format.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <thread>

namespace magic {
namespace {

constexpr char kEventsContract[] = R"yaml(name: Events
version: 1.0.0
input:
  type: object
  required: [queue, message_id, payload]
  properties:
    queue: {type: string}
    message_id: {type: string}
    payload:
      type: object
      required: [n]
      properties:
        n: {type: integer}
output:
  type: object
  required: [doubled, message_id]
capabilities:
  - queue:subscribe: {queues: [orders]}
resources:
  memory: 64Mi
  timeout: 5s
)yaml";

// n < 0 fails (a controller error, retried for triggered runs).
constexpr char kEventsCode[] = R"py(
async def execute(input, ctx):
    n = input["payload"]["n"]
    if n < 0:
        raise RuntimeError("negative order")
    return {"doubled": 2 * n, "message_id": input["message_id"]}
)py";

testing::Farm* farm = nullptr;
bool farm_started = false;

class SchedulerE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    farm = new testing::Farm({.controllers = {"adder", "sleeper"},
                              .files = {{"events/events.contract.yaml", kEventsContract},
                                        {"events/controller.py", kEventsCode}},
                              .scheduler = true});
    farm_started = farm->Start();
  }
  static void TearDownTestSuite() {
    delete farm;
    farm = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(farm_started) << farm->error;
    stub_ = farm->GatewayStub();
  }

  absl::StatusOr<std::string> Submit(const magic::v1::InvokeRequest& request) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    magic::v1::SubmitResponse response;
    grpc::Status s = stub_->Submit(&ctx, request, &response);
    if (!s.ok()) return absl::UnknownError(s.error_message());
    return response.request_id();
  }

  // The dead letters on the farm's DLQ topic, by request id, once `ids`
  // are all there (or after 30 s).
  std::map<std::string, nlohmann::json> DeadLetters(const std::vector<std::string>& ids) {
    std::map<std::string, nlohmann::json> out;
    for (int i = 0; i < 60; ++i) {
      out.clear();
      for (const auto& [key, value] : farm->ReadTopic(farm->dlq(), 1000, absl::Milliseconds(500))) {
        out[key] = nlohmann::json::parse(value);
      }
      if (std::all_of(ids.begin(), ids.end(), [&](const auto& id) { return out.contains(id); })) {
        break;
      }
    }
    return out;
  }

  // An Adder job as a gateway records it (QUEUED, input, deadline, policy).
  static magic::v1::InvocationJob StoredJob(const std::string& input, absl::Time enqueued,
                                            absl::Time deadline, const std::string& source) {
    magic::v1::InvocationJob job;
    job.set_request_id(NewRequestId());
    job.set_controller("Adder");
    job.set_version("0.1.0");
    job.set_input_json(input);
    job.set_enqueued_unix_ms(absl::ToUnixMillis(enqueued));
    job.set_deadline_unix_ms(absl::ToUnixMillis(deadline));
    job.set_timeout_ms(2000);
    job.set_source(source);
    job.mutable_retry()->set_max_attempts(3);
    return job;
  }

  std::unique_ptr<magic::v1::Gateway::Stub> stub_;
};

TEST_F(SchedulerE2eTest, TimeoutsAreRetriedWithBackoffThenDeadLettered) {
  magic::v1::InvokeRequest request;
  request.set_controller("Sleeper");
  request.set_input_json(R"({"marker": "retry-e2e", "seconds": 30})");
  request.set_timeout_ms(300);
  request.set_max_attempts(3);
  request.set_retry_on_timeout(true);
  absl::StatusOr<std::string> id = Submit(request);
  ASSERT_TRUE(id.ok()) << id.status();
  absl::StatusOr<magic::v1::Invocation> done = farm->WaitFinished(*id, absl::Seconds(60));
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state(), magic::v1::FAILED);
  EXPECT_EQ(done->error().code(), "E3001");
  EXPECT_EQ(done->attempts(), 3u);
  const auto letters = DeadLetters({*id});
  ASSERT_TRUE(letters.contains(*id));
  const nlohmann::json& letter = letters.at(*id);
  EXPECT_EQ(letter["attempts"], 3);
  EXPECT_EQ(letter["reason"]["code"], "E3001");
  EXPECT_EQ(letter["controller"], "Sleeper");
  EXPECT_EQ(letter["source"], "submit");
  EXPECT_EQ(letter["input"]["marker"], "retry-e2e");
}

TEST_F(SchedulerE2eTest, TimeoutsWithoutOptInAreFinalAndNotDeadLetteredTwice) {
  magic::v1::InvokeRequest request;
  request.set_controller("Sleeper");
  request.set_input_json(R"({"marker": "no-retry-e2e", "seconds": 30})");
  request.set_timeout_ms(300);
  request.set_max_attempts(1);
  absl::StatusOr<std::string> id = Submit(request);
  ASSERT_TRUE(id.ok()) << id.status();
  absl::StatusOr<magic::v1::Invocation> done = farm->WaitFinished(*id, absl::Seconds(30));
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->error().code(), "E3001");
  EXPECT_EQ(done->attempts(), 1u);
}

TEST_F(SchedulerE2eTest, SameIdempotencyKeySameRunAndGetShowsTimings) {
  magic::v1::InvokeRequest request;
  request.set_controller("Adder");
  request.set_input_json(R"({"a": 20, "b": 22})");
  request.set_idempotency_key("key-" + farm->run);
  absl::StatusOr<std::string> first = Submit(request);
  absl::StatusOr<std::string> second = Submit(request);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(*first, *second);
  absl::StatusOr<magic::v1::Invocation> done = farm->WaitFinished(*first, absl::Seconds(30));
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state(), magic::v1::SUCCEEDED);
  EXPECT_EQ(nlohmann::json::parse(done->output_json())["sum"], 42);
  EXPECT_EQ(done->attempts(), 1u);
  EXPECT_GT(done->timings().exec_us(), 0);
  EXPECT_GT(done->timings().total_us(), done->timings().exec_us());
  EXPECT_GE(done->timings().queue_us(), 0);
  // A third Submit after it finished still answers with the same run.
  absl::StatusOr<std::string> third = Submit(request);
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(*third, *first);
  // Only one run was recorded for the key.
  auto rows = farm->pool->WithConnection([&](pqxx::connection& c) -> absl::StatusOr<int64_t> {
    pqxx::nontransaction tx(c);
    return tx
        .exec_params1("SELECT count(*) FROM magic.invocations WHERE idempotency_key = $1",
                      "key-" + farm->run)[0]
        .as<int64_t>();
  });
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(*rows, 1);
}

TEST_F(SchedulerE2eTest, TooManyAttemptsIsRefused) {
  magic::v1::InvokeRequest request;
  request.set_controller("Adder");
  request.set_input_json(R"({"a": 1, "b": 2})");
  request.set_max_attempts(11);
  absl::StatusOr<std::string> id = Submit(request);
  ASSERT_FALSE(id.ok());
  EXPECT_NE(id.status().message().find("max_attempts"), std::string::npos) << id.status();
}

TEST_F(SchedulerE2eTest, DelayedRunFiresOnceAtItsTime) {
  magic::v1::CreateScheduleRequest request;
  request.set_controller("Adder");
  request.set_input_json(R"({"a": 2, "b": 3})");
  const int64_t at = absl::ToUnixMillis(absl::Now() + absl::Seconds(1));
  request.set_run_at_unix_ms(at);
  absl::StatusOr<magic::v1::Schedule> schedule = farm->timers->Create(request);
  ASSERT_TRUE(schedule.ok()) << schedule.status();
  ASSERT_FALSE(schedule->request_id().empty());
  // Known (QUEUED) before it fires.
  absl::StatusOr<magic::v1::Invocation> waiting = farm->store->Get(schedule->request_id());
  ASSERT_TRUE(waiting.ok()) << waiting.status();
  EXPECT_EQ(waiting->state(), magic::v1::QUEUED);
  absl::StatusOr<magic::v1::Invocation> done =
      farm->WaitFinished(schedule->request_id(), absl::Seconds(30));
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state(), magic::v1::SUCCEEDED);
  EXPECT_EQ(nlohmann::json::parse(done->output_json())["sum"], 5);
  EXPECT_GE(done->finished_unix_ms(), at);  // not before its time
  // A one-off schedule is gone once fired.
  absl::StatusOr<std::vector<magic::v1::Schedule>> left = farm->timers->List("Adder");
  ASSERT_TRUE(left.ok());
  for (const auto& s : *left) EXPECT_NE(s.schedule_id(), schedule->schedule_id());
}

TEST_F(SchedulerE2eTest, QueueEventsFromAnOutsideProducerTriggerTheController) {
  // Wait until the trigger subscribed (it re-reads the registry every 500 ms).
  for (int i = 0; i < 100 && !farm->triggers->Subscriptions().contains("Events"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(farm->triggers->Subscriptions().contains("Events"));
  // An outside client: its own producer, plain Kafka, no farm code path.
  auto producer = kafka::MakeKafkaProducer(farm->kafka);
  ASSERT_TRUE(producer.ok());
  const std::string topic = farm->queue_prefix() + "orders";
  ASSERT_TRUE(kafka::ProduceAll(**producer,
                                {{.topic = topic, .key = "order-1", .value = R"({"n": 21})"},
                                 {.topic = topic, .key = "order-2", .value = R"({"m": 1})"},
                                 {.topic = topic, .key = "order-3", .value = R"({"n": -1})"}},
                                std::chrono::seconds(10))
                  .ok());
  // The good event ran once; find its run through the store by its input.
  std::string good_id, failing_id;
  for (int i = 0; i < 300 && (good_id.empty() || failing_id.empty()); ++i) {
    auto ids = farm->pool->WithConnection(
        [&](pqxx::connection& c) -> absl::StatusOr<std::vector<std::string>> {
          pqxx::nontransaction tx(c);
          std::vector<std::string> out(2);
          for (const auto& row : tx.exec_params(
                   "SELECT request_id, (input_json->'payload'->>'n')::int FROM "
                   "magic.invocations WHERE controller = 'Events' AND input_json->>'queue' = "
                   "'orders' AND request_id LIKE 'evt-Events-orders-%' AND created_at > now() - "
                   "interval '5 minutes'")) {
            out[row[1].as<int>() > 0 ? 0 : 1] = row[0].as<std::string>();
          }
          return out;
        });
    if (ids.ok()) {
      good_id = (*ids)[0];
      failing_id = (*ids)[1];
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_FALSE(good_id.empty());
  absl::StatusOr<magic::v1::Invocation> good = farm->WaitFinished(good_id, absl::Seconds(30));
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_EQ(good->state(), magic::v1::SUCCEEDED);
  const nlohmann::json output = nlohmann::json::parse(good->output_json());
  EXPECT_EQ(output["doubled"], 42);
  EXPECT_NE(output["message_id"].get<std::string>().find("orders/"), std::string::npos);
  // The failing event: retried (controller errors are retryable for
  // triggers), then dead-lettered with 3 attempts.
  ASSERT_FALSE(failing_id.empty());
  absl::StatusOr<magic::v1::Invocation> failing = farm->WaitFinished(failing_id, absl::Seconds(60));
  ASSERT_TRUE(failing.ok()) << failing.status();
  EXPECT_EQ(failing->state(), magic::v1::FAILED);
  EXPECT_EQ(failing->attempts(), 3u);
  // The envelope the contract refuses ({"m": 1}): a dead letter with E1003
  // and the message's coordinates, no run.
  // The invalid message is offset 1 of its partition or 0 of another: its
  // run id is not known here, so the failing run's letter is waited for
  // (it comes last).
  std::map<std::string, nlohmann::json> letters = DeadLetters({failing_id});
  ASSERT_TRUE(letters.contains(failing_id));
  EXPECT_EQ(letters[failing_id]["attempts"], 3);
  EXPECT_EQ(letters[failing_id]["source"], "trigger");
  const nlohmann::json* invalid = nullptr;
  for (const auto& [key, l] : letters) {
    if (l["reason"]["code"] == "E1003") invalid = &l;
  }
  ASSERT_NE(invalid, nullptr);
  EXPECT_EQ((*invalid)["origin"]["queue"], "orders");
  EXPECT_EQ((*invalid)["origin"]["key"], "order-2");
  EXPECT_EQ((*invalid)["input"]["payload"]["m"], 1);
  EXPECT_EQ(farm->triggers->dead_lettered(), 1u);
}

TEST_F(SchedulerE2eTest, ManyEventsPolledTogetherRunOnceEach) {
  for (int i = 0; i < 100 && !farm->triggers->Subscriptions().contains("Events"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(farm->triggers->Subscriptions().contains("Events"));
  constexpr int kEvents = 60;
  const std::string marker = "bulk-" + NewRequestId();
  const uint64_t triggered_before = farm->triggers->triggered();
  auto producer = kafka::MakeKafkaProducer(farm->kafka);
  ASSERT_TRUE(producer.ok());
  const std::string topic = farm->queue_prefix() + "orders";
  std::vector<std::string> keys, values;
  for (int i = 0; i < kEvents; ++i) {
    keys.push_back(fmt::format("{}-{}", marker, i));
    values.push_back(fmt::format(R"({{"n": {}}})", 1000 + i));
  }
  std::vector<kafka::ProducerRecord> records;
  for (int i = 0; i < kEvents; ++i) {
    records.push_back({.topic = topic, .key = keys[i], .value = values[i]});
  }
  ASSERT_TRUE(kafka::ProduceAll(**producer, records, std::chrono::seconds(10)).ok());
  // Every event ran once and succeeded: one row each, all SUCCEEDED.
  std::pair<int, int> rows_succeeded{0, 0};
  for (int i = 0; i < 300 && rows_succeeded.second < kEvents; ++i) {
    auto counted =
        farm->pool->WithConnection([&](pqxx::connection& c) -> absl::StatusOr<std::pair<int, int>> {
          pqxx::nontransaction tx(c);
          const pqxx::row row = tx.exec_params1(
              "SELECT count(*), count(*) FILTER (WHERE state = 'SUCCEEDED') FROM "
              "magic.invocations WHERE controller = 'Events' AND input_json->>'key' LIKE $1",
              marker + "-%");
          return std::pair<int, int>(row[0].as<int>(), row[1].as<int>());
        });
    if (counted.ok()) rows_succeeded = *counted;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(rows_succeeded.first, kEvents);
  EXPECT_EQ(rows_succeeded.second, kEvents);
  EXPECT_EQ(farm->triggers->triggered() - triggered_before, static_cast<uint64_t>(kEvents));
}

TEST_F(SchedulerE2eTest, WatchdogRequeuesARunWhoseWorkerDied) {
  // A run a worker announced and then never finished (its process died and
  // the job is gone): QUEUED with its input, then RUNNING with a lease in
  // the past.
  const magic::v1::InvocationJob job =
      StoredJob(R"({"a": 40, "b": 2})", absl::Now(), absl::Now() + absl::Minutes(5), "submit");
  ASSERT_TRUE(farm->store->RecordQueued(job).ok());
  magic::v1::InvocationResult started;
  started.set_request_id(job.request_id());
  started.set_state(magic::v1::RUNNING);
  started.set_worker_id("wk_dead");
  started.set_attempt(1);
  started.set_started_unix_ms(absl::ToUnixMillis(absl::Now() - absl::Minutes(1)));
  started.set_lease_until_unix_ms(absl::ToUnixMillis(absl::Now() - absl::Seconds(1)));
  ASSERT_TRUE(farm->store->RecordResults({started}).ok());
  absl::StatusOr<magic::v1::Invocation> done =
      farm->WaitFinished(job.request_id(), absl::Seconds(30));
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state(), magic::v1::SUCCEEDED);
  EXPECT_EQ(nlohmann::json::parse(done->output_json())["sum"], 42);
  EXPECT_EQ(done->attempts(), 2u);  // the lost attempt counts
}

TEST_F(SchedulerE2eTest, WatchdogFailsARunNothingRanBeforeItsDeadline) {
  const magic::v1::InvocationJob job =
      StoredJob(R"({"a": 1, "b": 1})", absl::Now() - absl::Minutes(10),
                absl::Now() - absl::Minutes(1), "batch");
  ASSERT_TRUE(farm->store->RecordQueued(job).ok());  // its produce was lost
  absl::StatusOr<magic::v1::Invocation> done =
      farm->WaitFinished(job.request_id(), absl::Seconds(30));
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state(), magic::v1::FAILED);
  EXPECT_EQ(done->error().code(), "E3001");
  const auto letters = DeadLetters({job.request_id()});
  ASSERT_TRUE(letters.contains(job.request_id()));
  EXPECT_EQ(letters.at(job.request_id())["reason"]["code"], "E3001");
}

}  // namespace
}  // namespace magic
