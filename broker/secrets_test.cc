// SecretStore and SecretsBackend against a real PostgreSQL
// (scripts/services): needs MAGIC_TEST_POSTGRES_URL and fails without it.
// Secret names carry the run id, so reruns and other users never collide.
#include "broker/secrets_backend.h"
#include "broker/secrets_store.h"
#include "common/errors.h"
#include "common/testing/status_testing.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <sodium.h>
#include <thread>
#include <unistd.h>

namespace magic::broker {
namespace {

using contracts::Capability;
using contracts::CapabilityKind;
using nlohmann::json;

std::string RunId() {
  static const std::string id = fmt::format(
      "{}_{}", getpid(), std::chrono::steady_clock::now().time_since_epoch().count() % 1000000007);
  return id;
}

std::string Hex(std::string_view bytes) {
  std::string out(bytes.size() * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                 bytes.size());
  out.pop_back();
  return out;
}

class SecretsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* url = std::getenv("MAGIC_TEST_POSTGRES_URL");
    ASSERT_TRUE(url != nullptr && *url != '\0')
        << "set MAGIC_TEST_POSTGRES_URL (source /tmp/magic-services/env)";
    absl::StatusOr<std::unique_ptr<pg::PgPool>> pool = pg::PgPool::Create(url, 4);
    ASSERT_OK(pool);
    pool_ = std::move(*pool);
    ASSERT_OK(MigrateSecrets(*pool_));
    store_ = std::make_unique<SecretStore>(*pool_, MasterKey::Random());
  }

  void TearDown() override {
    if (pool_ == nullptr) return;
    // Best effort: drop this run's rows.
    (void)pool_->WithConnection([](pqxx::connection& conn) -> absl::Status {
      pqxx::nontransaction tx(conn);
      tx.exec_params("DELETE FROM magic.secrets WHERE name LIKE $1", "T" + RunId() + "%");
      return absl::OkStatus();
    });
  }

  static std::string Name(std::string_view base) { return fmt::format("T{}_{}", RunId(), base); }

  absl::Status Sql(const std::string& sql, const std::string& a, const std::string& b = "") {
    return pool_->WithConnection([&](pqxx::connection& conn) -> absl::Status {
      pqxx::nontransaction tx(conn);
      if (b.empty()) {
        tx.exec_params(sql, a);
      } else {
        tx.exec_params(sql, a, b);
      }
      return absl::OkStatus();
    });
  }

  std::unique_ptr<pg::PgPool> pool_;
  std::unique_ptr<SecretStore> store_;
};

TEST_F(SecretsTest, SetGetListRemove) {
  const std::string name = Name("STRIPE_API_KEY");
  ASSERT_OK(store_->Set(name, "sk_live_first"));
  absl::StatusOr<std::string> value = store_->Get(name);
  ASSERT_OK(value);
  EXPECT_EQ(*value, "sk_live_first");

  absl::StatusOr<std::vector<SecretInfo>> list = store_->List();
  ASSERT_OK(list);
  auto it =
      std::find_if(list->begin(), list->end(), [&](const SecretInfo& s) { return s.name == name; });
  ASSERT_NE(it, list->end());
  EXPECT_LT(absl::AbsDuration(absl::Now() - it->updated_at), absl::Minutes(5));

  ASSERT_OK(store_->Set(name, "sk_live_second"));  // replaces
  EXPECT_EQ(*store_->Get(name), "sk_live_second");

  ASSERT_OK(store_->Remove(name));
  EXPECT_EQ(ErrorCodeOf(store_->Get(name).status()), ErrorCode::kE4003);
  const absl::Status again = store_->Remove(name);
  EXPECT_EQ(ErrorCodeOf(again), ErrorCode::kE4003);
  EXPECT_EQ(ErrorFromStatus(again).details, json({{"secret", name}}));
}

TEST_F(SecretsTest, BadNamesAndValuesAreE1005) {
  for (const std::string& name : {std::string("lower"), std::string(""), std::string("A-B")}) {
    EXPECT_EQ(ErrorCodeOf(store_->Set(name, "v")), ErrorCode::kE1005) << name;
    EXPECT_EQ(ErrorCodeOf(store_->Get(name).status()), ErrorCode::kE1005) << name;
    EXPECT_EQ(ErrorCodeOf(store_->Remove(name)), ErrorCode::kE1005) << name;
  }
  EXPECT_EQ(ErrorCodeOf(store_->Set(Name("EMPTY"), "")), ErrorCode::kE1005);
  EXPECT_EQ(ErrorCodeOf(store_->Set(Name("BIG"), std::string(64 * 1024 + 1, 'x'))),
            ErrorCode::kE1005);
  EXPECT_EQ(ErrorCodeOf(store_->Set(Name("BINARY"), std::string("\xff\xfe", 2))),
            ErrorCode::kE1005);
  EXPECT_OK(store_->Set(Name("MAX"), std::string(64 * 1024, 'x')));
  EXPECT_OK(store_->Set(Name("UTF8"), "pässwörd ✓"));
  EXPECT_EQ(*store_->Get(Name("UTF8")), "pässwörd ✓");
}

TEST_F(SecretsTest, AnotherMasterKeyCannotDecrypt) {
  const std::string name = Name("DB_PASSWORD");
  ASSERT_OK(store_->Set(name, "hunter2"));
  SecretStore other(*pool_, MasterKey::Random());
  absl::StatusOr<std::string> value = other.Get(name);
  ASSERT_FALSE(value.ok());
  EXPECT_EQ(ErrorCodeOf(value.status()), ErrorCode::kE3005);
  EXPECT_NE(value.status().message().find("master key"), absl::string_view::npos);
  EXPECT_EQ(value.status().ToString().find("hunter2"), std::string::npos);
}

TEST_F(SecretsTest, ARowCopiedUnderAnotherNameDoesNotDecrypt) {
  const std::string source = Name("SOURCE"), copy = Name("COPY");
  ASSERT_OK(store_->Set(source, "the-source-value"));
  ASSERT_OK(
      Sql("INSERT INTO magic.secrets (name, nonce, ciphertext, key_id) "
          "SELECT $2, nonce, ciphertext, key_id FROM magic.secrets WHERE name = $1",
          source, copy));
  absl::StatusOr<std::string> value = store_->Get(copy);
  ASSERT_FALSE(value.ok());
  EXPECT_EQ(ErrorCodeOf(value.status()), ErrorCode::kE3005);
  EXPECT_EQ(value.status().ToString().find("the-source-value"), std::string::npos);
  EXPECT_EQ(*store_->Get(source), "the-source-value");
}

TEST_F(SecretsTest, ThePlaintextNeverAppearsInTheTable) {
  const std::string name = Name("PLAIN");
  const std::string value = "very-recognizable-plaintext-0123456789";
  ASSERT_OK(store_->Set(name, value));
  absl::StatusOr<std::vector<std::string>> row = pool_->WithConnection(
      [&](pqxx::connection& conn) -> absl::StatusOr<std::vector<std::string>> {
        pqxx::nontransaction tx(conn);
        const pqxx::result r = tx.exec_params(
            "SELECT nonce, ciphertext, t::text FROM magic.secrets t WHERE name = $1", name);
        if (r.size() != 1) return absl::NotFoundError("row");
        return std::vector<std::string>{pqxx::binarystring(r[0][0]).str(),
                                        pqxx::binarystring(r[0][1]).str(),
                                        r[0][2].as<std::string>()};
      });
  ASSERT_OK(row);
  for (const std::string& column : *row) {
    EXPECT_EQ(column.find(value), std::string::npos);
    EXPECT_EQ(column.find(value.substr(0, 12)), std::string::npos);
    EXPECT_EQ(column.find(Hex(value.substr(0, 12))), std::string::npos);
  }
  EXPECT_EQ((*row)[1].size(), value.size() + crypto_secretbox_MACBYTES);
}

TEST_F(SecretsTest, MigrationIsIdempotentAndConcurrent) {
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      if (!MigrateSecrets(*pool_).ok()) ++failures;
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
}

class SecretsBackendTest : public SecretsTest {
 protected:
  void SetUp() override {
    SecretsTest::SetUp();
    if (HasFatalFailure()) return;
    declared_.kind = CapabilityKind::kSecretsRead;
    declared_.keys = {Name("STRIPE_API_KEY"), Name("NEVER_SET")};
    backend_ = std::make_unique<SecretsBackend>(*store_);
  }

  absl::StatusOr<json> Get(const json& params,
                           absl::Time deadline = absl::Now() + absl::Seconds(5)) {
    audit_ = json::object();
    const CallContext ctx{.request_id = "req_secrets",
                          .controller = "InvoiceSync",
                          .kind = CapabilityKind::kSecretsRead,
                          .declared = &declared_,
                          .deadline = deadline};
    return backend_->Call(ctx, "get", params, audit_);
  }

  Capability declared_;
  std::unique_ptr<SecretsBackend> backend_;
  json audit_;
};

TEST_F(SecretsBackendTest, ReturnsADeclaredSecretAndAuditsOnlyItsName) {
  ASSERT_OK(store_->Set(Name("STRIPE_API_KEY"), "sk_test_backend"));
  absl::StatusOr<json> out = Get({{"key", Name("STRIPE_API_KEY")}});
  ASSERT_OK(out);
  EXPECT_EQ(*out, json("sk_test_backend"));
  EXPECT_EQ(audit_, json({{"key_name", Name("STRIPE_API_KEY")}}));
  EXPECT_EQ(audit_.dump().find("sk_test"), std::string::npos);
}

TEST_F(SecretsBackendTest, UndeclaredKeyIsE2003EvenWhenItExists) {
  ASSERT_OK(store_->Set(Name("OTHER"), "other-value"));
  absl::StatusOr<json> out = Get({{"key", Name("OTHER")}});
  EXPECT_EQ(ErrorCodeOf(out.status()), ErrorCode::kE2003);
  EXPECT_EQ(audit_, json({{"key_name", Name("OTHER")}}));
  EXPECT_EQ(out.status().ToString().find("other-value"), std::string::npos);
}

TEST_F(SecretsBackendTest, DeclaredButNeverSetIsE4003) {
  absl::StatusOr<json> out = Get({{"key", Name("NEVER_SET")}});
  EXPECT_EQ(ErrorCodeOf(out.status()), ErrorCode::kE4003);
  EXPECT_EQ(ErrorFromStatus(out.status()).details, json({{"secret", Name("NEVER_SET")}}));
}

TEST_F(SecretsBackendTest, MalformedCallsAreE1005) {
  EXPECT_EQ(ErrorCodeOf(Get(json::object()).status()), ErrorCode::kE1005);
  EXPECT_EQ(ErrorCodeOf(Get({{"key", 5}}).status()), ErrorCode::kE1005);
  EXPECT_EQ(ErrorCodeOf(Get({{"key", "lower_case"}}).status()), ErrorCode::kE1005);
  EXPECT_EQ(ErrorCodeOf(Get(json::array()).status()), ErrorCode::kE1005);
  json audit;
  const CallContext ctx{.kind = CapabilityKind::kSecretsRead, .declared = &declared_};
  EXPECT_EQ(ErrorCodeOf(backend_->Call(ctx, "list", json::object(), audit).status()),
            ErrorCode::kE1005);
}

TEST_F(SecretsBackendTest, DeadlinePassedIsE3001) {
  EXPECT_EQ(
      ErrorCodeOf(Get({{"key", Name("STRIPE_API_KEY")}}, absl::Now() - absl::Seconds(1)).status()),
      ErrorCode::kE3001);
}

}  // namespace
}  // namespace magic::broker
