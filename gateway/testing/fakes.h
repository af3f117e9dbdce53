// In-memory fakes of the gateway's collaborators, for unit tests of our
// own interfaces (never a stand-in for Kafka or PostgreSQL in integration
// tests).
#pragma once

#include "gateway/invocation_service.h"

#include <deque>
#include <map>
#include <mutex>

namespace magic::gateway::testing {

// Records jobs; acknowledges them at once with `ack` (OK by default).
class FakeJobSink final : public JobSink {
 public:
  void Send(const magic::v1::InvocationJob& job, std::function<void(absl::Status)> done) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      jobs_.push_back(job);
    }
    done(ack_);
  }
  void SendCancel(const std::string& request_id, std::function<void(absl::Status)> done) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      cancels_.push_back(request_id);
    }
    done(ack_);
  }
  void set_ack(absl::Status ack) { ack_ = std::move(ack); }
  std::deque<std::string> cancels() {
    std::lock_guard<std::mutex> lock(mu_);
    return cancels_;
  }
  std::deque<magic::v1::InvocationJob> jobs() {
    std::lock_guard<std::mutex> lock(mu_);
    return jobs_;
  }

 private:
  std::mutex mu_;
  std::deque<magic::v1::InvocationJob> jobs_;
  std::deque<std::string> cancels_;
  absl::Status ack_;
};

class FakeInvocationReader final : public InvocationReader {
 public:
  absl::StatusOr<magic::v1::Invocation> Get(const std::string& id) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = rows_.find(id);
    if (it == rows_.end()) return absl::NotFoundError(id);
    return it->second;
  }
  void Put(magic::v1::Invocation row) {
    std::lock_guard<std::mutex> lock(mu_);
    rows_[row.request_id()] = std::move(row);
  }

 private:
  std::mutex mu_;
  std::map<std::string, magic::v1::Invocation> rows_;
};

}  // namespace magic::gateway::testing
