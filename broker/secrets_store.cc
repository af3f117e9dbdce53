#include "broker/secrets_store.h"

#include "common/errors.h"
#include "common/status_macros.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <sodium.h>
#include <unistd.h>
#include <utility>

namespace magic::broker {
namespace {

constexpr std::string_view kSubkeyLabel = "magic.secret.v1/";
constexpr std::string_view kKeyIdLabel = "magic.master-key-id.v1";
constexpr int64_t kMigrationLock = 0x6d61676963'5345;  // "magicSE"
constexpr size_t kMaxKeyFileBytes = 256;

constexpr std::string_view kMigration = R"sql(
CREATE SCHEMA IF NOT EXISTS magic;
CREATE TABLE IF NOT EXISTS magic.secrets (
  name        text PRIMARY KEY CHECK (name ~ '^[A-Z][A-Z0-9_]{0,127}$'),
  nonce       bytea NOT NULL,
  ciphertext  bytea NOT NULL,
  key_id      text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);
)sql";

void EnsureSodium() {
  static const int ready = sodium_init();  // thread-safe, idempotent
  (void)ready;
}

const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// The per-secret key: BLAKE2b-256 keyed by the master key over label + name.
std::array<unsigned char, crypto_secretbox_KEYBYTES> Subkey(const MasterKey& key,
                                                            std::string_view name) {
  std::string message(kSubkeyLabel);
  message.append(name);
  std::array<unsigned char, crypto_secretbox_KEYBYTES> subkey{};
  crypto_generichash(subkey.data(), subkey.size(), Bytes(message), message.size(), key.data(),
                     kMasterKeyBytes);
  return subkey;
}

// The PostgreSQL Status as an E3005 (unless it already has an E-code).
absl::Status StoreError(const absl::Status& status, std::string_view what) {
  if (ErrorCodeOf(status)) return status;
  return MakeError(ErrorCode::kE3005,
                   fmt::format("secret store: {} failed: {}", what,
                               std::string_view(status.message().data(), status.message().size())));
}

absl::Status NotFound(std::string_view name) {
  return MakeError(ErrorCode::kE4003, fmt::format("no secret named {}", name), {{"secret", name}});
}

absl::Status CheckName(std::string_view name) {
  if (IsValidSecretName(name)) return absl::OkStatus();
  return MakeError(ErrorCode::kE1005,
                   "a secret name is an upper-case letter then up to 127 of [A-Z0-9_]",
                   {{"secret", name.substr(0, kMaxSecretNameBytes)}});
}

// Secret values travel as JSON strings: they must be valid UTF-8.
bool IsValidUtf8(std::string_view s) {
  static constexpr std::array<uint32_t, 4> kMinCodePoint = {0, 0x80, 0x800, 0x10000};
  size_t i = 0;
  while (i < s.size()) {
    const auto lead = static_cast<unsigned char>(s[i]);
    size_t extra = 0;
    if (lead >= 0xF0 && lead < 0xF8) {
      extra = 3;
    } else if (lead >= 0xE0 && lead < 0xF0) {
      extra = 2;
    } else if (lead >= 0xC0 && lead < 0xE0) {
      extra = 1;
    } else if (lead >= 0x80) {
      return false;
    }
    if (i + extra >= s.size() && extra > 0) return false;
    uint32_t cp = extra == 0 ? lead : (lead & (0x3Fu >> extra));
    for (size_t k = 1; k <= extra; ++k) {
      const auto next = static_cast<unsigned char>(s[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (next & 0x3Fu);
    }
    if (cp < kMinCodePoint[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += extra + 1;
  }
  return true;
}

}  // namespace

// ---------------------------------------------------------------------------
// MasterKey

MasterKey::MasterKey() { EnsureSodium(); }

MasterKey::MasterKey(MasterKey&& other) noexcept : bytes_(other.bytes_), id_(std::move(other.id_)) {
  sodium_memzero(other.bytes_.data(), other.bytes_.size());
}

MasterKey& MasterKey::operator=(MasterKey&& other) noexcept {
  if (this != &other) {
    bytes_ = other.bytes_;
    id_ = std::move(other.id_);
    sodium_memzero(other.bytes_.data(), other.bytes_.size());
  }
  return *this;
}

MasterKey::~MasterKey() { sodium_memzero(bytes_.data(), bytes_.size()); }

void MasterKey::ComputeId() {
  std::array<unsigned char, crypto_generichash_BYTES_MIN> digest{};
  crypto_generichash(digest.data(), digest.size(), Bytes(kKeyIdLabel), kKeyIdLabel.size(),
                     bytes_.data(), bytes_.size());
  std::array<char, 17> hex{};
  sodium_bin2hex(hex.data(), hex.size(), digest.data(), 8);
  id_ = hex.data();
}

absl::StatusOr<MasterKey> MasterKey::FromHex(std::string_view hex) {
  MasterKey key;
  size_t len = 0;
  const char* end = nullptr;
  if (hex.size() != 2 * kMasterKeyBytes ||
      sodium_hex2bin(key.bytes_.data(), key.bytes_.size(), hex.data(), hex.size(), nullptr, &len,
                     &end) != 0 ||
      len != kMasterKeyBytes || end != hex.data() + hex.size()) {
    return MakeError(ErrorCode::kE5002, "a master key is 64 hex characters (32 bytes)",
                     {{"length", hex.size()}});
  }
  key.ComputeId();
  return key;
}

MasterKey MasterKey::Random() {
  MasterKey key;
  randombytes_buf(key.bytes_.data(), key.bytes_.size());
  key.ComputeId();
  return key;
}

absl::StatusOr<MasterKey> LoadMasterKey(const std::string& path) {
  if (path.empty()) {
    const char* env = std::getenv("MAGIC_MASTER_KEY");
    if (env == nullptr || *env == '\0') {
      return MakeError(ErrorCode::kE5001,
                       "no master key: give a key file (--master-key-file, "
                       "MAGIC_MASTER_KEY_FILE) or MAGIC_MASTER_KEY (64 hex characters)");
    }
    return MasterKey::FromHex(env);
  }
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return MakeError(ErrorCode::kE5002, fmt::format("cannot open master key file {}", path),
                     {{"path", path}, {"errno", errno}});
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return MakeError(ErrorCode::kE5002, fmt::format("master key {} is not a file", path),
                     {{"path", path}});
  }
  if ((st.st_mode & 077) != 0) {
    close(fd);
    return MakeError(ErrorCode::kE5002,
                     fmt::format("master key file {} is accessible by group or others (mode "
                                 "{:04o}); run `chmod 600 {}`",
                                 path, st.st_mode & 07777, path),
                     {{"path", path}, {"mode", fmt::format("{:04o}", st.st_mode & 07777)}});
  }
  std::array<char, kMaxKeyFileBytes> buffer{};
  const ssize_t n = read(fd, buffer.data(), buffer.size());
  close(fd);
  std::string_view text(buffer.data(), n > 0 ? static_cast<size_t>(n) : 0);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.remove_suffix(1);
  }
  absl::StatusOr<MasterKey> key = MasterKey::FromHex(text);
  sodium_memzero(buffer.data(), buffer.size());
  if (!key.ok()) {
    return MakeError(ErrorCode::kE5002,
                     fmt::format("master key file {} must hold 64 hex characters", path),
                     {{"path", path}});
  }
  return key;
}

absl::StatusOr<MasterKey> GenerateMasterKeyFile(const std::string& path) {
  std::error_code ec;
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return MakeError(ErrorCode::kE1005,
                     errno == EEXIST
                         ? fmt::format("{} exists; refusing to overwrite a master key", path)
                         : fmt::format("cannot create master key file {}", path),
                     {{"path", path}, {"errno", errno}});
  }
  MasterKey key = MasterKey::Random();
  std::array<char, 2 * kMasterKeyBytes + 2> hex{};
  sodium_bin2hex(hex.data(), hex.size(), key.data(), kMasterKeyBytes);
  hex[2 * kMasterKeyBytes] = '\n';
  const bool ok = fchmod(fd, 0600) == 0 &&
                  write(fd, hex.data(), 2 * kMasterKeyBytes + 1) ==
                      static_cast<ssize_t>(2 * kMasterKeyBytes + 1) &&
                  fsync(fd) == 0;
  close(fd);
  sodium_memzero(hex.data(), hex.size());
  if (!ok) {
    unlink(path.c_str());
    return MakeError(ErrorCode::kE3005, fmt::format("cannot write master key file {}", path),
                     {{"path", path}});
  }
  return key;
}

bool IsValidSecretName(std::string_view name) {
  if (name.empty() || name.size() > kMaxSecretNameBytes) return false;
  if (name[0] < 'A' || name[0] > 'Z') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// ---------------------------------------------------------------------------
// Crypto

SealedSecret SealSecret(const MasterKey& key, std::string_view name, std::string_view value) {
  EnsureSodium();
  SealedSecret sealed;
  sealed.key_id = key.id();
  sealed.nonce.resize(crypto_secretbox_NONCEBYTES);
  randombytes_buf(sealed.nonce.data(), sealed.nonce.size());
  sealed.ciphertext.resize(value.size() + crypto_secretbox_MACBYTES);
  auto subkey = Subkey(key, name);
  crypto_secretbox_easy(reinterpret_cast<unsigned char*>(sealed.ciphertext.data()), Bytes(value),
                        value.size(), Bytes(sealed.nonce), subkey.data());
  sodium_memzero(subkey.data(), subkey.size());
  return sealed;
}

absl::StatusOr<std::string> OpenSecret(const MasterKey& key, std::string_view name,
                                       const SealedSecret& sealed) {
  EnsureSodium();
  if (sealed.key_id != key.id()) {
    return MakeError(ErrorCode::kE3005,
                     fmt::format("secret {} was encrypted with master key {}, but the loaded key "
                                 "is {}; load the right key",
                                 name, sealed.key_id, key.id()),
                     {{"secret", name}, {"key_id", sealed.key_id}, {"loaded_key_id", key.id()}});
  }
  if (sealed.nonce.size() != crypto_secretbox_NONCEBYTES ||
      sealed.ciphertext.size() < crypto_secretbox_MACBYTES) {
    return MakeError(ErrorCode::kE3005, fmt::format("secret {} is corrupt", name),
                     {{"secret", name}});
  }
  std::string value(sealed.ciphertext.size() - crypto_secretbox_MACBYTES, '\0');
  auto subkey = Subkey(key, name);
  const int rc = crypto_secretbox_open_easy(reinterpret_cast<unsigned char*>(value.data()),
                                            Bytes(sealed.ciphertext), sealed.ciphertext.size(),
                                            Bytes(sealed.nonce), subkey.data());
  sodium_memzero(subkey.data(), subkey.size());
  if (rc != 0) {
    sodium_memzero(value.data(), value.size());
    return MakeError(ErrorCode::kE3005,
                     fmt::format("secret {} does not decrypt: the row was altered or copied from "
                                 "another name",
                                 name),
                     {{"secret", name}});
  }
  return value;
}

// ---------------------------------------------------------------------------
// Store

absl::Status MigrateSecrets(pg::PgPool& pool) {
  absl::Status s = pool.WithTransaction([](pqxx::work& tx) -> absl::Status {
    tx.exec_params("SELECT pg_advisory_xact_lock($1)", kMigrationLock);
    tx.exec(std::string(kMigration));
    return absl::OkStatus();
  });
  return s.ok() ? s : StoreError(s, "migration");
}

SecretStore::SecretStore(pg::PgPool& pool, MasterKey key) : pool_(pool), key_(std::move(key)) {}

absl::Status SecretStore::Set(std::string_view name, std::string_view value) {
  MAGIC_RETURN_IF_ERROR(CheckName(name));
  if (value.empty() || value.size() > kMaxSecretValueBytes) {
    return MakeError(ErrorCode::kE1005, "a secret value is 1 byte to 64 KiB",
                     {{"secret", name}, {"bytes", value.size()}});
  }
  if (!IsValidUtf8(value)) {
    return MakeError(ErrorCode::kE1005, "a secret value must be UTF-8 text", {{"secret", name}});
  }
  const SealedSecret sealed = SealSecret(key_, name, value);
  absl::Status s = pool_.WithConnection([&](pqxx::connection& conn) -> absl::Status {
    pqxx::nontransaction tx(conn);
    tx.exec_params(
        "INSERT INTO magic.secrets (name, nonce, ciphertext, key_id) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (name) DO UPDATE SET nonce = EXCLUDED.nonce, "
        "ciphertext = EXCLUDED.ciphertext, key_id = EXCLUDED.key_id, updated_at = now()",
        std::string(name), pqxx::binarystring(sealed.nonce.data(), sealed.nonce.size()),
        pqxx::binarystring(sealed.ciphertext.data(), sealed.ciphertext.size()), sealed.key_id);
    return absl::OkStatus();
  });
  return s.ok() ? s : StoreError(s, "set");
}

absl::StatusOr<std::string> SecretStore::Get(std::string_view name) {
  MAGIC_RETURN_IF_ERROR(CheckName(name));
  absl::StatusOr<std::optional<SealedSecret>> row = pool_.WithConnection(
      [&](pqxx::connection& conn) -> absl::StatusOr<std::optional<SealedSecret>> {
        pqxx::nontransaction tx(conn);
        const pqxx::result r =
            tx.exec_params("SELECT nonce, ciphertext, key_id FROM magic.secrets WHERE name = $1",
                           std::string(name));
        if (r.empty()) return std::nullopt;
        return SealedSecret{.nonce = pqxx::binarystring(r[0][0]).str(),
                            .ciphertext = pqxx::binarystring(r[0][1]).str(),
                            .key_id = r[0][2].as<std::string>()};
      });
  if (!row.ok()) return StoreError(row.status(), "get");
  if (!row->has_value()) return NotFound(name);
  return OpenSecret(key_, name, **row);
}

absl::StatusOr<std::vector<SecretInfo>> SecretStore::List() {
  absl::StatusOr<std::vector<SecretInfo>> list =
      pool_.WithConnection([](pqxx::connection& conn) -> absl::StatusOr<std::vector<SecretInfo>> {
        pqxx::nontransaction tx(conn);
        const pqxx::result r = tx.exec(
            "SELECT name, (extract(epoch FROM updated_at) * 1000000)::bigint "
            "FROM magic.secrets ORDER BY name");
        std::vector<SecretInfo> out;
        out.reserve(r.size());
        for (const pqxx::row& row : r) {
          out.push_back({row[0].as<std::string>(), absl::FromUnixMicros(row[1].as<int64_t>())});
        }
        return out;
      });
  if (!list.ok()) return StoreError(list.status(), "list");
  return list;
}

absl::Status SecretStore::Remove(std::string_view name) {
  MAGIC_RETURN_IF_ERROR(CheckName(name));
  absl::StatusOr<bool> removed =
      pool_.WithConnection([&](pqxx::connection& conn) -> absl::StatusOr<bool> {
        pqxx::nontransaction tx(conn);
        const pqxx::result r =
            tx.exec_params("DELETE FROM magic.secrets WHERE name = $1", std::string(name));
        return r.affected_rows() > 0;
      });
  if (!removed.ok()) return StoreError(removed.status(), "remove");
  if (!*removed) return NotFound(name);
  return absl::OkStatus();
}

}  // namespace magic::broker
