// The pure parts of the secret store: master keys, names, seal/open.
#include "broker/secrets_store.h"
#include "common/errors.h"
#include "common/testing/status_testing.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <stdlib.h>
#include <unistd.h>

namespace magic::broker {
namespace {

constexpr std::string_view kHex =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "magic-secrets-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string File(std::string_view name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

void WriteFile(const std::string& path, std::string_view text, mode_t mode) {
  std::ofstream(path) << text;
  chmod(path.c_str(), mode);
}

MasterKey Key(std::string_view hex = kHex) {
  absl::StatusOr<MasterKey> key = MasterKey::FromHex(hex);
  EXPECT_OK(key);
  return std::move(*key);
}

TEST(MasterKeyTest, FromHexAcceptsOnly64HexCharacters) {
  EXPECT_OK(MasterKey::FromHex(kHex));
  EXPECT_OK(MasterKey::FromHex(
      "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F"));  // upper case
  for (std::string_view bad :
       {std::string_view(""), kHex.substr(0, 62), std::string_view("zz"),
        std::string_view("00 0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")}) {
    EXPECT_EQ(ErrorCodeOf(MasterKey::FromHex(bad).status()), ErrorCode::kE5002) << bad;
  }
  EXPECT_FALSE(MasterKey::FromHex(std::string(kHex) + "00").ok());
}

TEST(MasterKeyTest, IdIsStableAndDiffersBetweenKeys) {
  EXPECT_EQ(Key().id(), Key().id());
  EXPECT_EQ(Key().id().size(), 16u);
  EXPECT_NE(MasterKey::Random().id(), Key().id());
  EXPECT_EQ(Key().id().find("0001"), std::string::npos);  // not the key itself
}

TEST(MasterKeyTest, MovedFromKeyIsZeroed) {
  MasterKey a = Key();
  MasterKey b = std::move(a);
  for (size_t i = 0; i < kMasterKeyBytes; ++i)
    EXPECT_EQ(a.data()[i], 0);  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(b.data()[1], 1);
}

TEST(SecretNameTest, UpperSnakeCaseOnly) {
  for (const char* good : {"A", "STRIPE_API_KEY", "K8S_TOKEN_2", "X_"}) {
    EXPECT_TRUE(IsValidSecretName(good)) << good;
  }
  for (std::string bad : {"", "stripe", "1KEY", "_KEY", "KEY-1", "KEY 1", "KÉY", "KEY\n"}) {
    EXPECT_FALSE(IsValidSecretName(bad)) << bad;
  }
  EXPECT_TRUE(IsValidSecretName(std::string(128, 'A')));
  EXPECT_FALSE(IsValidSecretName(std::string(129, 'A')));
}

TEST(SealTest, RoundTripsAndUsesFreshNonces) {
  const MasterKey key = Key();
  const SealedSecret a = SealSecret(key, "STRIPE_API_KEY", "sk_live_123");
  const SealedSecret b = SealSecret(key, "STRIPE_API_KEY", "sk_live_123");
  EXPECT_NE(a.nonce, b.nonce);
  EXPECT_NE(a.ciphertext, b.ciphertext);
  EXPECT_EQ(a.ciphertext.find("sk_live"), std::string::npos);
  EXPECT_EQ(a.key_id, key.id());
  absl::StatusOr<std::string> value = OpenSecret(key, "STRIPE_API_KEY", a);
  ASSERT_OK(value);
  EXPECT_EQ(*value, "sk_live_123");
}

TEST(SealTest, CiphertextIsBoundToItsName) {
  const MasterKey key = Key();
  const SealedSecret sealed = SealSecret(key, "STRIPE_API_KEY", "sk_live_123");
  absl::StatusOr<std::string> value = OpenSecret(key, "SLACK_WEBHOOK_URL", sealed);
  ASSERT_FALSE(value.ok());
  EXPECT_EQ(ErrorCodeOf(value.status()), ErrorCode::kE3005);
  EXPECT_EQ(value.status().ToString().find("sk_live"), std::string::npos);
}

TEST(SealTest, AnotherMasterKeyOrATamperedRowFails) {
  const SealedSecret sealed = SealSecret(Key(), "API_KEY", "v");
  const MasterKey other = MasterKey::Random();
  absl::StatusOr<std::string> value = OpenSecret(other, "API_KEY", sealed);
  EXPECT_EQ(ErrorCodeOf(value.status()), ErrorCode::kE3005);
  EXPECT_NE(value.status().message().find("master key"), absl::string_view::npos);

  SealedSecret tampered = sealed;
  tampered.ciphertext[0] = static_cast<char>(tampered.ciphertext[0] ^ 1);
  EXPECT_EQ(ErrorCodeOf(OpenSecret(Key(), "API_KEY", tampered).status()), ErrorCode::kE3005);
  tampered = sealed;
  tampered.nonce.resize(3);
  EXPECT_EQ(ErrorCodeOf(OpenSecret(Key(), "API_KEY", tampered).status()), ErrorCode::kE3005);
  tampered = sealed;
  tampered.ciphertext.resize(4);
  EXPECT_EQ(ErrorCodeOf(OpenSecret(Key(), "API_KEY", tampered).status()), ErrorCode::kE3005);
}

TEST(LoadMasterKeyTest, FromAPrivateFileWithTrailingNewline) {
  TempDir dir;
  WriteFile(dir.File("key"), fmt::format("{}\n", kHex), 0600);
  absl::StatusOr<MasterKey> key = LoadMasterKey(dir.File("key"));
  ASSERT_OK(key);
  EXPECT_EQ(key->id(), Key().id());
  WriteFile(dir.File("ro"), kHex, 0400);
  EXPECT_OK(LoadMasterKey(dir.File("ro")));
}

TEST(LoadMasterKeyTest, RefusesFilesOthersCanRead) {
  TempDir dir;
  for (mode_t mode : {0644, 0640, 0604, 0660, 0601}) {
    WriteFile(dir.File("key"), kHex, mode);
    absl::StatusOr<MasterKey> key = LoadMasterKey(dir.File("key"));
    ASSERT_FALSE(key.ok()) << std::oct << mode;
    EXPECT_EQ(ErrorCodeOf(key.status()), ErrorCode::kE5002);
    EXPECT_NE(key.status().message().find("chmod 600"), absl::string_view::npos);
  }
}

TEST(LoadMasterKeyTest, MissingOrMalformedFileIsE5002) {
  TempDir dir;
  EXPECT_EQ(ErrorCodeOf(LoadMasterKey(dir.File("nope")).status()), ErrorCode::kE5002);
  WriteFile(dir.File("short"), "abcd\n", 0600);
  EXPECT_EQ(ErrorCodeOf(LoadMasterKey(dir.File("short")).status()), ErrorCode::kE5002);
  std::string raw(32, '\x01');
  WriteFile(dir.File("raw"), raw, 0600);
  EXPECT_EQ(ErrorCodeOf(LoadMasterKey(dir.File("raw")).status()), ErrorCode::kE5002);
  std::filesystem::create_directory(dir.File("adir"));
  chmod(dir.File("adir").c_str(), 0700);
  EXPECT_EQ(ErrorCodeOf(LoadMasterKey(dir.File("adir")).status()), ErrorCode::kE5002);
}

TEST(LoadMasterKeyTest, FromTheEnvironmentWhenNoFileIsGiven) {
  unsetenv("MAGIC_MASTER_KEY");
  EXPECT_EQ(ErrorCodeOf(LoadMasterKey("").status()), ErrorCode::kE5001);
  setenv("MAGIC_MASTER_KEY", std::string(kHex).c_str(), 1);
  absl::StatusOr<MasterKey> key = LoadMasterKey("");
  ASSERT_OK(key);
  EXPECT_EQ(key->id(), Key().id());
  setenv("MAGIC_MASTER_KEY", "nothex", 1);
  EXPECT_EQ(ErrorCodeOf(LoadMasterKey("").status()), ErrorCode::kE5002);
  unsetenv("MAGIC_MASTER_KEY");
}

TEST(GenerateMasterKeyFileTest, WritesAPrivateFileAndNeverOverwrites) {
  TempDir dir;
  const std::string path = dir.File("sub/master.key");
  absl::StatusOr<MasterKey> made = GenerateMasterKeyFile(path);
  ASSERT_OK(made);
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(std::filesystem::file_size(path), 65u);
  absl::StatusOr<MasterKey> loaded = LoadMasterKey(path);
  ASSERT_OK(loaded);
  EXPECT_EQ(loaded->id(), made->id());
  EXPECT_EQ(ErrorCodeOf(GenerateMasterKeyFile(path).status()), ErrorCode::kE1005);
  ASSERT_OK(LoadMasterKey(path));  // untouched
  EXPECT_EQ(LoadMasterKey(path)->id(), made->id());
}

}  // namespace
}  // namespace magic::broker
