// The pure parts of the audit chain: text sanitizing, fields normalization
// (stable across the jsonb round trip), the JSON shape and the hash.
#include "broker/internal/audit_chain.h"

#include "broker/audit.h"

#include <gtest/gtest.h>

#include <sodium.h>
#include <string>

namespace magic::broker::internal {
namespace {

using nlohmann::json;

magic::v1::AuditRecord Sample() {
  magic::v1::AuditRecord r;
  r.set_id("aud_1");
  r.set_time_unix_us(1'700'000'000'123'456);
  r.set_request_id("req_1");
  r.set_controller("invoice_sync");
  r.set_version("1.2.0");
  r.set_capability("db:read");
  r.set_operation("query");
  r.set_allowed(false);
  r.set_code("E2003");
  r.set_latency_us(1234);
  r.set_seq(7);
  r.set_worker_id("wk_1");
  r.set_fields_json(R"({"table":"customers","query_hash":"ab12"})");
  return r;
}

TEST(SanitizeText, KeepsValidUtf8) {
  std::string text = "plain ascii, caf\xC3\xA9, \xF0\x9F\x98\x80";
  const std::string before = text;
  EXPECT_FALSE(SanitizeText(text));
  EXPECT_EQ(text, before);
}

TEST(SanitizeText, ReplacesNulAndInvalidBytes) {
  std::string text("a\0b", 3);
  EXPECT_TRUE(SanitizeText(text));
  EXPECT_EQ(text,
            "a\xEF\xBF\xBD"
            "b");
  std::string bad =
      "x\xC0\xAF"
      "y\xED\xA0\x80z\xF4\x90\x80\x80\xE2\x82";
  EXPECT_TRUE(SanitizeText(bad));
  // overlong, surrogate, beyond U+10FFFF, truncated: every byte replaced
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(bad, "x" + r + r + "y" + r + r + r + "z" + r + r + r + r + r + r);
}

TEST(NormalizeFieldsJson, ObjectsStayObjects) {
  EXPECT_EQ(NormalizeFieldsJson(""), "{}");
  EXPECT_EQ(NormalizeFieldsJson(R"({"b":1,"a":"x"})"), R"({"a":"x","b":1})");
  EXPECT_EQ(NormalizeFieldsJson("[1,2]"), R"({"value":[1,2]})");
  EXPECT_EQ(NormalizeFieldsJson("{not json"), R"({"invalid_fields_json":"{not json"})");
}

TEST(NormalizeFieldsJson, NumbersSurviveJsonb) {
  // jsonb prints 1e16 as 10000000000000000 and has no -0: integral doubles
  // become integers so that reading back gives the same canonical bytes.
  EXPECT_EQ(NormalizeFieldsJson(R"({"a":1e16,"b":-0.0,"c":2.0,"d":0.1,"e":1e19})"),
            R"({"a":10000000000000000,"b":0,"c":2,"d":0.1,"e":10000000000000000000})");
  const std::string once = NormalizeFieldsJson(R"({"x":[1.5e-7,1e300,-3]})");
  EXPECT_EQ(NormalizeFieldsJson(once), once);
}

TEST(NormalizeFieldsJson, NulEscapesAreReplaced) {
  EXPECT_EQ(NormalizeFieldsJson(R"({"k\u0000":"v\u0000"})"),
            "{\"k\xEF\xBF\xBD\":\"v\xEF\xBF\xBD\"}");
}

TEST(NormalizeFieldsJson, HugeOrDeepBecomesSummary) {
  const std::string deep = "{\"a\":" + std::string(100, '[') + std::string(100, ']') + "}";
  json summary = json::parse(NormalizeFieldsJson(deep));
  EXPECT_EQ(summary["fields_truncated"], true);
  EXPECT_EQ(summary["fields_bytes"], deep.size());
  const std::string big = R"({"q":")" + std::string(kMaxFieldsBytes, 'x') + R"("})";
  summary = json::parse(NormalizeFieldsJson(big));
  EXPECT_EQ(summary["fields_bytes"], big.size());
  EXPECT_EQ(summary["fields_sha256"].get<std::string>().size(), 64u);
}

TEST(AuditRecordToJson, HasTheDocumentedShape) {
  const json j = AuditRecordToJson(Sample());
  EXPECT_EQ(j["id"], "aud_1");
  EXPECT_EQ(j["time"], "2023-11-14T22:13:20.123456Z");
  EXPECT_EQ(j["request_id"], "req_1");
  EXPECT_EQ(j["controller"], "invoice_sync");
  EXPECT_EQ(j["version"], "1.2.0");
  EXPECT_EQ(j["capability"], "db:read");
  EXPECT_EQ(j["operation"], "query");
  EXPECT_EQ(j["decision"], "denied");
  EXPECT_EQ(j["code"], "E2003");
  EXPECT_EQ(j["latency_us"], 1234);
  EXPECT_EQ(j["seq"], 7);
  EXPECT_EQ(j["worker_id"], "wk_1");
  EXPECT_EQ(j["fields"], json::parse(R"({"table":"customers","query_hash":"ab12"})"));
  EXPECT_EQ(j.size(), 13u);
}

TEST(AuditCanonicalBytes, SortedCompactWithChainSeq) {
  const std::string bytes = AuditCanonicalBytes(Sample(), 42);
  EXPECT_EQ(
      bytes,
      R"({"capability":"db:read","chain_seq":42,"code":"E2003","controller":"invoice_sync",)"
      R"("decision":"denied","fields":{"query_hash":"ab12","table":"customers"},)"
      R"("id":"aud_1","latency_us":1234,"operation":"query","request_id":"req_1",)"
      R"("seq":7,"time":"2023-11-14T22:13:20.123456Z","version":"1.2.0","worker_id":"wk_1"})");
  EXPECT_NE(AuditCanonicalBytes(Sample(), 43), bytes);
}

TEST(ChainHash, IsSha256OfPrevAndCanonical) {
  const Hash zero{};
  const std::string canonical = "{\"a\":1}";
  std::string input(32, '\0');
  input += canonical;
  Hash expected{};
  crypto_hash_sha256(expected.data(), reinterpret_cast<const unsigned char*>(input.data()),
                     input.size());
  EXPECT_EQ(ChainHash(zero, canonical), expected);
  EXPECT_NE(ChainHash(expected, canonical), expected);
}

TEST(Hex, RoundTripsAndRejectsJunk) {
  Hash h{};
  for (size_t i = 0; i < h.size(); ++i) h[i] = static_cast<unsigned char>(i * 7);
  Hash back{};
  ASSERT_TRUE(HexDecode(HexEncode(h), back));
  EXPECT_EQ(back, h);
  EXPECT_FALSE(HexDecode("abc", back));
  EXPECT_FALSE(HexDecode(std::string(64, 'g'), back));
}

}  // namespace
}  // namespace magic::broker::internal
