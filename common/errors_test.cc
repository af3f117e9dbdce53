#include "common/errors.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace magic {
namespace {

TEST(ErrorCatalogTest, HasAllTwentyFiveCodesInOrderAndUnique) {
  std::set<std::string> ids;
  for (int i = 0; i < kErrorCodeCount; ++i) {
    const ErrorInfo& info = Catalog()[i];
    EXPECT_EQ(static_cast<int>(info.code), i);
    EXPECT_EQ(&Describe(info.code), &info);
    EXPECT_FALSE(info.title.empty());
    EXPECT_FALSE(info.resolution.empty());
    ids.insert(std::string(info.id));
  }
  EXPECT_EQ(ids.size(), 25u);
}

TEST(ErrorCatalogTest, MatchesDesignTable) {
  struct Row {
    const char* id;
    ErrorCategory category;
    int http;
    absl::StatusCode grpc;
  };
  const Row rows[] = {
      {"E1001", ErrorCategory::kContract, 400, absl::StatusCode::kInvalidArgument},
      {"E1003", ErrorCategory::kContract, 400, absl::StatusCode::kInvalidArgument},
      {"E1004", ErrorCategory::kContract, 500, absl::StatusCode::kInternal},
      {"E2005", ErrorCategory::kCapability, 403, absl::StatusCode::kPermissionDenied},
      {"E3001", ErrorCategory::kExecution, 504, absl::StatusCode::kDeadlineExceeded},
      {"E3002", ErrorCategory::kExecution, 500, absl::StatusCode::kResourceExhausted},
      {"E3004", ErrorCategory::kExecution, 429, absl::StatusCode::kResourceExhausted},
      {"E3005", ErrorCategory::kExecution, 500, absl::StatusCode::kUnavailable},
      {"E4002", ErrorCategory::kDeployment, 400, absl::StatusCode::kAlreadyExists},
      {"E4003", ErrorCategory::kDeployment, 404, absl::StatusCode::kNotFound},
      {"E4004", ErrorCategory::kDeployment, 400, absl::StatusCode::kFailedPrecondition},
      {"E5001", ErrorCategory::kAuth, 401, absl::StatusCode::kUnauthenticated},
      {"E5005", ErrorCategory::kAuth, 403, absl::StatusCode::kPermissionDenied},
  };
  for (const Row& row : rows) {
    std::optional<ErrorCode> code = ParseErrorCode(row.id);
    ASSERT_TRUE(code.has_value()) << row.id;
    const ErrorInfo& info = Describe(*code);
    EXPECT_EQ(info.category, row.category) << row.id;
    EXPECT_EQ(info.http_status, row.http) << row.id;
    EXPECT_EQ(info.grpc_code, row.grpc) << row.id;
  }
}

TEST(ErrorCatalogTest, ParseRejectsUnknown) {
  EXPECT_FALSE(ParseErrorCode("E9999").has_value());
  EXPECT_FALSE(ParseErrorCode("").has_value());
  EXPECT_FALSE(ParseErrorCode("e1001").has_value());
}

TEST(ErrorTest, JsonShapeMatchesSpecExample) {
  Error e;
  e.code = ErrorCode::kE1003;
  e.message = "Input validation failed";
  e.details = {{"field", "customer_id"}, {"constraint", "format"}, {"expected", "uuid"}};
  e.request_id = "req_abc123";
  const nlohmann::json expected = nlohmann::json::parse(R"({
    "error": {"code": "E1003", "category": "CONTRACT", "message": "Input validation failed",
              "details": {"field": "customer_id", "constraint": "format", "expected": "uuid"},
              "request_id": "req_abc123"}})");
  EXPECT_EQ(e.ToJson(), expected);
  std::optional<Error> back = Error::FromJson(expected);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->code, ErrorCode::kE1003);
  EXPECT_EQ(back->details, e.details);
  EXPECT_EQ(back->request_id, "req_abc123");
}

TEST(ErrorTest, EmptyDetailsAndRequestIdAreOmitted) {
  Error e;
  e.code = ErrorCode::kE3001;
  nlohmann::json j = e.ToJson();
  EXPECT_FALSE(j["error"].contains("details"));
  EXPECT_FALSE(j["error"].contains("request_id"));
  EXPECT_EQ(j["error"]["message"], "timeout");
  EXPECT_EQ(j["error"]["category"], "EXECUTION");
}

TEST(ErrorTest, FromJsonRejectsNonErrors) {
  EXPECT_FALSE(Error::FromJson(nlohmann::json::parse("{}")).has_value());
  EXPECT_FALSE(Error::FromJson(nlohmann::json::parse(R"({"error": 1})")).has_value());
  EXPECT_FALSE(Error::FromJson(nlohmann::json::parse(R"({"error": {"code": "E0"}})")).has_value());
  EXPECT_FALSE(Error::FromJson(nlohmann::json::parse("[]")).has_value());
}

TEST(StatusBridgeTest, MakeErrorCarriesCodeAndDetails) {
  absl::Status s = MakeError(ErrorCode::kE2003, "table not allowed", {{"table", "users"}});
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(s.message(), "table not allowed");
  EXPECT_EQ(ErrorCodeOf(s), ErrorCode::kE2003);
  Error e = ErrorFromStatus(s, "req-1");
  EXPECT_EQ(e.code, ErrorCode::kE2003);
  EXPECT_EQ(e.details["table"], "users");
  EXPECT_EQ(e.request_id, "req-1");
}

TEST(StatusBridgeTest, PlainStatusBecomesE3005) {
  absl::Status s = absl::InternalError("boom");
  EXPECT_FALSE(ErrorCodeOf(s).has_value());
  Error e = ErrorFromStatus(s);
  EXPECT_EQ(e.code, ErrorCode::kE3005);
  EXPECT_EQ(e.message, "boom");
}

TEST(StatusBridgeTest, EmptyMessageUsesTitle) {
  absl::Status s = MakeError(ErrorCode::kE4003, "");
  EXPECT_EQ(s.message(), "controller or version not found");
}

}  // namespace
}  // namespace magic
