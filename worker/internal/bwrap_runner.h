// The bubblewrap implementation of Runner and RunnerFactory.
//
// StartGeneric(): create the sandbox's cgroups (generic memory/cpu limits,
// pids.max), a socketpair (fd 3 inside), a pipe for its stderr and a memfd
// holding the seccomp program; fork; the child joins the cgroups, drops to
// the unprivileged host uid when the worker is root and execs bwrap
// (bwrap_command.h); then wait for the runner's "ready" frame.
//
// Thread-safety: the factory is thread-safe (runners may be started from
// several threads at once); each runner is used by one thread at a time.
// Runners must not outlive the factory: the sandboxes are forked by the
// spawner's own thread and die with it (bwrap --die-with-parent).
#pragma once

#include "common/clock.h"
#include "worker/internal/limiter.h"
#include "worker/internal/process.h"
#include "worker/sandbox.h"

#include <absl/status/statusor.h>

#include <memory>
#include <string>

namespace magic::worker::internal {

// `config.sdk_dir` must be set (absolute). Takes ownership of `spawner` and
// `limiter`.
absl::StatusOr<std::unique_ptr<RunnerFactory>> MakeBwrapRunnerFactory(
    const SandboxConfig& config, Clock& clock, std::unique_ptr<ProcessSpawner>&& spawner,
    std::unique_ptr<Limiter>&& limiter);

}  // namespace magic::worker::internal
