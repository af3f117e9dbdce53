// A private Redis for `magic dev` (DESIGN.md "Two ways to run it"):
// redis-server as a child process on a free 127.0.0.1 port, persistence
// off, its working directory a fresh temporary one. Destruction stops it
// and removes the directory. Start it from a long-lived thread (the child
// gets SIGTERM when the starting thread dies).
#pragma once

#include <absl/status/statusor.h>

#include <chrono>
#include <memory>
#include <string>

namespace magic {

struct LocalRedisOptions {
  std::string binary = "/usr/bin/redis-server";
  std::string parent_dir = "/tmp";
  std::chrono::milliseconds start_timeout{10000};
};

class LocalRedis final {
 public:
  static absl::StatusOr<std::unique_ptr<LocalRedis>> Start(LocalRedisOptions options = {});
  LocalRedis(const LocalRedis&) = delete;
  LocalRedis& operator=(const LocalRedis&) = delete;
  ~LocalRedis();

  // redis://127.0.0.1:<port>
  const std::string& url() const { return url_; }
  int port() const { return port_; }
  void Stop();

 private:
  LocalRedis() = default;
  std::string dir_;
  std::string url_;
  int port_ = 0;
  int pid_ = -1;
};

}  // namespace magic
