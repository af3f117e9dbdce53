// The result store (scheduler/result_store.h) as the worker's ResultLookup.
// Borrows the store; thread-safe as the store is.
#pragma once

#include "scheduler/result_store.h"
#include "worker/worker_service.h"

namespace magic::worker {

class StoreLookup final : public ResultLookup {
 public:
  explicit StoreLookup(scheduler::ResultStore& store) : store_(store) {}
  // ResultLookup
  absl::StatusOr<std::set<std::string>> FindFinished(
      const std::vector<std::string>& request_ids) override {
    auto found = store_.FindFinished(request_ids);
    if (!found.ok()) return found.status();
    return std::set<std::string>(found->begin(), found->end());
  }

 private:
  scheduler::ResultStore& store_;
};

}  // namespace magic::worker
