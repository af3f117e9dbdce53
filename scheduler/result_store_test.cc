// The PostgreSQL result store and the recorder against real servers
// (scripts/services): needs MAGIC_TEST_POSTGRES_URL and
// MAGIC_TEST_KAFKA_BROKERS and fails without them. Request ids, topics and
// groups are unique per run.
#include "scheduler/result_store.h"

#include "common/testing/server_env.h"
#include "common/testing/status_testing.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <thread>
#include <unistd.h>

namespace magic::scheduler {
namespace {

using magic::v1::Invocation;
using magic::v1::InvocationJob;
using magic::v1::InvocationResult;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::UnorderedElementsAre;

std::string RunId() {
  static const std::string id = fmt::format(
      "{}-{}", getpid(), std::chrono::steady_clock::now().time_since_epoch().count() % 1000000007);
  return id;
}

InvocationJob Job(const std::string& id) {
  InvocationJob job;
  job.set_request_id(id);
  job.set_controller("greeter");
  job.set_version("1.0.0");
  job.set_input_json(R"({"name": "Ada"})");
  job.set_enqueued_unix_ms(1'700'000'000'000);
  job.set_attempt(1);
  return job;
}

InvocationResult Succeeded(const std::string& id, const std::string& output) {
  InvocationResult r;
  r.set_request_id(id);
  r.set_controller("greeter");
  r.set_version("1.0.0");
  r.set_state(magic::v1::SUCCEEDED);
  r.set_output_json(output);
  r.set_worker_id("worker-1");
  r.set_attempt(1);
  r.mutable_timings()->set_queue_us(2000);
  r.mutable_timings()->set_exec_us(1500);
  r.mutable_timings()->set_total_us(4000);
  r.mutable_timings()->set_warm(true);
  r.set_started_unix_ms(1'700'000'000'002);
  r.set_finished_unix_ms(1'700'000'000'004);
  return r;
}

InvocationResult Failed(const std::string& id, const std::string& code) {
  InvocationResult r;
  r.set_request_id(id);
  r.set_controller("greeter");
  r.set_version("1.0.0");
  r.set_state(magic::v1::FAILED);
  r.mutable_error()->set_code(code);
  r.mutable_error()->set_category("EXECUTION");
  r.mutable_error()->set_message("boom");
  r.mutable_error()->set_details_json(R"({"line":3})");
  r.set_attempt(2);
  return r;
}

class ResultStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string url = magic::testing::ServerEnv("MAGIC_TEST_POSTGRES_URL");
    ASSERT_FALSE(url.empty());
    pool_ = std::move(pg::PgPool::Create(url, 4)).value();
    absl::StatusOr<std::unique_ptr<ResultStore>> store = MakePgResultStore(*pool_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }

  std::string Id(std::string_view name) { return fmt::format("{}-{}", name, RunId()); }

  std::unique_ptr<pg::PgPool> pool_;
  std::unique_ptr<ResultStore> store_;
};

TEST_F(ResultStoreTest, MigrationIsIdempotent) {
  EXPECT_OK(MigrateResultStore(*pool_));
  EXPECT_OK(MigrateResultStore(*pool_));
}

TEST_F(ResultStoreTest, QueuedThenResult) {
  const std::string id = Id("queued");
  ASSERT_OK(store_->RecordQueued(Job(id)));
  ASSERT_OK(store_->RecordQueued(Job(id)));  // a retry of the gateway: no-op
  absl::StatusOr<Invocation> queued = store_->Get(id);
  ASSERT_TRUE(queued.ok()) << queued.status();
  EXPECT_EQ(queued->state(), magic::v1::QUEUED);
  EXPECT_EQ(queued->controller(), "greeter");
  EXPECT_EQ(queued->created_unix_ms(), 1'700'000'000'000);
  EXPECT_EQ(queued->finished_unix_ms(), 0);

  const std::string output = R"({"greeting":  "Hello, Ada", "a": [1, 2]})";
  ASSERT_OK(store_->RecordResults({Succeeded(id, output)}));
  absl::StatusOr<Invocation> done = store_->Get(id);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state(), magic::v1::SUCCEEDED);
  EXPECT_EQ(done->output_json(), output);  // byte for byte
  EXPECT_EQ(done->attempts(), 1u);
  EXPECT_EQ(done->timings().exec_us(), 1500);
  EXPECT_TRUE(done->timings().warm());
  EXPECT_EQ(done->created_unix_ms(), 1'700'000'000'000);
  EXPECT_EQ(done->finished_unix_ms(), 1'700'000'000'004);
  EXPECT_FALSE(done->has_error());
}

TEST_F(ResultStoreTest, FirstResultWins) {
  const std::string id = Id("first");
  const std::string twin = Id("twin");
  ASSERT_OK(store_->RecordResults({Succeeded(id, R"({"n":1})")}));
  ASSERT_OK(store_->RecordResults({Failed(id, "E3001"), Succeeded(id, R"({"n":2})")}));
  // Duplicates inside one batch: the first one counts.
  ASSERT_OK(store_->RecordResults({Failed(twin, "E3003"), Succeeded(twin, "{}")}));
  absl::StatusOr<Invocation> first = store_->Get(id);
  ASSERT_OK(first);
  EXPECT_EQ(first->state(), magic::v1::SUCCEEDED);
  EXPECT_EQ(first->output_json(), R"({"n":1})");
  absl::StatusOr<Invocation> failed = store_->Get(twin);
  ASSERT_OK(failed);
  EXPECT_EQ(failed->state(), magic::v1::FAILED);
  EXPECT_EQ(failed->error().code(), "E3003");
  EXPECT_EQ(failed->error().message(), "boom");
  EXPECT_EQ(failed->error().details_json(), R"({"line":3})");
  EXPECT_EQ(failed->attempts(), 2u);
}

TEST_F(ResultStoreTest, FindFinishedInOneBatch) {
  const std::string queued = Id("ff-queued");
  const std::string ok = Id("ff-ok");
  const std::string failed = Id("ff-failed");
  const std::string cancelled = Id("ff-cancelled");
  ASSERT_OK(store_->RecordQueued(Job(queued)));
  ASSERT_OK(store_->RecordQueued(Job(cancelled)));
  ASSERT_OK(store_->MarkCancelled(cancelled));
  ASSERT_OK(store_->RecordResults({Succeeded(ok, "{}"), Failed(failed, "E3001")}));
  absl::StatusOr<std::unordered_set<std::string>> finished =
      store_->FindFinished({queued, ok, failed, cancelled, Id("ff-unknown"), "quote\"and\\slash"});
  ASSERT_TRUE(finished.ok()) << finished.status();
  EXPECT_THAT(*finished, UnorderedElementsAre(ok, failed, cancelled));
  EXPECT_TRUE(store_->FindFinished({}).value().empty());
}

TEST_F(ResultStoreTest, UnknownIdIsNotFound) {
  EXPECT_EQ(store_->Get(Id("nobody")).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->MarkCancelled(Id("nobody")).code(), absl::StatusCode::kNotFound);
}

TEST_F(ResultStoreTest, CancelBeatsLaterResultButNotEarlierOne) {
  const std::string id = Id("cancel");
  ASSERT_OK(store_->RecordQueued(Job(id)));
  ASSERT_OK(store_->MarkCancelled(id));
  ASSERT_OK(store_->MarkCancelled(id));  // idempotent
  ASSERT_OK(store_->RecordResults({Succeeded(id, "{}")}));
  EXPECT_EQ(store_->Get(id)->state(), magic::v1::CANCELLED);
  const std::string done = Id("cancel-late");
  ASSERT_OK(store_->RecordResults({Succeeded(done, "{}")}));
  EXPECT_EQ(store_->MarkCancelled(done).code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(ResultStoreTest, IdempotencyKeyBelongsToOneRequest) {
  InvocationJob a = Job(Id("idem-a"));
  a.set_idempotency_key(Id("key"));
  InvocationJob b = Job(Id("idem-b"));
  b.set_idempotency_key(a.idempotency_key());
  ASSERT_OK(store_->RecordQueued(a));
  EXPECT_EQ(store_->RecordQueued(b).code(), absl::StatusCode::kAlreadyExists);
}

TEST_F(ResultStoreTest, UnstorableResultDoesNotBlockItsBatch) {
  const std::string good = Id("good");
  const std::string bad = Id("bad");
  const std::string nul = Id("nul");
  ASSERT_OK(store_->RecordResults({Succeeded(good, R"({"ok":true})"), Succeeded(bad, "not json {"),
                                   Succeeded(nul, std::string("{\"a\":\"\0\"}", 9))}));
  EXPECT_EQ(store_->Get(good)->state(), magic::v1::SUCCEEDED);
  for (const std::string& id : {bad, nul}) {
    absl::StatusOr<Invocation> inv = store_->Get(id);
    ASSERT_OK(inv);
    EXPECT_EQ(inv->state(), magic::v1::FAILED);
    EXPECT_EQ(inv->error().code(), "E3005");
    EXPECT_EQ(inv->output_json(), "");
  }
}

// magic.results -> recorder -> store, offsets committed after the write.
TEST_F(ResultStoreTest, RecorderConsumesResultsEndToEnd) {
  const std::string brokers = magic::testing::ServerEnv("MAGIC_TEST_KAFKA_BROKERS");
  ASSERT_FALSE(brokers.empty());
  const kafka::KafkaConfig config{.brokers = brokers, .client_id = "recorder-test"};
  ResultRecorderOptions options{
      .topic = "test.results." + RunId(), .group_id = "test-recorder-" + RunId(), .max_batch = 16};
  ASSERT_OK(kafka::EnsureTopics(config, {{.name = options.topic, .partitions = 2}}));

  auto producer = std::move(kafka::MakeKafkaProducer(config)).value();
  std::vector<std::string> ids;
  for (int i = 0; i < 40; ++i) {
    ids.push_back(Id(fmt::format("rec-{}", i)));
    const std::string bytes =
        Succeeded(ids.back(), fmt::format(R"({{"i":{}}})", i)).SerializeAsString();
    ASSERT_OK(producer->Produce({.topic = options.topic, .key = ids.back(), .value = bytes}, {}));
  }
  // A redelivered duplicate and a message that is not a result at all.
  const std::string dup = Failed(ids[0], "E3001").SerializeAsString();
  ASSERT_OK(producer->Produce({.topic = options.topic, .key = ids[0], .value = dup}, {}));
  ASSERT_OK(producer->Produce({.topic = options.topic, .key = "junk", .value = "\xff\xff"}, {}));
  ASSERT_OK(producer->Flush(seconds(10)));

  ResultRecorder recorder(*store_, config, options);
  ASSERT_OK(recorder.Start());
  const auto deadline = std::chrono::steady_clock::now() + seconds(30);
  std::unordered_set<std::string> finished;
  while (std::chrono::steady_clock::now() < deadline && finished.size() < ids.size()) {
    std::this_thread::sleep_for(milliseconds(100));
    finished = store_->FindFinished(ids).value_or(finished);
  }
  recorder.Stop();
  EXPECT_EQ(finished.size(), ids.size());
  EXPECT_EQ(store_->Get(ids[0])->state(), magic::v1::SUCCEEDED);
  EXPECT_EQ(store_->Get(ids[7])->output_json(), R"({"i":7})");
  EXPECT_EQ(recorder.recorded(), 41u);  // 40 + the duplicate (ignored by the store)

  // Everything is committed: the group's offsets are at the end.
  auto probe = std::move(kafka::MakeKafkaConsumer(config, {.group_id = options.group_id})).value();
  absl::StatusOr<std::vector<kafka::PartitionOffset>> committed =
      probe->Committed({{options.topic, 0}, {options.topic, 1}}, seconds(10));
  ASSERT_TRUE(committed.ok()) << committed.status();
  int64_t total = 0;
  for (const kafka::PartitionOffset& po : *committed) total += std::max<int64_t>(po.offset, 0);
  EXPECT_EQ(total, 42);
}

// ---- Batches (gateway SubmitBatch) ----

std::vector<InvocationJob> BatchJobs(const std::string& batch_id, int n) {
  std::vector<InvocationJob> jobs;
  for (int i = 0; i < n; ++i) {
    InvocationJob job = Job(fmt::format("{}-{:05d}", batch_id, i));
    job.set_batch_id(batch_id);
    jobs.push_back(job);
  }
  return jobs;
}

BatchRecord Record(const std::string& batch_id, int n, std::string key = "") {
  return {.batch_id = batch_id,
          .controller = "greeter",
          .version = "1.0.0",
          .total = n,
          .created_unix_ms = 1'700'000'000'000,
          .idempotency_key = std::move(key)};
}

TEST_F(ResultStoreTest, BatchCountsByState) {
  const std::string batch = Id("batch-counts");
  const std::vector<InvocationJob> jobs = BatchJobs(batch, 5);
  absl::StatusOr<std::string> holder = store_->RecordBatch(Record(batch, 5), jobs);
  ASSERT_OK(holder);
  EXPECT_EQ(*holder, batch);
  absl::StatusOr<magic::v1::Batch> b = store_->GetBatch(batch);
  ASSERT_OK(b);
  EXPECT_EQ(b->total(), 5u);
  EXPECT_EQ(b->queued(), 5u);
  EXPECT_EQ(b->controller(), "greeter");
  EXPECT_EQ(b->created_unix_ms(), 1'700'000'000'000);
  EXPECT_FALSE(b->finished());

  ASSERT_OK(store_->RecordResults({Succeeded(jobs[0].request_id(), R"({"n":1})"),
                                   Succeeded(jobs[1].request_id(), R"({"n":2})"),
                                   Failed(jobs[2].request_id(), "E3003")}));
  ASSERT_OK(store_->MarkCancelled(jobs[3].request_id()));
  b = store_->GetBatch(batch);
  ASSERT_OK(b);
  EXPECT_EQ(b->succeeded(), 2u);
  EXPECT_EQ(b->failed(), 1u);
  EXPECT_EQ(b->cancelled(), 1u);
  EXPECT_EQ(b->queued(), 1u);
  EXPECT_FALSE(b->finished());
  ASSERT_OK(store_->RecordResults({Failed(jobs[4].request_id(), "E3002")}));
  b = store_->GetBatch(batch);
  ASSERT_OK(b);
  EXPECT_EQ(b->queued(), 0u);
  EXPECT_TRUE(b->finished());
  // The result upsert keeps the batch id the queued row was given.
  absl::StatusOr<Invocation> item = store_->Get(jobs[0].request_id());
  ASSERT_OK(item);
  EXPECT_EQ(item->state(), magic::v1::SUCCEEDED);
}

TEST_F(ResultStoreTest, BatchUnknownIsNotFound) {
  EXPECT_EQ(store_->GetBatch(Id("batch-none")).status().code(), absl::StatusCode::kNotFound);
  magic::v1::ListBatchItemsRequest request;
  request.set_batch_id(Id("batch-none"));
  EXPECT_EQ(store_->ListBatchItems(request).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ResultStoreTest, BatchItemsPagesAndFilters) {
  const std::string batch = Id("batch-items");
  const std::vector<InvocationJob> jobs = BatchJobs(batch, 7);
  ASSERT_OK(store_->RecordBatch(Record(batch, 7), jobs));
  ASSERT_OK(store_->RecordResults({Failed(jobs[1].request_id(), "E3003"),
                                   Failed(jobs[5].request_id(), "E3002"),
                                   Succeeded(jobs[2].request_id(), R"({"n":2})")}));

  magic::v1::ListBatchItemsRequest request;
  request.set_batch_id(batch);
  request.set_page_size(3);
  std::vector<std::string> seen;
  for (int page = 0; page < 5; ++page) {
    absl::StatusOr<magic::v1::ListBatchItemsResponse> r = store_->ListBatchItems(request);
    ASSERT_OK(r);
    for (const Invocation& inv : r->items()) seen.push_back(inv.request_id());
    if (r->next_page_token().empty()) break;
    request.set_page_token(r->next_page_token());
  }
  ASSERT_EQ(seen.size(), 7u);
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], jobs[i].request_id());

  request.set_page_token("");
  request.set_page_size(0);
  request.set_state(magic::v1::FAILED);
  absl::StatusOr<magic::v1::ListBatchItemsResponse> failed = store_->ListBatchItems(request);
  ASSERT_OK(failed);
  ASSERT_EQ(failed->items_size(), 2);
  EXPECT_EQ(failed->items(0).request_id(), jobs[1].request_id());
  EXPECT_EQ(failed->items(0).error().code(), "E3003");
  EXPECT_EQ(failed->items(1).error().code(), "E3002");
  EXPECT_TRUE(failed->next_page_token().empty());

  request.set_page_size(1001);
  EXPECT_EQ(store_->ListBatchItems(request).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ResultStoreTest, BatchIdempotencyKeyReturnsTheFirstBatch) {
  const std::string key = Id("batch-key");
  const std::string first = Id("batch-first");
  const std::string second = Id("batch-second");
  ASSERT_OK(store_->RecordBatch(Record(first, 2, key), BatchJobs(first, 2)));
  absl::StatusOr<std::string> holder =
      store_->RecordBatch(Record(second, 3, key), BatchJobs(second, 3));
  ASSERT_OK(holder);
  EXPECT_EQ(*holder, first);
  EXPECT_EQ(store_->GetBatch(second).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Get(second + "-00000").status().code(), absl::StatusCode::kNotFound);
  // A retry of the same batch id (no key) is harmless.
  ASSERT_OK(store_->RecordBatch(Record(first, 2), BatchJobs(first, 2)));
  absl::StatusOr<magic::v1::Batch> b = store_->GetBatch(first);
  ASSERT_OK(b);
  EXPECT_EQ(b->total(), 2u);
}

TEST_F(ResultStoreTest, RecordQueuedBatchIsOneInsertAndKeepsFinishedRows) {
  const std::string batch = Id("batch-queued");
  std::vector<InvocationJob> jobs = BatchJobs(batch, 3);
  jobs[1].set_input_json(R"({"name": "quote \" and backslash \\"})");
  ASSERT_OK(store_->RecordQueuedBatch(jobs));
  ASSERT_OK(store_->RecordResults({Succeeded(jobs[0].request_id(), R"({"n":1})")}));
  ASSERT_OK(store_->RecordQueuedBatch(jobs));  // a retry: the finished row stays finished
  absl::StatusOr<Invocation> first = store_->Get(jobs[0].request_id());
  ASSERT_OK(first);
  EXPECT_EQ(first->state(), magic::v1::SUCCEEDED);
  absl::StatusOr<Invocation> second = store_->Get(jobs[1].request_id());
  ASSERT_OK(second);
  EXPECT_EQ(second->state(), magic::v1::QUEUED);
  EXPECT_OK(store_->RecordQueuedBatch({}));
  InvocationJob nameless = Job("");
  EXPECT_EQ(store_->RecordQueuedBatch({nameless}).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace magic::scheduler
