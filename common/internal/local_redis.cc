#include "common/local_redis.h"

#include "common/internal/child_process.h"
#include "common/logging.h"
#include "common/status_macros.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <signal.h>
#include <thread>
#include <unistd.h>

namespace magic {
namespace {

// True when a PING on 127.0.0.1:port answers +PONG.
bool Pings(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{.tv_sec = 1, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;  // NOLINT
  constexpr char kPing[] = "PING\r\n";
  ok = ok && write(fd, kPing, sizeof(kPing) - 1) == static_cast<ssize_t>(sizeof(kPing) - 1);
  char reply[16] = {};
  ok = ok && read(fd, reply, sizeof(reply) - 1) > 0 && std::strncmp(reply, "+PONG", 5) == 0;
  close(fd);
  return ok;
}

}  // namespace

absl::StatusOr<std::unique_ptr<LocalRedis>> LocalRedis::Start(LocalRedisOptions options) {
  std::unique_ptr<LocalRedis> redis(new LocalRedis());
  std::string pattern = options.parent_dir + "/magic-redis-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) {
    return absl::UnavailableError(
        fmt::format("local redis: mkdtemp in {}: {}", options.parent_dir, std::strerror(errno)));
  }
  redis->dir_ = pattern;
  const auto deadline = std::chrono::steady_clock::now() + options.start_timeout;
  const std::string log = redis->dir_ + "/redis.log";
  for (int attempt = 0; attempt < 3 && redis->pid_ < 0; ++attempt) {
    MAGIC_ASSIGN_OR_RETURN(redis->port_, internal::FreeLoopbackPort());
    MAGIC_ASSIGN_OR_RETURN(
        const pid_t pid,
        internal::SpawnChild({options.binary, "--port", std::to_string(redis->port_), "--bind",
                              "127.0.0.1", "--dir", redis->dir_, "--save", "", "--appendonly", "no",
                              "--daemonize", "no", "--protected-mode", "yes"},
                             std::nullopt, log, SIGTERM));
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == pid) break;  // port taken? try another
      if (Pings(redis->port_)) {
        redis->pid_ = pid;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (redis->pid_ < 0) internal::StopChild(pid, SIGTERM, std::chrono::seconds(2));
  }
  if (redis->pid_ < 0) {
    return absl::UnavailableError(
        fmt::format("local redis did not start: {}", internal::TailOfFile(log)));
  }
  redis->url_ = fmt::format("redis://127.0.0.1:{}", redis->port_);
  MAGIC_LOG(info, "local redis started", {{"url", redis->url_}, {"dir", redis->dir_}});
  return redis;
}

LocalRedis::~LocalRedis() { Stop(); }

void LocalRedis::Stop() {
  if (pid_ > 0) internal::StopChild(pid_, SIGTERM, std::chrono::seconds(5));
  pid_ = -1;
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    dir_.clear();
  }
}

}  // namespace magic
