// StoreReader's group commit against the real PostgreSQL result store
// (scripts/services): needs MAGIC_TEST_POSTGRES_URL and fails without it.
// Request ids and keys are unique per run.
#include "gateway/store_reader.h"

#include "common/errors.h"
#include "common/testing/server_env.h"
#include "common/testing/status_testing.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <unistd.h>

namespace magic::gateway {
namespace {

using magic::v1::InvocationJob;

std::string Unique(std::string_view name, int i = 0) {
  static const std::string run = fmt::format(
      "{}-{}", getpid(), std::chrono::steady_clock::now().time_since_epoch().count() % 1000000007);
  return fmt::format("sr-{}-{}-{}", name, run, i);
}

InvocationJob Job(const std::string& id, const std::string& key = "") {
  InvocationJob job;
  job.set_request_id(id);
  job.set_controller("Adder");
  job.set_version("1.0.0");
  job.set_input_json(R"({"a": 1, "b": 2})");
  job.set_idempotency_key(key);
  job.set_attempt(1);
  return job;
}

// The real store, with RecordQueuedBatch counted and, while `hold` is set,
// its first call held until Release(): later Submits pile up meanwhile.
class GatedStore final : public scheduler::ResultStore {
 public:
  explicit GatedStore(scheduler::ResultStore& real) : real_(real) {}

  void Hold() {
    std::lock_guard<std::mutex> lock(mu_);
    hold_ = true;
  }
  void WaitUntilHeld() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return held_; });
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    hold_ = false;
    cv_.notify_all();
  }
  std::vector<size_t> group_sizes() {
    std::lock_guard<std::mutex> lock(mu_);
    return group_sizes_;
  }

  absl::Status RecordQueuedBatch(const std::vector<InvocationJob>& jobs) override {
    {
      std::unique_lock<std::mutex> lock(mu_);
      group_sizes_.push_back(jobs.size());
      if (hold_) {
        held_ = true;
        cv_.notify_all();
        cv_.wait(lock, [this] { return !hold_; });
      }
    }
    return real_.RecordQueuedBatch(jobs);
  }
  absl::Status RecordQueued(const InvocationJob& job) override { return real_.RecordQueued(job); }
  absl::StatusOr<std::string> RecordSubmitted(const InvocationJob& job) override {
    return real_.RecordSubmitted(job);
  }
  absl::Status RecordResults(const std::vector<magic::v1::InvocationResult>& results) override {
    return real_.RecordResults(results);
  }
  absl::StatusOr<magic::v1::Invocation> Get(std::string_view id) override { return real_.Get(id); }
  absl::StatusOr<std::unordered_set<std::string>> FindFinished(
      const std::vector<std::string>& ids) override {
    return real_.FindFinished(ids);
  }
  absl::Status MarkCancelled(std::string_view id) override { return real_.MarkCancelled(id); }
  absl::StatusOr<std::string> RecordBatch(const scheduler::BatchRecord& batch,
                                          const std::vector<InvocationJob>& jobs) override {
    return real_.RecordBatch(batch, jobs);
  }
  absl::StatusOr<magic::v1::Batch> GetBatch(std::string_view id) override {
    return real_.GetBatch(id);
  }
  absl::StatusOr<magic::v1::ListBatchItemsResponse> ListBatchItems(
      const magic::v1::ListBatchItemsRequest& request) override {
    return real_.ListBatchItems(request);
  }

 private:
  scheduler::ResultStore& real_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool hold_ = false;
  bool held_ = false;
  std::vector<size_t> group_sizes_;
};

// Collects the answers of many RecordSubmitted calls.
class Answers {
 public:
  InvocationReader::RecordedFn Slot(size_t i) {
    return [this, i](absl::StatusOr<std::string> holder) {
      std::lock_guard<std::mutex> lock(mu_);
      answers_[i] = std::move(holder);
      if (++count_ == answers_.size()) cv_.notify_all();
    };
  }
  explicit Answers(size_t n) : answers_(n, absl::UnknownError("no answer")) {}
  std::vector<absl::StatusOr<std::string>> Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    EXPECT_TRUE(
        cv_.wait_for(lock, std::chrono::seconds(30), [this] { return count_ == answers_.size(); }));
    return answers_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<absl::StatusOr<std::string>> answers_;
  size_t count_ = 0;
};

class StoreReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string url = magic::testing::ServerEnv("MAGIC_TEST_POSTGRES_URL");
    ASSERT_FALSE(url.empty());
    absl::StatusOr<scheduler::PgResultStoreHandle> store = scheduler::OpenPgResultStore(url, 4);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    gated_ = std::make_unique<GatedStore>(*store_.store);
  }

  scheduler::PgResultStoreHandle store_;
  std::unique_ptr<GatedStore> gated_;
};

TEST_F(StoreReaderTest, SubmitsWaitingDuringAWriteGoInOneInsert) {
  constexpr size_t kN = 100;
  Answers answers(kN);
  {
    StoreReader reader(*gated_);
    gated_->Hold();
    reader.RecordSubmitted(Job(Unique("group", 0)), answers.Slot(0));
    gated_->WaitUntilHeld();
    std::vector<std::thread> callers;
    for (int t = 0; t < 4; ++t) {
      callers.emplace_back([&, t] {
        for (size_t i = 1 + t; i < kN; i += 4) {
          reader.RecordSubmitted(Job(Unique("group", static_cast<int>(i))), answers.Slot(i));
        }
      });
    }
    for (std::thread& c : callers) c.join();
    gated_->Release();
    const std::vector<absl::StatusOr<std::string>> got = answers.Wait();
    for (size_t i = 0; i < kN; ++i) {
      ASSERT_TRUE(got[i].ok()) << i << ": " << got[i].status();
      EXPECT_EQ(*got[i], Unique("group", static_cast<int>(i)));
    }
  }
  EXPECT_EQ(gated_->group_sizes(), (std::vector<size_t>{1, kN - 1}));
  for (size_t i = 0; i < kN; i += 33) {
    absl::StatusOr<magic::v1::Invocation> row =
        store_.store->Get(Unique("group", static_cast<int>(i)));
    ASSERT_TRUE(row.ok()) << row.status();
    EXPECT_EQ(row->state(), magic::v1::QUEUED);
    EXPECT_EQ(row->controller(), "Adder");
  }
}

TEST_F(StoreReaderTest, GroupsAreCappedAtMaxGroup) {
  constexpr size_t kN = 25;
  Answers answers(kN);
  {
    StoreReader reader(*gated_, StoreReader::Options{.max_group = 10});
    gated_->Hold();
    reader.RecordSubmitted(Job(Unique("cap", 0)), answers.Slot(0));
    gated_->WaitUntilHeld();
    for (size_t i = 1; i < kN; ++i) {
      reader.RecordSubmitted(Job(Unique("cap", static_cast<int>(i))), answers.Slot(i));
    }
    gated_->Release();
    for (const absl::StatusOr<std::string>& a : answers.Wait()) EXPECT_TRUE(a.ok()) << a.status();
  }
  EXPECT_EQ(gated_->group_sizes(), (std::vector<size_t>{1, 10, 10, 4}));
}

TEST_F(StoreReaderTest, TheSameIdempotencyKeyAnswersWithTheFirstRun) {
  const std::string key = Unique("key");
  Answers answers(3);
  {
    StoreReader reader(*gated_);
    gated_->Hold();
    reader.RecordSubmitted(Job(Unique("plain")), answers.Slot(0));
    gated_->WaitUntilHeld();
    reader.RecordSubmitted(Job(Unique("keyed", 1), key), answers.Slot(1));
    reader.RecordSubmitted(Job(Unique("keyed", 2), key), answers.Slot(2));
    gated_->Release();
    const std::vector<absl::StatusOr<std::string>> got = answers.Wait();
    ASSERT_TRUE(got[1].ok()) << got[1].status();
    ASSERT_TRUE(got[2].ok()) << got[2].status();
    EXPECT_EQ(*got[1], Unique("keyed", 1));
    EXPECT_EQ(*got[2], Unique("keyed", 1));  // the key's holder; nothing written
  }
  EXPECT_EQ(store_.store->Get(Unique("keyed", 2)).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(gated_->group_sizes(), (std::vector<size_t>{1}));  // keyed ones go one by one
}

TEST_F(StoreReaderTest, ARowTheDatabaseRefusesFailsAloneNotItsGroup) {
  Answers answers(4);
  {
    StoreReader reader(*gated_);
    gated_->Hold();
    reader.RecordSubmitted(Job(Unique("first")), answers.Slot(0));
    gated_->WaitUntilHeld();
    InvocationJob refused = Job(Unique("refused"));
    refused.set_input_json("{not json");  // the gateway never sends this; the store refuses it
    reader.RecordSubmitted(Job(Unique("good", 1)), answers.Slot(1));
    reader.RecordSubmitted(refused, answers.Slot(2));
    reader.RecordSubmitted(Job(Unique("good", 3)), answers.Slot(3));
    gated_->Release();
    const std::vector<absl::StatusOr<std::string>> got = answers.Wait();
    EXPECT_TRUE(got[0].ok()) << got[0].status();
    EXPECT_TRUE(got[1].ok()) << got[1].status();
    EXPECT_FALSE(got[2].ok());
    EXPECT_TRUE(got[3].ok()) << got[3].status();
  }
  EXPECT_TRUE(store_.store->Get(Unique("good", 1)).ok());
  EXPECT_TRUE(store_.store->Get(Unique("good", 3)).ok());
}

TEST_F(StoreReaderTest, DestructionAnswersEverySubmitStillWaiting) {
  constexpr size_t kN = 20;
  Answers answers(kN);
  auto reader = std::make_unique<StoreReader>(*gated_);
  gated_->Hold();
  reader->RecordSubmitted(Job(Unique("drain", 0)), answers.Slot(0));
  gated_->WaitUntilHeld();
  for (size_t i = 1; i < kN; ++i) {
    reader->RecordSubmitted(Job(Unique("drain", static_cast<int>(i))), answers.Slot(i));
  }
  std::thread destroy([&reader] { reader.reset(); });
  gated_->Release();
  destroy.join();
  for (const absl::StatusOr<std::string>& a : answers.Wait()) EXPECT_TRUE(a.ok()) << a.status();
}

TEST_F(StoreReaderTest, BeyondMaxWaitingSubmitsAreRefusedWithE3004) {
  Answers answers(4);
  {
    StoreReader reader(*gated_, StoreReader::Options{.max_group = 512, .max_waiting = 2});
    gated_->Hold();
    reader.RecordSubmitted(Job(Unique("busy", 0)), answers.Slot(0));  // being written
    gated_->WaitUntilHeld();
    reader.RecordSubmitted(Job(Unique("busy", 1)), answers.Slot(1));
    reader.RecordSubmitted(Job(Unique("busy", 2)), answers.Slot(2));
    reader.RecordSubmitted(Job(Unique("busy", 3)), answers.Slot(3));  // a third waiting: refused
    gated_->Release();
    const std::vector<absl::StatusOr<std::string>> got = answers.Wait();
    EXPECT_TRUE(got[0].ok()) << got[0].status();
    EXPECT_TRUE(got[1].ok()) << got[1].status();
    EXPECT_TRUE(got[2].ok()) << got[2].status();
    ASSERT_FALSE(got[3].ok());
    EXPECT_EQ(ErrorFromStatus(got[3].status()).code, ErrorCode::kE3004) << got[3].status();
  }
  EXPECT_EQ(store_.store->Get(Unique("busy", 3)).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace magic::gateway
