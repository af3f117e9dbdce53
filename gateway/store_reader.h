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

 private:
  scheduler::ResultStore& store_;
};

}  // namespace magic::gateway
