#include "broker/grant.h"

#include "common/errors.h"
#include "common/logging.h"
#include "common/status_macros.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <fstream>
#include <sodium.h>
#include <sstream>

namespace magic::broker {
namespace {

absl::Status GrantError(std::string_view what) {
  return MakeError(ErrorCode::kE2005, fmt::format("grant refused: {}", what));
}

bool SodiumReady() {
  static const bool ready = sodium_init() >= 0;
  return ready;
}

std::string ToHex(std::string_view bytes) {
  std::string out(bytes.size() * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                 bytes.size());
  out.pop_back();
  return out;
}

absl::StatusOr<std::string> FromHex(std::string_view hex, size_t want, std::string_view what) {
  std::string out(want, '\0');
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_hex2bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), hex.data(),
                     hex.size(), " \t\r\n", &len, &end) != 0 ||
      len != want || end != hex.data() + hex.size()) {
    return MakeError(ErrorCode::kE1005,
                     fmt::format("{}: expected {} hex characters", what, want * 2));
  }
  return out;
}

absl::StatusOr<std::string> ReadKeyFile(const std::string& path, bool secret) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return MakeError(ErrorCode::kE1005, fmt::format("grant key file {} cannot be read", path));
  }
  if (secret && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    return MakeError(ErrorCode::kE1005,
                     fmt::format("grant key file {} is readable by group or others "
                                 "(chmod 600 it)",
                                 path));
  }
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  if (!in && !in.eof()) {
    return MakeError(ErrorCode::kE1005, fmt::format("grant key file {} cannot be read", path));
  }
  return text.str();
}

absl::Status WriteFile(const std::string& path, const std::string& text, mode_t mode) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text << "\n";
    if (!out) return MakeError(ErrorCode::kE3005, fmt::format("cannot write {}", tmp));
  }
  if (::chmod(tmp.c_str(), mode) != 0 || std::rename(tmp.c_str(), path.c_str()) != 0) {
    return MakeError(ErrorCode::kE3005, fmt::format("cannot write {}", path));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<GrantKeyPair> GenerateGrantKeyPair() {
  if (!SodiumReady()) return MakeError(ErrorCode::kE3005, "libsodium failed to initialise");
  GrantKeyPair pair;
  pair.seed.resize(crypto_sign_SEEDBYTES);
  randombytes_buf(pair.seed.data(), pair.seed.size());
  MAGIC_ASSIGN_OR_RETURN(GrantSigner signer, GrantSigner::FromSeed(pair.seed));
  pair.public_key = signer.public_key();
  return pair;
}

absl::Status WriteGrantKeyFiles(const GrantKeyPair& pair, const std::string& secret_path,
                                const std::string& public_path) {
  MAGIC_RETURN_IF_ERROR(WriteFile(secret_path, ToHex(pair.seed), 0600));
  return WriteFile(public_path, ToHex(pair.public_key), 0644);
}

std::string GrantKeyId(std::string_view public_key) { return ToHex(public_key.substr(0, 8)); }

absl::StatusOr<GrantSigner> GrantSigner::FromSeed(std::string_view seed) {
  if (!SodiumReady()) return MakeError(ErrorCode::kE3005, "libsodium failed to initialise");
  if (seed.size() != crypto_sign_SEEDBYTES) {
    return MakeError(ErrorCode::kE1005, "grant signing seed must be 32 bytes");
  }
  GrantSigner signer;
  signer.secret_key_.resize(crypto_sign_SECRETKEYBYTES);
  signer.public_key_.resize(crypto_sign_PUBLICKEYBYTES);
  crypto_sign_seed_keypair(reinterpret_cast<unsigned char*>(signer.public_key_.data()),
                           reinterpret_cast<unsigned char*>(signer.secret_key_.data()),
                           reinterpret_cast<const unsigned char*>(seed.data()));
  signer.key_id_ = GrantKeyId(signer.public_key_);
  return signer;
}

absl::StatusOr<std::optional<GrantSigner>> GrantSigner::FromConfiguredFile(
    const std::string& path) {
  if (path.empty()) {
    MAGIC_LOG(warn, "no grant.signing_key_file: capability calls of every job will be refused");
    return std::optional<GrantSigner>();
  }
  MAGIC_ASSIGN_OR_RETURN(GrantSigner signer, FromSecretKeyFile(path));
  return std::optional<GrantSigner>(std::move(signer));
}

absl::StatusOr<GrantSigner> GrantSigner::FromSecretKeyFile(const std::string& path) {
  MAGIC_ASSIGN_OR_RETURN(std::string text, ReadKeyFile(path, /*secret=*/true));
  MAGIC_ASSIGN_OR_RETURN(std::string seed, FromHex(text, crypto_sign_SEEDBYTES, path));
  absl::StatusOr<GrantSigner> signer = FromSeed(seed);
  sodium_memzero(seed.data(), seed.size());
  sodium_memzero(text.data(), text.size());
  return signer;
}

std::string GrantSigner::Sign(const magic::v1::InvocationJob& job, absl::Time now) const {
  magic::v1::GrantClaims claims;
  claims.set_request_id(job.request_id());
  claims.set_controller(job.controller());
  claims.set_version(job.version());
  claims.set_contract_digest(job.contract_digest());
  claims.set_deadline_unix_ms(job.deadline_unix_ms());
  claims.set_issued_unix_ms(absl::ToUnixMillis(now));
  std::string nonce(16, '\0');
  randombytes_buf(nonce.data(), nonce.size());
  claims.set_nonce(std::move(nonce));
  claims.set_key_id(key_id_);

  magic::v1::Grant grant;
  std::string* bytes = grant.mutable_claims();
  claims.SerializeToString(bytes);
  std::string* signature = grant.mutable_signature();
  signature->resize(crypto_sign_BYTES);
  crypto_sign_detached(reinterpret_cast<unsigned char*>(signature->data()), nullptr,
                       reinterpret_cast<const unsigned char*>(bytes->data()), bytes->size(),
                       reinterpret_cast<const unsigned char*>(secret_key_.data()));
  return grant.SerializeAsString();
}

absl::StatusOr<GrantVerifier> GrantVerifier::FromPublicKeys(const std::vector<std::string>& keys) {
  if (!SodiumReady()) return MakeError(ErrorCode::kE3005, "libsodium failed to initialise");
  if (keys.empty()) return MakeError(ErrorCode::kE1005, "no grant public key configured");
  GrantVerifier verifier;
  for (const std::string& key : keys) {
    if (key.size() != crypto_sign_PUBLICKEYBYTES) {
      return MakeError(ErrorCode::kE1005, "grant public key must be 32 bytes");
    }
    verifier.keys_[GrantKeyId(key)] = key;
  }
  return verifier;
}

absl::StatusOr<GrantVerifier> GrantVerifier::FromPublicKeyFiles(
    const std::vector<std::string>& paths) {
  std::vector<std::string> keys;
  for (const std::string& path : paths) {
    MAGIC_ASSIGN_OR_RETURN(std::string text, ReadKeyFile(path, /*secret=*/false));
    MAGIC_ASSIGN_OR_RETURN(std::string key, FromHex(text, crypto_sign_PUBLICKEYBYTES, path));
    keys.push_back(std::move(key));
  }
  return FromPublicKeys(keys);
}

absl::StatusOr<magic::v1::GrantClaims> GrantVerifier::Verify(std::string_view grant_bytes,
                                                             absl::Time now) const {
  if (grant_bytes.empty()) return GrantError("the call carries no grant");
  magic::v1::Grant grant;
  if (grant_bytes.size() > 4096 ||
      !grant.ParseFromArray(grant_bytes.data(), static_cast<int>(grant_bytes.size())) ||
      grant.signature().size() != crypto_sign_BYTES) {
    return GrantError("malformed");
  }
  magic::v1::GrantClaims claims;
  if (!claims.ParseFromString(grant.claims())) return GrantError("malformed claims");
  const auto key = keys_.find(claims.key_id());
  if (key == keys_.end()) return GrantError("signed by an unknown key");
  if (crypto_sign_verify_detached(
          reinterpret_cast<const unsigned char*>(grant.signature().data()),
          reinterpret_cast<const unsigned char*>(grant.claims().data()), grant.claims().size(),
          reinterpret_cast<const unsigned char*>(key->second.data())) != 0) {
    return GrantError("bad signature");
  }
  if (claims.request_id().empty() || claims.controller().empty()) {
    return GrantError("claims incomplete");
  }
  if (absl::FromUnixMillis(claims.deadline_unix_ms()) + kGrantClockSkew < now) {
    return GrantError("expired");
  }
  if (absl::FromUnixMillis(claims.issued_unix_ms()) - kGrantClockSkew > now) {
    return GrantError("issued in the future");
  }
  return claims;
}

bool ReplayGuard::FirstUse(std::string_view request_id, uint64_t seq, absl::Time expires_at,
                           absl::Time now) {
  Shard& shard = shards_[std::hash<std::string_view>{}(request_id) % kShards];
  std::lock_guard lock(shard.mu);
  // Purge a few expired entries per call: bounded work, bounded memory.
  for (int i = 0; i < 8 && !shard.by_expiry.empty() && shard.by_expiry.begin()->first < now; ++i) {
    shard.seen.erase(shard.by_expiry.begin()->second);
    shard.by_expiry.erase(shard.by_expiry.begin());
  }
  auto key = std::make_pair(std::string(request_id), seq);
  if (shard.seen.contains(key)) return false;
  shard.seen.emplace(key, expires_at);
  shard.by_expiry.emplace(expires_at, std::move(key));
  return true;
}

size_t ReplayGuard::size() const {
  size_t total = 0;
  for (const Shard& shard : shards_) {
    std::lock_guard lock(shard.mu);
    total += shard.seen.size();
  }
  return total;
}

}  // namespace magic::broker
