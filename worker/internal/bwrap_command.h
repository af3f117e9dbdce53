// The bubblewrap command line of one sandbox (DESIGN.md "The sandbox").
//
// New user, pid, ipc, uts, net and (if possible) cgroup namespaces; an
// unprivileged uid/gid inside; an empty environment but for three
// variables; read-only /usr with the merged-usr symlinks; fresh /proc and a
// minimal /dev; the SDK read-only at /magic/sdk; the controller directory
// read-only at /controller (an empty directory for generic runners); a
// size-limited tmpfs at /tmp only with fs:temp; then / and /dev remounted
// read-only, so without fs:temp nothing at all is writable. The seccomp
// program is read from a descriptor; the frame channel is fd 3.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace magic::worker::internal {

inline constexpr char kSandboxSdkDir[] = "/magic/sdk";
inline constexpr char kSandboxRunner[] = "/magic/sdk/magic/_runner.py";
inline constexpr char kSandboxControllerDir[] = "/controller";

struct BwrapSpec {
  std::string bwrap_path = "/usr/bin/bwrap";
  std::string python_path = "/usr/bin/python3";
  std::string sdk_dir;                    // host directory holding the `magic` package
  std::string controller_dir;             // host directory bound at /controller; "" = empty
  std::optional<int64_t> tmp_size_bytes;  // fs:temp
  uint32_t uid = 65534;
  uint32_t gid = 65534;
  int seccomp_fd = -1;  // descriptor number in the bwrap process; -1 = no filter
};

// argv for execve, argv[0] = spec.bwrap_path.
std::vector<std::string> BuildBwrapArgv(const BwrapSpec& spec);

}  // namespace magic::worker::internal
