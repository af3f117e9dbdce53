#include "worker/internal/bwrap_runner.h"

#include "common/errors.h"
#include "worker/internal/bwrap_command.h"
#include "worker/internal/errno_text.h"
#include "worker/internal/frame_channel.h"
#include "worker/internal/protocol.h"
#include "worker/internal/seccomp_filter.h"
#include "worker/internal/unique_fd.h"

#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <signal.h>
#include <thread>
#include <unistd.h>
#include <variant>

namespace magic::worker::internal {
namespace {

using nlohmann::json;

// Per invocation, at most this many log and metric records reach the sink.
constexpr int kMaxEventsPerCall = 1000;

absl::Status SandboxError(std::string_view message, const json& details = json::object()) {
  return MakeError(ErrorCode::kE3005, message, details);
}

class BwrapRunner final : public Runner {
 public:
  BwrapRunner(Clock& clock, ProcessSpawner& spawner, bool rlimit_memory, SandboxProfile profile,
              int64_t memory_bytes, pid_t pid, std::unique_ptr<SandboxCgroup>&& cgroup,
              std::unique_ptr<FrameChannel>&& channel)
      : clock_(clock),
        spawner_(spawner),
        rlimit_memory_(rlimit_memory),
        profile_(std::move(profile)),
        memory_bytes_(memory_bytes),
        pid_(pid),
        cgroup_(std::move(cgroup)),
        channel_(std::move(channel)) {}
  ~BwrapRunner() override { Kill(); }

  // Waits for the "ready" frame; on failure the runner is dead.
  absl::Status AwaitReady(absl::Time deadline);

  // Runner
  absl::Status Load(const ControllerBundle& bundle, EventSink& events) override;
  absl::StatusOr<json> Invoke(const Invocation& invocation, InvocationHooks& hooks) override;
  bool reusable() const override { return state_ == State::kLoaded; }
  const std::string& version_key() const override { return version_key_; }
  const SandboxProfile& profile() const override { return profile_; }
  int64_t memory_limit_bytes() const override { return memory_bytes_; }
  int pid() const override { return pid_; }
  void Kill() override;

 private:
  enum class State { kStarting, kGeneric, kLoaded, kDead };

  // The message after the next frame, or the error that ends the exchange
  // (the runner is dead then, unless `state_` says otherwise).
  absl::StatusOr<RunnerMessage> Next(absl::Time deadline, absl::Duration budget);
  absl::Status Died();
  bool KillInside();
  bool AwaitExit();
  absl::Status ApplyLimits(const SandboxLimits& limits);
  // Handles a log, metric or call message; an error ends the invocation.
  absl::Status Dispatch(RunnerMessage& message, const std::string& request_id,
                        InvocationHooks& hooks, int& events);

  Clock& clock_;
  ProcessSpawner& spawner_;
  const bool rlimit_memory_;
  const SandboxProfile profile_;
  int64_t memory_bytes_;
  pid_t pid_;
  std::unique_ptr<SandboxCgroup> cgroup_;
  std::unique_ptr<FrameChannel> channel_;
  State state_ = State::kStarting;
  std::string version_key_;
};

// Kills the sandbox inside out: first everything but bwrap's outer process,
// which then reaps the sandbox's pid 1 and exits by itself (nothing is left
// for init to reap); then, if it has not, the outer process too.
void BwrapRunner::Kill() {
  if (pid_ > 0) {
    if (!KillInside() || !AwaitExit()) {
      spawner_.Kill(pid_);
      spawner_.Wait(pid_);
    }
  } else if (cgroup_ != nullptr && state_ != State::kDead) {
    cgroup_->KillAll(-1);
  }
  pid_ = -1;
  state_ = State::kDead;
}

bool BwrapRunner::KillInside() {
  if (cgroup_ != nullptr) {
    cgroup_->KillAll(pid_);
    return true;
  }
  // Without cgroups: bwrap's child is the sandbox's pid 1, and its death
  // takes the whole pid namespace with it.
  std::ifstream in(fmt::format("/proc/{}/task/{}/children", pid_, pid_));
  bool any = false;
  for (int64_t child = 0; in >> child;) any = kill(static_cast<pid_t>(child), SIGKILL) == 0 || any;
  return any;
}

bool BwrapRunner::AwaitExit() {
  for (int i = 0; i < 200; ++i) {  // ~200 ms; bwrap normally exits within one
    if (spawner_.TryWait(pid_)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

absl::Status BwrapRunner::Died() {
  const bool oom = cgroup_ != nullptr && cgroup_->OomKilled();
  std::optional<int> status = pid_ > 0 ? spawner_.TryWait(pid_) : std::nullopt;
  if (status) pid_ = -1;
  Kill();
  if (oom) {
    return MakeError(ErrorCode::kE3002, "the controller exceeded its memory limit",
                     {{"memory_bytes", memory_bytes_}});
  }
  return SandboxError("the sandbox exited unexpectedly",
                      {{"exit", status ? DescribeWaitStatus(*status) : "still running; killed"},
                       {"stderr", Truncate(channel_->stderr_tail(), 2048)}});
}

absl::StatusOr<RunnerMessage> BwrapRunner::Next(absl::Time deadline, absl::Duration budget) {
  FrameChannel::Received received = channel_->Receive(deadline);
  switch (received.kind) {
    case FrameChannel::Received::Kind::kTimeout:
      Kill();
      return MakeError(ErrorCode::kE3001,
                       fmt::format("the controller exceeded its {} ms timeout",
                                   absl::ToInt64Milliseconds(budget)),
                       {{"timeout_ms", absl::ToInt64Milliseconds(budget)}});
    case FrameChannel::Received::Kind::kClosed:
      return Died();
    case FrameChannel::Received::Kind::kBroken:
      Kill();
      return SandboxError("the sandbox broke the frame protocol", {{"reason", received.error}});
    case FrameChannel::Received::Kind::kFrame:
      break;
  }
  absl::StatusOr<RunnerMessage> message = ParseRunnerMessage(std::move(received.frame));
  if (!message.ok()) {
    Kill();
    return SandboxError("the sandbox broke the frame protocol",
                        {{"reason", std::string(message.status().message())}});
  }
  return message;
}

absl::Status BwrapRunner::AwaitReady(absl::Time deadline) {
  FrameChannel::Received received = channel_->Receive(deadline);
  const bool ready = received.kind == FrameChannel::Received::Kind::kFrame &&
                     received.frame.value("type", "") == "ready";
  if (ready) {
    state_ = State::kGeneric;
    return absl::OkStatus();
  }
  const bool timed_out = received.kind == FrameChannel::Received::Kind::kTimeout;
  Kill();
  return SandboxError(
      timed_out ? "the sandbox did not start in time" : "the sandbox failed to start",
      {{"stderr", Truncate(channel_->stderr_tail(), 2048)}});
}

absl::Status BwrapRunner::ApplyLimits(const SandboxLimits& limits) {
  if (cgroup_ == nullptr) return absl::OkStatus();
  absl::Status status = cgroup_->SetMemory(limits.memory_bytes);
  if (status.ok()) status = cgroup_->SetCpu(limits.cpu);
  if (status.ok()) return status;
  Kill();
  return SandboxError("cannot apply the controller's limits",
                      {{"reason", std::string(status.message())}});
}

absl::Status BwrapRunner::Load(const ControllerBundle& bundle, EventSink& events) {
  if (state_ != State::kGeneric || !(bundle.profile == profile_)) {
    return SandboxError("runner cannot load this bundle (not generic or other profile)");
  }
  memory_bytes_ = bundle.limits.memory_bytes;
  if (absl::Status s = ApplyLimits(bundle.limits); !s.ok()) return s;
  if (absl::Status s = channel_->Send(MakeLoadFrame(bundle, rlimit_memory_)); !s.ok()) {
    Kill();
    return MakeError(ErrorCode::kE4001, "the bundle is too large to load", {});
  }
  const absl::Time deadline = clock_.Now() + bundle.limits.timeout;
  for (;;) {
    absl::StatusOr<RunnerMessage> message = Next(deadline, bundle.limits.timeout);
    if (!message.ok()) return message.status();
    if (auto* log = std::get_if<LogRecord>(&*message)) {
      events.OnLog(*log);
    } else if (std::holds_alternative<MetricRecord>(*message)) {
      continue;  // no invocation to attribute it to
    } else if (std::holds_alternative<LoadedMessage>(*message)) {
      state_ = State::kLoaded;
      version_key_ = bundle.version_key;
      return absl::OkStatus();
    } else {
      Kill();  // a failed import leaves an interpreter we do not reuse
      if (auto* error = std::get_if<ErrorMessage>(&*message)) return error->status;
      return SandboxError("the sandbox sent an unexpected frame while loading");
    }
  }
}

absl::Status BwrapRunner::Dispatch(RunnerMessage& message, const std::string& request_id,
                                   InvocationHooks& hooks, int& events) {
  if (auto* log = std::get_if<LogRecord>(&message)) {
    if (++events <= kMaxEventsPerCall) {
      log->request_id = request_id;
      hooks.events.OnLog(*log);
    } else if (events == kMaxEventsPerCall + 1) {
      hooks.events.OnLog({request_id,
                          "warning",
                          "log and metric limit reached; dropping the rest",
                          {{"limit", kMaxEventsPerCall}}});
    }
    return absl::OkStatus();
  }
  if (auto* metric = std::get_if<MetricRecord>(&message)) {
    if (++events <= kMaxEventsPerCall) {
      metric->request_id = request_id;
      hooks.events.OnMetric(*metric);
    }
    return absl::OkStatus();
  }
  if (auto* call = std::get_if<CallMessage>(&message)) {
    call->call.request_id = request_id;
    absl::Status sent = channel_->Send(MakeReplyFrame(call->seq, hooks.calls.Call(call->call)));
    if (sent.ok()) return sent;
    return channel_->Send(MakeReplyFrame(call->seq, sent));  // result too large: E1005
  }
  Kill();
  return SandboxError("the sandbox sent an unexpected frame during a call");
}

absl::StatusOr<json> BwrapRunner::Invoke(const Invocation& invocation, InvocationHooks& hooks) {
  if (state_ != State::kLoaded) return SandboxError("runner is not loaded");
  channel_->DiscardPending();
  if (absl::Status s = channel_->Send(MakeInvokeFrame(invocation)); !s.ok()) return s;
  const absl::Time deadline = clock_.Now() + invocation.timeout;
  int events = 0;
  for (;;) {
    absl::StatusOr<RunnerMessage> message = Next(deadline, invocation.timeout);
    if (!message.ok()) return message.status();
    if (auto* result = std::get_if<ResultMessage>(&*message)) return std::move(result->output);
    if (auto* error = std::get_if<ErrorMessage>(&*message)) {
      if (ErrorCodeOf(error->status) == ErrorCode::kE3002) Kill();  // heap state unknown
      return error->status;
    }
    if (absl::Status s = Dispatch(*message, invocation.request_id, hooks, events); !s.ok()) {
      return s;
    }
  }
}

// Descriptors of one sandbox start; the child ends close when this goes.
struct StartFds {
  UniqueFd worker_end, child_end, stderr_read, stderr_write, seccomp, dev_null;
};

absl::Status Errno(std::string_view what) {
  return SandboxError(fmt::format("{}: {}", what, ErrnoText(errno)));
}

absl::StatusOr<StartFds> OpenStartFds(const std::string& seccomp_program) {
  StartFds fds;
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) return Errno("socketpair");
  fds.worker_end.Reset(pair[0]);
  fds.child_end.Reset(pair[1]);
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return Errno("pipe");
  fds.stderr_read.Reset(pipe_fds[0]);
  fds.stderr_write.Reset(pipe_fds[1]);
  fds.dev_null.Reset(open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!fds.dev_null.valid()) return Errno("open /dev/null");
  fds.seccomp.Reset(memfd_create("magic-seccomp", MFD_CLOEXEC));
  if (!fds.seccomp.valid()) return Errno("memfd_create");
  if (write(fds.seccomp.get(), seccomp_program.data(), seccomp_program.size()) !=
          static_cast<ssize_t>(seccomp_program.size()) ||
      lseek(fds.seccomp.get(), 0, SEEK_SET) != 0) {
    return Errno("writing the seccomp program");
  }
  return fds;
}

class BwrapRunnerFactory final : public RunnerFactory {
 public:
  BwrapRunnerFactory(SandboxConfig config, Clock& clock, std::unique_ptr<ProcessSpawner>&& spawner,
                     std::unique_ptr<Limiter>&& limiter, std::string seccomp_program)
      : config_(std::move(config)),
        clock_(clock),
        spawner_(std::move(spawner)),
        limiter_(std::move(limiter)),
        seccomp_program_(std::move(seccomp_program)) {}

  // RunnerFactory
  absl::StatusOr<std::unique_ptr<Runner>> StartGeneric(const SandboxProfile& profile) override;
  std::string LimitsReport() const override { return limiter_->enforced().ToString(); }
  int64_t generic_memory_bytes() const override { return config_.generic_memory_bytes; }

 private:
  SpawnRequest MakeRequest(const SandboxProfile& profile, const StartFds& fds,
                           const SandboxCgroup* cgroup) const;

  const SandboxConfig config_;
  Clock& clock_;
  std::unique_ptr<ProcessSpawner> spawner_;
  std::unique_ptr<Limiter> limiter_;
  const std::string seccomp_program_;
};

SpawnRequest BwrapRunnerFactory::MakeRequest(const SandboxProfile& profile, const StartFds& fds,
                                             const SandboxCgroup* cgroup) const {
  BwrapSpec spec;
  spec.bwrap_path = config_.bwrap_path;
  spec.python_path = config_.python_path;
  spec.sdk_dir = config_.sdk_dir;
  spec.controller_dir = profile.controller_dir;
  spec.tmp_size_bytes = profile.tmp_size_bytes;
  spec.uid = config_.sandbox_uid;
  spec.gid = config_.sandbox_gid;
  spec.seccomp_fd = 4;
  SpawnRequest request;
  request.argv = BuildBwrapArgv(spec);
  request.fds = {{0, fds.dev_null.get()},
                 {1, fds.dev_null.get()},
                 {2, fds.stderr_write.get()},
                 {3, fds.child_end.get()},
                 {4, fds.seccomp.get()}};
  if (cgroup != nullptr) request.cgroup_procs_fds = cgroup->procs_fds();
  request.rlimits = {{RLIMIT_CORE, 0}};
  if (geteuid() == 0 && config_.host_uid != 0) {
    request.drop_to = std::make_pair(config_.host_uid, config_.host_gid);
  }
  return request;
}

absl::StatusOr<std::unique_ptr<Runner>> BwrapRunnerFactory::StartGeneric(
    const SandboxProfile& profile) {
  absl::StatusOr<std::unique_ptr<SandboxCgroup>> cgroup =
      limiter_->Create({config_.generic_memory_bytes, config_.generic_cpu, config_.pids_max});
  if (!cgroup.ok()) {
    return SandboxError("cannot create the sandbox's cgroups",
                        {{"reason", std::string(cgroup.status().message())}});
  }
  absl::StatusOr<StartFds> fds = OpenStartFds(seccomp_program_);
  if (!fds.ok()) return fds.status();
  absl::StatusOr<pid_t> pid = spawner_->Spawn(MakeRequest(profile, *fds, cgroup->get()));
  if (!pid.ok()) {
    return SandboxError("cannot start bwrap", {{"reason", std::string(pid.status().message())}});
  }
  auto channel = std::make_unique<FrameChannel>(std::move(fds->worker_end),
                                                std::move(fds->stderr_read), clock_);
  auto runner = std::make_unique<BwrapRunner>(
      clock_, *spawner_, limiter_->enforced().memory_by_rlimit(), profile,
      config_.generic_memory_bytes, *pid, std::move(*cgroup), std::move(channel));
  // Close the child's ends here, so their EOF tells us when the sandbox dies.
  fds->child_end.Reset();
  fds->stderr_write.Reset();
  fds->seccomp.Reset();
  if (absl::Status s = runner->AwaitReady(clock_.Now() + config_.start_timeout); !s.ok()) return s;
  return std::unique_ptr<Runner>(std::move(runner));
}

}  // namespace

absl::StatusOr<std::unique_ptr<RunnerFactory>> MakeBwrapRunnerFactory(
    const SandboxConfig& config, Clock& clock, std::unique_ptr<ProcessSpawner>&& spawner,
    std::unique_ptr<Limiter>&& limiter) {
  absl::StatusOr<std::string> program = BuildSeccompProgram();
  if (!program.ok()) return program.status();
  return std::unique_ptr<RunnerFactory>(new BwrapRunnerFactory(
      config, clock, std::move(spawner), std::move(limiter), std::move(*program)));
}

}  // namespace magic::worker::internal
