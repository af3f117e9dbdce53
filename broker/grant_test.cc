#include "broker/grant.h"

#include "common/errors.h"
#include "common/testing/status_testing.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace magic::broker {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

magic::v1::InvocationJob Job() {
  magic::v1::InvocationJob job;
  job.set_request_id("req_grant_1");
  job.set_controller("InvoiceSync");
  job.set_version("1.2.0");
  job.set_contract_digest("abc123");
  job.set_deadline_unix_ms(absl::ToUnixMillis(kNow + absl::Seconds(30)));
  return job;
}

struct Keys {
  GrantSigner signer;
  GrantVerifier verifier;
};

Keys MakeKeys() {
  GrantKeyPair pair = GenerateGrantKeyPair().value();
  return {GrantSigner::FromSeed(pair.seed).value(),
          GrantVerifier::FromPublicKeys({pair.public_key}).value()};
}

bool IsE2005(const absl::Status& status) { return ErrorCodeOf(status) == ErrorCode::kE2005; }

TEST(GrantTest, SignedGrantVerifiesWithItsClaims) {
  Keys keys = MakeKeys();
  const std::string grant = keys.signer.Sign(Job(), kNow);
  absl::StatusOr<magic::v1::GrantClaims> claims = keys.verifier.Verify(grant, kNow);
  ASSERT_OK(claims);
  EXPECT_EQ(claims->request_id(), "req_grant_1");
  EXPECT_EQ(claims->controller(), "InvoiceSync");
  EXPECT_EQ(claims->version(), "1.2.0");
  EXPECT_EQ(claims->contract_digest(), "abc123");
  EXPECT_EQ(claims->nonce().size(), 16u);
  EXPECT_EQ(claims->key_id(), keys.signer.key_id());
}

TEST(GrantTest, TwoGrantsForOneJobHaveDifferentNonces) {
  Keys keys = MakeKeys();
  EXPECT_NE(keys.signer.Sign(Job(), kNow), keys.signer.Sign(Job(), kNow));
}

TEST(GrantTest, ExpiryAllowsThirtySecondsOfSkew) {
  Keys keys = MakeKeys();
  const std::string grant = keys.signer.Sign(Job(), kNow);
  EXPECT_OK(keys.verifier.Verify(grant, kNow + absl::Seconds(59)));
  EXPECT_TRUE(IsE2005(keys.verifier.Verify(grant, kNow + absl::Seconds(61)).status()));
}

TEST(GrantTest, GrantFromTheFutureIsRefused) {
  Keys keys = MakeKeys();
  const std::string grant = keys.signer.Sign(Job(), kNow + absl::Minutes(5));
  EXPECT_TRUE(IsE2005(keys.verifier.Verify(grant, kNow).status()));
  EXPECT_OK(keys.verifier.Verify(keys.signer.Sign(Job(), kNow + absl::Seconds(20)), kNow));
}

TEST(GrantTest, TamperedClaimsAreRefused) {
  Keys keys = MakeKeys();
  magic::v1::Grant grant;
  ASSERT_TRUE(grant.ParseFromString(keys.signer.Sign(Job(), kNow)));
  magic::v1::GrantClaims claims;
  ASSERT_TRUE(claims.ParseFromString(grant.claims()));
  claims.set_controller("AdminTool");
  grant.set_claims(claims.SerializeAsString());
  absl::Status status = keys.verifier.Verify(grant.SerializeAsString(), kNow).status();
  EXPECT_TRUE(IsE2005(status)) << status;
  EXPECT_NE(std::string(status.message()).find("bad signature"), std::string::npos);
}

TEST(GrantTest, OtherKeyAndGarbageAreRefused) {
  Keys keys = MakeKeys();
  Keys other = MakeKeys();
  EXPECT_TRUE(IsE2005(other.verifier.Verify(keys.signer.Sign(Job(), kNow), kNow).status()));
  EXPECT_TRUE(IsE2005(keys.verifier.Verify("", kNow).status()));
  EXPECT_TRUE(IsE2005(keys.verifier
                          .Verify("\x0a\x03"
                                  "abc",
                                  kNow)
                          .status()));
  EXPECT_TRUE(IsE2005(keys.verifier.Verify(std::string(10'000, 'x'), kNow).status()));
}

TEST(GrantTest, VerifierAcceptsEveryConfiguredKey) {
  GrantKeyPair a = GenerateGrantKeyPair().value();
  GrantKeyPair b = GenerateGrantKeyPair().value();
  GrantVerifier verifier = GrantVerifier::FromPublicKeys({a.public_key, b.public_key}).value();
  EXPECT_OK(verifier.Verify(GrantSigner::FromSeed(a.seed)->Sign(Job(), kNow), kNow));
  EXPECT_OK(verifier.Verify(GrantSigner::FromSeed(b.seed)->Sign(Job(), kNow), kNow));
}

TEST(GrantTest, KeyFilesRoundTripAndSecretFileMustBePrivate) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("grant_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  GrantKeyPair pair = GenerateGrantKeyPair().value();
  const std::string secret = (dir / "grant.key").string();
  const std::string pub = (dir / "grant.pub").string();
  ASSERT_OK(WriteGrantKeyFiles(pair, secret, pub));
  absl::StatusOr<GrantSigner> signer = GrantSigner::FromSecretKeyFile(secret);
  ASSERT_OK(signer);
  absl::StatusOr<GrantVerifier> verifier = GrantVerifier::FromPublicKeyFiles({pub});
  ASSERT_OK(verifier);
  EXPECT_OK(verifier->Verify(signer->Sign(Job(), kNow), kNow));

  ::chmod(secret.c_str(), 0644);
  EXPECT_FALSE(GrantSigner::FromSecretKeyFile(secret).ok());
  std::ofstream(pub) << "not hex\n";
  EXPECT_FALSE(GrantVerifier::FromPublicKeyFiles({pub}).ok());
  EXPECT_FALSE(GrantVerifier::FromPublicKeyFiles({(dir / "missing").string()}).ok());
  std::filesystem::remove_all(dir);
}

TEST(ReplayGuardTest, EachRequestAndSequenceIsAcceptedOnce) {
  ReplayGuard guard;
  const absl::Time expiry = kNow + absl::Seconds(60);
  EXPECT_TRUE(guard.FirstUse("req_a", 1, expiry, kNow));
  EXPECT_TRUE(guard.FirstUse("req_a", 2, expiry, kNow));
  EXPECT_TRUE(guard.FirstUse("req_b", 1, expiry, kNow));
  EXPECT_FALSE(guard.FirstUse("req_a", 1, expiry, kNow));
  EXPECT_FALSE(guard.FirstUse("req_b", 1, expiry, kNow));
}

TEST(ReplayGuardTest, ExpiredEntriesArePurged) {
  ReplayGuard guard;
  for (uint64_t seq = 1; seq <= 100; ++seq) {
    ASSERT_TRUE(guard.FirstUse("req_old", seq, kNow + absl::Seconds(1), kNow));
  }
  EXPECT_EQ(guard.size(), 100u);
  const absl::Time later = kNow + absl::Minutes(1);
  // Same request id, so the same shard: its expired entries make room.
  for (uint64_t seq = 101; seq <= 200; ++seq) {
    ASSERT_TRUE(guard.FirstUse("req_old", seq, later + absl::Seconds(1), later));
  }
  EXPECT_LT(guard.size(), 200u);
}

}  // namespace
}  // namespace magic::broker
