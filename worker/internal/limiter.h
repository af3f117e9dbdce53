// Resource limits of a sandbox: cgroup v2 where the host delegates it,
// cgroup v1 where it does not (per controller: memory, cpu, pids), rlimits
// where neither works (RLIMIT_AS, applied by the runner before it imports
// controller code). The timeout is always enforced by killing.
//
//   MAGIC_ASSIGN_OR_RETURN(auto limiter, MakeLimiter({.mode = CgroupMode::kAuto}));
//   MAGIC_LOG(info, "sandbox", {{"limits", limiter->enforced().ToString()}});
//   MAGIC_ASSIGN_OR_RETURN(auto group, limiter->Create({.memory_bytes = 256 << 20, ...}));
//   // the child writes its pid to group->procs_fds() before exec
//
// Groups live under <controller mount>/<parent_name>/w<worker pid>-<n>;
// groups left behind by dead workers are removed when a limiter is made.
// Thread-safe: Create() may be called from several threads; a SandboxCgroup
// belongs to one runner.
#pragma once

#include "worker/sandbox.h"

#include <absl/status/statusor.h>
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace magic::worker::internal {

struct EnforcedLimits {
  std::string memory = "rlimit-as";  // "cgroup-v2", "cgroup-v1" or "rlimit-as"
  std::string cpu = "none";          // "cgroup-v2", "cgroup-v1" or "none"
  std::string pids = "none";         // "cgroup-v2", "cgroup-v1" or "none"
  std::string timeout = "kill";
  // "limits: memory=cgroup-v1 cpu=cgroup-v1 pids=cgroup-v1 timeout=kill"
  std::string ToString() const;
  bool memory_by_rlimit() const { return memory == "rlimit-as"; }
};

struct CgroupLimits {
  int64_t memory_bytes = 0;
  double cpu = 1.0;
  int64_t pids_max = 64;
};

// The control groups of one sandbox. Destroying it kills whatever still runs
// in them and removes the directories.
class SandboxCgroup {
 public:
  virtual ~SandboxCgroup() = default;
  // cgroup.procs of each group, open for writing (close-on-exec).
  virtual std::vector<int> procs_fds() const = 0;
  virtual absl::Status SetMemory(int64_t bytes) = 0;
  virtual absl::Status SetCpu(double cores) = 0;
  // True once the kernel's OOM killer has killed a process of this sandbox.
  virtual bool OomKilled() = 0;
  // SIGKILLs every process in the groups but `spare` (-1: none) until no
  // other is left. Sparing bwrap's outer process lets it reap the sandbox's
  // pid 1 and exit by itself, so no zombie is left for init to collect.
  virtual void KillAll(pid_t spare) = 0;
};

class Limiter {
 public:
  virtual ~Limiter() = default;
  // nullptr (and OK) when no cgroup controller is usable.
  virtual absl::StatusOr<std::unique_ptr<SandboxCgroup>> Create(const CgroupLimits& limits) = 0;
  virtual const EnforcedLimits& enforced() const = 0;
};

struct LimiterOptions {
  CgroupMode mode = CgroupMode::kAuto;
  std::string parent_name = "magic";
  std::string mountinfo_path = "/proc/self/mountinfo";
};

// Probes the host and prepares the parent groups. Never fails for lack of
// cgroups (falls back to rlimits); fails only on a bad option.
absl::StatusOr<std::unique_ptr<Limiter>> MakeLimiter(const LimiterOptions& options);

// Parsed /proc/self/mountinfo lines that are cgroup mounts.
struct CgroupMount {
  std::string path;  // mount point
  int version = 1;
  std::vector<std::string> controllers;  // v1: from the super options; v2: empty
};
std::vector<CgroupMount> ParseCgroupMounts(const std::string& mountinfo);

}  // namespace magic::worker::internal
