// The result store (scheduler/result_store.h) as the gateway's
// InvocationReader. Borrows the store; thread-safe as the store is.
//
// Submits are recorded with group commit: one thread takes every Submit
// waiting and writes their QUEUED rows in one multi-row INSERT
// (ResultStore::RecordQueuedBatch), so no gRPC or HTTP thread blocks on
// PostgreSQL and, under load, a Submit costs a share of one round trip. A
// lone Submit is written at once (nothing waits for a batch to fill).
// Submits with an idempotency key are written one by one (the key's holder
// must be looked up), on the same thread.
//
//   StoreReader reader(store);            // starts the writer thread
//   reader.RecordSubmitted(job, [](absl::StatusOr<std::string> holder) { ... });
//   ...                                   // ~StoreReader writes what waits, then joins
#pragma once

#include "gateway/invocation_service.h"
#include "scheduler/result_store.h"

#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <thread>
#include <vector>

namespace magic::gateway {

class StoreReader final : public InvocationReader {
 public:
  struct Options {
    size_t max_group = 512;  // Submits written by one INSERT at most
    // Submits waiting for the writer at most; beyond, Submit is refused
    // with E3004 (the store is not keeping up) rather than queued without
    // bound.
    size_t max_waiting = 50'000;
  };

  explicit StoreReader(scheduler::ResultStore& store) : StoreReader(store, Options()) {}
  StoreReader(scheduler::ResultStore& store, Options options);
  StoreReader(const StoreReader&) = delete;
  StoreReader& operator=(const StoreReader&) = delete;
  // Records every Submit still waiting (their callers get an answer), then
  // joins the writer. Later RecordSubmitted calls are refused with E3005.
  // Thread-safe, like every method.
  ~StoreReader() override;

  // InvocationReader
  absl::StatusOr<magic::v1::Invocation> Get(const std::string& request_id) override {
    return store_.Get(request_id);
  }
  void RecordSubmitted(const magic::v1::InvocationJob& job, RecordedFn done) override;
  absl::StatusOr<std::string> RecordBatch(
      const magic::v1::Batch& batch, const std::string& idempotency_key,
      const std::vector<magic::v1::InvocationJob>& jobs) override;
  absl::StatusOr<magic::v1::Batch> GetBatch(const std::string& batch_id) override {
    return store_.GetBatch(batch_id);
  }
  absl::StatusOr<magic::v1::ListBatchItemsResponse> ListBatchItems(
      const magic::v1::ListBatchItemsRequest& request) override {
    return store_.ListBatchItems(request);
  }

 private:
  struct Waiting {
    magic::v1::InvocationJob job;
    RecordedFn done;
  };

  void Run();
  // Writes one group and answers each of its callers.
  void Write(std::vector<Waiting>& group);

  scheduler::ResultStore& store_;
  Options options_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::vector<Waiting> waiting_;  // guarded by mu_
  bool stopping_ = false;         // guarded by mu_
  std::thread writer_;
};

}  // namespace magic::gateway
