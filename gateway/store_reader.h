// The result store (scheduler/result_store.h) as the gateway's
// InvocationReader. Borrows the store; thread-safe as the store is.
#pragma once

#include "gateway/invocation_service.h"
#include "scheduler/result_store.h"

namespace magic::gateway {

class StoreReader final : public InvocationReader {
 public:
  explicit StoreReader(scheduler::ResultStore& store) : store_(store) {}
  // InvocationReader
  absl::StatusOr<magic::v1::Invocation> Get(const std::string& request_id) override {
    return store_.Get(request_id);
  }
  absl::StatusOr<std::string> RecordSubmitted(const magic::v1::InvocationJob& job) override {
    return store_.RecordSubmitted(job);
  }
  absl::StatusOr<std::string> RecordBatch(
      const magic::v1::Batch& batch, const std::string& idempotency_key,
      const std::vector<magic::v1::InvocationJob>& jobs) override {
    const scheduler::BatchRecord record{.batch_id = batch.batch_id(),
                                        .controller = batch.controller(),
                                        .version = jobs.empty() ? "" : jobs.front().version(),
                                        .total = batch.total(),
                                        .created_unix_ms = batch.created_unix_ms(),
                                        .idempotency_key = idempotency_key};
    return store_.RecordBatch(record, jobs);
  }
  absl::StatusOr<magic::v1::Batch> GetBatch(const std::string& batch_id) override {
    return store_.GetBatch(batch_id);
  }
  absl::StatusOr<magic::v1::ListBatchItemsResponse> ListBatchItems(
      const magic::v1::ListBatchItemsRequest& request) override {
    return store_.ListBatchItems(request);
  }

 private:
  scheduler::ResultStore& store_;
};

}  // namespace magic::gateway
