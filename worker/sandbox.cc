#include "worker/sandbox.h"

#include "common/errors.h"
#include "common/logging.h"
#include "contracts/loader.h"
#include "worker/internal/bwrap_runner.h"
#include "worker/internal/limiter.h"
#include "worker/internal/process.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>
#include <unistd.h>

#ifndef MAGIC_SDK_SOURCE_DIR
#define MAGIC_SDK_SOURCE_DIR ""
#endif

namespace magic::worker {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kDefaultTmpSize = int64_t{64} << 20;  // ADR 0002: fs:temp without max_size

// The length of the UTF-8 sequence starting with `lead` (0: invalid lead)
// and the allowed range of its second byte (no overlong forms, no
// surrogates, nothing above U+10FFFF).
struct Utf8Lead {
  size_t length = 0;
  unsigned char low = 0x80;
  unsigned char high = 0xBF;
};

Utf8Lead ClassifyUtf8Lead(unsigned char lead) {
  if (lead < 0x80) return {1};
  if (lead >= 0xC2 && lead <= 0xDF) return {2};
  if (lead >= 0xE0 && lead <= 0xEF) {
    return {3, static_cast<unsigned char>(lead == 0xE0 ? 0xA0 : 0x80),
            static_cast<unsigned char>(lead == 0xED ? 0x9F : 0xBF)};
  }
  if (lead >= 0xF0 && lead <= 0xF4) {
    return {4, static_cast<unsigned char>(lead == 0xF0 ? 0x90 : 0x80),
            static_cast<unsigned char>(lead == 0xF4 ? 0x8F : 0xBF)};
  }
  return {0};
}

// Strict UTF-8, as JSON needs it.
bool IsValidUtf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const Utf8Lead lead = ClassifyUtf8Lead(static_cast<unsigned char>(text[i]));
    if (lead.length == 0 || lead.length > text.size() - i) return false;
    for (size_t k = 1; k < lead.length; ++k) {
      const auto b = static_cast<unsigned char>(text[i + k]);
      const bool ok = k == 1 ? (b >= lead.low && b <= lead.high) : (b & 0xC0) == 0x80;
      if (!ok) return false;
    }
    i += lead.length;
  }
  return true;
}

absl::Status BundleError(std::string_view message,
                         const nlohmann::json& details = nlohmann::json::object()) {
  return MakeError(ErrorCode::kE4001, message, details);
}

// The entry file of the controller in `dir`: <snake>.py, else controller.py.
absl::StatusOr<std::string> FindEntry(const contracts::Contract& contract, const fs::path& dir) {
  const std::string snake = contracts::SnakeCase(contract.name);
  for (const std::string& name : {snake + ".py", std::string("controller.py")}) {
    std::error_code ec;
    if (fs::is_regular_file(fs::symlink_status(dir / name, ec))) return name;
  }
  return BundleError(fmt::format("no entry file: expected {}.py or controller.py", snake),
                     {{"dir", dir.string()}});
}

bool Skipped(const fs::directory_entry& entry) {
  const std::string name = entry.path().filename().string();
  return name.empty() || name[0] == '.' || name == "__pycache__";
}

absl::StatusOr<std::string> ReadSource(const fs::path& path, int64_t budget) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return BundleError("cannot read a source file", {{"file", path.filename().string()}});
  std::string text;
  char buffer[1 << 16];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    text.append(buffer, static_cast<size_t>(in.gcount()));
    if (static_cast<int64_t>(text.size()) > budget) {
      return BundleError("the bundle's sources are too large", {{"limit_bytes", budget}});
    }
  }
  if (!IsValidUtf8(text)) {
    return BundleError("a source file is not UTF-8", {{"file", path.filename().string()}});
  }
  return text;
}

// Every .py file below `dir` (no symlinks: the worker must not read files
// outside the bundle on the bundle's behalf).
absl::Status ReadSources(const fs::path& dir, const ReadBundleOptions& options,
                         std::map<std::string, std::string>& files) {
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
  if (ec) return BundleError("cannot list the controller directory", {{"dir", dir.string()}});
  int64_t total = 0;
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) return BundleError("cannot list the controller directory", {{"dir", dir.string()}});
    const fs::file_status status = it->symlink_status(ec);
    if (Skipped(*it)) {
      if (fs::is_directory(status)) it.disable_recursion_pending();
      continue;
    }
    if (!fs::is_regular_file(status) || it->path().extension() != ".py") continue;
    if (static_cast<int>(files.size()) >= options.max_files) {
      return BundleError("the bundle has too many source files", {{"limit", options.max_files}});
    }
    absl::StatusOr<std::string> text = ReadSource(it->path(), options.max_total_bytes - total);
    if (!text.ok()) return text.status();
    total += static_cast<int64_t>(text->size());
    files[fs::relative(it->path(), dir, ec).generic_string()] = std::move(*text);
  }
  return absl::OkStatus();
}

bool HasRunner(const std::string& dir) {
  return !dir.empty() && access((dir + "/magic/_runner.py").c_str(), R_OK) == 0;
}

absl::Status CheckExecutable(const std::string& path, std::string_view what) {
  if (path.empty() || path[0] != '/' || access(path.c_str(), X_OK) != 0) {
    return MakeError(ErrorCode::kE3005, fmt::format("{} not found or not executable", what),
                     {{"path", path}});
  }
  return absl::OkStatus();
}

}  // namespace

std::string SandboxProfile::Key() const {
  return fmt::format("tmp={};dir={}", tmp_size_bytes ? std::to_string(*tmp_size_bytes) : "-",
                     controller_dir);
}

SandboxLimits SandboxLimits::FromContract(const contracts::ResourceLimits& resources) {
  return {resources.memory_bytes, resources.cpu, absl::Milliseconds(resources.timeout_ms)};
}

absl::StatusOr<ControllerBundle> ReadBundle(const contracts::Contract& contract,
                                            const std::string& dir,
                                            const ReadBundleOptions& options) {
  std::error_code ec;
  const fs::path root = fs::weakly_canonical(fs::absolute(dir, ec), ec);
  if (ec || !fs::is_directory(root, ec)) {
    return BundleError("the controller directory does not exist", {{"dir", dir}});
  }
  absl::StatusOr<std::string> entry = FindEntry(contract, root);
  if (!entry.ok()) return entry.status();
  ControllerBundle bundle;
  bundle.version_key =
      contract.digest.empty() ? contract.name + "@" + contract.version : contract.digest;
  bundle.name = contract.name;
  bundle.version = contract.version;
  bundle.entry_module = entry->substr(0, entry->size() - 3);
  if (absl::Status s = ReadSources(root, options, bundle.files); !s.ok()) return s;
  if (const contracts::Capability* temp = contract.Find(contracts::CapabilityKind::kFsTemp)) {
    bundle.profile.tmp_size_bytes = temp->max_size_bytes.value_or(kDefaultTmpSize);
  }
  if (options.mount_dir) bundle.profile.controller_dir = root.string();
  bundle.limits = SandboxLimits::FromContract(contract.resources);
  return bundle;
}

absl::StatusOr<nlohmann::json> DenyAllCallHandler::Call(const CapabilityCall& call) {
  return MakeError(ErrorCode::kE2001, "capability broker not available yet",
                   {{"capability", call.capability}, {"operation", call.op}});
}

void LoggingEventSink::OnLog(const LogRecord& record) {
  nlohmann::json fields = record.fields.is_object() ? record.fields : nlohmann::json::object();
  for (const auto& [key, value] : extra_fields_.items()) fields[key] = value;
  fields["request_id"] = record.request_id;
  fields["controller"] = controller_;
  fields["source"] = "controller";
  const auto level = record.level == "debug"     ? spdlog::level::debug
                     : record.level == "warning" ? spdlog::level::warn
                     : record.level == "error"   ? spdlog::level::err
                                                 : spdlog::level::info;
  if (logging::Logger().should_log(level)) logging::Write(level, record.msg, fields);
}

void LoggingEventSink::OnMetric(const MetricRecord& record) {
  MAGIC_LOG(debug, "controller metric",
            {{"request_id", record.request_id},
             {"controller", controller_},
             {"metric", record.name},
             {"kind", record.kind},
             {"value", record.value},
             {"labels", record.labels}});
}

namespace {

// True when a process of another uid (the sandbox runs as nobody, ADR 0009)
// can reach `dir` and read every file below it.
bool ReadableByOthers(const fs::path& dir) {
  std::error_code ec;
  for (fs::path p = dir; !p.empty(); p = p.parent_path()) {
    if ((fs::status(p, ec).permissions() & fs::perms::others_exec) == fs::perms::none) return false;
    if (p == p.root_path()) break;
  }
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    const fs::perms need = it->is_directory(ec) ? fs::perms::others_exec : fs::perms::others_read;
    if ((it->status(ec).permissions() & need) == fs::perms::none) return false;
  }
  return !ec;
}

// The SDK where the sandbox's uid can read it: `dir` itself, or a copy in
// a world-readable directory under /tmp (a checkout in a private home or
// a mode-0700 temp directory cannot be bind-mounted for nobody).
absl::StatusOr<std::string> SandboxReadableSdk(const std::string& dir) {
  if (ReadableByOthers(dir)) return dir;
  // Named by the content, so every process of this uid shares one copy
  // and a changed SDK gets a new one. Built aside, then renamed into place.
  std::error_code ec;
  size_t hash = 0;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    std::ifstream in(it->path(), std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    hash = hash * 31 + std::hash<std::string>{}(it->path().lexically_relative(dir).string() + '\0' +
                                                text.str());
  }
  const fs::path base = fs::temp_directory_path(ec);
  const fs::path copy = base / fmt::format("magic-sdk-{}-{:016x}", ::getuid(), hash);
  // Reused only when it is ours and nobody else can write it (another local
  // user could plant a directory under this predictable name).
  auto trusted = [](const fs::path& p) {
    struct stat st {};
    return ::lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == ::getuid() &&
           (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
  };
  if (trusted(copy) && ReadableByOthers(copy)) return copy.string();
  const fs::path staging = base / fmt::format("magic-sdk-{}-{}.tmp", ::getuid(), ::getpid());
  fs::remove_all(staging, ec);
  fs::create_directories(staging, ec);
  fs::copy(dir, staging, fs::copy_options::recursive | fs::copy_options::overwrite_existing, ec);
  if (ec) {
    return MakeError(ErrorCode::kE3005,
                     fmt::format("the SDK in {} is not readable by the sandbox user and could not "
                                 "be copied: {}",
                                 dir, ec.message()));
  }
  fs::permissions(staging, fs::perms::others_exec | fs::perms::others_read, fs::perm_options::add,
                  ec);
  for (auto it = fs::recursive_directory_iterator(staging, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    const fs::perms add = it->is_directory(ec) ? fs::perms::others_exec | fs::perms::others_read
                                               : fs::perms::others_read;
    fs::permissions(it->path(), add, fs::perm_options::add, ec);
  }
  fs::rename(staging, copy, ec);  // fails when another process won the race: use its copy
  if (ec) fs::remove_all(staging, ec);
  if (!trusted(copy) || !ReadableByOthers(copy)) {
    return MakeError(ErrorCode::kE3005,
                     fmt::format("the SDK in {} is not readable by the sandbox user, and {} is "
                                 "not a directory of ours to copy it to",
                                 dir, copy.string()));
  }
  MAGIC_LOG(info, "SDK copied where the sandbox user can read it",
            {{"from", dir}, {"to", copy.string()}});
  return copy.string();
}

}  // namespace

std::string DefaultSdkDir() {
  // Read once at start-up by the CLI and the worker, before threads write the environment.
  const char* env = std::getenv("MAGIC_SDK_DIR");  // NOLINT(concurrency-mt-unsafe)
  if (env != nullptr && HasRunner(env)) {
    return fs::absolute(env).lexically_normal().string();
  }
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (const char* relative : {"../../sdk/python", "../share/magic/sdk/python"}) {
      const fs::path candidate = (exe.parent_path() / relative).lexically_normal();
      if (HasRunner(candidate.string())) return candidate.string();
    }
  }
  return HasRunner(MAGIC_SDK_SOURCE_DIR) ? std::string(MAGIC_SDK_SOURCE_DIR) : std::string();
}

absl::StatusOr<std::unique_ptr<RunnerFactory>> MakeSandboxRunnerFactory(const SandboxConfig& config,
                                                                        Clock& clock) {
  SandboxConfig checked = config;
  if (checked.sdk_dir.empty()) checked.sdk_dir = DefaultSdkDir();
  std::error_code ec;
  if (!checked.sdk_dir.empty()) checked.sdk_dir = fs::absolute(checked.sdk_dir, ec).string();
  if (!HasRunner(checked.sdk_dir)) {
    return MakeError(ErrorCode::kE3005, "the Python SDK (magic/_runner.py) was not found",
                     {{"sdk_dir", checked.sdk_dir}});
  }
  absl::StatusOr<std::string> readable = SandboxReadableSdk(checked.sdk_dir);
  if (!readable.ok()) return readable.status();
  checked.sdk_dir = *std::move(readable);
  if (absl::Status s = CheckExecutable(checked.bwrap_path, "bwrap"); !s.ok()) return s;
  if (absl::Status s = CheckExecutable(checked.python_path, "python3"); !s.ok()) return s;
  if (checked.pids_max < 8 || checked.generic_memory_bytes < (int64_t{16} << 20)) {
    return absl::InvalidArgumentError("sandbox config: pids_max >= 8, generic memory >= 16Mi");
  }
  absl::StatusOr<std::unique_ptr<internal::Limiter>> limiter =
      internal::MakeLimiter({checked.cgroup_mode, checked.cgroup_parent});
  if (!limiter.ok()) return limiter.status();
  return internal::MakeBwrapRunnerFactory(checked, clock, internal::MakePosixProcessSpawner(),
                                          std::move(*limiter));
}

absl::StatusOr<nlohmann::json> RunAndValidate(Runner& runner,
                                              const contracts::CompiledContract& contract,
                                              const Invocation& invocation,
                                              InvocationHooks& hooks) {
  absl::StatusOr<nlohmann::json> output = runner.Invoke(invocation, hooks);
  if (!output.ok()) return output;
  if (absl::Status s = contract.ValidateOutput(*output); !s.ok()) return s;
  return output;
}

}  // namespace magic::worker
