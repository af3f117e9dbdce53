#include "contracts/loader.h"

#include "contracts/internal/checks.h"
#include "contracts/internal/yaml_document.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace magic::contracts {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Optional;

constexpr char kValidDir[] = "contracts/testdata/valid/";

// A valid contract; lines 1-19. Tests append sections from line 20.
constexpr char kHead[] = R"(name: OrderSync
version: 1.0.0
input:
  type: object
  required: [order_id]
  properties:
    order_id:
      type: string
      format: uuid
    customer:
      type: object
      properties:
        tier:
          type: string
output:
  type: object
  properties:
    status:
      type: string
)";

CheckResult Parse(std::string_view extra = "") {
  return ParseContract(std::string(kHead) + std::string(extra), SourceFormat::kYaml, "t.yaml");
}

std::vector<std::string> Pointers(const CheckResult& r, Severity severity) {
  std::vector<std::string> out;
  for (const Finding& f : r.findings) {
    if (f.severity == severity) out.push_back(f.pointer);
  }
  return out;
}
std::vector<std::string> Errors(const CheckResult& r) { return Pointers(r, Severity::kError); }
std::vector<std::string> Warnings(const CheckResult& r) { return Pointers(r, Severity::kWarning); }

const Finding* FindingAt(const CheckResult& r, std::string_view pointer) {
  for (const Finding& f : r.findings) {
    if (f.pointer == pointer) return &f;
  }
  return nullptr;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// ---------------------------------------------------------------------------
// Units.

TEST(ParseByteSizeTest, BinaryDecimalAndPlain) {
  EXPECT_THAT(ParseByteSize("256Mi"), Optional(int64_t{256} << 20));
  EXPECT_THAT(ParseByteSize("2Gi"), Optional(int64_t{2} << 30));
  EXPECT_THAT(ParseByteSize("512Ki"), Optional(int64_t{512} << 10));
  EXPECT_THAT(ParseByteSize("1Ti"), Optional(int64_t{1} << 40));
  EXPECT_THAT(ParseByteSize("1G"), Optional(int64_t{1'000'000'000}));
  EXPECT_THAT(ParseByteSize("100M"), Optional(int64_t{100'000'000}));
  EXPECT_THAT(ParseByteSize("3K"), Optional(int64_t{3'000}));
  EXPECT_THAT(ParseByteSize("2T"), Optional(int64_t{2'000'000'000'000}));
  EXPECT_THAT(ParseByteSize("1024"), Optional(int64_t{1024}));
  EXPECT_THAT(ParseByteSize("0"), Optional(int64_t{0}));
  EXPECT_THAT(ParseByteSize("1.5Gi"), Optional(int64_t{3} << 29));
}

TEST(ParseByteSizeTest, RejectsMalformedNegativeAndOverflow) {
  for (const char* bad : {"", "-1", "-1Mi", "+5", "Mi", "256MB", "256 Mi", "256mi", "1.3", "1e3",
                          "0x10", "9223372036854775808", "99999999999Ti", "8388608Ti"}) {
    EXPECT_EQ(ParseByteSize(bad), std::nullopt) << bad;
  }
}

TEST(ParseDurationMsTest, UnitsAndCompounds) {
  EXPECT_THAT(ParseDurationMs("500ms"), Optional(int64_t{500}));
  EXPECT_THAT(ParseDurationMs("30s"), Optional(int64_t{30'000}));
  EXPECT_THAT(ParseDurationMs("5m"), Optional(int64_t{300'000}));
  EXPECT_THAT(ParseDurationMs("1h"), Optional(int64_t{3'600'000}));
  EXPECT_THAT(ParseDurationMs("1m30s"), Optional(int64_t{90'000}));
  EXPECT_THAT(ParseDurationMs("1h2m3s4ms"), Optional(int64_t{3'723'004}));
  EXPECT_THAT(ParseDurationMs("1.5s"), Optional(int64_t{1'500}));
  EXPECT_THAT(ParseDurationMs("30"), Optional(int64_t{30'000}));  // plain number: seconds
  EXPECT_THAT(ParseDurationMs("0.25"), Optional(int64_t{250}));
  EXPECT_THAT(ParseDurationMs("30d"), Optional(int64_t{30} * 86'400'000));
}

TEST(ParseDurationMsTest, RejectsMalformed) {
  for (const char* bad : {"", "s", "ms", "30x", "-1s", "1m30", "30 s", "1.0005s", "1..5s", "h1",
                          "99999999999999999h", "1e3s", "+3s"}) {
    EXPECT_EQ(ParseDurationMs(bad), std::nullopt) << bad;
  }
}

TEST(SnakeCaseTest, Words) {
  EXPECT_EQ(SnakeCase("InvoiceSync"), "invoice_sync");
  EXPECT_EQ(SnakeCase("CustomerLookup"), "customer_lookup");
  EXPECT_EQ(SnakeCase("A"), "a");
  EXPECT_EQ(SnakeCase("HTTPServer"), "http_server");
  EXPECT_EQ(SnakeCase("CustomerV2"), "customer_v2");
  EXPECT_EQ(SnakeCase("Sync2Stripe"), "sync2_stripe");
}

TEST(SuggestionsTest, PascalCase) {
  EXPECT_EQ(internal::PascalCaseSuggestion("invoice_sync"), "InvoiceSync");
  EXPECT_EQ(internal::PascalCaseSuggestion("invoice-sync"), "InvoiceSync");
  EXPECT_EQ(internal::PascalCaseSuggestion("invoiceSync"), "InvoiceSync");
  EXPECT_EQ(internal::PascalCaseSuggestion("INVOICE_SYNC"), "InvoiceSync");
  EXPECT_EQ(internal::PascalCaseSuggestion("2fast"), "Fast");
  EXPECT_EQ(internal::PascalCaseSuggestion("__"), "MyController");
}

TEST(SuggestionsTest, EditDistanceAndClosestMatch) {
  EXPECT_EQ(internal::EditDistance("minLenght", "minLength"), 1);  // transposition
  EXPECT_EQ(internal::EditDistance("propertys", "properties"), 2);
  EXPECT_EQ(internal::EditDistance("", "abc"), 3);
  const std::vector<std::string_view> keys = {"name", "version", "capabilities"};
  EXPECT_EQ(internal::ClosestMatch("capabilites", keys), "capabilities");
  EXPECT_EQ(internal::ClosestMatch("Version", keys), "version");
  EXPECT_EQ(internal::ClosestMatch("description", keys), "");
  EXPECT_EQ(internal::ClosestMatch("nam", keys), "name");
  EXPECT_EQ(internal::ClosestMatch("nm", keys), "");
}

// ---------------------------------------------------------------------------
// YAML documents: scalars, keys, positions, limits.

TEST(YamlScalarTest, CoreSchemaResolution) {
  using internal::ResolvePlainScalar;
  using nlohmann::json;
  for (const char* null_text : {"", "~", "null", "Null", "NULL"}) {
    EXPECT_EQ(ResolvePlainScalar(null_text), json(nullptr)) << null_text;
  }
  for (const char* t : {"true", "True", "TRUE"}) EXPECT_EQ(ResolvePlainScalar(t), json(true));
  for (const char* f : {"false", "False", "FALSE"}) EXPECT_EQ(ResolvePlainScalar(f), json(false));
  EXPECT_EQ(ResolvePlainScalar("42"), json(42));
  EXPECT_EQ(ResolvePlainScalar("-7"), json(-7));
  EXPECT_EQ(ResolvePlainScalar("+7"), json(7));
  EXPECT_EQ(ResolvePlainScalar("017"), json(17));
  EXPECT_EQ(ResolvePlainScalar("0x1F"), json(31));
  EXPECT_EQ(ResolvePlainScalar("0o17"), json(15));
  EXPECT_EQ(ResolvePlainScalar("1.5"), json(1.5));
  EXPECT_EQ(ResolvePlainScalar("1e3"), json(1000.0));
  EXPECT_EQ(ResolvePlainScalar(".5"), json(0.5));
  EXPECT_EQ(ResolvePlainScalar("-1.5E-1"), json(-0.15));
  EXPECT_TRUE(ResolvePlainScalar("1.0").is_number_float());
  EXPECT_TRUE(std::isinf(ResolvePlainScalar(".inf").get<double>()));
  EXPECT_LT(ResolvePlainScalar("-.Inf").get<double>(), 0);
  EXPECT_TRUE(std::isnan(ResolvePlainScalar(".NaN").get<double>()));
  for (const char* s : {"yes", "no", "on", "1.2.0", "0x", "12abc", "1_000", "256Mi", "30s"}) {
    EXPECT_EQ(ResolvePlainScalar(s), json(s)) << s;
  }
}

TEST(YamlDocumentTest, QuotedAndTaggedScalarsStayStrings) {
  internal::YamlDocument doc = internal::ParseYamlDocument(
      "a: \"123\"\nb: '1.0'\nc: !!str true\nd: 123\ne: \"null\"\nf: null\ng: 0x10\n", false);
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc.root["a"], "123");
  EXPECT_EQ(doc.root["b"], "1.0");
  EXPECT_EQ(doc.root["c"], "true");
  EXPECT_EQ(doc.root["d"], 123);
  EXPECT_EQ(doc.root["e"], "null");
  EXPECT_TRUE(doc.root["f"].is_null());
  EXPECT_EQ(doc.root["g"], 16);
}

TEST(YamlDocumentTest, NonStringKeysBecomeStrings) {
  internal::YamlDocument doc = internal::ParseYamlDocument("1: a\ntrue: b\n~: c\n", false);
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc.root["1"], "a");
  EXPECT_EQ(doc.root["true"], "b");
  EXPECT_EQ(doc.root["null"], "c");
}

TEST(YamlDocumentTest, PositionsOfValuesAndKeys) {
  internal::YamlDocument doc = internal::ParseYamlDocument(kHead, false);
  ASSERT_TRUE(doc.ok());
  const internal::Position value = doc.Locate("/input/properties/order_id/format");
  EXPECT_EQ(value.line, 9);
  EXPECT_EQ(value.column, 15);
  const internal::Position key = doc.LocateKey("/input/properties/order_id/format");
  EXPECT_EQ(key.line, 9);
  EXPECT_EQ(key.column, 7);
  const internal::Position item = doc.Locate("/input/required/0");
  EXPECT_EQ(item.line, 5);
  EXPECT_EQ(item.column, 14);
  // A missing member is located at its nearest ancestor.
  const internal::Position missing = doc.Locate("/output/properties/status/nope");
  EXPECT_EQ(missing.line, 19);
}

TEST(YamlDocumentTest, AliasesExpand) {
  internal::YamlDocument doc =
      internal::ParseYamlDocument("base: &b {type: string}\ncopy: *b\n", false);
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc.root["copy"], doc.root["base"]);
}

TEST(YamlDocumentTest, BillionLaughsIsBounded) {
  std::string text = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  const std::string names = "abcdefghij";
  for (size_t i = 1; i < names.size(); ++i) {
    text += std::string(1, names[i]) + ": &" + names[i] + " [";
    for (int k = 0; k < 10; ++k) text += std::string(k ? ", *" : "*") + names[i - 1];
    text += "]\n";
  }
  CheckResult r = ParseContract(text, SourceFormat::kYaml);
  ASSERT_EQ(r.errors(), 1);
  EXPECT_EQ(r.findings[0].code, ErrorCode::kE1001);
  EXPECT_THAT(r.findings[0].message, HasSubstr("100000 nodes"));
}

TEST(YamlDocumentTest, StrayContentAfterTheDocumentIsBounded) {
  // yaml-cpp 0.7's LoadAll() loops forever, allocating, on this input.
  CheckResult r = ParseContract("{\"name\": \"A\"},\n", SourceFormat::kYaml);
  ASSERT_EQ(r.errors(), 1);
  EXPECT_EQ(r.findings[0].code, ErrorCode::kE1001);
  EXPECT_EQ(r.findings[0].line, 1);
  CheckResult two = ParseContract(std::string(kHead) + "---\n" + kHead, SourceFormat::kYaml);
  ASSERT_EQ(two.errors(), 1);
  EXPECT_EQ(two.findings[0].line, 20);
}

TEST(YamlDocumentTest, InputSizeIsCapped) {
  std::string text = std::string(kHead) + "#" + std::string(internal::kMaxInputBytes, 'x') + "\n";
  CheckResult r = ParseContract(text, SourceFormat::kYaml);
  ASSERT_EQ(r.errors(), 1);
  EXPECT_EQ(r.findings[0].code, ErrorCode::kE1001);
}

TEST(YamlDocumentTest, DuplicateKeyHasPosition) {
  CheckResult r = Parse("capabilities: []\ncapabilities: []\n");
  ASSERT_EQ(r.errors(), 1);
  EXPECT_EQ(r.findings[0].code, ErrorCode::kE1001);
  EXPECT_EQ(r.findings[0].line, 21);
  EXPECT_EQ(r.findings[0].column, 1);
  EXPECT_EQ(r.findings[0].pointer, "/capabilities");
}

TEST(YamlDocumentTest, SyntaxErrorHasPosition) {
  CheckResult r = ParseContract("name: OrderSync\nversion: [1.0.0\n", SourceFormat::kYaml);
  ASSERT_EQ(r.errors(), 1);
  EXPECT_EQ(r.findings[0].code, ErrorCode::kE1001);
  EXPECT_GT(r.findings[0].line, 0);
}

TEST(YamlDocumentTest, NonFiniteNumbersAreRejected) {
  CheckResult r = Parse("resources:\n  cpu: .inf\n");
  ASSERT_FALSE(r.contract);
  const Finding* f = FindingAt(r, "/resources/cpu");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->code, ErrorCode::kE1002);
  EXPECT_EQ(f->line, 21);
  EXPECT_EQ(f->column, 8);
}

TEST(YamlDocumentTest, ByteOrderMarkIsIgnored) {
  CheckResult r = ParseContract("\xEF\xBB\xBF" + std::string(kHead), SourceFormat::kYaml);
  EXPECT_TRUE(r.ok(/*strict=*/true)) << FormatFinding(r.findings.at(0));
}

// ---------------------------------------------------------------------------
// The spec's examples and the model.

TEST(ValidContractsTest, InvoiceSync) {
  const std::string path = std::string(kValidDir) + "invoice_sync.contract.yaml";
  CheckResult r = LoadContract(path);
  ASSERT_TRUE(r.ok(/*strict=*/true)) << FormatFinding(r.findings.at(0));
  const Contract& c = *r.contract;
  EXPECT_EQ(c.name, "InvoiceSync");
  EXPECT_EQ(c.version, "1.2.0");
  EXPECT_EQ(c.source_path, path);
  EXPECT_EQ(c.input["required"], nlohmann::json({"customer_id", "invoice_data"}));
  ASSERT_EQ(c.capabilities.size(), 5u);
  EXPECT_EQ(c.Find(CapabilityKind::kDbRead)->tables,
            std::vector<std::string>({"customers", "invoices"}));
  EXPECT_TRUE(c.Find(CapabilityKind::kHttpEgress)->AllowsHost("api.stripe.com"));
  EXPECT_TRUE(c.Find(CapabilityKind::kSecretsRead)->AllowsKey("STRIPE_API_KEY"));
  EXPECT_TRUE(c.Find(CapabilityKind::kQueuePublish)->AllowsQueue("invoice-events"));
  EXPECT_DOUBLE_EQ(c.resources.cpu, 0.5);
  EXPECT_EQ(c.resources.memory_bytes, int64_t{256} << 20);
  EXPECT_EQ(c.resources.timeout_ms, 30'000);
  EXPECT_THAT(c.observability.log_fields, ElementsAre("customer_id", "sync_id"));
  ASSERT_EQ(c.observability.metrics.size(), 2u);
  EXPECT_EQ(c.observability.metrics[0].type, MetricType::kHistogram);
  EXPECT_EQ(c.observability.metrics[1].name, "invoice_sync_total");
  EXPECT_THAT(c.observability.metrics[1].labels, ElementsAre("status"));
  EXPECT_EQ(c.digest.size(), 64u);
}

TEST(ValidContractsTest, CustomerLookup) {
  CheckResult r = LoadContract(std::string(kValidDir) + "customer_lookup.contract.yaml");
  ASSERT_TRUE(r.ok(/*strict=*/true)) << FormatFinding(r.findings.at(0));
  const Contract& c = *r.contract;
  EXPECT_EQ(c.name, "CustomerLookup");
  EXPECT_DOUBLE_EQ(c.resources.cpu, 0.25);
  EXPECT_EQ(c.resources.memory_bytes, int64_t{128} << 20);
  EXPECT_EQ(c.resources.timeout_ms, 5'000);
  EXPECT_EQ(c.Find(CapabilityKind::kCacheRead)->prefix, "customer:");
  EXPECT_TRUE(c.Find(CapabilityKind::kCacheRead)->AllowsCacheKey("customer:42"));
  EXPECT_FALSE(c.Declares(CapabilityKind::kDbWrite));
}

TEST(ValidContractsTest, MinimalContractGetsDefaults) {
  CheckResult r = Parse();
  ASSERT_TRUE(r.ok(/*strict=*/true));
  EXPECT_TRUE(r.contract->capabilities.empty());
  EXPECT_DOUBLE_EQ(r.contract->resources.cpu, ResourceLimits::kDefaultCpu);
  EXPECT_EQ(r.contract->resources.memory_bytes, ResourceLimits::kDefaultMemory);
  EXPECT_EQ(r.contract->resources.timeout_ms, ResourceLimits::kDefaultTimeoutMs);
  EXPECT_EQ(r.contract->source_path, "");
}

TEST(ValidContractsTest, WarningsDoNotStopLoadingButFailStrict) {
  CheckResult r = Parse("capabilities: [db:rawsql]\n");
  EXPECT_TRUE(r.contract);
  EXPECT_EQ(r.errors(), 0);
  EXPECT_EQ(r.warnings(), 1);
  EXPECT_TRUE(r.ok(/*strict=*/false));
  EXPECT_FALSE(r.ok(/*strict=*/true));
}

// ---------------------------------------------------------------------------
// Top level, name, version.

TEST(TopLevelTest, MustBeAMapping) {
  CheckResult r = ParseContract("- a\n- b\n", SourceFormat::kYaml);
  EXPECT_THAT(Errors(r), ElementsAre(""));
  EXPECT_EQ(r.findings[0].code, ErrorCode::kE1002);
}

TEST(TopLevelTest, EmptyAndScalarDocumentsAreUnreadable) {
  for (const char* text : {"", "# only a comment\n", "hello\n", "42\n", "---\n"}) {
    CheckResult r = ParseContract(text, SourceFormat::kYaml);
    ASSERT_EQ(r.errors(), 1) << text;
    EXPECT_EQ(r.findings[0].code, ErrorCode::kE1001) << text;
  }
}

TEST(TopLevelTest, MissingRequiredFieldsAtTheRoot) {
  CheckResult r = ParseContract("observability: {}\n", SourceFormat::kYaml);
  EXPECT_THAT(Errors(r), ElementsAre("/name", "/version", "/input", "/output"));
  for (const Finding& f : r.findings) {
    EXPECT_EQ(f.line, 1);
    EXPECT_EQ(f.column, 1);
  }
}

TEST(TopLevelTest, UnknownKeyWithDidYouMean) {
  CheckResult r = Parse("resource:\n  cpu: 1\ndescription: hello\n");
  EXPECT_THAT(Errors(r), ElementsAre("/resource", "/description"));
  EXPECT_THAT(r.findings[0].hint, HasSubstr("\"resources\""));
  EXPECT_THAT(r.findings[1].hint, HasSubstr("capabilities"));  // lists the keys
  EXPECT_EQ(r.findings[0].line, 20);
  EXPECT_EQ(r.findings[0].column, 1);
}

TEST(NameTest, PascalCaseWithSuggestion) {
  CheckResult r = ParseContract(std::string("name: invoice_sync\n") + (kHead + 16));
  EXPECT_THAT(Errors(r), ElementsAre("/name"));
  EXPECT_THAT(r.findings[0].hint, HasSubstr("\"InvoiceSync\""));
  EXPECT_EQ(r.findings[0].column, 7);
}

TEST(NameTest, AcceptsAndRejects) {
  for (const std::string& name :
       std::vector<std::string>{"A", "InvoiceSync", "Sync2", "HTTPServer", std::string(64, 'A')}) {
    CheckResult r = ParseContract("name: " + name + "\n" + (kHead + 16));
    EXPECT_TRUE(r.ok(true)) << name;
  }
  for (const std::string& name :
       std::vector<std::string>{"invoiceSync", "Invoice_Sync", "2Fast", "\"\"", "Invoice Sync",
                                "42", "[A]", std::string(65, 'A')}) {
    CheckResult r = ParseContract("name: " + name + "\n" + (kHead + 16));
    EXPECT_THAT(Errors(r), ElementsAre("/name")) << name;
  }
}

std::string WithVersion(std::string_view version) {
  std::string text = kHead;
  text.replace(text.find("1.0.0"), 5, version);
  return text;
}

TEST(VersionTest, Semver) {
  for (const char* v : {"1.0.0", "0.0.1", "10.20.30", "1.0.0-rc.1", "1.0.0-alpha-beta.0.x",
                        "1.0.0+build.5", "1.0.0-rc.1+sha.0abc", "\"2.1.0\""}) {
    EXPECT_TRUE(ParseContract(WithVersion(v)).ok(true)) << v;
  }
  for (const char* v : {"\"1.0\"", "\"1\"", "01.0.0", "1.01.0", "1.0.0-", "1.0.0+", "1.0.0-01",
                        "v1.0.0", "1.0.0.0", "a.b.c", "1.0.0-rc..1", "\"\"", "1.0.0 beta"}) {
    EXPECT_THAT(Errors(ParseContract(WithVersion(v))), ElementsAre("/version")) << v;
  }
}

TEST(VersionTest, UnquotedFloatSaysQuoteIt) {
  CheckResult r = ParseContract(WithVersion("1.0"));
  EXPECT_THAT(Errors(r), ElementsAre("/version"));
  EXPECT_THAT(r.findings[0].hint, HasSubstr("quote it"));
  EXPECT_THAT(r.findings[0].hint, HasSubstr("\"1.0.0\""));
  CheckResult integer = ParseContract(WithVersion("2"));
  EXPECT_THAT(integer.findings[0].hint, HasSubstr("\"2.0.0\""));
}

// ---------------------------------------------------------------------------
// Input and output schemas.

std::string WithInput(std::string_view input_block) {
  return "name: OrderSync\nversion: 1.0.0\ninput:\n" + std::string(input_block) +
         "output:\n  type: object\n";
}

TEST(SchemaTest, MustBeMappings) {
  CheckResult r = ParseContract("name: A\nversion: 1.0.0\ninput: 3\noutput: [a]\n");
  EXPECT_THAT(Errors(r), ElementsAre("/input", "/output"));
}

TEST(SchemaTest, MetaSchemaViolationsPointIntoTheSchema) {
  CheckResult r =
      ParseContract(WithInput("  type: object\n  properties:\n    a: {type: strnig}\n"));
  ASSERT_THAT(Errors(r), ElementsAre("/input/properties/a/type"));
  EXPECT_EQ(r.findings[0].line, 6);
  EXPECT_EQ(r.findings[0].hint, "did you mean \"string\"?");
}

TEST(SchemaTest, InputTypeShouldBeObject) {
  CheckResult r = ParseContract(WithInput("  type: array\n"));
  EXPECT_THAT(Warnings(r), ElementsAre("/input/type"));
  EXPECT_TRUE(r.contract);
  CheckResult untyped = ParseContract(WithInput("  properties: {a: {type: string}}\n"));
  EXPECT_THAT(Warnings(untyped), ElementsAre("/input"));
}

TEST(SchemaTest, RequiredNamesAnUndeclaredProperty) {
  CheckResult r =
      ParseContract(WithInput("  type: object\n  required: [customer_id, custmer]\n  properties:\n"
                              "    customer_id: {type: string}\n    customer: {type: string}\n"));
  EXPECT_THAT(Warnings(r), ElementsAre("/input/required/1"));
  EXPECT_THAT(r.findings[0].hint, HasSubstr("\"customer\""));
}

TEST(SchemaTest, UncheckedFormatIsAWarning) {
  CheckResult r = ParseContract(WithInput(
      "  type: object\n  properties:\n    a: {type: string, format: uuid4}\n"
      "    b: {type: string, format: date-time}\n    c: {type: string, format: color}\n"));
  EXPECT_THAT(Warnings(r), ElementsAre("/input/properties/a/format", "/input/properties/c/format"));
  EXPECT_EQ(r.findings[0].hint, "did you mean \"uuid\"?");
}

TEST(SchemaTest, KeywordTyposAreWarnings) {
  CheckResult r = ParseContract(
      WithInput("  type: object\n  require: [a]\n  propertys: {}\n  properties:\n"
                "    require: {type: string, minLenght: 3}\n    a: {type: string}\n"));
  EXPECT_THAT(Warnings(r), ElementsAre("/input/require", "/input/propertys",
                                       "/input/properties/require/minLenght"));
  EXPECT_THAT(r.findings[0].hint, HasSubstr("\"required\""));
  EXPECT_THAT(r.findings[2].hint, HasSubstr("\"minLength\""));
  EXPECT_TRUE(r.contract);
}

TEST(SchemaTest, AnnotationsAndCustomKeywordsAreQuiet) {
  CheckResult r = ParseContract(WithInput(
      "  type: object\n  title: T\n  description: D\n  x-owner: team\n  examples: [{}]\n"));
  EXPECT_THAT(r.findings, IsEmpty());
}

TEST(SchemaTest, LocalRefs) {
  const std::string ok = WithInput(
      "  type: object\n  definitions:\n    Order: {type: object}\n  properties:\n"
      "    order: {$ref: \"#/definitions/Order\"}\n");
  EXPECT_TRUE(ParseContract(ok).ok(true));
  CheckResult missing = ParseContract(
      WithInput("  type: object\n  properties:\n    order: {$ref: \"#/definitions/Order\"}\n"));
  EXPECT_THAT(Errors(missing), ElementsAre("/input/properties/order/$ref"));
  CheckResult remote = ParseContract(WithInput(
      "  type: object\n  properties:\n    order: {$ref: \"https://example.com/o.json\"}\n"));
  EXPECT_THAT(Errors(remote), Contains("/input/properties/order/$ref"));
}

// ---------------------------------------------------------------------------
// Capabilities.

TEST(CapabilitiesTest, StringAndMappingForms) {
  CheckResult r = Parse(
      "capabilities:\n  - db:read:\n      tables: [orders, billing.invoices]\n"
      "  - db:write: {tables: [orders]}\n  - http:egress:\n      allow: [API.Stripe.com, "
      "\"*.internal.company.com\"]\n  - secrets:read: {keys: [STRIPE_API_KEY, a.b-c]}\n"
      "  - queue:publish: {queues: [order-events]}\n  - queue:subscribe: {queues: [payments]}\n"
      "  - cache:read\n  - cache:write: {prefix: \"order:\", max_ttl: 1h}\n"
      "  - fs:temp: {max_size: 64Mi}\n");
  ASSERT_TRUE(r.ok(/*strict=*/true)) << FormatFinding(r.findings.at(0));
  const Contract& c = *r.contract;
  ASSERT_EQ(c.capabilities.size(), 9u);
  EXPECT_THAT(c.Find(CapabilityKind::kHttpEgress)->allow,
              ElementsAre("api.stripe.com", "*.internal.company.com"));
  EXPECT_EQ(c.Find(CapabilityKind::kCacheWrite)->max_ttl_seconds, 3600);
  EXPECT_EQ(c.Find(CapabilityKind::kFsTemp)->max_size_bytes, int64_t{64} << 20);
  EXPECT_EQ(c.Find(CapabilityKind::kCacheRead)->prefix, "");
  EXPECT_THAT(c.Find(CapabilityKind::kDbRead)->tables, ElementsAre("orders", "billing.invoices"));
}

TEST(CapabilitiesTest, NullOrAbsentMeansNone) {
  EXPECT_TRUE(Parse("capabilities:\n").ok(true));
  EXPECT_TRUE(Parse("capabilities: []\n").ok(true));
  CheckResult with_null_options = Parse("capabilities:\n  - cache:read:\n");
  EXPECT_TRUE(with_null_options.ok(true));
  EXPECT_EQ(with_null_options.contract->capabilities.size(), 1u);
}

TEST(CapabilitiesTest, UnknownCapabilityDidYouMean) {
  CheckResult r = Parse("capabilities:\n  - http:egres:\n      allow: [a.com]\n  - filesystem\n");
  EXPECT_THAT(Errors(r), ElementsAre("/capabilities/0/http:egres", "/capabilities/1"));
  EXPECT_EQ(r.findings[0].hint, "did you mean \"http:egress\"?");
  EXPECT_THAT(r.findings[1].hint, HasSubstr("db:read, db:write"));
  EXPECT_EQ(r.findings[0].line, 21);
  EXPECT_EQ(r.findings[0].column, 5);
}

TEST(CapabilitiesTest, OptionsTheKindDoesNotTake) {
  CheckResult r = Parse(
      "capabilities:\n  - db:read: {table: [a]}\n  - db:rawsql: {tables: [a]}\n"
      "  - cache:read: {prefix: \"a:\", max_ttl: 10}\n");
  EXPECT_THAT(Errors(r),
              ElementsAre("/capabilities/0/db:read/table", "/capabilities/1/db:rawsql/tables",
                          "/capabilities/2/cache:read/max_ttl"));
  EXPECT_EQ(FindingAt(r, "/capabilities/0/db:read/table")->hint, "did you mean \"tables\"?");
}

TEST(CapabilitiesTest, WrongTypes) {
  CheckResult r = Parse(
      "capabilities:\n  - db:read: {tables: orders}\n  - db:write: [orders]\n"
      "  - secrets:read: {keys: [1]}\n  - cache:write: {prefix: 5, max_ttl: 1.5}\n  - 42\n"
      "  - {db:read: null, tables: [a]}\n");
  EXPECT_THAT(
      Errors(r),
      ElementsAre("/capabilities/0/db:read/tables", "/capabilities/1/db:write",
                  "/capabilities/2/secrets:read/keys/0", "/capabilities/3/cache:write/prefix",
                  "/capabilities/3/cache:write/max_ttl", "/capabilities/4", "/capabilities/5"));
  EXPECT_EQ(r.findings[0].hint, "write tables: [orders]");
}

TEST(CapabilitiesTest, ListEntryFormats) {
  CheckResult r = Parse(
      "capabilities:\n  - db:read: {tables: [ok_table, s.t, 9bad, a.b.c, \"with space\"]}\n"
      "  - secrets:read: {keys: [API_KEY, \"-bad\"]}\n"
      "  - queue:publish: {queues: [a.b_c-d, \"..\", \"bad/queue\"]}\n");
  EXPECT_THAT(Errors(r),
              ElementsAre("/capabilities/0/db:read/tables/2", "/capabilities/0/db:read/tables/3",
                          "/capabilities/0/db:read/tables/4", "/capabilities/1/secrets:read/keys/1",
                          "/capabilities/2/queue:publish/queues/1",
                          "/capabilities/2/queue:publish/queues/2"));
}

TEST(AllowedHostTest, AcceptsHostsWildcardsAndIps) {
  using internal::CheckAllowedHost;
  EXPECT_EQ(CheckAllowedHost("API.Stripe.com").host, "api.stripe.com");
  EXPECT_TRUE(CheckAllowedHost("localhost").ok);
  EXPECT_TRUE(CheckAllowedHost("*.example.com").ok);
  EXPECT_TRUE(CheckAllowedHost("*.a.example.com").ok);
  for (const char* ip : {"10.0.0.1", "::1", "[2001:db8::1]"}) {
    internal::HostCheck h = CheckAllowedHost(ip);
    EXPECT_TRUE(h.ok) << ip;
    EXPECT_TRUE(h.warning) << ip;
  }
  EXPECT_EQ(CheckAllowedHost("[2001:DB8::1]").host, "2001:db8::1");
}

TEST(AllowedHostTest, Rejects) {
  using internal::CheckAllowedHost;
  for (const char* bad :
       {"", "*", "*.com", "*.", "api.*.com", "*api.com", "a*.example.com", "https://api.stripe.com",
        "api.stripe.com:443", "api.stripe.com/v1", "api.stripe.com.", "-api.stripe.com",
        "api_x.stripe.com", "api stripe.com", "1.2.3.999", "[::g]", "a..b", "10.0.0.1:80"}) {
    EXPECT_FALSE(CheckAllowedHost(bad).ok) << bad;
  }
  EXPECT_THAT(CheckAllowedHost("*").message, HasSubstr("too broad"));
  EXPECT_EQ(CheckAllowedHost("https://API.stripe.com/v1").hint, "write \"api.stripe.com\"");
}

TEST(CapabilitiesTest, AllowIpLiteralIsAWarning) {
  CheckResult r = Parse("capabilities:\n  - http:egress: {allow: [10.0.0.1]}\n");
  EXPECT_THAT(Warnings(r), ElementsAre("/capabilities/0/http:egress/allow/0"));
  EXPECT_TRUE(r.contract);
}

TEST(CapabilitiesTest, TtlAndSizeBounds) {
  const auto ttl = [](std::string_view v) {
    return Parse("capabilities:\n  - cache:write: {prefix: \"a:\", max_ttl: " + std::string(v) +
                 "}\n");
  };
  EXPECT_EQ(ttl("3600").contract->capabilities[0].max_ttl_seconds, 3600);
  EXPECT_EQ(ttl("30d").contract->capabilities[0].max_ttl_seconds, 2'592'000);
  EXPECT_EQ(ttl("1m30s").contract->capabilities[0].max_ttl_seconds, 90);
  for (const char* bad : {"0", "-1", "31d", "1500ms", "1.5", "soon", "true", "2592001"}) {
    EXPECT_THAT(Errors(ttl(bad)), ElementsAre("/capabilities/0/cache:write/max_ttl")) << bad;
  }
  const auto size = [](std::string_view v) {
    return Parse("capabilities:\n  - fs:temp: {max_size: " + std::string(v) + "}\n");
  };
  EXPECT_EQ(size("1Mi").contract->capabilities[0].max_size_bytes, int64_t{1} << 20);
  EXPECT_EQ(size("1Gi").contract->capabilities[0].max_size_bytes, int64_t{1} << 30);
  EXPECT_EQ(size("2097152").contract->capabilities[0].max_size_bytes, int64_t{2} << 20);
  for (const char* bad : {"512Ki", "1025Mi", "64MB", "1.5", "-1Mi", "[]"}) {
    EXPECT_THAT(Errors(size(bad)), ElementsAre("/capabilities/0/fs:temp/max_size")) << bad;
  }
}

TEST(CapabilitiesTest, EmptyAndMissingListsWarn) {
  CheckResult r = Parse(
      "capabilities:\n  - db:read\n  - db:write: {tables: []}\n  - http:egress\n"
      "  - secrets:read: {keys: []}\n  - queue:publish\n");
  EXPECT_EQ(r.errors(), 0);
  EXPECT_THAT(Warnings(r), ElementsAre("/capabilities/0", "/capabilities/1", "/capabilities/2",
                                       "/capabilities/3/secrets:read/keys", "/capabilities/4"));
  EXPECT_THAT(r.findings[0].message, HasSubstr("every table"));
  EXPECT_THAT(r.findings[3].message, HasSubstr("keys is empty"));
}

TEST(CapabilitiesTest, ConflictingDeclarations) {
  CheckResult r = Parse(
      "capabilities:\n  - queue:publish: {queues: [events, events, audit]}\n"
      "  - queue:subscribe: {queues: [events]}\n  - db:rawsql\n"
      "  - queue:publish: {queues: [other]}\n");
  EXPECT_THAT(Errors(r), ElementsAre("/capabilities/3"));
  EXPECT_THAT(r.findings.back().message, HasSubstr("declared twice"));
  EXPECT_THAT(Warnings(r),
              ElementsAre("/capabilities/0/queue:publish/queues/1",
                          "/capabilities/1/queue:subscribe/queues/0", "/capabilities/2"));
  const Finding* loop = FindingAt(r, "/capabilities/1/queue:subscribe/queues/0");
  EXPECT_THAT(loop->message, HasSubstr("triggers itself"));
  EXPECT_THAT(FindingAt(r, "/capabilities/2")->message, HasSubstr("denied by default"));
}

TEST(CapabilitiesTest, BadIndentationOfOptions) {
  CheckResult r = Parse("capabilities:\n  - db:write:\n    tables: [orders]\n");
  EXPECT_THAT(Errors(r), ElementsAre("/capabilities/0"));
  EXPECT_THAT(r.findings[0].hint, HasSubstr("indent"));
}

// ---------------------------------------------------------------------------
// Resources.

CheckResult WithResources(std::string_view body) {
  return Parse("resources:\n" + std::string(body));
}

TEST(ResourcesTest, AcceptedValues) {
  CheckResult r = WithResources("  cpu: 500m\n  memory: 1Gi\n  timeout: 1m30s\n");
  ASSERT_TRUE(r.ok(true));
  EXPECT_DOUBLE_EQ(r.contract->resources.cpu, 0.5);
  EXPECT_EQ(r.contract->resources.memory_bytes, int64_t{1} << 30);
  EXPECT_EQ(r.contract->resources.timeout_ms, 90'000);
  for (const char* ok :
       {"  cpu: 0.1\n", "  cpu: 2\n", "  cpu: \"1.5\"\n", "  memory: 64Mi\n", "  memory: 2Gi\n",
        "  memory: 268435456\n", "  timeout: 1s\n", "  timeout: 300s\n", "  timeout: 5m\n",
        "  timeout: 30\n", "  timeout: 1500ms\n", "", "  {}\n"}) {
    EXPECT_TRUE(WithResources(ok).ok(true)) << ok;
  }
  EXPECT_EQ(WithResources("  timeout: 45\n").contract->resources.timeout_ms, 45'000);
}

TEST(ResourcesTest, OutOfBoundsAndMalformed) {
  const std::vector<std::pair<const char*, const char*>> cases = {
      {"  cpu: 0.05\n", "/resources/cpu"},          {"  cpu: 2.5\n", "/resources/cpu"},
      {"  cpu: 3000m\n", "/resources/cpu"},         {"  cpu: two\n", "/resources/cpu"},
      {"  cpu: true\n", "/resources/cpu"},          {"  memory: 32Mi\n", "/resources/memory"},
      {"  memory: 3Gi\n", "/resources/memory"},     {"  memory: 512\n", "/resources/memory"},
      {"  memory: 1 GB\n", "/resources/memory"},    {"  timeout: 0.5\n", "/resources/timeout"},
      {"  timeout: 301s\n", "/resources/timeout"},  {"  timeout: 1h\n", "/resources/timeout"},
      {"  timeout: 1 min\n", "/resources/timeout"}, {"  gpu: 1\n", "/resources/gpu"},
  };
  for (const auto& [body, pointer] : cases) {
    CheckResult r = WithResources(body);
    EXPECT_THAT(Errors(r), ElementsAre(pointer)) << body;
    EXPECT_FALSE(r.contract) << body;
  }
  CheckResult r = WithResources("  memory: 4Gi\n");
  EXPECT_THAT(r.findings[0].hint, HasSubstr("64Mi to 2Gi"));
  EXPECT_EQ(r.findings[0].line, 21);
  EXPECT_EQ(r.findings[0].column, 11);
}

TEST(ResourcesTest, MustBeAMapping) {
  EXPECT_THAT(Errors(Parse("resources: 1\n")), ElementsAre("/resources"));
}

// ---------------------------------------------------------------------------
// Observability.

TEST(ObservabilityTest, LogFieldsNameInputProperties) {
  CheckResult r = Parse("observability:\n  log_fields: [order_id, customer.tier, status]\n");
  ASSERT_TRUE(r.ok(true)) << FormatFinding(r.findings.at(0));
  EXPECT_THAT(r.contract->observability.log_fields,
              ElementsAre("order_id", "customer.tier", "status"));
  CheckResult bad = Parse(
      "observability:\n  log_fields: [order_idd, customer.name, order_id.x, \"\", customer.]\n");
  EXPECT_THAT(Errors(bad), ElementsAre("/observability/log_fields/0", "/observability/log_fields/1",
                                       "/observability/log_fields/2", "/observability/log_fields/3",
                                       "/observability/log_fields/4"));
  EXPECT_EQ(bad.findings[0].hint, "did you mean \"order_id\"?");
}

TEST(ObservabilityTest, LogFieldsFollowLocalRefs) {
  const std::string text =
      "name: A\nversion: 1.0.0\ninput:\n  type: object\n  definitions:\n"
      "    Address: {type: object, properties: {city: {type: string}}}\n"
      "  properties:\n    address: {$ref: \"#/definitions/Address\"}\n"
      "    both:\n      allOf:\n        - {properties: {x: {type: string}}}\n"
      "output: {type: object}\nobservability:\n  log_fields: [address.city, both.x]\n";
  CheckResult r = ParseContract(text);
  EXPECT_TRUE(r.ok(true)) << FormatFinding(r.findings.at(0));
}

TEST(ObservabilityTest, Metrics) {
  CheckResult r = Parse(
      "observability:\n  metrics:\n    - order_sync_duration_seconds\n"
      "    - name: order_sync_total\n      type: counter\n      description: syncs\n"
      "      labels: [status, tier]\n"
      "    - {name: order_sync_seconds, type: histogram, buckets: [0.1, 0.5, 1, 5]}\n"
      "    - {name: queue_depth, type: gauge}\n    - {name: lat, type: summary, labels: [le]}\n");
  ASSERT_EQ(r.errors(), 0) << FormatFinding(r.findings.at(0));
  EXPECT_THAT(Warnings(r), ElementsAre("/observability/metrics/0"));
  EXPECT_THAT(r.findings[0].message, HasSubstr("does not declare its type"));
  const auto& metrics = r.contract->observability.metrics;
  ASSERT_EQ(metrics.size(), 5u);
  EXPECT_EQ(metrics[0].type, MetricType::kCounter);
  EXPECT_EQ(metrics[1].description, "syncs");
  EXPECT_THAT(metrics[1].labels, ElementsAre("status", "tier"));
  EXPECT_THAT(metrics[2].buckets, ElementsAre(0.1, 0.5, 1.0, 5.0));
  EXPECT_EQ(metrics[3].type, MetricType::kGauge);
  EXPECT_EQ(metrics[4].type, MetricType::kSummary);
}

TEST(ObservabilityTest, CounterWithoutTotalWarns) {
  CheckResult r = Parse("observability:\n  metrics:\n    - {name: syncs, type: counter}\n");
  EXPECT_THAT(Warnings(r), ElementsAre("/observability/metrics/0/name"));
  EXPECT_THAT(r.findings[0].hint, HasSubstr("syncs_total"));
}

TEST(ObservabilityTest, MetricErrors) {
  CheckResult r = Parse(
      "observability:\n  metrics:\n"
      "    - {name: 1bad, type: counter}\n"                            // 0
      "    - {name: a_total, type: countr}\n"                          // 1
      "    - {name: b_total, type: counter, labels: [__x, ok, ok]}\n"  // 2
      "    - {name: c, type: histogram, labels: [le]}\n"               // 3
      "    - {name: d, type: summary, labels: [quantile]}\n"           // 4
      "    - {name: e, type: histogram, buckets: [1, 1]}\n"            // 5
      "    - {name: f, type: gauge, buckets: [1]}\n"                   // 6
      "    - {name: g, type: gauge, colour: red}\n"                    // 7
      "    - {name: g, type: gauge}\n"                                 // 8
      "    - {type: gauge}\n"                                          // 9
      "    - 42\n");                                                   // 10
  EXPECT_THAT(Errors(r),
              ElementsAre("/observability/metrics/0/name", "/observability/metrics/1/type",
                          "/observability/metrics/2/labels/0", "/observability/metrics/2/labels/2",
                          "/observability/metrics/3/labels/0", "/observability/metrics/4/labels/0",
                          "/observability/metrics/5/buckets/1", "/observability/metrics/6/buckets",
                          "/observability/metrics/7/colour", "/observability/metrics/8",
                          "/observability/metrics/9/name", "/observability/metrics/10"));
  EXPECT_EQ(FindingAt(r, "/observability/metrics/1/type")->hint, "did you mean \"counter\"?");
  EXPECT_THAT(FindingAt(r, "/observability/metrics/8")->message, HasSubstr("declared twice"));
}

TEST(ObservabilityTest, DuplicateMetricName) {
  CheckResult r = Parse(
      "observability:\n  metrics:\n    - {name: g, type: gauge}\n    - {name: g, type: gauge}\n");
  EXPECT_THAT(Errors(r), ElementsAre("/observability/metrics/1"));
}

TEST(ObservabilityTest, UnknownKeys) {
  CheckResult r = Parse("observability:\n  logfields: [order_id]\n");
  EXPECT_THAT(Errors(r), ElementsAre("/observability/logfields"));
  EXPECT_EQ(r.findings[0].hint, "did you mean \"log_fields\"?");
}

// ---------------------------------------------------------------------------
// Findings: order, format, JSON.

TEST(FindingsTest, InDocumentOrder) {
  CheckResult r = Parse("resources:\n  cpu: 9\nobservability:\n  log_fields: [nope]\n");
  ASSERT_EQ(r.errors(), 2);
  EXPECT_LT(r.findings[0].line, r.findings[1].line);
}

TEST(FindingsTest, FormatAndJson) {
  CheckResult r = ParseContract(std::string(kHead) + "resources:\n  memory: 4Gi\n",
                                SourceFormat::kYaml, "dir/order.contract.yaml");
  ASSERT_EQ(r.findings.size(), 1u);
  const Finding& f = r.findings[0];
  EXPECT_EQ(FormatFinding(f),
            "dir/order.contract.yaml:21:11: error E1002: memory of 4294967296 bytes is out of "
            "bounds (at /resources/memory)\n  hint: " +
                f.hint);
  const nlohmann::json j = f.ToJson();
  EXPECT_EQ(j["code"], "E1002");
  EXPECT_EQ(j["severity"], "error");
  EXPECT_EQ(j["file"], "dir/order.contract.yaml");
  EXPECT_EQ(j["line"], 21);
  EXPECT_EQ(j["column"], 11);
  EXPECT_EQ(j["pointer"], "/resources/memory");
  EXPECT_EQ(j["hint"], f.hint);
  Finding bare;
  bare.severity = Severity::kWarning;
  bare.message = "m";
  EXPECT_EQ(FormatFinding(bare), "<contract>: warning E1002: m");
}

// ---------------------------------------------------------------------------
// JSON contracts and digests.

TEST(JsonTest, SameDocumentSameDigestAsYaml) {
  for (const char* name : {"customer_lookup", "invoice_sync"}) {
    const std::string base = std::string(kValidDir) + name + ".contract.";
    CheckResult yaml = LoadContract(base + "yaml");
    CheckResult json = LoadContract(base + "json");
    ASSERT_TRUE(yaml.ok(true)) << name;
    ASSERT_TRUE(json.ok(true)) << FormatFinding(json.findings.at(0));
    EXPECT_EQ(json.contract->digest, yaml.contract->digest) << name;
    // kAuto recognizes JSON by its leading brace.
    CheckResult detected = ParseContract(" \n" + ReadFile(base + "json"));
    ASSERT_TRUE(detected.contract) << name;
    EXPECT_EQ(detected.contract->digest, yaml.contract->digest) << name;
  }
}

TEST(JsonTest, DigestIgnoresLayoutButNotContent) {
  const std::string block = std::string(kHead) + "capabilities:\n  - db:read\n";
  const std::string flow =
      "# same contract, other layout\n{version: \"1.0.0\", name: OrderSync, capabilities: "
      "[db:read], output: {type: object, properties: {status: {type: string}}}, input: {type: "
      "object, required: [order_id], properties: {customer: {type: object, properties: {tier: "
      "{type: string}}}, order_id: {type: string, format: uuid}}}}\n";
  CheckResult a = ParseContract(block, SourceFormat::kYaml);
  CheckResult b = ParseContract(flow, SourceFormat::kYaml);
  ASSERT_TRUE(a.contract && b.contract);
  EXPECT_EQ(a.contract->digest, b.contract->digest);
  CheckResult c = ParseContract(block + "resources: {cpu: 1}\n", SourceFormat::kYaml);
  ASSERT_TRUE(c.contract);
  EXPECT_NE(c.contract->digest, a.contract->digest);
  EXPECT_EQ(a.contract->digest.find_first_not_of("0123456789abcdef"), std::string::npos);
}

TEST(JsonTest, StrictSyntaxWithPositions) {
  CheckResult r =
      ParseContract("{\n  \"name\": \"A\",\n  \"version\": \"1.0.0\",\n}\n", SourceFormat::kJson);
  ASSERT_EQ(r.errors(), 1);
  EXPECT_EQ(r.findings[0].code, ErrorCode::kE1001);
  EXPECT_EQ(r.findings[0].line, 4);
  EXPECT_EQ(r.findings[0].column, 1);
  // YAML-only syntax is not JSON.
  EXPECT_EQ(ParseContract("name: A\n", SourceFormat::kJson).findings[0].code, ErrorCode::kE1001);
}

TEST(JsonTest, SemanticErrorsHavePositions) {
  CheckResult r = ParseContract(
      "{\n\t\"name\": \"order_sync\",\n\t\"version\": \"1.0.0\",\n\t\"input\": {\"type\": "
      "\"object\"},\n\t\"output\": {}\n}\n");
  ASSERT_THAT(Errors(r), ElementsAre("/name"));
  EXPECT_EQ(r.findings[0].line, 2);
  EXPECT_EQ(r.findings[0].column, 10);
}

TEST(JsonTest, DuplicateKeysAreErrors) {
  CheckResult r = ParseContract("{\"name\": \"A\", \"name\": \"B\"}", SourceFormat::kJson);
  ASSERT_EQ(r.errors(), 1);
  EXPECT_EQ(r.findings[0].code, ErrorCode::kE1001);
  EXPECT_THAT(r.findings[0].message, HasSubstr("duplicate key \"name\""));
}

// ---------------------------------------------------------------------------
// Files.

class FilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        std::filesystem::temp_directory_path() /
        ("magic_loader_test_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
         "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Touch(const std::string& name, std::string_view content = kHead) {
    const std::filesystem::path path = dir_ / name;
    std::ofstream(path) << content;
    return path.string();
  }

  std::filesystem::path dir_;
};

TEST_F(FilesTest, FindsNamedThenPlainContract) {
  EXPECT_EQ(FindContractFile(dir_.string()).status().code(), absl::StatusCode::kNotFound);
  Touch("order_sync.py", "");
  const std::string plain = Touch("contract.yaml");
  EXPECT_EQ(FindContractFile(dir_.string()).value(), plain);
  const std::string named = Touch("order_sync.contract.json", "{}");
  EXPECT_EQ(FindContractFile(dir_.string()).value(), named);
  Touch("other.contract.yml");
  EXPECT_EQ(FindContractFile(dir_.string()).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(FilesTest, SeveralPlainContractsAreAmbiguous) {
  Touch("contract.yaml");
  Touch("contract.json", "{}");
  EXPECT_EQ(FindContractFile(dir_.string()).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(FilesTest, IgnoresLookalikes) {
  Touch(".contract.yaml");
  Touch("contract.yaml.bak");
  std::filesystem::create_directory(dir_ / "x.contract.yaml");
  EXPECT_EQ(FindContractFile(dir_.string()).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(FindContractFile((dir_ / "missing").string()).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(FilesTest, LoadContractFromFile) {
  const std::string path = Touch("order_sync.contract.yaml");
  CheckResult r = LoadContract(path);
  ASSERT_TRUE(r.ok(true));
  EXPECT_EQ(r.contract->source_path, path);
}

TEST_F(FilesTest, UnreadableFiles) {
  CheckResult missing = LoadContract((dir_ / "nope.yaml").string());
  ASSERT_EQ(missing.errors(), 1);
  EXPECT_EQ(missing.findings[0].code, ErrorCode::kE1001);
  EXPECT_EQ(missing.findings[0].file, (dir_ / "nope.yaml").string());
  CheckResult directory = LoadContract(dir_.string());
  ASSERT_EQ(directory.errors(), 1);
  EXPECT_EQ(directory.findings[0].code, ErrorCode::kE1001);
}

TEST_F(FilesTest, JsonExtensionMeansStrictJson) {
  CheckResult r = LoadContract(Touch("a.contract.json", kHead));
  ASSERT_EQ(r.errors(), 1);
  EXPECT_EQ(r.findings[0].code, ErrorCode::kE1001);
}

}  // namespace
}  // namespace magic::contracts
