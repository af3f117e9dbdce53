#include "worker/internal/process.h"

#include "worker/internal/errno_text.h"

#include <fmt/format.h>
#include <sys/wait.h>

#include <cerrno>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <functional>
#include <future>
#include <grp.h>
#include <mutex>
#include <signal.h>
#include <thread>
#include <unistd.h>

namespace magic::worker::internal {
namespace {

// Child descriptors are copied above this number first, so mapping them onto
// 0..9 never overwrites a source that is still needed.
constexpr int kHighFd = 64;

enum Stage : int { kSetsid = 1, kCgroup, kRlimit, kDup, kDrop, kExec };

const char* StageName(int stage) {
  switch (stage) {
    case kSetsid:
      return "setsid";
    case kCgroup:
      return "joining the cgroup";
    case kRlimit:
      return "setrlimit";
    case kDup:
      return "mapping descriptors";
    case kDrop:
      return "dropping privileges";
    case kExec:
      return "exec";
    default:
      return "setup";
  }
}

// Everything the child needs, prepared before fork (no allocation after).
struct ChildPlan {
  std::vector<char*> argv;
  std::vector<FdMapping> fds;  // parent_fd here is the high copy
  const SpawnRequest* request = nullptr;
  int error_fd = -1;
};

[[noreturn]] void ChildFail(int error_fd, int stage) {
  const int report[2] = {stage, errno};
  ssize_t ignored = write(error_fd, report, sizeof report);
  (void)ignored;
  _exit(127);
}

// Writes `value` in decimal to `out` (async-signal-safe); returns the length.
size_t FormatDecimal(int64_t value, char* out) {
  char digits[24];
  size_t n = 0;
  do {
    digits[n++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value > 0 && n < sizeof digits);
  for (size_t i = 0; i < n; ++i) out[i] = digits[n - 1 - i];
  return n;
}

void ResetSignals() {
  sigset_t none;
  sigemptyset(&none);
  pthread_sigmask(SIG_SETMASK, &none, nullptr);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, &dfl, nullptr);  // some fail: fine
}

void CloseOthers(const ChildPlan& plan) {
  int max_child = -1;
  for (const FdMapping& m : plan.fds) max_child = m.child_fd > max_child ? m.child_fd : max_child;
  for (int fd = 0; fd <= max_child; ++fd) {
    bool mapped = false;
    for (const FdMapping& m : plan.fds) mapped = mapped || m.child_fd == fd;
    if (!mapped) close(fd);
  }
  const auto first = static_cast<unsigned>(max_child + 1);
  const auto error_fd = static_cast<unsigned>(plan.error_fd);
  if (close_range(first, error_fd - 1, 0) != 0 || close_range(error_fd + 1, UINT_MAX, 0) != 0) {
    for (unsigned fd = first; fd < 4096; ++fd) {
      if (fd != error_fd) close(static_cast<int>(fd));
    }
  }
}

[[noreturn]] void ChildMain(const ChildPlan& plan) {
  const SpawnRequest& request = *plan.request;
  ResetSignals();
  if (setsid() < 0) ChildFail(plan.error_fd, kSetsid);
  char pid_text[24];
  const size_t pid_len = FormatDecimal(getpid(), pid_text);
  for (int fd : request.cgroup_procs_fds) {
    if (write(fd, pid_text, pid_len) < 0) ChildFail(plan.error_fd, kCgroup);
  }
  for (const auto& [resource, value] : request.rlimits) {
    const rlimit limit{value, value};
    if (setrlimit(static_cast<__rlimit_resource>(resource), &limit) != 0) {
      ChildFail(plan.error_fd, kRlimit);
    }
  }
  for (const FdMapping& m : plan.fds) {
    if (dup2(m.parent_fd, m.child_fd) < 0) ChildFail(plan.error_fd, kDup);
  }
  CloseOthers(plan);
  if (request.drop_to) {
    const auto [uid, gid] = *request.drop_to;
    if (setgroups(0, nullptr) != 0 || setresgid(gid, gid, gid) != 0 ||
        setresuid(uid, uid, uid) != 0) {
      ChildFail(plan.error_fd, kDrop);
    }
  }
  char* const empty_env[] = {nullptr};
  execve(plan.argv[0], plan.argv.data(), empty_env);
  ChildFail(plan.error_fd, kExec);
}

absl::Status Errno(std::string_view what) {
  return absl::InternalError(fmt::format("{}: {}", what, ErrnoText(errno)));
}

// Forks on one dedicated thread: bwrap --die-with-parent arms a parent-death
// signal that fires when the *thread* that forked it exits, so every sandbox
// is forked by a thread that lives exactly as long as this spawner.
class PosixProcessSpawner final : public ProcessSpawner {
 public:
  PosixProcessSpawner() : thread_([this] { Loop(); }) {}
  ~PosixProcessSpawner() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }

  // ProcessSpawner
  absl::StatusOr<pid_t> Spawn(const SpawnRequest& request) override {
    std::promise<absl::StatusOr<pid_t>> done;
    std::future<absl::StatusOr<pid_t>> result = done.get_future();
    {
      std::lock_guard<std::mutex> lock(mu_);
      tasks_.push_back([this, &request, &done] { done.set_value(SpawnNow(request)); });
    }
    wake_.notify_all();
    return result.get();
  }
  void Kill(pid_t pid) override {
    if (pid <= 0) return;
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
  }
  std::optional<int> TryWait(pid_t pid) override {
    int status = 0;
    pid_t r;
    do {
      r = waitpid(pid, &status, WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r == pid) return status;
    if (r < 0) return -1;  // not our child (already reaped): treat as gone
    return std::nullopt;
  }
  int Wait(pid_t pid) override {
    int status = 0;
    pid_t r;
    do {
      r = waitpid(pid, &status, 0);
    } while (r < 0 && errno == EINTR);
    return r == pid ? status : -1;
  }

 private:
  absl::StatusOr<pid_t> SpawnNow(const SpawnRequest& request);
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      wake_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
      if (tasks_.empty()) return;  // stopping, nothing left to do
      std::function<void()> task = std::move(tasks_.front());
      tasks_.pop_front();
      lock.unlock();
      task();
      lock.lock();
    }
  }

  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts after the members it uses
};

// Reads the child's failure report; OK when exec succeeded (EOF).
absl::Status ReadChildReport(int fd, pid_t pid, ProcessSpawner& spawner) {
  int report[2] = {0, 0};
  ssize_t n;
  do {
    n = read(fd, report, sizeof report);
  } while (n < 0 && errno == EINTR);
  if (n == 0) return absl::OkStatus();
  spawner.Wait(pid);
  if (n != static_cast<ssize_t>(sizeof report)) return absl::InternalError("child setup failed");
  return absl::InternalError(
      fmt::format("child setup failed while {}: {}", StageName(report[0]), ErrnoText(report[1])));
}

absl::StatusOr<pid_t> PosixProcessSpawner::SpawnNow(const SpawnRequest& request) {
  if (request.argv.empty() || request.argv[0].empty() || request.argv[0][0] != '/') {
    return absl::InvalidArgumentError("spawn: argv[0] must be an absolute path");
  }
  ChildPlan plan;
  plan.request = &request;
  for (const std::string& arg : request.argv) plan.argv.push_back(const_cast<char*>(arg.c_str()));
  plan.argv.push_back(nullptr);
  std::vector<int> copies;
  auto close_copies = [&copies] {
    for (int fd : copies) close(fd);
  };
  for (const FdMapping& m : request.fds) {
    const int copy = fcntl(m.parent_fd, F_DUPFD_CLOEXEC, kHighFd);
    if (copy < 0) {
      close_copies();
      return Errno("spawn: dup");
    }
    copies.push_back(copy);
    plan.fds.push_back(FdMapping{m.child_fd, copy});
  }
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    close_copies();
    return Errno("spawn: pipe");
  }
  plan.error_fd = fcntl(pipe_fds[1], F_DUPFD_CLOEXEC, kHighFd);
  close(pipe_fds[1]);
  const pid_t pid = plan.error_fd < 0 ? -1 : fork();
  if (pid == 0) ChildMain(plan);
  const int fork_errno = errno;
  close_copies();
  if (plan.error_fd >= 0) close(plan.error_fd);
  if (pid < 0) {
    close(pipe_fds[0]);
    errno = fork_errno;
    return Errno("spawn: fork");
  }
  absl::Status report = ReadChildReport(pipe_fds[0], pid, *this);
  close(pipe_fds[0]);
  if (!report.ok()) return report;
  return pid;
}

}  // namespace

std::unique_ptr<ProcessSpawner> MakePosixProcessSpawner() {
  return std::make_unique<PosixProcessSpawner>();
}

std::string DescribeWaitStatus(int status) {
  if (status < 0) return "already reaped";
  if (WIFEXITED(status)) return fmt::format("exited with status {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    return fmt::format("killed by signal {} ({})", WTERMSIG(status), sigdescr_np(WTERMSIG(status)));
  }
  return fmt::format("wait status {}", status);
}

}  // namespace magic::worker::internal
