// Grants: the gateway's signed statement that one invocation may make
// capability calls until its deadline (DESIGN.md "Identity and trust").
//
//   // gateway
//   MAGIC_ASSIGN_OR_RETURN(GrantSigner signer, GrantSigner::FromSecretKeyFile(path));
//   job.set_grant(signer.Sign(job, absl::Now()));
//   // broker
//   MAGIC_ASSIGN_OR_RETURN(GrantVerifier verifier, GrantVerifier::FromPublicKeyFiles({path}));
//   MAGIC_ASSIGN_OR_RETURN(magic::v1::GrantClaims claims, verifier.Verify(request.grant(), now));
//   if (!replays.FirstUse(claims.request_id(), request.seq(), expiry)) -> E2005
//
// Ed25519 (libsodium crypto_sign_detached) over the serialized GrantClaims.
// Key files hold one line of hex: the 32-byte seed (secret, mode 0600) or
// the 32-byte public key. The verifier accepts several public keys (key
// rotation); claims name theirs by key_id. Every failure is E2005 and says
// which check failed, never why in more detail than a caller can use.
#pragma once

#include "magic/v1/broker.pb.h"
#include "magic/v1/invocation.pb.h"

#include <absl/status/status.h>
#include <absl/status/statusor.h>
#include <absl/time/time.h>

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace magic::broker {

inline constexpr absl::Duration kGrantClockSkew = absl::Seconds(30);

struct GrantKeyPair {
  std::string seed;        // 32 bytes
  std::string public_key;  // 32 bytes
};

absl::StatusOr<GrantKeyPair> GenerateGrantKeyPair();
// Writes hex files: the seed with mode 0600, the public key with 0644.
absl::Status WriteGrantKeyFiles(const GrantKeyPair& pair, const std::string& secret_path,
                                const std::string& public_path);
// Hex of the first 8 bytes of the public key.
std::string GrantKeyId(std::string_view public_key);

class GrantSigner {
 public:
  static absl::StatusOr<GrantSigner> FromSeed(std::string_view seed);
  // Refuses a file readable by group or others.
  static absl::StatusOr<GrantSigner> FromSecretKeyFile(const std::string& path);
  // A service's `grant.signing_key_file`: the signer, or nullopt (with a
  // warning logged) when `path` is empty: jobs then carry no grant and the
  // broker refuses every capability call (E2005).
  static absl::StatusOr<std::optional<GrantSigner>> FromConfiguredFile(const std::string& path);

  // A serialized magic.v1.Grant for `job` (request id, controller,
  // version, contract digest, deadline) with a fresh nonce.
  std::string Sign(const magic::v1::InvocationJob& job, absl::Time now) const;

  const std::string& key_id() const { return key_id_; }
  const std::string& public_key() const { return public_key_; }

 private:
  GrantSigner() = default;
  std::string secret_key_;  // libsodium's 64-byte form
  std::string public_key_;
  std::string key_id_;
};

class GrantVerifier {
 public:
  static absl::StatusOr<GrantVerifier> FromPublicKeys(const std::vector<std::string>& keys);
  static absl::StatusOr<GrantVerifier> FromPublicKeyFiles(const std::vector<std::string>& paths);

  // The claims of a well-signed grant that is not expired (deadline +
  // skew) and not issued in the future (beyond the skew). E2005 otherwise.
  absl::StatusOr<magic::v1::GrantClaims> Verify(std::string_view grant, absl::Time now) const;

 private:
  GrantVerifier() = default;
  std::map<std::string, std::string, std::less<>> keys_;  // key id -> public key
};

// Remembers (request id, call sequence) pairs until their grant expires so
// that each is accepted once. Thread-safe; memory is bounded by the calls
// of unexpired grants (expired entries are purged as new ones arrive).
class ReplayGuard {
 public:
  // False when this pair was seen before (a replay).
  bool FirstUse(std::string_view request_id, uint64_t seq, absl::Time expires_at, absl::Time now);
  size_t size() const;

 private:
  struct Shard {
    mutable std::mutex mu;
    std::map<std::pair<std::string, uint64_t>, absl::Time, std::less<>> seen;
    std::multimap<absl::Time, std::pair<std::string, uint64_t>> by_expiry;
  };
  static constexpr size_t kShards = 16;
  std::array<Shard, kShards> shards_;
};

}  // namespace magic::broker
