// The SQL builder and the value mapping, without a server: identifier
// checks, quoting, parameter numbering, operator mapping, limits, and the
// PostgreSQL text -> JSON conversions.
#include "broker/internal/sql_builder.h"

#include "broker/internal/db_catalog.h"
#include "broker/internal/db_values.h"
#include "common/errors.h"
#include "common/testing/status_testing.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace magic::broker::internal {
namespace {

using nlohmann::json;
using testing::ElementsAre;
using testing::HasSubstr;

template <typename T>
std::optional<ErrorCode> CodeOf(const absl::StatusOr<T>& s) {
  return ErrorCodeOf(s.status());
}
std::optional<ErrorCode> CodeOf(const absl::Status& s) { return ErrorCodeOf(s); }

json DetailsOf(const absl::Status& s) { return ErrorFromStatus(s).details; }

TableInfo Orders() {
  TableInfo t;
  t.schema = "app";
  t.name = "orders";
  auto add = [&](std::string name, std::string type, ColumnKind kind) {
    t.columns.emplace(name, ColumnInfo{name, std::move(type), kind});
  };
  add("id", "integer", ColumnKind::kScalar);
  add("name", "character varying", ColumnKind::kScalar);
  add("total", "numeric", ColumnKind::kScalar);
  add("data", "jsonb", ColumnKind::kJson);
  add("tags", "text[]", ColumnKind::kArray);
  add("blob", "bytea", ColumnKind::kBytea);
  add("we\"ird; col", "text", ColumnKind::kScalar);
  return t;
}

class SqlBuilderTest : public testing::Test {
 protected:
  absl::StatusOr<Statement> Select(const json& params) {
    return BuildSelect(table_, params, limits_, false);
  }
  // The SQL of a query with `where`, failing the test on an error.
  Statement Where(const json& where) {
    absl::StatusOr<Statement> st = Select({{"where", where}});
    EXPECT_OK(st);
    return st.ok() ? *st : Statement{};
  }

  TableInfo table_ = Orders();
  SqlLimits limits_;
};

using Params = std::vector<std::optional<std::string>>;

TEST(QuoteIdentTest, DoublesQuotes) {
  EXPECT_EQ(QuoteIdent("id"), "\"id\"");
  EXPECT_EQ(QuoteIdent("a\"b"), "\"a\"\"b\"");
  EXPECT_EQ(QuoteIdent("x\"; DROP TABLE t; --"), "\"x\"\"; DROP TABLE t; --\"");
}

TEST(SafeDetailTest, CutsAtCharacterBoundaryAndRejectsBadUtf8) {
  EXPECT_EQ(SafeDetail("orders"), "orders");
  const std::string long_name(500, 'x');
  EXPECT_EQ(SafeDetail(long_name).size(), 128u + 3u);
  const std::string umlauts = std::string(127, 'a') + "\xc3\xa4\xc3\xa4";  // cut inside a character
  EXPECT_EQ(SafeDetail(umlauts), std::string(127, 'a') + "...");
  EXPECT_EQ(SafeDetail("\xff\xfe"), "<invalid utf-8>");
}

TEST(IdentifierArgTest, OnlyShortNonEmptyStrings) {
  const absl::StatusOr<std::string> ok = IdentifierArg("orders", "table");
  ASSERT_OK(ok);
  EXPECT_EQ(*ok, "orders");
  EXPECT_EQ(CodeOf(IdentifierArg(42, "table")), ErrorCode::kE1005);
  EXPECT_EQ(CodeOf(IdentifierArg(json::array({"a"}), "table")), ErrorCode::kE1005);
  EXPECT_EQ(CodeOf(IdentifierArg(nullptr, "table")), ErrorCode::kE1005);
  EXPECT_EQ(CodeOf(IdentifierArg("", "table")), ErrorCode::kE1005);
  EXPECT_EQ(CodeOf(IdentifierArg(std::string(64, 'a'), "table")), ErrorCode::kE1005);
  EXPECT_EQ(CodeOf(IdentifierArg(std::string("a\0b", 3), "table")), ErrorCode::kE1005);
}

TEST(CheckParamKeysTest, UnknownArgumentIsRefused) {
  EXPECT_OK(CheckParamKeys({{"table", "t"}}, {"table", "where"}));
  const absl::Status s = CheckParamKeys({{"table", "t"}, {"wher", {}}}, {"table", "where"});
  EXPECT_EQ(CodeOf(s), ErrorCode::kE1005);
  EXPECT_EQ(DetailsOf(s)["argument"], "wher");
  EXPECT_EQ(CodeOf(CheckParamKeys(json::array(), {"table"})), ErrorCode::kE1005);
}

// The statement, or an empty one after recording the failure.
Statement Ok(const absl::StatusOr<Statement>& st) {
  EXPECT_OK(st);
  return st.ok() ? *st : Statement{};
}

TEST_F(SqlBuilderTest, SelectDefaultsToMaxRows) {
  const Statement st = Ok(Select(json::object()));
  EXPECT_EQ(st.sql, R"(SELECT * FROM "app"."orders" LIMIT $1::bigint)");
  EXPECT_EQ(st.params, (Params{"1000"}));
}

TEST_F(SqlBuilderTest, SelectWithEverything) {
  const Statement st = Ok(Select({{"columns", {"id", "name"}},
                                  {"where", {{"name", "Ada"}}},
                                  {"order_by", {"-total", "id"}},
                                  {"limit", 10},
                                  {"offset", 20}}));
  EXPECT_EQ(st.sql,
            R"(SELECT "id", "name" FROM "app"."orders" WHERE "name" = $1::character varying)"
            R"( ORDER BY "total" DESC, "id" ASC LIMIT $2::bigint OFFSET $3::bigint)");
  EXPECT_EQ(st.params, (Params{"Ada", "10", "20"}));
}

TEST_F(SqlBuilderTest, QueryOneTakesOneRow) {
  const Statement st = Ok(BuildSelect(table_, {{"order_by", "id"}}, limits_, true));
  EXPECT_EQ(st.sql, R"(SELECT * FROM "app"."orders" ORDER BY "id" ASC LIMIT 1)");
  EXPECT_TRUE(st.params.empty());
}

TEST_F(SqlBuilderTest, EqualityBindsTextCastToTheColumnType) {
  EXPECT_EQ(Where({{"id", 42}}).sql,
            R"(SELECT * FROM "app"."orders" WHERE "id" = $1::integer LIMIT $2::bigint)");
  EXPECT_EQ(Where({{"id", 42}}).params[0], "42");
  EXPECT_EQ(Where({{"id", "42"}}).params[0], "42");  // "42" and 42 bind the same
  EXPECT_EQ(Where({{"total", 1.5}}).params[0], "1.5");
  EXPECT_EQ(Where({{"name", true}}).params[0], "true");
  EXPECT_EQ(Where({{"id", -7}}).params[0], "-7");
}

TEST_F(SqlBuilderTest, NullEqualityIsIsNull) {
  const Statement st = Where({{"name", nullptr}});
  EXPECT_THAT(st.sql, HasSubstr(R"(WHERE "name" IS NULL LIMIT $1::bigint)"));
  EXPECT_EQ(st.params, (Params{"1000"}));
}

TEST_F(SqlBuilderTest, EveryOperator) {
  auto where_of = [&](const json& cond) {
    const std::string sql = Where({{"id", cond}}).sql;
    const size_t from = sql.find("WHERE ") + 6, to = sql.find(" LIMIT");
    return sql.substr(from, to - from);
  };
  EXPECT_EQ(where_of({{"$gt", 1}}), R"("id" > $1::integer)");
  EXPECT_EQ(where_of({{"$gte", 1}}), R"("id" >= $1::integer)");
  EXPECT_EQ(where_of({{"$lt", 1}}), R"("id" < $1::integer)");
  EXPECT_EQ(where_of({{"$lte", 1}}), R"("id" <= $1::integer)");
  EXPECT_EQ(where_of({{"$ne", 1}}), R"("id" IS DISTINCT FROM $1::integer)");
  EXPECT_EQ(where_of({{"$ne", nullptr}}), R"("id" IS NOT NULL)");
  EXPECT_EQ(where_of({{"$in", {1, 2}}}), R"("id" = ANY($1::integer[]))");
  EXPECT_EQ(where_of({{"$in", json::array()}}), "FALSE");
  EXPECT_EQ(where_of({{"$like", "4%"}}), R"("id" LIKE $1::text)");
  EXPECT_EQ(where_of({{"$is_null", true}}), R"("id" IS NULL)");
  EXPECT_EQ(where_of({{"$is_null", false}}), R"("id" IS NOT NULL)");
}

TEST_F(SqlBuilderTest, SeveralOperatorsAreAndedAndNumberedInOrder) {
  const Statement st = Where({{"id", {{"$gte", 10}, {"$lt", 20}}}, {"name", {{"$like", "A%"}}}});
  EXPECT_THAT(st.sql, HasSubstr(R"(WHERE "id" >= $1::integer AND "id" < $2::integer)"
                                R"( AND "name" LIKE $3::text LIMIT $4::bigint)"));
  EXPECT_EQ(st.params, (Params{"10", "20", "A%", "1000"}));
}

TEST_F(SqlBuilderTest, InBindsOneEscapedArrayLiteral) {
  const Statement st = Where({{"name", {{"$in", {"a\"b", "c\\d", "x,y}", 5}}}}});
  EXPECT_THAT(st.sql, HasSubstr(R"("name" = ANY($1::character varying[]))"));
  EXPECT_EQ(st.params[0], R"({"a\"b","c\\d","x,y}","5"})");
}

TEST_F(SqlBuilderTest, InLimitsAndShapes) {
  json many = json::array();
  for (int i = 0; i < 10000; ++i) many.push_back(i);
  EXPECT_EQ(CodeOf(Select({{"where", {{"id", {{"$in", many}}}}}})), ErrorCode::kE2004);
  EXPECT_EQ(CodeOf(Select({{"where", {{"id", {{"$in", 5}}}}}})), ErrorCode::kE1005);
  EXPECT_EQ(CodeOf(Select({{"where", {{"id", {{"$in", {nullptr}}}}}}})), ErrorCode::kE1005);
  EXPECT_EQ(CodeOf(Select({{"where", {{"id", {{"$in", {{1, 2}}}}}}}})), ErrorCode::kE1005);
  EXPECT_EQ(CodeOf(Select({{"where", {{"blob", {{"$in", {"AA=="}}}}}}})), ErrorCode::kE1005);
}

TEST_F(SqlBuilderTest, OperatorArgumentsAreChecked) {
  auto code = [&](const json& cond) { return CodeOf(Select({{"where", {{"id", cond}}}})); };
  EXPECT_EQ(code({{"$gt", nullptr}}), ErrorCode::kE1005);
  EXPECT_EQ(code({{"$gt", {{"$lt", 1}}}}), ErrorCode::kE1005);
  EXPECT_EQ(code({{"$like", 5}}), ErrorCode::kE1005);
  EXPECT_EQ(code({{"$is_null", "yes"}}), ErrorCode::kE1005);
  EXPECT_EQ(code(json::object()), ErrorCode::kE1005);
  EXPECT_EQ(code({1, 2}), ErrorCode::kE1005);  // equality with an array: use $in
  EXPECT_EQ(CodeOf(Select({{"where", "id = 1"}})), ErrorCode::kE1005);
}

TEST_F(SqlBuilderTest, UnknownOperatorIsE1005NamingIt) {
  const absl::StatusOr<Statement> st = Select({{"where", {{"id", {{"$regex", ".*"}}}}}});
  EXPECT_EQ(CodeOf(st), ErrorCode::kE1005);
  EXPECT_EQ(DetailsOf(st.status())["operator"], "$regex");
  EXPECT_FALSE(IsUnknownColumn(st.status()));
  EXPECT_EQ(CodeOf(Select({{"where", {{"id", {{"; DROP TABLE orders; --", 1}}}}}})),
            ErrorCode::kE1005);
}

TEST_F(SqlBuilderTest, UnknownColumnEverywhere) {
  const std::string evil = "id; DROP TABLE orders; --";
  const std::vector<json> cases = {
      {{"where", {{evil, 1}}}},
      {{"columns", {"id", evil}}},
      {{"order_by", evil}},
      {{"order_by", {"id", "-" + evil}}},
      {{"where", {{"ID", 1}}}},         // case matters: the catalog
                                        // name is "id"
      {{"where", {{"\"id\"", 1}}}},     // no quoting games
      {{"where", {{"i\xd0\xb4", 1}}}},  // a look-alike letter (Cyrillic)
  };
  for (const json& params : cases) {
    const absl::StatusOr<Statement> st = Select(params);
    EXPECT_EQ(CodeOf(st), ErrorCode::kE1005) << params.dump();
    EXPECT_TRUE(IsUnknownColumn(st.status())) << params.dump();
  }
  const absl::StatusOr<Statement> st = Select({{"where", {{evil, 1}}}});
  EXPECT_EQ(DetailsOf(st.status())["column"], evil);
  EXPECT_EQ(DetailsOf(st.status())["table"], "orders");
}

TEST_F(SqlBuilderTest, NonStringIdentifiersAreE1005) {
  EXPECT_EQ(CodeOf(Select({{"columns", {1}}})), ErrorCode::kE1005);
  EXPECT_EQ(CodeOf(Select({{"columns", "id"}})), ErrorCode::kE1005);
  EXPECT_EQ(CodeOf(Select({{"columns", json::array()}})), ErrorCode::kE1005);
  EXPECT_EQ(CodeOf(Select({{"order_by", {{{"id", 1}}}}})), ErrorCode::kE1005);
  EXPECT_EQ(CodeOf(Select({{"order_by", 3}})), ErrorCode::kE1005);
  EXPECT_EQ(CodeOf(Select({{"order_by", "-"}})), ErrorCode::kE1005);
}

TEST_F(SqlBuilderTest, OddButRealColumnNamesAreQuoted) {
  const Statement st =
      Ok(Select({{"columns", {"we\"ird; col"}}, {"where", {{"we\"ird; col", "x"}}}}));
  EXPECT_EQ(
      st.sql,
      R"(SELECT "we""ird; col" FROM "app"."orders" WHERE "we""ird; col" = $1::text LIMIT $2::bigint)");
}

TEST_F(SqlBuilderTest, LimitAndOffsetMustBeIntegers) {
  EXPECT_EQ(CodeOf(Select({{"limit", "1; select 1"}})), ErrorCode::kE1005);
  EXPECT_EQ(CodeOf(Select({{"limit", -1}})), ErrorCode::kE1005);
  EXPECT_EQ(CodeOf(Select({{"limit", 1.5}})), ErrorCode::kE1005);
  EXPECT_EQ(CodeOf(Select({{"limit", true}})), ErrorCode::kE1005);
  EXPECT_EQ(CodeOf(Select({{"offset", -1}})), ErrorCode::kE1005);
  EXPECT_EQ(CodeOf(Select({{"offset", "0"}})), ErrorCode::kE1005);
  EXPECT_EQ(CodeOf(Select({{"offset", uint64_t{1} << 63}})), ErrorCode::kE1005);
  const absl::StatusOr<Statement> over = Select({{"limit", 1001}});
  EXPECT_EQ(CodeOf(over), ErrorCode::kE2004);
  EXPECT_THAT(std::string(over.status().message()), HasSubstr("limit exceeds max_rows"));
  EXPECT_EQ(Ok(Select({{"limit", 0}})).params, (Params{"0"}));
  EXPECT_EQ(Ok(Select({{"limit", 1000}})).params, (Params{"1000"}));
}

TEST_F(SqlBuilderTest, TooManyConditions) {
  json where = json::object();
  for (int i = 0; i < 101; ++i) where["c" + std::to_string(i)] = i;
  EXPECT_EQ(CodeOf(Select({{"where", where}})), ErrorCode::kE2004);
  json ops = json::object();  // 101 conditions on one column
  for (int i = 0; i < 101; ++i) ops["$x" + std::to_string(i)] = i;
  limits_.max_conditions = 3;
  EXPECT_EQ(
      CodeOf(Select(
          {{"where", {{"id", {{"$gt", 1}, {"$lt", 9}}}, {"total", {{"$gt", 1}, {"$lt", 2}}}}}})),
      ErrorCode::kE2004);
}

TEST_F(SqlBuilderTest, InsertOneRow) {
  const Statement st = Ok(
      BuildInsert(table_, {{"values", {{"id", 1}, {"name", "Ada"}, {"total", nullptr}}}}, limits_));
  // nlohmann::json objects iterate in key order.
  EXPECT_EQ(st.sql, R"(INSERT INTO "app"."orders" ("id", "name", "total"))"
                    R"( VALUES ($1::integer, $2::character varying, $3::numeric))");
  EXPECT_EQ(st.params, (Params{"1", "Ada", std::nullopt}));
  EXPECT_FALSE(st.returning);
}

TEST_F(SqlBuilderTest, InsertManyRowsUsesDefaultForMissingKeys) {
  const Statement st = Ok(BuildInsert(
      table_, {{"values", {{{"id", 1}}, {{"name", "b"}}}}, {"returning", {"id"}}}, limits_));
  EXPECT_EQ(st.sql,
            R"(INSERT INTO "app"."orders" ("id", "name"))"
            R"( VALUES ($1::integer, DEFAULT), (DEFAULT, $2::character varying) RETURNING "id")");
  EXPECT_TRUE(st.returning);
}

TEST_F(SqlBuilderTest, InsertValueKinds) {
  const Statement st = Ok(BuildInsert(
      table_,
      {{"values",
        {{"data", {{"a", {1, "x"}}}}, {"tags", {"a", "b\"c", nullptr}}, {"blob", "AAE="}}}},
      limits_));
  EXPECT_EQ(st.sql, R"(INSERT INTO "app"."orders" ("blob", "data", "tags"))"
                    R"( VALUES (decode($1::text, 'base64'), $2::jsonb, $3::text[]))");
  EXPECT_EQ(st.params, (Params{"AAE=", R"({"a":[1,"x"]})", R"({"a","b\"c",NULL})"}));
  // A JSON string for a jsonb column is a JSON string value.
  EXPECT_EQ(Ok(BuildInsert(table_, {{"values", {{"data", "hi"}}}}, limits_)).params[0], "\"hi\"");
}

TEST_F(SqlBuilderTest, InsertShapesAndLimits) {
  auto code = [&](const json& values) {
    return CodeOf(BuildInsert(table_, {{"values", values}}, limits_));
  };
  EXPECT_EQ(code(json::array()), ErrorCode::kE1005);
  EXPECT_EQ(code({1, 2}), ErrorCode::kE1005);
  EXPECT_EQ(code("id=1"), ErrorCode::kE1005);
  EXPECT_EQ(code({{"id", {{"nested", 1}}}}), ErrorCode::kE1005);  // object for an integer column
  EXPECT_EQ(code({{"blob", 5}}), ErrorCode::kE1005);
  EXPECT_EQ(code({{"name", std::string("a\0b", 3)}}), ErrorCode::kE1005);
  EXPECT_EQ(code({{"nope", 1}}), ErrorCode::kE1005);
  EXPECT_EQ(CodeOf(BuildInsert(table_, json::object(), limits_)), ErrorCode::kE1005);
  json rows = json::array();
  for (int i = 0; i < 1001; ++i) rows.push_back({{"id", i}});
  EXPECT_EQ(code(rows), ErrorCode::kE2004);
  // Built in place: copying a 100000-deep value would itself recurse.
  json params = {{"values", {{"data", 1}}}};
  json* leaf = &params["values"]["data"];
  for (int i = 0; i < 100000; ++i) {
    *leaf = json::array({nullptr});
    leaf = &(*leaf)[0];
  }
  EXPECT_EQ(CodeOf(BuildInsert(table_, params, limits_)), ErrorCode::kE1005);  // no stack overflow
  EXPECT_EQ(Ok(BuildInsert(table_, {{"values", json::object()}}, limits_)).sql,
            R"(INSERT INTO "app"."orders" DEFAULT VALUES)");
}

TEST_F(SqlBuilderTest, ReturningChecksNames) {
  auto code = [&](const json& returning) {
    return CodeOf(
        BuildInsert(table_, {{"values", {{"id", 1}}}, {"returning", returning}}, limits_));
  };
  EXPECT_EQ(code("id"), ErrorCode::kE1005);
  EXPECT_EQ(code(json::array()), ErrorCode::kE1005);
  EXPECT_EQ(code({"id; drop table orders"}), ErrorCode::kE1005);
  EXPECT_EQ(code({1}), ErrorCode::kE1005);
  EXPECT_THAT(Ok(BuildInsert(table_, {{"values", {{"id", 1}}}, {"returning", {"*"}}}, limits_)).sql,
              HasSubstr(" RETURNING *"));
}

TEST_F(SqlBuilderTest, UpdateNeedsWhereOrAll) {
  const Statement st = Ok(BuildUpdate(
      table_, {{"values", {{"name", "x"}}}, {"where", {{"id", 3}}}, {"returning", {"id", "name"}}},
      limits_));
  EXPECT_EQ(st.sql,
            R"(UPDATE "app"."orders" SET "name" = $1::character varying WHERE "id" = $2::integer)"
            R"( RETURNING "id", "name")");
  EXPECT_EQ(st.params, (Params{"x", "3"}));
  EXPECT_EQ(CodeOf(BuildUpdate(table_, {{"values", {{"name", "x"}}}}, limits_)), ErrorCode::kE1005);
  EXPECT_EQ(CodeOf(BuildUpdate(table_, {{"values", {{"name", "x"}}}, {"where", json::object()}},
                               limits_)),
            ErrorCode::kE1005);
  EXPECT_EQ(CodeOf(BuildUpdate(table_, {{"values", {{"name", "x"}}}, {"all", "true"}}, limits_)),
            ErrorCode::kE1005);
  EXPECT_EQ(CodeOf(BuildUpdate(table_, {{"values", json::object()}, {"all", true}}, limits_)),
            ErrorCode::kE1005);
  EXPECT_EQ(Ok(BuildUpdate(table_, {{"values", {{"name", "x"}}}, {"all", true}}, limits_)).sql,
            R"(UPDATE "app"."orders" SET "name" = $1::character varying)");
}

TEST_F(SqlBuilderTest, DeleteNeedsWhereOrAll) {
  EXPECT_EQ(Ok(BuildDelete(table_, {{"where", {{"id", {{"$in", {1, 2}}}}}}}, limits_)).sql,
            R"(DELETE FROM "app"."orders" WHERE "id" = ANY($1::integer[]))");
  EXPECT_EQ(CodeOf(BuildDelete(table_, json::object(), limits_)), ErrorCode::kE1005);
  EXPECT_EQ(CodeOf(BuildDelete(table_, {{"where", nullptr}}, limits_)), ErrorCode::kE1005);
  EXPECT_EQ(Ok(BuildDelete(table_, {{"all", true}, {"returning", {"id"}}}, limits_)).sql,
            R"(DELETE FROM "app"."orders" RETURNING "id")");
}

TEST(BuildRawTest, BindsParams) {
  SqlLimits limits;
  const Statement st = Ok(BuildRaw(
      {{"sql", "SELECT $1, $2, $3, $4"}, {"params", {1, "a", nullptr, {{"k", true}}}}}, limits));
  EXPECT_EQ(st.sql, "SELECT $1, $2, $3, $4");
  EXPECT_EQ(st.params, (Params{"1", "a", std::nullopt, R"({"k":true})"}));
  EXPECT_EQ(CodeOf(BuildRaw(json::object(), limits)), ErrorCode::kE1005);
  EXPECT_EQ(CodeOf(BuildRaw({{"sql", 5}}, limits)), ErrorCode::kE1005);
  EXPECT_EQ(CodeOf(BuildRaw({{"sql", ""}}, limits)), ErrorCode::kE1005);
  EXPECT_EQ(CodeOf(BuildRaw({{"sql", "SELECT 1"}, {"params", "x"}}, limits)), ErrorCode::kE1005);
  limits.max_sql_bytes = 10;
  EXPECT_EQ(CodeOf(BuildRaw({{"sql", "SELECT 1 + 1 + 1"}}, limits)), ErrorCode::kE2004);
}

TEST(JsonDepthTest, IterativeOnDeepValues) {
  json deep = 1;
  json* leaf = &deep;
  for (int i = 0; i < 200000; ++i) {
    *leaf = json::array({nullptr});
    leaf = &(*leaf)[0];
  }
  EXPECT_TRUE(JsonDeeperThan(deep, 64));
  EXPECT_FALSE(JsonDeeperThan({{"a", {1, 2, {{"b", 3}}}}}, 3));
  EXPECT_TRUE(JsonDeeperThan({{"a", {1, 2, {{"b", {4}}}}}}, 3));
}

// ---------------------------------------------------------------------------
// Values

TEST(TextToJsonTest, Numbers) {
  EXPECT_EQ(TextToJson(23, "42"), json(42));
  EXPECT_EQ(TextToJson(20, "-9223372036854775808"), json(INT64_MIN));
  EXPECT_EQ(TextToJson(21, "7"), json(7));
  EXPECT_EQ(TextToJson(701, "1.5"), json(1.5));
  EXPECT_EQ(TextToJson(700, "NaN"), json("NaN"));
  EXPECT_EQ(TextToJson(701, "-Infinity"), json("-Infinity"));
  EXPECT_EQ(TextToJson(1700, "12.50"), json("12.50"));  // numeric stays exact
}

TEST(TextToJsonTest, ScalarsAndText) {
  EXPECT_EQ(TextToJson(16, "t"), json(true));
  EXPECT_EQ(TextToJson(16, "f"), json(false));
  EXPECT_EQ(TextToJson(25, "hello"), json("hello"));
  EXPECT_EQ(TextToJson(2950, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
            json("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"));
  EXPECT_EQ(TextToJson(1082, "2024-05-01"), json("2024-05-01"));
  EXPECT_EQ(TextToJson(1114, "2024-05-01 12:00:00.5"), json("2024-05-01T12:00:00.5"));
  EXPECT_EQ(TextToJson(1184, "2024-05-01 12:00:00+00"), json("2024-05-01T12:00:00+00:00"));
  EXPECT_EQ(TextToJson(1184, "2024-05-01 12:00:00+05:30"), json("2024-05-01T12:00:00+05:30"));
  EXPECT_EQ(TextToJson(1184, "infinity"), json("infinity"));
  EXPECT_EQ(TextToJson(17, "\\x68656c6c6f"), json("aGVsbG8="));
  EXPECT_EQ(TextToJson(17, "\\x"), json(""));
}

TEST(TextToJsonTest, Json) {
  EXPECT_EQ(TextToJson(3802, R"({"a": [1, "x"]})"), json({{"a", {1, "x"}}}));
  EXPECT_EQ(TextToJson(114, "not json"), json("not json"));
  const std::string deep = std::string(1000, '[') + std::string(1000, ']');
  EXPECT_EQ(TextToJson(3802, deep), json(deep));  // kept as text, never a deep tree
  EXPECT_EQ(TextToJson(3802, R"(["[[[[", "{{{{"])"), json({"[[[[", "{{{{"}));
}

TEST(TextToJsonTest, Arrays) {
  EXPECT_EQ(TextToJson(1007, "{1,2,NULL}"), json({1, 2, nullptr}));
  EXPECT_EQ(TextToJson(1007, "{{1,2},{3,4}}"), json({{1, 2}, {3, 4}}));
  EXPECT_EQ(TextToJson(1009, R"({a,"b \"c\"",NULL,"NULL"})"),
            json({"a", "b \"c\"", nullptr, "NULL"}));
  EXPECT_EQ(TextToJson(1000, "{t,f}"), json({true, false}));
  EXPECT_EQ(TextToJson(1007, "{}"), json::array());
  EXPECT_EQ(TextToJson(1007, "[0:1]={1,2}"), json("[0:1]={1,2}"));
  EXPECT_EQ(TextToJson(99999, "{1,2}"), json("{1,2}"));  // unknown type: the text
}

TEST(CatalogCacheTest, EntriesExpireAfterTheTtl) {
  FakeClock clock;
  CatalogCache cache(clock, absl::Seconds(5));
  EXPECT_EQ(cache.Fresh("orders"), nullptr);
  cache.Put(std::make_shared<const TableInfo>(Orders()));
  clock.Advance(absl::Seconds(4));
  ASSERT_NE(cache.Fresh("orders"), nullptr);
  EXPECT_NE(cache.Fresh("orders")->Find("id"), nullptr);
  EXPECT_EQ(cache.Fresh("other"), nullptr);
  clock.Advance(absl::Seconds(1));
  EXPECT_EQ(cache.Fresh("orders"), nullptr);
}

TEST(QueryHashTest, Sha256Prefix) {
  EXPECT_EQ(QueryHash(""), "e3b0c44298fc1c14");
  EXPECT_EQ(QueryHash("abc"), "ba7816bf8f01cfea");
  EXPECT_EQ(Base64("hello"), "aGVsbG8=");
  EXPECT_EQ(Base64(""), "");
}

}  // namespace
}  // namespace magic::broker::internal
