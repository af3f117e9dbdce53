#include "worker/internal/limiter.h"

#include "common/logging.h"
#include "worker/internal/errno_text.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <map>
#include <optional>
#include <signal.h>
#include <sstream>
#include <thread>
#include <unistd.h>

namespace magic::worker::internal {
namespace {

enum class Kind { kMemory, kCpu, kPids };
constexpr Kind kKinds[] = {Kind::kMemory, Kind::kCpu, Kind::kPids};

const char* KindName(Kind kind) {
  switch (kind) {
    case Kind::kMemory:
      return "memory";
    case Kind::kCpu:
      return "cpu";
    case Kind::kPids:
      return "pids";
  }
  return "memory";
}

constexpr int64_t kCpuPeriodUs = 100'000;

absl::Status WriteFile(const std::string& path, std::string_view text) {
  const int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return absl::InternalError(fmt::format("open {}: {}", path, ErrnoText(errno)));
  const ssize_t n = write(fd, text.data(), text.size());
  const int saved = errno;
  close(fd);
  if (n != static_cast<ssize_t>(text.size())) {
    return absl::InternalError(
        fmt::format("write '{}' to {}: {}", text, path, ErrnoText(n < 0 ? saved : EIO)));
  }
  return absl::OkStatus();
}

std::optional<std::string> ReadFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string text;
  char buffer[4096];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof buffer)) > 0 && text.size() < (1 << 20)) {
    text.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  return text;
}

bool Exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

// The value of "key N" in a flat keyed file (memory.events, oom_control).
int64_t KeyedValue(const std::string& text, std::string_view key) {
  std::istringstream lines(text);
  std::string name;
  int64_t value = 0;
  while (lines >> name >> value) {
    if (name == key) return value;
  }
  return 0;
}

std::vector<std::string> Split(std::string_view text, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t end = text.find(sep, start);
    parts.emplace_back(text.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return parts;
}

// Pids listed in a cgroup.procs file.
std::vector<pid_t> ListProcs(const std::string& dir) {
  std::vector<pid_t> pids;
  std::optional<std::string> text = ReadFile(dir + "/cgroup.procs");
  if (!text) return pids;
  std::istringstream in(*text);
  int64_t pid = 0;
  while (in >> pid) pids.push_back(static_cast<pid_t>(pid));
  return pids;
}

// SIGKILLs everything in `dirs` but `spare` until nothing else is left
// (bounded: ~1 s).
void KillGroups(const std::vector<std::string>& dirs, pid_t spare = -1) {
  for (int round = 0; round < 1000; ++round) {
    bool any = false;
    for (const std::string& dir : dirs) {
      for (pid_t pid : ListProcs(dir)) {
        if (pid == spare) continue;
        any = true;
        kill(pid, SIGKILL);
      }
    }
    if (!any) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void RemoveGroups(const std::vector<std::string>& dirs) {
  for (const std::string& dir : dirs) {
    bool removed = false;
    for (int attempt = 0; attempt < 200 && !removed; ++attempt) {
      removed = rmdir(dir.c_str()) == 0 || errno == ENOENT;
      if (!removed) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    if (!removed) {
      MAGIC_LOG(warn, "sandbox cgroup left behind", {{"dir", dir}, {"error", ErrnoText(errno)}});
    }
  }
}

// One directory of a sandbox: a v2 group (all kinds) or a v1 group.
struct GroupDir {
  std::string path;
  int version = 1;
  std::vector<Kind> kinds;
  bool Has(Kind kind) const { return std::find(kinds.begin(), kinds.end(), kind) != kinds.end(); }
};

class CgroupSet final : public SandboxCgroup {
 public:
  explicit CgroupSet(std::vector<GroupDir> dirs) : dirs_(std::move(dirs)) {}
  ~CgroupSet() override {
    KillAll(-1);
    for (int fd : fds_) close(fd);
    RemoveGroups(Paths());
  }
  absl::Status Open();
  absl::Status SetPids(int64_t max);

  // SandboxCgroup
  std::vector<int> procs_fds() const override { return fds_; }
  absl::Status SetMemory(int64_t bytes) override;
  absl::Status SetCpu(double cores) override;
  bool OomKilled() override;
  void KillAll(pid_t spare) override;

 private:
  std::vector<std::string> Paths() const {
    std::vector<std::string> paths;
    for (const GroupDir& d : dirs_) paths.push_back(d.path);
    return paths;
  }
  const GroupDir* Find(Kind kind) const {
    for (const GroupDir& d : dirs_) {
      if (d.Has(kind)) return &d;
    }
    return nullptr;
  }

  std::vector<GroupDir> dirs_;
  std::vector<int> fds_;
};

absl::Status CgroupSet::Open() {
  for (const GroupDir& d : dirs_) {
    if (mkdir(d.path.c_str(), 0755) != 0 && errno != EEXIST) {
      return absl::InternalError(fmt::format("mkdir {}: {}", d.path, ErrnoText(errno)));
    }
  }
  for (const GroupDir& d : dirs_) {
    const std::string procs = d.path + "/cgroup.procs";
    const int fd = open(procs.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return absl::InternalError(fmt::format("open {}: {}", procs, ErrnoText(errno)));
    fds_.push_back(fd);
  }
  return absl::OkStatus();
}

absl::Status CgroupSet::SetPids(int64_t max) {
  const GroupDir* d = Find(Kind::kPids);
  return d == nullptr ? absl::OkStatus() : WriteFile(d->path + "/pids.max", std::to_string(max));
}

absl::Status CgroupSet::SetMemory(int64_t bytes) {
  const GroupDir* d = Find(Kind::kMemory);
  if (d == nullptr) return absl::OkStatus();
  const std::string value = std::to_string(bytes);
  if (d->version == 2) {
    if (Exists(d->path + "/memory.swap.max")) {
      (void)WriteFile(d->path + "/memory.swap.max", "0");
    }
    return WriteFile(d->path + "/memory.max", value);
  }
  const std::string limit = d->path + "/memory.limit_in_bytes";
  const std::string memsw = d->path + "/memory.memsw.limit_in_bytes";
  if (!Exists(memsw)) return WriteFile(limit, value);
  // memsw must stay >= limit: lowering writes limit first, raising memsw first.
  if (WriteFile(limit, value).ok()) return WriteFile(memsw, value);
  if (absl::Status s = WriteFile(memsw, value); !s.ok()) return s;
  return WriteFile(limit, value);
}

absl::Status CgroupSet::SetCpu(double cores) {
  const GroupDir* d = Find(Kind::kCpu);
  if (d == nullptr) return absl::OkStatus();
  const int64_t quota = std::max<int64_t>(1000, std::llround(cores * kCpuPeriodUs));
  if (d->version == 2) {
    return WriteFile(d->path + "/cpu.max", fmt::format("{} {}", quota, kCpuPeriodUs));
  }
  if (absl::Status s = WriteFile(d->path + "/cpu.cfs_period_us", std::to_string(kCpuPeriodUs));
      !s.ok()) {
    return s;
  }
  return WriteFile(d->path + "/cpu.cfs_quota_us", std::to_string(quota));
}

bool CgroupSet::OomKilled() {
  const GroupDir* d = Find(Kind::kMemory);
  if (d == nullptr) return false;
  if (d->version == 2) {
    return KeyedValue(ReadFile(d->path + "/memory.events").value_or(""), "oom_kill") > 0;
  }
  const std::string control = ReadFile(d->path + "/memory.oom_control").value_or("");
  if (control.find("oom_kill ") != std::string::npos) return KeyedValue(control, "oom_kill") > 0;
  return std::atoll(ReadFile(d->path + "/memory.failcnt").value_or("0").c_str()) > 0;
}

void CgroupSet::KillAll(pid_t spare) {
  for (const GroupDir& d : dirs_) {
    if (spare < 0 && d.version == 2 && Exists(d.path + "/cgroup.kill")) {
      (void)WriteFile(d.path + "/cgroup.kill", "1");
    }
  }
  KillGroups(Paths(), spare);
}

// Where each kind of limit is enforced: a parent directory per kind.
struct Placement {
  std::string parent;  // "" = not enforced by a cgroup
  int version = 0;
};

class CgroupLimiter final : public Limiter {
 public:
  CgroupLimiter(std::map<Kind, Placement> placements, EnforcedLimits enforced)
      : placements_(std::move(placements)), enforced_(std::move(enforced)) {}

  // Limiter
  absl::StatusOr<std::unique_ptr<SandboxCgroup>> Create(const CgroupLimits& limits) override;
  const EnforcedLimits& enforced() const override { return enforced_; }

 private:
  std::vector<GroupDir> Layout(const std::string& id) const;

  std::map<Kind, Placement> placements_;
  EnforcedLimits enforced_;
  std::atomic<int64_t> counter_{0};
};

std::vector<GroupDir> CgroupLimiter::Layout(const std::string& id) const {
  std::vector<GroupDir> dirs;
  for (const auto& [kind, placement] : placements_) {
    if (placement.parent.empty()) continue;
    const std::string path = placement.parent + "/" + id;
    auto it =
        std::find_if(dirs.begin(), dirs.end(), [&](const GroupDir& d) { return d.path == path; });
    if (it == dirs.end()) {
      dirs.push_back({path, placement.version, {kind}});
    } else {
      it->kinds.push_back(kind);
    }
  }
  return dirs;
}

absl::StatusOr<std::unique_ptr<SandboxCgroup>> CgroupLimiter::Create(const CgroupLimits& limits) {
  std::vector<GroupDir> dirs = Layout(fmt::format("w{}-{}", getpid(), ++counter_));
  if (dirs.empty()) return std::unique_ptr<SandboxCgroup>();
  auto group = std::make_unique<CgroupSet>(std::move(dirs));
  if (absl::Status s = group->Open(); !s.ok()) return s;
  if (absl::Status s = group->SetPids(limits.pids_max); !s.ok()) return s;
  if (absl::Status s = group->SetMemory(limits.memory_bytes); !s.ok()) return s;
  if (absl::Status s = group->SetCpu(limits.cpu); !s.ok()) return s;
  return std::unique_ptr<SandboxCgroup>(std::move(group));
}

// Removes groups "w<pid>-<n>" under `parent` whose worker is dead.
void RemoveStaleGroups(const std::string& parent) {
  DIR* dir = opendir(parent.c_str());
  if (dir == nullptr) return;
  std::vector<std::string> stale;
  // readdir is safe here: this DIR stream is ours alone.
  while (const dirent* entry = readdir(dir)) {  // NOLINT(concurrency-mt-unsafe)
    long pid = 0;
    int n = 0;
    if (std::sscanf(entry->d_name, "w%ld-%*d%n", &pid, &n) != 1 || entry->d_name[n] != '\0')
      continue;
    if (pid > 0 && kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
      stale.push_back(parent + "/" + entry->d_name);
    }
  }
  closedir(dir);
  KillGroups(stale);
  RemoveGroups(stale);
}

bool ListContains(const std::vector<std::string>& list, std::string_view item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

// A usable v2 parent for `kinds` under `mount`, enabling the controllers.
std::vector<Kind> PrepareV2(const std::string& mount, const std::string& parent,
                            const std::vector<Kind>& wanted) {
  std::string controllers = ReadFile(mount + "/cgroup.controllers").value_or("");
  while (!controllers.empty() && controllers.back() == '\n') controllers.pop_back();
  const std::vector<std::string> available = Split(controllers, ' ');
  std::vector<Kind> usable;
  std::string enable;
  for (Kind kind : wanted) {
    std::string name = KindName(kind);
    if (!ListContains(available, name)) continue;
    usable.push_back(kind);
    enable += (enable.empty() ? "+" : " +") + name;
  }
  if (usable.empty()) return usable;
  if ((mkdir(parent.c_str(), 0755) != 0 && errno != EEXIST) ||
      !WriteFile(mount + "/cgroup.subtree_control", enable).ok() ||
      !WriteFile(parent + "/cgroup.subtree_control", enable).ok()) {
    return {};
  }
  return usable;
}

void PlaceV2(const std::vector<CgroupMount>& mounts, const std::string& parent_name,
             std::map<Kind, Placement>& placements) {
  for (const CgroupMount& m : mounts) {
    if (m.version != 2) continue;
    const std::string parent = m.path + "/" + parent_name;
    const std::vector<Kind> wanted(std::begin(kKinds), std::end(kKinds));
    for (Kind kind : PrepareV2(m.path, parent, wanted)) placements[kind] = {parent, 2};
    if (!placements.empty()) return;
  }
}

void PlaceV1(const std::vector<CgroupMount>& mounts, const std::string& parent_name,
             std::map<Kind, Placement>& placements) {
  for (Kind kind : kKinds) {
    if (placements.contains(kind)) continue;
    for (const CgroupMount& m : mounts) {
      if (m.version != 1 || !ListContains(m.controllers, KindName(kind))) continue;
      const std::string parent = m.path + "/" + parent_name;
      if (mkdir(parent.c_str(), 0755) == 0 || errno == EEXIST) placements[kind] = {parent, 1};
      break;
    }
  }
}

}  // namespace

std::string EnforcedLimits::ToString() const {
  return fmt::format("limits: memory={} cpu={} pids={} timeout={}", memory, cpu, pids, timeout);
}

std::vector<CgroupMount> ParseCgroupMounts(const std::string& mountinfo) {
  std::vector<CgroupMount> mounts;
  std::istringstream lines(mountinfo);
  std::string line;
  while (std::getline(lines, line)) {
    const size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    const std::vector<std::string> head = Split(line.substr(0, dash), ' ');
    const std::vector<std::string> tail = Split(line.substr(dash + 3), ' ');
    if (head.size() < 5 || tail.size() < 3) continue;
    if (tail[0] == "cgroup2") {
      mounts.push_back({head[4], 2, {}});
    } else if (tail[0] == "cgroup") {
      mounts.push_back({head[4], 1, Split(tail[2], ',')});
    }
  }
  return mounts;
}

absl::StatusOr<std::unique_ptr<Limiter>> MakeLimiter(const LimiterOptions& options) {
  if (options.parent_name.empty() || options.parent_name.find('/') != std::string::npos ||
      options.parent_name[0] == '.') {
    return absl::InvalidArgumentError("cgroup parent name must be one plain path component");
  }
  std::map<Kind, Placement> placements;
  if (options.mode != CgroupMode::kNone) {
    const std::vector<CgroupMount> mounts =
        ParseCgroupMounts(ReadFile(options.mountinfo_path).value_or(""));
    if (options.mode != CgroupMode::kV1) PlaceV2(mounts, options.parent_name, placements);
    if (options.mode != CgroupMode::kV2) PlaceV1(mounts, options.parent_name, placements);
  }
  EnforcedLimits enforced;
  for (const auto& [kind, placement] : placements) {
    RemoveStaleGroups(placement.parent);
    const std::string how = placement.version == 2 ? "cgroup-v2" : "cgroup-v1";
    (kind == Kind::kMemory ? enforced.memory
     : kind == Kind::kCpu  ? enforced.cpu
                           : enforced.pids) = how;
  }
  return std::unique_ptr<Limiter>(new CgroupLimiter(std::move(placements), std::move(enforced)));
}

}  // namespace magic::worker::internal
