#include "gateway/store_reader.h"

#include "common/errors.h"

#include <fmt/format.h>

#include <utility>

namespace magic::gateway {

StoreReader::StoreReader(scheduler::ResultStore& store, Options options)
    : store_(store), options_(options) {
  if (options_.max_group == 0) options_.max_group = 1;
  if (options_.max_waiting == 0) options_.max_waiting = 1;
  writer_ = std::thread([this] { Run(); });
}

StoreReader::~StoreReader() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_one();
  writer_.join();
}

void StoreReader::RecordSubmitted(const magic::v1::InvocationJob& job, RecordedFn done) {
  size_t waiting = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    waiting = waiting_.size();
    if (!stopping_ && waiting < options_.max_waiting) {
      waiting_.push_back(Waiting{job, std::move(done)});
      if (waiting_.size() == 1) wake_.notify_one();
      return;
    }
  }
  if (waiting >= options_.max_waiting) {
    return done(MakeError(
        ErrorCode::kE3004,
        fmt::format("{} submits are waiting for the result store; try again shortly", waiting),
        {{"request_id", job.request_id()}, {"waiting", waiting}}));
  }
  done(MakeError(ErrorCode::kE3005, "the gateway is shutting down",
                 {{"request_id", job.request_id()}}));
}

absl::StatusOr<std::string> StoreReader::RecordBatch(
    const magic::v1::Batch& batch, const std::string& idempotency_key,
    const std::vector<magic::v1::InvocationJob>& jobs) {
  const scheduler::BatchRecord record{.batch_id = batch.batch_id(),
                                      .controller = batch.controller(),
                                      .version = jobs.empty() ? "" : jobs.front().version(),
                                      .total = batch.total(),
                                      .created_unix_ms = batch.created_unix_ms(),
                                      .idempotency_key = idempotency_key};
  return store_.RecordBatch(record, jobs);
}

void StoreReader::Run() {
  std::vector<Waiting> group;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [this] { return stopping_ || !waiting_.empty(); });
      if (waiting_.empty()) return;  // stopping, and everything is answered
      if (waiting_.size() <= options_.max_group) {
        group.swap(waiting_);
      } else {
        const auto end = waiting_.begin() + static_cast<std::ptrdiff_t>(options_.max_group);
        group.assign(std::make_move_iterator(waiting_.begin()), std::make_move_iterator(end));
        waiting_.erase(waiting_.begin(), end);
      }
    }
    Write(group);
    group.clear();
  }
}

void StoreReader::Write(std::vector<Waiting>& group) {
  std::vector<magic::v1::InvocationJob> plain;
  std::vector<Waiting*> plain_waiting;
  plain.reserve(group.size());
  plain_waiting.reserve(group.size());
  for (Waiting& w : group) {
    if (!w.job.idempotency_key().empty()) {
      w.done(store_.RecordSubmitted(w.job));
      continue;
    }
    plain_waiting.push_back(&w);
    plain.push_back(std::move(w.job));
  }
  if (plain.empty()) return;
  absl::Status written = store_.RecordQueuedBatch(plain);
  if (!written.ok() && plain.size() > 1) {
    // One row the database refuses must not fail the others: one by one.
    for (size_t i = 0; i < plain.size(); ++i) {
      absl::Status one = store_.RecordQueued(plain[i]);
      if (one.ok()) {
        plain_waiting[i]->done(plain[i].request_id());
      } else {
        plain_waiting[i]->done(std::move(one));
      }
    }
    return;
  }
  for (size_t i = 0; i < plain.size(); ++i) {
    if (written.ok()) {
      plain_waiting[i]->done(plain[i].request_id());
    } else {
      plain_waiting[i]->done(written);
    }
  }
}

}  // namespace magic::gateway
