#include "broker/fs_backend.h"

#include "common/errors.h"

#include <fmt/format.h>

#include <sodium.h>

namespace magic::broker {
namespace {

std::string PathHash(std::string_view path) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(path.data()), path.size());
  char hex[17];
  sodium_bin2hex(hex, sizeof(hex), digest, 8);
  return hex;
}

bool SafeRelativePath(std::string_view path) {
  if (path.size() > 1024 || path.find('\0') != std::string_view::npos) return false;
  if (path.empty() || path == ".") return true;
  if (path.front() == '/') return false;
  size_t start = 0;
  while (start <= path.size()) {
    const size_t end = std::min(path.find('/', start), path.size());
    if (path.substr(start, end - start) == "..") return false;
    start = end + 1;
  }
  return true;
}

}  // namespace

absl::StatusOr<nlohmann::json> FsBackend::Call(const CallContext& /*ctx*/, std::string_view op,
                                               const nlohmann::json& params,
                                               nlohmann::json& audit) {
  audit["operation"] = std::string(op);
  const auto path = params.find("path");
  if (path == params.end() || !path->is_string()) {
    return MakeError(ErrorCode::kE1005, fmt::format("fs.{} needs a string path", op));
  }
  const std::string& text = path->get_ref<const std::string&>();
  audit["path_hash"] = PathHash(text);
  if (!SafeRelativePath(text)) {
    return MakeError(ErrorCode::kE2003,
                     "fs paths are relative to the temp directory and may not contain '..'");
  }
  if (op == "open") {
    const auto mode = params.find("mode");
    if (mode != params.end()) {
      if (!mode->is_string() || mode->get_ref<const std::string&>().size() > 8) {
        return MakeError(ErrorCode::kE1005, "fs.open mode must be a short string");
      }
      audit["mode"] = *mode;
    }
  }
  return nlohmann::json{{"allowed", true}};
}

}  // namespace magic::broker
