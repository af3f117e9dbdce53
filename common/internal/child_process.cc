#include "common/internal/child_process.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <array>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <signal.h>
#include <spawn.h>
#include <sstream>
#include <thread>
#include <unistd.h>

namespace magic::internal {
namespace {

constexpr const char* kSetpriv = "/usr/bin/setpriv";

std::string_view SignalName(int signal) {
  switch (signal) {
    case SIGINT:
      return "INT";
    case SIGKILL:
      return "KILL";
    default:
      return "TERM";
  }
}

}  // namespace

absl::StatusOr<int> FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::UnavailableError("socket(): no free port");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  auto* sa = reinterpret_cast<sockaddr*>(&addr);  // NOLINT: the sockets API
  const bool ok = bind(fd, sa, sizeof(addr)) == 0 && getsockname(fd, sa, &len) == 0;
  close(fd);
  if (!ok) return absl::UnavailableError("no free loopback port");
  return ntohs(addr.sin_port);
}

absl::StatusOr<pid_t> SpawnChild(const std::vector<std::string>& argv,
                                 const std::optional<RunAs>& user, const std::string& log,
                                 int death_signal) {
  std::vector<std::string> full = {kSetpriv, "--pdeathsig", std::string(SignalName(death_signal))};
  if (user) {
    full.insert(full.end(), {"--reuid=" + user->user, "--regid=" + user->user, "--init-groups"});
  }
  full.emplace_back("--");
  full.insert(full.end(), argv.begin(), argv.end());
  std::vector<char*> args;
  for (std::string& a : full) args.push_back(a.data());
  args.push_back(nullptr);
  std::array<std::string, 3> env_strings = {"PATH=/usr/bin:/bin", "LC_ALL=C", "LANG=C"};
  std::array<char*, 4> env = {env_strings[0].data(), env_strings[1].data(), env_strings[2].data(),
                              nullptr};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawn_file_actions_addchdir_np(&actions, "/");
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, kSetpriv, &actions, nullptr, args.data(), env.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    return absl::UnavailableError(fmt::format("spawn {}: {}", argv[0], std::strerror(rc)));
  }
  return pid;
}

void StopChild(pid_t pid, int signal, std::chrono::milliseconds timeout) {
  kill(pid, signal);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() >= deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::string TailOfFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  return text.size() > 800 ? text.substr(text.size() - 800) : text;
}

}  // namespace magic::internal
