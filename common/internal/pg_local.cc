// LocalPostgres: initdb + postgres as child processes, started through
// setpriv(1) (util-linux) so that the uid switch to `postgres` and the
// parent-death signal happen in the child, not in this (threaded) process.
#include "common/absl_compat.h"
#include "common/internal/child_process.h"
#include "common/logging.h"
#include "common/postgres.h"
#include "common/status_macros.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <optional>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <sstream>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

namespace magic::pg {
namespace {

constexpr std::chrono::milliseconds kStopTimeout{10000};

using ::magic::internal::RunAs;

// The `postgres` account when we are root (PostgreSQL refuses to run as
// root); nullopt otherwise (run as ourselves).
absl::StatusOr<std::optional<RunAs>> ResolveUser() {
  if (geteuid() != 0) return std::optional<RunAs>();
  std::array<char, 4096> buf{};
  passwd pw{};
  passwd* found = nullptr;
  if (getpwnam_r("postgres", &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    return absl::FailedPreconditionError(
        "local postgres: running as root but there is no `postgres` user (install postgresql)");
  }
  return std::optional<RunAs>(RunAs{pw.pw_uid, pw.pw_gid, "postgres"});
}

absl::StatusOr<std::string> MakeDir(const std::string& parent, const std::optional<RunAs>& user) {
  std::string path = parent + "/magic-pg-XXXXXX";
  if (mkdtemp(path.data()) == nullptr) {
    return absl::UnavailableError(
        fmt::format("local postgres: mkdtemp in {}: {}", parent, std::strerror(errno)));
  }
  if (user && chown(path.c_str(), user->uid, user->gid) != 0) {
    return absl::PermissionDeniedError(
        fmt::format("local postgres: chown {}: {}", path, std::strerror(errno)));
  }
  return path;
}

// Postgres children get SIGINT (fast shutdown) when the starting thread dies.
absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv, const std::optional<RunAs>& user,
                            const std::string& log) {
  return ::magic::internal::SpawnChild(argv, user, log, SIGINT);
}

absl::Status RunInitdb(const LocalPostgresOptions& options, const std::string& dir,
                       const std::optional<RunAs>& user) {
  const std::string log = dir + "/initdb.log";
  MAGIC_ASSIGN_OR_RETURN(const pid_t pid,
                         Spawn({options.bin_dir + "/initdb", "-D", dir + "/data", "-U", "postgres",
                                "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"},
                               user, log));
  int status = 0;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(
        fmt::format("local postgres: initdb failed: {}", ::magic::internal::TailOfFile(log)));
  }
  return absl::OkStatus();
}

absl::StatusOr<pid_t> SpawnServer(const LocalPostgresOptions& options, const std::string& dir,
                                  int port, const std::optional<RunAs>& user) {
  return Spawn({options.bin_dir + "/postgres", "-D", dir + "/data", "-p", std::to_string(port),
                "-k", dir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c",
                "synchronous_commit=off", "-c", "full_page_writes=off"},
               user, dir + "/postgres.log");
}

// Waits until `port` accepts a session; fails early when `pid` exits.
absl::Status WaitReady(pid_t pid, int port, const std::string& log,
                       std::chrono::steady_clock::time_point deadline) {
  const std::string url =
      fmt::format("postgresql://postgres@127.0.0.1:{}/postgres?connect_timeout=2", port);
  while (true) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      return absl::UnavailableError(
          fmt::format("local postgres exited: {}", ::magic::internal::TailOfFile(log)));
    }
    try {
      pqxx::connection conn(url);
      return absl::OkStatus();
    } catch (...) {
      if (std::chrono::steady_clock::now() >= deadline) {
        return absl::DeadlineExceededError(
            fmt::format("local postgres: not ready in time: {}",
                        FromAbsl(StatusFromPgError(std::current_exception()).message())));
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

absl::Status CreateDatabase(int port, const std::string& database) {
  try {
    pqxx::connection conn(fmt::format("postgresql://postgres@127.0.0.1:{}/postgres", port));
    pqxx::nontransaction tx(conn);
    tx.exec0("CREATE DATABASE " + tx.quote_name(database));
    return absl::OkStatus();
  } catch (...) {
    return StatusFromPgError(std::current_exception());
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<LocalPostgres>> LocalPostgres::Start(LocalPostgresOptions options) {
  const auto deadline = std::chrono::steady_clock::now() + options.start_timeout;
  MAGIC_ASSIGN_OR_RETURN(const std::optional<RunAs> user, ResolveUser());
  std::unique_ptr<LocalPostgres> pg(new LocalPostgres());
  MAGIC_ASSIGN_OR_RETURN(pg->dir_, MakeDir(options.parent_dir, user));  // ~LocalPostgres removes it
  MAGIC_RETURN_IF_ERROR(RunInitdb(options, pg->dir_, user));
  absl::Status ready;
  for (int attempt = 0; attempt < 3; ++attempt) {  // another process may take the port first
    MAGIC_ASSIGN_OR_RETURN(pg->port_, ::magic::internal::FreeLoopbackPort());
    MAGIC_ASSIGN_OR_RETURN(pg->pid_, SpawnServer(options, pg->dir_, pg->port_, user));
    ready = WaitReady(pg->pid_, pg->port_, pg->dir_ + "/postgres.log", deadline);
    if (ready.ok()) break;
    ::magic::internal::StopChild(pg->pid_, SIGINT, kStopTimeout);
    pg->pid_ = -1;
  }
  MAGIC_RETURN_IF_ERROR(ready);
  MAGIC_RETURN_IF_ERROR(CreateDatabase(pg->port_, options.database));
  pg->url_ = fmt::format("postgresql://postgres@127.0.0.1:{}/{}", pg->port_, options.database);
  MAGIC_LOG(info, "local postgres started", {{"url", pg->url_}, {"dir", pg->dir_}});
  return pg;
}

LocalPostgres::~LocalPostgres() {
  const absl::Status status = Stop();
  if (!status.ok()) MAGIC_LOG(warn, "local postgres stop", {{"status", status.ToString()}});
}

absl::Status LocalPostgres::Stop() {
  if (pid_ > 0) ::magic::internal::StopChild(pid_, SIGINT, kStopTimeout);
  pid_ = -1;
  if (dir_.empty()) return absl::OkStatus();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
  const std::string dir = std::exchange(dir_, std::string());
  if (ec)
    return absl::InternalError(fmt::format("local postgres: remove {}: {}", dir, ec.message()));
  return absl::OkStatus();
}

}  // namespace magic::pg
