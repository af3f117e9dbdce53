// Helpers for tests that run real sandboxes (label "sandbox": root and
// bubblewrap needed): load a controller from worker/testdata/controllers,
// record what it logs, and share one runner factory per test binary.
#pragma once

#include "contracts/schema.h"
#include "worker/sandbox.h"

#include <absl/status/statusor.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace magic::worker::testing {

// worker/testdata/controllers/<name>, relative to the source tree (tests
// run from it).
std::string TestControllerDir(const std::string& name);

struct TestController {
  std::shared_ptr<const contracts::CompiledContract> compiled;
  ControllerBundle bundle;
};

// Loads and compiles the contract of test controller `name` and reads its
// bundle (in-memory sources; `mount_dir` also binds the directory).
absl::StatusOr<TestController> LoadTestController(const std::string& name, bool mount_dir = false);

// Records every log and metric. Thread-safe.
class RecordingSink final : public EventSink {
 public:
  void OnLog(const LogRecord& record) override {
    std::lock_guard<std::mutex> lock(mu_);
    logs_.push_back(record);
  }
  void OnMetric(const MetricRecord& record) override {
    std::lock_guard<std::mutex> lock(mu_);
    metrics_.push_back(record);
  }
  std::vector<LogRecord> logs() const {
    std::lock_guard<std::mutex> lock(mu_);
    return logs_;
  }
  std::vector<MetricRecord> metrics() const {
    std::lock_guard<std::mutex> lock(mu_);
    return metrics_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<LogRecord> logs_;
  std::vector<MetricRecord> metrics_;
};

// Host pids whose command line contains `needle` (scans /proc).
std::vector<int> PidsWithArgument(const std::string& needle);

}  // namespace magic::worker::testing
