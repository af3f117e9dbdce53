#include "contracts/registry.h"

#include "common/errors.h"
#include "common/status_macros.h"
#include "contracts/loader.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sodium.h>
#include <sstream>

namespace magic::contracts {
namespace {

namespace fs = std::filesystem;

std::string HexDigest(const std::vector<BundleFile>& files) {
  static const bool initialised = sodium_init() >= 0;  // idempotent, thread-safe
  (void)initialised;
  crypto_hash_sha256_state state;
  crypto_hash_sha256_init(&state);
  for (const BundleFile& f : files) {
    // Length-prefix each part so ("ab","c") and ("a","bc") differ.
    const std::string header = fmt::format("{}:{}\n{}:", f.path.size(), f.path, f.content.size());
    crypto_hash_sha256_update(&state, reinterpret_cast<const unsigned char*>(header.data()),
                              header.size());
    crypto_hash_sha256_update(&state, reinterpret_cast<const unsigned char*>(f.content.data()),
                              f.content.size());
  }
  unsigned char out[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(&state, out);
  char hex[crypto_hash_sha256_BYTES * 2 + 1];
  sodium_bin2hex(hex, sizeof(hex), out, sizeof(out));
  return hex;
}

absl::Status BundleError(const std::string& dir, const std::string& why,
                         nlohmann::json details = nlohmann::json::object()) {
  details["bundle"] = dir;
  return MakeError(ErrorCode::kE4001, fmt::format("bundle {}: {}", dir, why), details);
}

// The contract file and every .py file of the bundle (not recursing into
// hidden directories or __pycache__), sorted by path.
absl::StatusOr<std::vector<BundleFile>> ReadFiles(const fs::path& root, const std::string& contract,
                                                  int64_t max_bytes) {
  std::vector<BundleFile> files;
  int64_t total = 0;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (it->is_directory(ec)) {
      if (name.starts_with(".") || name == "__pycache__") it.disable_recursion_pending();
      continue;
    }
    const bool wanted = it->path() == fs::path(contract) || it->path().extension() == ".py";
    if (!wanted || !it->is_regular_file(ec)) continue;
    std::ifstream in(it->path(), std::ios::binary);
    if (!in) return BundleError(root.string(), "cannot read " + name);
    std::stringstream buffer;
    buffer << in.rdbuf();
    total += static_cast<int64_t>(buffer.str().size());
    if (total > max_bytes) {
      return BundleError(root.string(), fmt::format("larger than {} bytes", max_bytes));
    }
    files.push_back({fs::relative(it->path(), root).generic_string(), buffer.str()});
  }
  std::sort(files.begin(), files.end(),
            [](const BundleFile& a, const BundleFile& b) { return a.path < b.path; });
  return files;
}

class DirectoryRegistry final : public Registry {
 public:
  explicit DirectoryRegistry(std::map<std::string, std::shared_ptr<const ControllerVersion>> v)
      : versions_(std::move(v)) {}

  absl::StatusOr<std::shared_ptr<const ControllerVersion>> Active(
      std::string_view name) const override {
    auto it = versions_.find(std::string(name));
    if (it == versions_.end()) {
      return MakeError(ErrorCode::kE4003, fmt::format("controller {} is not deployed", name),
                       {{"controller", std::string(name)}});
    }
    return it->second;
  }

  absl::StatusOr<std::shared_ptr<const ControllerVersion>> Get(
      std::string_view name, std::string_view version) const override {
    MAGIC_ASSIGN_OR_RETURN(auto active, Active(name));
    if (active->version() != version) {
      return MakeError(ErrorCode::kE4003,
                       fmt::format("controller {} has no version {}", name, version),
                       {{"controller", std::string(name)}, {"version", std::string(version)}});
    }
    return active;
  }

  std::vector<std::string> List() const override {
    std::vector<std::string> names;
    for (const auto& entry : versions_) names.push_back(entry.first);
    return names;
  }

 private:
  const std::map<std::string, std::shared_ptr<const ControllerVersion>> versions_;
};

}  // namespace

absl::StatusOr<std::shared_ptr<const ControllerVersion>> LoadBundle(const std::string& dir,
                                                                    int64_t max_bytes) {
  std::error_code ec;
  const fs::path root = fs::absolute(dir, ec);
  if (ec || !fs::is_directory(root, ec)) return BundleError(dir, "not a directory");
  absl::StatusOr<std::string> contract_file = FindContractFile(root.string());
  if (!contract_file.ok()) return BundleError(dir, std::string(contract_file.status().message()));
  CheckResult checked = LoadContract(*contract_file);
  if (!checked.contract) {
    nlohmann::json findings = nlohmann::json::array();
    for (const Finding& f : checked.findings) findings.push_back(f.ToJson());
    return BundleError(dir, "contract is invalid", {{"findings", findings}});
  }
  const std::string snake = SnakeCase(checked.contract->name);
  std::string entry;
  for (const std::string& candidate : {snake + ".py", std::string("controller.py")}) {
    if (fs::is_regular_file(root / candidate, ec)) {
      entry = candidate;
      break;
    }
  }
  if (entry.empty()) {
    return BundleError(dir, fmt::format("no entry module: expected {}.py or controller.py", snake));
  }
  MAGIC_ASSIGN_OR_RETURN(std::vector<BundleFile> files, ReadFiles(root, *contract_file, max_bytes));
  absl::StatusOr<std::shared_ptr<const CompiledContract>> compiled =
      CompiledContract::Compile(*std::move(checked.contract));
  if (!compiled.ok()) return BundleError(dir, std::string(compiled.status().message()));
  auto version = std::make_shared<ControllerVersion>();
  version->compiled = *std::move(compiled);
  version->bundle_dir = root.string();
  version->entry = entry;
  version->digest = HexDigest(files);
  version->files = std::move(files);
  return std::shared_ptr<const ControllerVersion>(std::move(version));
}

absl::StatusOr<std::unique_ptr<Registry>> LoadDirectoryRegistry(const std::string& root) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    return MakeError(ErrorCode::kE4001, fmt::format("controllers directory {} not found", root));
  }
  std::vector<std::string> dirs;
  for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_directory(ec)) continue;
    const std::string name = it->path().filename().string();
    if (name.starts_with(".") || name == "__pycache__") {
      it.disable_recursion_pending();
      continue;
    }
    if (FindContractFile(it->path().string()).ok()) dirs.push_back(it->path().string());
  }
  if (FindContractFile(root).ok()) dirs.push_back(root);
  std::sort(dirs.begin(), dirs.end());
  std::map<std::string, std::shared_ptr<const ControllerVersion>> versions;
  for (const std::string& dir : dirs) {
    MAGIC_ASSIGN_OR_RETURN(auto version, LoadBundle(dir));
    auto [it, inserted] = versions.emplace(version->name(), version);
    if (!inserted) {
      return MakeError(ErrorCode::kE4001,
                       fmt::format("controller {} is declared by both {} and {}", version->name(),
                                   it->second->bundle_dir, dir));
    }
  }
  return std::unique_ptr<Registry>(std::make_unique<DirectoryRegistry>(std::move(versions)));
}

}  // namespace magic::contracts
