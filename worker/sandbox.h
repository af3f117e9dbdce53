// The worker's sandbox layer: everything that runs ONE Python controller
// invocation safely on this machine (DESIGN.md "The sandbox").
//
//   MAGIC_ASSIGN_OR_RETURN(auto factory, MakeSandboxRunnerFactory(config, RealClockInstance()));
//   MAGIC_LOG(info, "worker started", {{"limits", factory->LimitsReport()}});
//   MAGIC_ASSIGN_OR_RETURN(ControllerBundle bundle, ReadBundle(contract, dir));
//   MAGIC_ASSIGN_OR_RETURN(auto runner, factory->StartGeneric(bundle.profile));
//   MAGIC_RETURN_IF_ERROR(runner->Load(bundle, events));
//   DenyAllCallHandler calls;
//   InvocationHooks hooks{calls, events};
//   absl::StatusOr<nlohmann::json> out = RunAndValidate(*runner, compiled, invocation, hooks);
//
// A Runner is one bubblewrap sandbox with one Python interpreter
// (sdk/python/magic/_runner.py) that talks frames over fd 3. It starts
// *generic* (interpreter and SDK imported, empty /controller), becomes
// dedicated to one controller version with Load(), then serves any number
// of Invoke() calls for that version. The runner pool (runner_pool.h) keeps
// generic and warm runners; RunLocal (cli/run_command.h) uses one runner once.
//
// Errors are absl::Status with E-codes (common/errors.h): E3001 timeout,
// E3002 memory, E3003 controller exception (traceback in details), E1004
// output not JSON / not matching the schema, E2xxx capability errors the
// controller did not catch, E4001 no controller in the bundle, E3005 the
// sandbox itself failed. Everything coming out of the sandbox is treated as
// hostile: frames are size-bounded and type-checked, and a runner that
// misbehaves is killed, never trusted again.
#pragma once

#include "common/clock.h"
#include "contracts/contract.h"
#include "contracts/schema.h"

#include <absl/status/status.h>
#include <absl/status/statusor.h>
#include <absl/time/time.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace magic::worker {

// What is fixed when a sandbox starts (its mounts). Generic runners with the
// same profile are interchangeable.
struct SandboxProfile {
  std::optional<int64_t> tmp_size_bytes;  // fs:temp: a writable /tmp of this size
  std::string controller_dir;  // host directory bound read-only at /controller; "" = empty

  // A stable text form, usable as a map key.
  std::string Key() const;
  friend bool operator==(const SandboxProfile&, const SandboxProfile&) = default;
};

// Limits applied when a runner is loaded (the contract's resources).
struct SandboxLimits {
  int64_t memory_bytes = contracts::ResourceLimits::kDefaultMemory;
  double cpu = contracts::ResourceLimits::kDefaultCpu;
  absl::Duration timeout = absl::Milliseconds(contracts::ResourceLimits::kDefaultTimeoutMs);

  static SandboxLimits FromContract(const contracts::ResourceLimits& resources);
};

// One controller version, as the sandbox receives it: the .py sources of
// its directory (sent in the "load" frame and imported from memory as
// /controller/<relpath>), which module to import first, and its limits.
struct ControllerBundle {
  std::string version_key;   // the contract digest: the warm-pool key
  std::string name;          // "InvoiceSync"
  std::string version;       // "1.2.0"
  std::string entry_module;  // "invoice_sync" (from invoice_sync.py or controller.py)
  std::map<std::string, std::string> files;  // relative path -> source, .py only
  SandboxProfile profile;
  SandboxLimits limits;
};

struct ReadBundleOptions {
  // Also bind `dir` read-only at /controller (so the controller can read its
  // data files). Runners of such bundles cannot come from generic ones.
  bool mount_dir = false;
  int max_files = 256;
  int64_t max_total_bytes = int64_t{8} << 20;
};

// Reads the controller directory `dir` of `contract`: every .py file below
// it (hidden directories and __pycache__ skipped). E4001 when the entry
// file (<snake_name>.py or controller.py) is missing, a file is not UTF-8,
// or the limits are exceeded.
absl::StatusOr<ControllerBundle> ReadBundle(const contracts::Contract& contract,
                                            const std::string& dir,
                                            const ReadBundleOptions& options = {});

struct Invocation {
  std::string request_id;
  nlohmann::json input;  // already validated against the input schema
  absl::Duration timeout = absl::Seconds(30);
};

// What a controller reports while it runs. request_id is always set by the
// worker, never taken from the sandbox.
struct LogRecord {
  std::string request_id;
  std::string level;  // debug, info, warning, error
  std::string msg;
  nlohmann::json fields = nlohmann::json::object();
};
struct MetricRecord {
  std::string request_id;
  std::string name;
  std::string kind;  // counter, gauge, histogram
  double value = 0;
  nlohmann::json labels = nlohmann::json::object();  // string -> string
};
struct CapabilityCall {
  std::string request_id;
  std::string capability;  // the SDK attribute: db, http, secrets, cache, queue, fs
  std::string op;          // query_one, post, get, ...
  nlohmann::json args = nlohmann::json::object();  // named arguments: {"table": ..., ...}
};

// Answers the controller's capability calls (the broker implements it).
// Called on the invoking thread while the deadline runs.
class CallHandler {
 public:
  virtual ~CallHandler() = default;
  // The JSON result, or an error Status with an E-code (E2xxx), which the
  // controller sees raised as the matching magic exception.
  virtual absl::StatusOr<nlohmann::json> Call(const CapabilityCall& call) = 0;
  // Time spent inside Call() so far (Timings.capability_us).
  virtual absl::Duration TimeSpent() const { return absl::ZeroDuration(); }
};

// Every call fails with E2001 "capability broker not available yet".
class DenyAllCallHandler final : public CallHandler {
 public:
  // CallHandler
  absl::StatusOr<nlohmann::json> Call(const CapabilityCall& call) override;
};

// Receives the controller's logs and metrics. Called on the invoking thread.
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void OnLog(const LogRecord& record) = 0;
  virtual void OnMetric(const MetricRecord& record) = 0;
};

// Writes controller logs through MAGIC_LOG with the request id, the
// controller name and `extra_fields` (e.g. the contract's log_fields picked
// from the input with logging::LogFieldsFrom). One per invocation.
class LoggingEventSink final : public EventSink {
 public:
  explicit LoggingEventSink(std::string controller,
                            nlohmann::json extra_fields = nlohmann::json::object())
      : controller_(std::move(controller)), extra_fields_(std::move(extra_fields)) {}
  // EventSink
  void OnLog(const LogRecord& record) override;
  void OnMetric(const MetricRecord& record) override;

 private:
  std::string controller_;
  nlohmann::json extra_fields_;
};

struct InvocationHooks {
  CallHandler& calls;
  EventSink& events;
};

// One sandbox. Not thread-safe: used by one thread at a time (the pool
// hands it out exclusively). Destroying it kills the sandbox.
class Runner {
 public:
  virtual ~Runner() = default;
  // Makes a generic runner dedicated to `bundle` (once). Applies the
  // bundle's memory and cpu limits, then imports the controller within its
  // timeout. Any failure leaves the runner dead.
  virtual absl::Status Load(const ControllerBundle& bundle, EventSink& events) = 0;
  // Runs one call. The sandbox is killed at the deadline (E3001). Returns
  // the controller's output, not yet checked against the output schema.
  virtual absl::StatusOr<nlohmann::json> Invoke(const Invocation& invocation,
                                                InvocationHooks& hooks) = 0;
  // False once it timed out, crashed, ran out of memory, broke the protocol
  // or failed to load. A controller exception leaves it reusable.
  virtual bool reusable() const = 0;
  // The loaded version ("" while generic).
  virtual const std::string& version_key() const = 0;
  virtual const SandboxProfile& profile() const = 0;
  // The memory limit this runner may use (what the pool budgets for it).
  virtual int64_t memory_limit_bytes() const = 0;
  // Host pid of the sandbox's outermost process (bwrap); -1 once dead.
  virtual int pid() const = 0;
  virtual void Kill() = 0;
};

// Starts sandboxes. Thread-safe. Runners must not outlive their factory:
// the sandboxes are forked by a thread the factory owns and die with it
// (bwrap --die-with-parent).
class RunnerFactory {
 public:
  virtual ~RunnerFactory() = default;
  // Starts a sandbox and waits until its interpreter is ready (E3005 if it
  // cannot start).
  virtual absl::StatusOr<std::unique_ptr<Runner>> StartGeneric(const SandboxProfile& profile) = 0;
  // "limits: memory=cgroup-v1 cpu=cgroup-v1 pids=cgroup-v1 timeout=kill"
  virtual std::string LimitsReport() const = 0;
  // The memory limit of a runner before it is loaded.
  virtual int64_t generic_memory_bytes() const = 0;
};

enum class CgroupMode {
  kAuto,  // cgroup v2 per controller where usable, else v1, else rlimits
  kV2,
  kV1,
  kNone,  // rlimits only (RLIMIT_AS; no cpu or pids limit)
};

struct SandboxConfig {
  std::string bwrap_path = "/usr/bin/bwrap";
  std::string python_path = "/usr/bin/python3";  // Debian's, never the PATH one
  std::string sdk_dir;           // host directory holding the `magic` package; "" = DefaultSdkDir()
  uint32_t sandbox_uid = 65534;  // uid/gid inside the user namespace
  uint32_t sandbox_gid = 65534;
  // When the worker runs as root, bwrap runs as this host uid/gid, so the
  // sandbox maps to an unprivileged host user (as root it could chmod the
  // host's device nodes bound into /dev).
  uint32_t host_uid = 65534;
  uint32_t host_gid = 65534;
  int64_t pids_max = 64;
  int64_t generic_memory_bytes = contracts::ResourceLimits::kDefaultMemory;
  double generic_cpu = 1.0;
  absl::Duration start_timeout = absl::Seconds(10);
  CgroupMode cgroup_mode = CgroupMode::kAuto;
  std::string cgroup_parent = "magic";  // group directory under each cgroup mount
};

// Checks the config (bwrap, python and the SDK runner exist), compiles the
// seccomp filter and probes which limits the host can enforce.
absl::StatusOr<std::unique_ptr<RunnerFactory>> MakeSandboxRunnerFactory(const SandboxConfig& config,
                                                                        Clock& clock);

// Where the SDK is: $MAGIC_SDK_DIR, else sdk/python relative to the running
// binary (build tree: build/bin -> ../../sdk/python; installed:
// ../share/magic/sdk/python), else the source tree this was built from.
std::string DefaultSdkDir();

// Invoke() plus the output check: E1004 when the output breaks the
// contract's output schema.
absl::StatusOr<nlohmann::json> RunAndValidate(Runner& runner,
                                              const contracts::CompiledContract& contract,
                                              const Invocation& invocation, InvocationHooks& hooks);

}  // namespace magic::worker
