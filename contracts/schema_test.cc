// SchemaValidator, CheckSchemaDocument and CompiledContract: compiling,
// violation details (the spec's E1003 shape), $ref handling, guards.
#include "contracts/schema.h"

#include "common/errors.h"
#include "contracts/contract.h"
#include "contracts/testing/examples.h"

#include <absl/status/status.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace magic::contracts {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

// The spec's "Customer lookup" input schema.
const json& CustomerLookupInput() {
  static const auto* const kSchema = new json(json::parse(R"({
    "type": "object",
    "required": ["customer_id"],
    "properties": {
      "customer_id": {"type": "string", "format": "uuid",
                      "description": "The customer's unique identifier"},
      "include_orders": {"type": "boolean", "default": false,
                         "description": "Whether to include recent orders"}
    }
  })"));
  return *kSchema;
}

// The spec's InvoiceSync input schema, from examples/invoice_sync.
const json& InvoiceSyncInput() { return contracts::testing::InvoiceSyncInputSchema(); }

json ValidInvoice() {
  return json::parse(R"({
    "customer_id": "123e4567-e89b-12d3-a456-426614174000",
    "invoice_data": {"amount": 1200, "currency": "EUR",
                     "line_items": [{"description": "Consulting", "amount": 1200}]}
  })");
}

SchemaValidator MustCompile(const json& schema, const CompileOptions& options = {}) {
  absl::StatusOr<SchemaValidator> v = SchemaValidator::Compile(schema, options);
  EXPECT_TRUE(v.ok()) << v.status();
  if (!v.ok()) return *SchemaValidator::Compile(json::object());
  return *std::move(v);
}

// The first violation of `value` against `schema`.
Violation FirstViolation(const json& schema, const json& value) {
  const std::vector<Violation> violations = MustCompile(schema).Check(value);
  EXPECT_FALSE(violations.empty()) << value.dump();
  return violations.empty() ? Violation{} : violations.front();
}

// ---------------------------------------------------------------------------
// Error details.

TEST(SchemaValidatorTest, SpecExampleGivesExactlyTheSpecDetails) {
  const SchemaValidator v = MustCompile(CustomerLookupInput());
  const absl::Status s = v.Validate(json{{"customer_id", "not-a-uuid"}}, ErrorCode::kE1003);
  ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  const Error error = ErrorFromStatus(s, "req_abc123");
  EXPECT_EQ(error.code, ErrorCode::kE1003);
  const json body = error.ToJson().at("error");
  EXPECT_EQ(body.at("code"), "E1003");
  EXPECT_EQ(body.at("category"), "CONTRACT");
  EXPECT_EQ(body.at("message"), "Input validation failed");
  EXPECT_EQ(body.at("request_id"), "req_abc123");
  const json& details = body.at("details");
  EXPECT_EQ(details.at("field"), "customer_id");
  EXPECT_EQ(details.at("constraint"), "format");
  EXPECT_EQ(details.at("expected"), "uuid");
  EXPECT_EQ(details.at("pointer"), "/customer_id");
  ASSERT_EQ(details.at("violations").size(), 1u);
  EXPECT_EQ(details.at("violations")[0].at("field"), "customer_id");
}

TEST(SchemaValidatorTest, ValidInputIsOk) {
  const SchemaValidator v = MustCompile(InvoiceSyncInput());
  EXPECT_TRUE(v.IsValid(ValidInvoice()));
  EXPECT_TRUE(v.Check(ValidInvoice()).empty());
  EXPECT_TRUE(v.Validate(ValidInvoice(), ErrorCode::kE1003).ok());
}

TEST(SchemaValidatorTest, NestedPathsAreDottedInDetailsAndPointersInViolations) {
  json input = ValidInvoice();
  input["invoice_data"]["line_items"][0]["amount"] = 12.5;
  const SchemaValidator v = MustCompile(InvoiceSyncInput());
  const std::vector<Violation> violations = v.Check(input);
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_EQ(violations[0].field, "/invoice_data/line_items/0/amount");
  EXPECT_EQ(violations[0].constraint, "type");
  EXPECT_EQ(violations[0].expected, "integer");
  const json details = ErrorFromStatus(v.Validate(input, ErrorCode::kE1003)).details;
  EXPECT_EQ(details.at("field"), "invoice_data.line_items[0].amount");
  EXPECT_EQ(details.at("pointer"), "/invoice_data/line_items/0/amount");
  EXPECT_FALSE(details.at("message").get<std::string>().empty());
}

TEST(SchemaValidatorTest, RequiredPointsAtTheMissingMember) {
  const Violation top = FirstViolation(InvoiceSyncInput(), json{{"customer_id", "x"}});
  const std::vector<Violation> all =
      MustCompile(InvoiceSyncInput()).Check(json{{"customer_id", ValidInvoice()["customer_id"]}});
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].field, "/invoice_data");
  EXPECT_EQ(all[0].constraint, "required");
  EXPECT_EQ(all[0].expected, "invoice_data");

  json input = ValidInvoice();
  input["invoice_data"]["line_items"][0].erase("description");
  const json details =
      ErrorFromStatus(MustCompile(InvoiceSyncInput()).Validate(input, ErrorCode::kE1003)).details;
  EXPECT_EQ(details.at("field"), "invoice_data.line_items[0].description");
  EXPECT_EQ(details.at("constraint"), "required");
  EXPECT_EQ(details.at("expected"), "description");
  (void)top;
}

TEST(SchemaValidatorTest, EnumTypeAndMinimumReportWhatTheSchemaAsks) {
  json input = ValidInvoice();
  input["invoice_data"]["currency"] = "JPY";
  Violation v = FirstViolation(InvoiceSyncInput(), input);
  EXPECT_EQ(v.field, "/invoice_data/currency");
  EXPECT_EQ(v.constraint, "enum");
  EXPECT_EQ(v.expected, json::parse(R"(["USD", "EUR", "GBP"])"));

  input = ValidInvoice();
  input["invoice_data"]["amount"] = -1;
  v = FirstViolation(InvoiceSyncInput(), input);
  EXPECT_EQ(v.constraint, "minimum");
  EXPECT_EQ(v.expected, 0);

  const json nullable = json::parse(R"({"properties": {"n": {"type": ["string", "null"]}}})");
  v = FirstViolation(nullable, json{{"n", 5}});
  EXPECT_EQ(v.field, "/n");
  EXPECT_EQ(v.constraint, "type");
  EXPECT_EQ(v.expected, json::parse(R"(["string", "null"])"));
}

TEST(SchemaValidatorTest, OtherKeywordsNameTheirConstraint) {
  struct Case {
    const char* schema;
    const char* value;
    const char* field;
    const char* constraint;
    const char* expected;
  };
  const Case cases[] = {
      {R"({"maxLength": 2})", R"("abc")", "", "maxLength", "2"},
      {R"({"minItems": 2})", "[1]", "", "minItems", "2"},
      {R"({"uniqueItems": true})", "[1, 1]", "", "uniqueItems", "true"},
      {R"({"pattern": "^a+$"})", R"("b")", "", "pattern", R"("^a+$")"},
      {R"({"multipleOf": 3})", "4", "", "multipleOf", "3"},
      {R"({"exclusiveMaximum": 3})", "3", "", "exclusiveMaximum", "3"},
      {R"({"const": "x"})", R"("y")", "", "const", R"("x")"},
      {R"({"additionalProperties": false, "properties": {"a": {}}})", R"({"a": 1, "b": 2})", "/b",
       "additionalProperties", "false"},
      {R"({"dependencies": {"a": ["b"]}})", R"({"a": 1})", "/b", "dependencies", R"("b")"},
      {R"({"not": {"type": "string"}})", R"("s")", "", "not", R"({"type": "string"})"},
      {R"({"contains": {"const": 1}})", "[2]", "", "contains", R"({"const": 1})"},
      {R"({"items": [{}], "additionalItems": false})", "[1, 2]", "/1", "additionalItems", "false"},
      {R"({"properties": {"a": {"format": "date"}}})", R"({"a": "2021-02-29"})", "/a", "format",
       R"("date")"},
      {R"({"propertyNames": {"maxLength": 2}})", R"({"ab": 1, "abc": 2})", "/abc", "propertyNames",
       R"({"maxLength": 2})"},
  };
  for (const Case& c : cases) {
    const Violation v = FirstViolation(json::parse(c.schema), json::parse(c.value));
    EXPECT_EQ(v.field, c.field) << c.schema;
    EXPECT_EQ(v.constraint, c.constraint) << c.schema;
    EXPECT_EQ(v.expected, json::parse(c.expected)) << c.schema;
  }
}

TEST(SchemaValidatorTest, DeepestViolationsComeFirst) {
  json input = ValidInvoice();
  input.erase("customer_id");
  input["invoice_data"]["line_items"][0]["description"] = 7;
  input["invoice_data"]["currency"] = "JPY";
  const std::vector<Violation> violations = MustCompile(InvoiceSyncInput()).Check(input);
  ASSERT_EQ(violations.size(), 3u);
  EXPECT_EQ(violations[0].field, "/invoice_data/line_items/0/description");
  EXPECT_EQ(violations[1].field, "/invoice_data/currency");
  EXPECT_EQ(violations[2].field, "/customer_id");
  for (const Violation& v : violations) {
    EXPECT_NE(v.constraint, "false") << "summary left in: " << v.message;
  }
}

TEST(SchemaValidatorTest, AnyOfReportsTheBranchErrorsBeforeTheCombinator) {
  const json schema = json::parse(
      R"({"properties": {"n": {"anyOf": [{"type": "string", "format": "uuid"}, {"type": "null"}]}}})");
  const std::vector<Violation> violations = MustCompile(schema).Check(json{{"n", "bad"}});
  ASSERT_FALSE(violations.empty());
  EXPECT_EQ(violations.front().constraint, "format");
  EXPECT_EQ(violations.back().constraint, "anyOf");
  EXPECT_EQ(violations.back().expected,
            json::parse(R"([{"type": "string", "format": "uuid"}, {"type": "null"}])"));
}

TEST(SchemaValidatorTest, DetailsListAtMostTwentyViolations) {
  json schema = {{"type", "object"}, {"properties", json::object()}};
  json input = json::object();
  for (int i = 0; i < 30; ++i) {
    schema["properties"]["p" + std::to_string(i)] = {{"type", "integer"}};
    input["p" + std::to_string(i)] = "not a number";
  }
  const SchemaValidator v = MustCompile(schema);
  EXPECT_EQ(v.Check(input).size(), 30u);
  const json details = ErrorFromStatus(v.Validate(input, ErrorCode::kE1004)).details;
  EXPECT_EQ(details.at("violations").size(), 20u);
}

TEST(SchemaValidatorTest, PropertyNamesNameEachBadMember) {
  const json schema = json::parse(R"({
    "properties": {"metadata": {"type": "object", "propertyNames": {"pattern": "^[a-z]+$"}}}
  })");
  const std::vector<Violation> violations =
      MustCompile(schema).Check(json::parse(R"({"metadata": {"BAD": 1, "ok": 2, "Nope": 3}})"));
  ASSERT_EQ(violations.size(), 2u);
  EXPECT_EQ(violations[0].field, "/metadata/BAD");
  EXPECT_EQ(violations[1].field, "/metadata/Nope");
  EXPECT_EQ(violations[0].constraint, "propertyNames");
  EXPECT_EQ(violations[0].expected, json::parse(R"({"pattern": "^[a-z]+$"})"));
}

TEST(SchemaValidatorTest, FalseSchemasAreReported) {
  Violation v = FirstViolation(false, 1);
  EXPECT_EQ(v.field, "");
  EXPECT_EQ(v.constraint, "false");
  v = FirstViolation(json::parse(R"({"properties": {"a": false}})"), json{{"a", 1}});
  EXPECT_EQ(v.field, "/a");
  EXPECT_EQ(v.constraint, "false");
}

TEST(SchemaValidatorTest, NonStringsPassFormats) {
  const SchemaValidator v = MustCompile(json{{"format", "uuid"}});
  EXPECT_TRUE(v.IsValid(5));
  EXPECT_TRUE(v.IsValid(nullptr));
  EXPECT_TRUE(v.IsValid(json::object()));
  EXPECT_FALSE(v.IsValid("nope"));
}

TEST(SchemaValidatorTest, UncheckedFormatsAreAnnotations) {
  const SchemaValidator v = MustCompile(json{{"format", "color"}});
  EXPECT_TRUE(v.IsValid("not a color"));
}

TEST(SchemaValidatorTest, KeywordNamesAsPropertyNamesStillWork) {
  const json schema = json::parse(R"({
    "type": "object",
    "required": ["format", "pattern", "type"],
    "properties": {
      "format": {"type": "string", "format": "email"},
      "pattern": {"type": "string", "pattern": "^x"},
      "type": {"enum": ["a", "b"]},
      "$id": {"type": "integer"}
    }
  })");
  const SchemaValidator v = MustCompile(schema);
  EXPECT_TRUE(v.IsValid(json::parse(R"({"format": "a@b.co", "pattern": "xy", "type": "a"})")));
  EXPECT_TRUE(
      v.IsValid(json::parse(R"({"format": "a@b.co", "pattern": "xy", "type": "a", "$id": 1})")));
  const Violation bad =
      FirstViolation(schema, json::parse(R"({"format": "nope", "pattern": "xy", "type": "a"})"));
  EXPECT_EQ(bad.field, "/format");
  EXPECT_EQ(bad.constraint, "format");
  EXPECT_EQ(bad.expected, "email");
  EXPECT_EQ(FirstViolation(schema, json::parse(R"({"format": "a@b.co", "type": "a"})")).field,
            "/pattern");
}

TEST(SchemaValidatorTest, IntegersMayBeWrittenAsFloats) {
  const SchemaValidator v = MustCompile(json{{"type", "integer"}, {"maxLength", 2.0}});
  EXPECT_TRUE(v.IsValid(1.0));
  EXPECT_FALSE(v.IsValid(1.5));
}

// ---------------------------------------------------------------------------
// $ref.

TEST(SchemaValidatorTest, RefToDefinitions) {
  const json schema = json::parse(R"({
    "type": "object",
    "definitions": {
      "Order": {"type": "object", "required": ["id"],
                "properties": {"id": {"type": "string", "format": "uuid"}}}
    },
    "properties": {"orders": {"type": "array", "items": {"$ref": "#/definitions/Order"}}}
  })");
  const SchemaValidator v = MustCompile(schema);
  EXPECT_TRUE(
      v.IsValid(json::parse(R"({"orders": [{"id": "123e4567-e89b-12d3-a456-426614174000"}]})")));
  const std::vector<Violation> violations = v.Check(
      json::parse(R"({"orders": [{"id": "123e4567-e89b-12d3-a456-426614174000"}, {"id": "x"}]})"));
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_EQ(violations[0].field, "/orders/1/id");
  EXPECT_EQ(violations[0].constraint, "format");
  EXPECT_EQ(violations[0].expected, "uuid");
  EXPECT_EQ(FirstViolation(schema, json::parse(R"({"orders": [{}]})")).field, "/orders/0/id");
}

TEST(SchemaValidatorTest, RefCyclesCompileAndValidateFiniteData) {
  const auto start = std::chrono::steady_clock::now();
  const SchemaValidator self = MustCompile(json::parse(R"({"$ref": "#"})"));
  EXPECT_TRUE(self.IsValid(json::parse(R"({"a": [1, 2, {"b": null}]})")));

  const SchemaValidator loop = MustCompile(json::parse(R"({
    "definitions": {
      "a": {"$ref": "#/definitions/b"},
      "b": {"allOf": [{"$ref": "#/definitions/a"}, {"type": "string"}]}
    },
    "$ref": "#/definitions/a"
  })"));
  EXPECT_TRUE(loop.IsValid("s"));
  EXPECT_FALSE(loop.IsValid(1));

  const json tree_schema = json::parse(R"({
    "type": "object",
    "properties": {"value": {"type": "integer"},
                   "children": {"type": "array", "items": {"$ref": "#"}}}
  })");
  const SchemaValidator tree = MustCompile(tree_schema);
  json tree_value = {{"value", 1}};
  for (int i = 0; i < 50; ++i) tree_value = {{"value", i}, {"children", {tree_value}}};
  EXPECT_TRUE(tree.IsValid(tree_value));
  tree_value["children"][0]["children"][0]["value"] = "x";
  EXPECT_EQ(tree.Check(tree_value).front().field, "/children/0/children/0/value");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(SchemaValidatorTest, PathologicallyDeepDataIsRejectedNotCrashed) {
  const SchemaValidator v = MustCompile(json::parse(R"({"items": {"$ref": "#"}})"));
  json value = json::array();
  for (int i = 0; i < 100000; ++i) value = json::array({std::move(value)});
  EXPECT_FALSE(v.IsValid(value));
  const std::vector<Violation> violations = v.Check(value);
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_EQ(violations[0].constraint, "maxDepth");
}

TEST(SchemaValidatorTest, RemoteRefIsRefusedWithoutAFetcher) {
  const json schema =
      json::parse(R"({"properties": {"a": {"$ref": "http://example.com/a.json"}}})");
  const absl::StatusOr<SchemaValidator> v = SchemaValidator::Compile(schema);
  ASSERT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(v.status().message()), HasSubstr("http://example.com/a.json"));

  const json relative = json::parse(R"({"$ref": "other.json#/definitions/x"})");
  EXPECT_THAT(std::string(SchemaValidator::Compile(relative).status().message()),
              HasSubstr("other.json"));
}

TEST(SchemaValidatorTest, RemoteRefUsesTheFetcher) {
  std::vector<std::string> asked;
  CompileOptions options;
  options.fetcher = [&asked](const std::string& uri) -> std::optional<json> {
    asked.push_back(uri);
    if (uri != "http://example.com/a.json") return std::nullopt;
    return json::parse(R"({"definitions": {"id": {"type": "string", "format": "uuid"}}})");
  };
  const json schema = json::parse(
      R"({"properties": {"a": {"$ref": "http://example.com/a.json#/definitions/id"}}})");
  const SchemaValidator v = MustCompile(schema, options);
  EXPECT_EQ(asked, std::vector<std::string>{"http://example.com/a.json"});
  EXPECT_TRUE(v.IsValid(json{{"a", "123e4567-e89b-12d3-a456-426614174000"}}));
  EXPECT_FALSE(v.IsValid(json{{"a", "x"}}));
  EXPECT_FALSE(
      SchemaValidator::Compile(json::parse(R"({"$ref": "http://example.com/b.json"})"), options)
          .ok());
}

TEST(SchemaValidatorTest, IdScopesAndAnchorsResolveLocally) {
  const json schema = json::parse(R"({
    "$id": "http://example.com/root.json",
    "definitions": {
      "a": {"$id": "#item", "type": "integer"},
      "b": {"$id": "other.json", "definitions": {"c": {"type": "string"}}}
    },
    "properties": {
      "x": {"$ref": "#item"},
      "y": {"$ref": "other.json#/definitions/c"},
      "z": {"$ref": "http://example.com/root.json#/definitions/a"}
    }
  })");
  const SchemaValidator v = MustCompile(schema);
  EXPECT_TRUE(v.IsValid(json{{"x", 1}, {"y", "s"}, {"z", 2}}));
  EXPECT_FALSE(v.IsValid(json{{"x", "1"}}));
  EXPECT_FALSE(v.IsValid(json{{"y", 1}}));
  EXPECT_FALSE(v.IsValid(json{{"z", "2"}}));
}

// ---------------------------------------------------------------------------
// Bad schemas.

TEST(SchemaValidatorTest, BadSchemasAreInvalidArgumentNeverExceptions) {
  const char* bad[] = {
      R"({"type": 5})",
      R"({"type": "strin"})",
      R"({"minLength": -1})",
      R"({"minLength": "x"})",
      R"({"$ref": 5})",
      R"({"$ref": "#/definitions/missing"})",
      R"({"$ref": "#nowhere"})",
      R"({"properties": {"a": 5}})",
      R"({"items": 5})",
      R"({"pattern": "(unclosed"})",
      R"({"patternProperties": {"(": {}}})",
      R"({"multipleOf": 0})",
      R"({"format": 5})",
      R"({"required": [1]})",
      R"({"allOf": {}})",
  };
  for (const char* schema : bad) {
    absl::StatusOr<SchemaValidator> v = SchemaValidator::Compile(json::parse(schema));
    EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument) << schema;
  }
}

TEST(SchemaValidatorTest, ExcessiveNestingIsRefused) {
  json schema = {{"type", "string"}};
  for (int i = 0; i < 1000; ++i) schema = {{"properties", {{"a", std::move(schema)}}}};
  EXPECT_EQ(SchemaValidator::Compile(schema).status().code(), absl::StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------
// Meta-schema.

TEST(CheckSchemaDocumentTest, MetaSchemaIsTheDraft07Document) {
  const json& meta = Draft07MetaSchema();
  EXPECT_EQ(meta.at("$id"), "http://json-schema.org/draft-07/schema#");
  EXPECT_EQ(meta.at("title"), "Core schema meta-schema");
  EXPECT_TRUE(meta.at("properties").contains("if"));
  EXPECT_TRUE(CheckSchemaDocument(meta).empty());
}

TEST(CheckSchemaDocumentTest, AcceptsUsableSchemas) {
  EXPECT_TRUE(CheckSchemaDocument(InvoiceSyncInput()).empty());
  EXPECT_TRUE(CheckSchemaDocument(CustomerLookupInput()).empty());
  EXPECT_TRUE(CheckSchemaDocument(true).empty());
  EXPECT_TRUE(CheckSchemaDocument(json::object()).empty());
}

TEST(CheckSchemaDocumentTest, RejectsWrongKeywordTypes) {
  std::vector<Violation> v = CheckSchemaDocument(json{{"type", 5}});
  ASSERT_FALSE(v.empty());
  EXPECT_EQ(v[0].field, "/type");

  v = CheckSchemaDocument(json{{"minLength", -1}});
  ASSERT_FALSE(v.empty());
  EXPECT_EQ(v[0].field, "/minLength");
  EXPECT_EQ(v[0].constraint, "minimum");
  EXPECT_EQ(v[0].expected, 0);

  v = CheckSchemaDocument(json::parse(R"({"properties": {"a": {"type": "strin"}}})"));
  ASSERT_FALSE(v.empty());
  EXPECT_EQ(v[0].field, "/properties/a/type");

  EXPECT_FALSE(CheckSchemaDocument(5).empty());
  EXPECT_FALSE(CheckSchemaDocument(json{{"required", "a"}}).empty());
}

TEST(CheckSchemaDocumentTest, RejectsBadRegexes) {
  std::vector<Violation> v = CheckSchemaDocument(json::parse(R"({"pattern": "(unclosed"})"));
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].field, "/pattern");
  EXPECT_EQ(v[0].constraint, "format");
  EXPECT_EQ(v[0].expected, "regex");

  v = CheckSchemaDocument(
      json::parse(R"({"properties": {"a": {"patternProperties": {"[": {}}}}})"));
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].field, "/properties/a/patternProperties/[");
}

TEST(CheckSchemaDocumentTest, ReportsWhatOnlyCompilingFinds) {
  const std::vector<Violation> v =
      CheckSchemaDocument(json::parse(R"({"$ref": "http://example.com/x.json"})"));
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].constraint, "schema");
  EXPECT_THAT(v[0].message, HasSubstr("http://example.com/x.json"));
}

// ---------------------------------------------------------------------------
// Sharing and threads.

TEST(SchemaValidatorTest, CopiesShareStateAndThreadsShareValidators) {
  const SchemaValidator original = MustCompile(InvoiceSyncInput());
  const SchemaValidator copy = original;  // NOLINT(performance-unnecessary-copy-initialization)
  json bad = ValidInvoice();
  bad["customer_id"] = "x";
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        if (!copy.IsValid(ValidInvoice()) || copy.Check(bad).size() != 1) ++failures[t];
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures, std::vector<int>(4, 0));
}

// ---------------------------------------------------------------------------
// CompiledContract.

Contract InvoiceContract() {
  Contract c;
  c.name = "InvoiceSync";
  c.version = "1.2.0";
  c.input = InvoiceSyncInput();
  c.output = json::parse(R"({
    "type": "object", "required": ["sync_id", "status", "request_id"],
    "properties": {"sync_id": {"type": "string"},
                   "status": {"type": "string", "enum": ["queued", "completed", "failed"]},
                   "request_id": {"type": "string"}}
  })");
  return c;
}

TEST(CompiledContractTest, ValidatesInputAndOutputWithTheirCodes) {
  const absl::StatusOr<std::shared_ptr<const CompiledContract>> compiled =
      CompiledContract::Compile(InvoiceContract());
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  const CompiledContract& c = **compiled;
  EXPECT_EQ(c.contract().name, "InvoiceSync");
  EXPECT_TRUE(c.ValidateInput(ValidInvoice()).ok());
  EXPECT_EQ(ErrorCodeOf(c.ValidateInput(json{{"customer_id", "x"}})), ErrorCode::kE1003);

  const json good_output = {{"sync_id", "s"}, {"status", "completed"}, {"request_id", "r"}};
  EXPECT_TRUE(c.ValidateOutput(good_output).ok());
  json bad_output = good_output;
  bad_output["status"] = "lost";
  const absl::Status s = c.ValidateOutput(bad_output);
  EXPECT_EQ(ErrorCodeOf(s), ErrorCode::kE1004);
  const Error e = ErrorFromStatus(s);
  EXPECT_EQ(e.message, "Output validation failed");
  EXPECT_EQ(e.details.at("field"), "status");
  EXPECT_EQ(e.details.at("constraint"), "enum");
}

TEST(CompiledContractTest, UncompilableSchemaIsE1002) {
  Contract contract = InvoiceContract();
  contract.output = json{{"type", "strin"}};
  const auto compiled = CompiledContract::Compile(contract);
  ASSERT_FALSE(compiled.ok());
  EXPECT_EQ(compiled.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorCodeOf(compiled.status()), ErrorCode::kE1002);
  EXPECT_EQ(ErrorFromStatus(compiled.status()).details.at("field"), "output");
}

}  // namespace
}  // namespace magic::contracts
