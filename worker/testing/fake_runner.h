// Fakes of the sandbox layer (worker/sandbox.h) for unit tests of what
// sits on RunnerPool: runners that start, load and answer `{}` at once,
// counted in a FakeWorld; a bundle named "Broken" fails to load.
#pragma once

#include "common/errors.h"
#include "worker/sandbox.h"

#include <atomic>
#include <memory>
#include <string>

namespace magic::worker::testing {

struct FakeWorld {
  std::atomic<int> live{0};
  std::atomic<int> starts{0};
  std::atomic<bool> fail_starts{false};
  std::atomic<int> invocations{0};
};

class FakeRunner final : public Runner {
 public:
  FakeRunner(FakeWorld& world, SandboxProfile profile, int64_t memory)
      : world_(world), profile_(std::move(profile)), memory_(memory) {
    ++world_.live;
  }
  ~FakeRunner() override { --world_.live; }

  absl::Status Load(const ControllerBundle& bundle, EventSink&) override {
    if (bundle.name == "Broken") {
      reusable_ = false;
      return MakeError(ErrorCode::kE3003, "import failed");
    }
    version_ = bundle.version_key;
    memory_ = bundle.limits.memory_bytes;
    return absl::OkStatus();
  }
  absl::StatusOr<nlohmann::json> Invoke(const Invocation&, InvocationHooks&) override {
    ++world_.invocations;
    return nlohmann::json::object();
  }
  bool reusable() const override { return reusable_ && !version_.empty(); }
  const std::string& version_key() const override { return version_; }
  const SandboxProfile& profile() const override { return profile_; }
  int64_t memory_limit_bytes() const override { return memory_; }
  int pid() const override { return 1; }
  void Kill() override { reusable_ = false; }

 private:
  FakeWorld& world_;
  SandboxProfile profile_;
  int64_t memory_;
  std::string version_;
  bool reusable_ = true;
};

class FakeFactory final : public RunnerFactory {
 public:
  explicit FakeFactory(FakeWorld& world) : world_(world) {}
  absl::StatusOr<std::unique_ptr<Runner>> StartGeneric(const SandboxProfile& profile) override {
    if (world_.fail_starts) return MakeError(ErrorCode::kE3005, "no sandbox today");
    ++world_.starts;
    return std::unique_ptr<Runner>(new FakeRunner(world_, profile, generic_memory_bytes()));
  }
  std::string LimitsReport() const override { return "limits: fake"; }
  int64_t generic_memory_bytes() const override { return 100; }

 private:
  FakeWorld& world_;
};

class NullSink final : public EventSink {
 public:
  void OnLog(const LogRecord&) override {}
  void OnMetric(const MetricRecord&) override {}
};

}  // namespace magic::worker::testing
