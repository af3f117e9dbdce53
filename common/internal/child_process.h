// Helpers for the private servers `magic dev` starts (LocalPostgres,
// LocalRedis): a free loopback port, a child started through setpriv(1)
// with a parent-death signal, and its orderly stop.
#pragma once

#include <absl/status/statusor.h>
#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace magic::internal {

struct RunAs {
  uid_t uid;
  gid_t gid;
  std::string user;  // the account name setpriv switches to
};

// A port nobody listens on now (the kernel's pick for 127.0.0.1:0).
absl::StatusOr<int> FreeLoopbackPort();

// Starts `argv` through setpriv (as `user` when set), stdin /dev/null,
// stdout+stderr appended to `log`, cwd "/", a minimal environment. The
// child gets `death_signal` when this thread dies.
absl::StatusOr<pid_t> SpawnChild(const std::vector<std::string>& argv,
                                 const std::optional<RunAs>& user, const std::string& log,
                                 int death_signal);

// Sends `signal`, then SIGKILL after `timeout`; reaps the child.
void StopChild(pid_t pid, int signal, std::chrono::milliseconds timeout);

// The last ~800 bytes of a log file (for error messages).
std::string TailOfFile(const std::string& path);

}  // namespace magic::internal
