// Starting and stopping the sandbox's host process (bwrap), behind a small
// interface so tests can substitute it (STYLE.md §4).
//
// PosixProcessSpawner forks; the child (async-signal-safe code only):
//   1. resets the signal mask and every handler to the default,
//   2. becomes a session and process-group leader (setsid),
//   3. writes its pid to every cgroup.procs file given (joins the cgroups
//      *before* any sandbox code runs),
//   4. sets the rlimits given,
//   5. maps the given descriptors onto their child numbers and closes all
//      others,
//   6. drops to the given host uid/gid (no supplementary groups),
//   7. execs argv with an empty environment.
// A failure in the child is reported back through a close-on-exec pipe, so
// Spawn() returns an error instead of a process that exits at once.
//
// All forks happen on one thread owned by the spawner: a parent-death signal
// (bwrap --die-with-parent) fires when the forking *thread* exits, so the
// sandboxes live exactly as long as the spawner. Thread-safe.
#pragma once

#include <absl/status/statusor.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace magic::worker::internal {

struct FdMapping {
  int child_fd;   // number in the child (0..9)
  int parent_fd;  // descriptor in the parent; left open in the parent
};

struct SpawnRequest {
  std::vector<std::string> argv;  // argv[0] is the absolute program path
  std::vector<FdMapping> fds;
  std::vector<int> cgroup_procs_fds;            // open for writing, e.g. .../cgroup.procs
  std::vector<std::pair<int, rlim_t>> rlimits;  // resource, soft = hard value
  std::optional<std::pair<uid_t, gid_t>> drop_to;
};

class ProcessSpawner {
 public:
  virtual ~ProcessSpawner() = default;
  // Starts the process; its pid is also its process-group id.
  virtual absl::StatusOr<pid_t> Spawn(const SpawnRequest& request) = 0;
  // SIGKILL to the process group `pid` (and to `pid` itself).
  virtual void Kill(pid_t pid) = 0;
  // The wait status if `pid` has exited (reaping it), nullopt otherwise.
  virtual std::optional<int> TryWait(pid_t pid) = 0;
  // Blocks until `pid` exits; returns its wait status (-1 if not a child).
  virtual int Wait(pid_t pid) = 0;
};

std::unique_ptr<ProcessSpawner> MakePosixProcessSpawner();

// "exited with status 3", "killed by signal 9", ...
std::string DescribeWaitStatus(int status);

}  // namespace magic::worker::internal
