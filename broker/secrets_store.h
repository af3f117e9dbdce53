// Secrets encrypted at rest in PostgreSQL (`magic.secrets`), for the
// secrets:read capability and `magic secrets set|list|rm`.
//
//   MAGIC_ASSIGN_OR_RETURN(MasterKey key, LoadMasterKey("/etc/magic/master.key"));
//   MAGIC_RETURN_IF_ERROR(MigrateSecrets(pool));
//   SecretStore store(pool, std::move(key));
//   MAGIC_RETURN_IF_ERROR(store.Set("STRIPE_API_KEY", "sk_live_..."));
//   MAGIC_ASSIGN_OR_RETURN(std::string value, store.Get("STRIPE_API_KEY"));
//
// Encryption: libsodium crypto_secretbox_easy (XSalsa20-Poly1305) with a
// fresh random nonce per write, under a per-secret key
//   subkey = BLAKE2b-256(key = master key, message = "magic.secret.v1/" + name)
// so a row copied under another name fails to decrypt (its ciphertext is
// bound to its name). Each row also stores key_id, a fingerprint of the
// master key (BLAKE2b of a fixed label, keyed by it; it reveals nothing
// about the key), so that "wrong master key" is told apart from "tampered
// row". The plaintext is never stored, logged or put in a Status.
//
// Master key: 32 random bytes written as 64 hex characters (a trailing
// newline is fine) in a file that only its owner may read (mode 0600 or
// stricter; anything readable by group or others is refused), or the hex
// in $MAGIC_MASTER_KEY. `magic secrets` and `magic dev` create one with
// GenerateMasterKeyFile().
//
// Error codes: E1005 bad name or value (names are [A-Z][A-Z0-9_]{0,127},
// values 1 byte to 64 KiB), E4003 no such secret (details {"secret"}),
// E3005 PostgreSQL unavailable or a row that does not decrypt, E5001 no
// master key configured, E5002 a master key file that is unusable.
//
// Thread-safety: SecretStore is thread-safe (PgPool is); MasterKey is an
// immutable value once made.
#pragma once

#include "common/postgres.h"

#include <absl/status/status.h>
#include <absl/status/statusor.h>
#include <absl/time/time.h>

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace magic::broker {

inline constexpr size_t kMasterKeyBytes = 32;
inline constexpr size_t kMaxSecretNameBytes = 128;
inline constexpr size_t kMaxSecretValueBytes = 64 * 1024;

// 32 key bytes; zeroed when destroyed or moved from. Move-only so that
// copies do not spread through memory.
class MasterKey {
 public:
  // `hex`: exactly 64 hex characters. E5002 otherwise.
  static absl::StatusOr<MasterKey> FromHex(std::string_view hex);
  static MasterKey Random();

  MasterKey(MasterKey&& other) noexcept;
  MasterKey& operator=(MasterKey&& other) noexcept;
  MasterKey(const MasterKey&) = delete;
  MasterKey& operator=(const MasterKey&) = delete;
  ~MasterKey();

  const unsigned char* data() const { return bytes_.data(); }
  // 16 hex characters identifying the key (not secret).
  const std::string& id() const { return id_; }

 private:
  MasterKey();
  void ComputeId();

  std::array<unsigned char, kMasterKeyBytes> bytes_{};
  std::string id_;
};

// The key from `path` if non-empty, else from $MAGIC_MASTER_KEY (hex).
// E5001 when neither is given; E5002 when the file is missing, unreadable,
// readable by group/others, or not 64 hex characters.
absl::StatusOr<MasterKey> LoadMasterKey(const std::string& path);

// Writes a new random key to `path` (created with mode 0600; refuses to
// overwrite an existing file: E1005). Returns it.
absl::StatusOr<MasterKey> GenerateMasterKeyFile(const std::string& path);

// [A-Z][A-Z0-9_]{0,127}
bool IsValidSecretName(std::string_view name);

// The encrypted form of one secret (what a row holds).
struct SealedSecret {
  std::string nonce;       // crypto_secretbox_NONCEBYTES
  std::string ciphertext;  // value + crypto_secretbox_MACBYTES
  std::string key_id;      // MasterKey::id()
};
// Pure crypto, exposed for tests. Open(): E3005 when the ciphertext does
// not authenticate under (key, name) or was made with another key.
SealedSecret SealSecret(const MasterKey& key, std::string_view name, std::string_view value);
absl::StatusOr<std::string> OpenSecret(const MasterKey& key, std::string_view name,
                                       const SealedSecret& sealed);

// Creates schema `magic` and table magic.secrets if missing (idempotent,
// safe to run concurrently).
absl::Status MigrateSecrets(pg::PgPool& pool);

struct SecretInfo {
  std::string name;
  absl::Time updated_at;
};

class SecretStore {
 public:
  // `pool` must outlive the store.
  SecretStore(pg::PgPool& pool, MasterKey key);

  // Creates or replaces.
  absl::Status Set(std::string_view name, std::string_view value);
  // E4003 when missing.
  absl::StatusOr<std::string> Get(std::string_view name);
  // Names and update times, by name; never values.
  absl::StatusOr<std::vector<SecretInfo>> List();
  // E4003 when missing.
  absl::Status Remove(std::string_view name);

  const MasterKey& key() const { return key_; }

 private:
  pg::PgPool& pool_;
  const MasterKey key_;
};

}  // namespace magic::broker
