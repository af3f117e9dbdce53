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

constexpr size_t kMaxBundleFiles = 256;  // ADR 0010; the sandbox's load frame takes no more

bool IsContractName(std::string_view name, bool named) {
  for (std::string_view ext : {".yaml", ".yml", ".json"}) {
    const std::string plain = "contract" + std::string(ext);
    const std::string suffix = ".contract" + std::string(ext);
    if (!named && name == plain) return true;
    if (named && name.size() > suffix.size() && name.ends_with(suffix)) return true;
  }
  return false;
}

// A path `magic deploy` may send: printable ASCII, relative, '/'-separated,
// no empty, ".", ".." or hidden parts, no __pycache__, no backslash. (It is
// stored as text and shown in error messages, so nothing else is allowed.)
bool IsSafeBundlePath(std::string_view path) {
  if (path.empty() || path.size() > 512 || path.front() == '/') return false;
  for (const char c : path) {
    if (c < 0x20 || c > 0x7e || c == '\\') return false;
  }
  size_t begin = 0;
  while (begin <= path.size()) {
    size_t end = path.find('/', begin);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view part = path.substr(begin, end - begin);
    if (part.empty() || part.starts_with(".") || part == "__pycache__") return false;
    begin = end + 1;
  }
  return true;
}

// Checks the shape of `files` (sorting them) and returns the index of the
// contract file: the named one (<x>.contract.*) wins over contract.*, as in
// FindContractFile.
absl::StatusOr<size_t> CheckFiles(std::vector<BundleFile>& files, const std::string& origin,
                                  int64_t max_bytes) {
  if (files.size() > kMaxBundleFiles) {
    return BundleError(origin, fmt::format("more than {} files", kMaxBundleFiles));
  }
  std::sort(files.begin(), files.end(),
            [](const BundleFile& a, const BundleFile& b) { return a.path < b.path; });
  int64_t total = 0;
  std::vector<size_t> named, plain;
  for (size_t i = 0; i < files.size(); ++i) {
    const std::string& path = files[i].path;
    if (!IsSafeBundlePath(path)) {
      return BundleError(origin, "bad file path: " + path, {{"file", path}});
    }
    if (i > 0 && files[i - 1].path == path) {
      return BundleError(origin, "file given twice: " + path, {{"file", path}});
    }
    total += static_cast<int64_t>(files[i].content.size());
    if (total > max_bytes) {
      return BundleError(origin, fmt::format("larger than {} bytes", max_bytes));
    }
    const bool top = path.find('/') == std::string::npos;
    if (top && IsContractName(path, true)) {
      named.push_back(i);
    } else if (top && IsContractName(path, false)) {
      plain.push_back(i);
    } else if (!path.ends_with(".py")) {
      return BundleError(origin, "only the contract and .py files belong in a bundle: " + path,
                         {{"file", path}});
    }
  }
  const std::vector<size_t>& found = named.empty() ? plain : named;
  if (found.empty()) {
    return BundleError(origin, "no contract file (<name>.contract.yaml or contract.yaml)");
  }
  if (found.size() > 1 || (!named.empty() && !plain.empty())) {
    return BundleError(origin, "several contract files");
  }
  return found[0];
}

// The one bundle check behind LoadBundle and LoadBundleFromFiles.
absl::StatusOr<std::shared_ptr<const ControllerVersion>> BuildVersion(std::vector<BundleFile> files,
                                                                      const std::string& origin,
                                                                      const std::string& bundle_dir,
                                                                      int64_t max_bytes) {
  MAGIC_ASSIGN_OR_RETURN(const size_t contract_index, CheckFiles(files, origin, max_bytes));
  const BundleFile& contract_file = files[contract_index];
  const std::string source =
      origin.empty() ? contract_file.path : (fs::path(bundle_dir) / contract_file.path).string();
  CheckResult checked = ParseContract(
      contract_file.content,
      contract_file.path.ends_with(".json") ? SourceFormat::kJson : SourceFormat::kYaml, source);
  if (!checked.contract) {
    nlohmann::json findings = nlohmann::json::array();
    for (const Finding& f : checked.findings) findings.push_back(f.ToJson());
    return BundleError(origin, "contract is invalid", {{"findings", findings}});
  }
  checked.contract->source_path = source;
  const std::string snake = SnakeCase(checked.contract->name);
  std::string entry;
  for (const std::string& candidate : {snake + ".py", std::string("controller.py")}) {
    const bool present = std::any_of(files.begin(), files.end(),
                                     [&](const BundleFile& f) { return f.path == candidate; });
    if (present) {
      entry = candidate;
      break;
    }
  }
  if (entry.empty()) {
    return BundleError(origin,
                       fmt::format("no entry module: expected {}.py or controller.py", snake));
  }
  absl::StatusOr<std::shared_ptr<const CompiledContract>> compiled =
      CompiledContract::Compile(*std::move(checked.contract));
  if (!compiled.ok()) return BundleError(origin, std::string(compiled.status().message()));
  auto version = std::make_shared<ControllerVersion>();
  version->compiled = *std::move(compiled);
  version->bundle_dir = bundle_dir;
  version->entry = entry;
  version->digest = HexDigest(files);
  version->files = std::move(files);
  return std::shared_ptr<const ControllerVersion>(std::move(version));
}

}  // namespace

absl::StatusOr<std::shared_ptr<const ControllerVersion>> LoadBundle(const std::string& dir,
                                                                    int64_t max_bytes) {
  std::error_code ec;
  const fs::path root = fs::absolute(dir, ec);
  if (ec || !fs::is_directory(root, ec)) return BundleError(dir, "not a directory");
  absl::StatusOr<std::string> contract_file = FindContractFile(root.string());
  if (!contract_file.ok()) return BundleError(dir, std::string(contract_file.status().message()));
  MAGIC_ASSIGN_OR_RETURN(std::vector<BundleFile> files, ReadFiles(root, *contract_file, max_bytes));
  return BuildVersion(std::move(files), dir, root.string(), max_bytes);
}

absl::StatusOr<std::shared_ptr<const ControllerVersion>> LoadBundleFromFiles(
    std::vector<BundleFile> files, const std::string& origin, int64_t max_bytes) {
  return BuildVersion(std::move(files), origin, origin, max_bytes);
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
