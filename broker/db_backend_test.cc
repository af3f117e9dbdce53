// DbBackend against the real PostgreSQL of scripts/services (needs
// MAGIC_TEST_POSTGRES_URL; fails without it). Every test gets its own table
// in the app schema, named after the run, so reruns and other engineers do
// not collide. The table is seeded with five rows:
//   id name   total  qty price active data     tags    blob  created                day        note
//   1  ada    12.50  1   1.5   true   {"a":1}  {x,y}   "hi"  2024-05-01 12:00:00+00 2024-05-01 n1
//   2  bob    3.00   2   2.5   false  null     {}      null  null                   null       null
//   3  cy     7.25   3   null  true   [1,2]    null    null  ...
//   4  dee    null   4   4.0   null   ...
//   5  eve's  100.00 5   0.5   false  ...
#include "broker/db_backend.h"

#include "common/errors.h"
#include "common/testing/server_env.h"
#include "common/testing/status_testing.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace magic::broker {
namespace {

using contracts::Capability;
using contracts::CapabilityKind;
using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

std::string RunId() {
  static const std::string id = fmt::format(
      "{}_{}", getpid(), std::chrono::steady_clock::now().time_since_epoch().count() % 1000000007);
  return id;
}

template <typename T>
std::optional<ErrorCode> CodeOf(const absl::StatusOr<T>& s) {
  return ErrorCodeOf(s.status());
}
json DetailsOf(const absl::Status& s) { return ErrorFromStatus(s).details; }

json Ids(const json& rows) {
  json ids = json::array();
  for (const json& row : rows) ids.push_back(row["id"]);
  return ids;
}

class DbBackendTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string url = magic::testing::ServerEnv("MAGIC_TEST_POSTGRES_URL");
    ASSERT_FALSE(url.empty());
    url_ = new std::string(url);
    admin_ = std::move(pg::PgPool::Create(url, 2)).value().release();
    ASSERT_OK(MigrateAppSchema(*admin_, DbPolicy{}));
    ASSERT_OK(
        Admin(fmt::format("CREATE SCHEMA IF NOT EXISTS magic; CREATE TABLE magic.{} (v text); "
                          "INSERT INTO magic.{} VALUES ('secret')",
                          SecretTable(), SecretTable())));
  }

  static void TearDownTestSuite() {
    if (admin_ != nullptr) {
      EXPECT_OK(Admin("DROP TABLE IF EXISTS magic." + SecretTable()));
    }
    delete admin_;
    admin_ = nullptr;
    delete url_;
  }

  static std::string SecretTable() { return "dbt_secret_" + RunId(); }

  static absl::Status Admin(const std::string& sql) {
    return admin_->WithTransaction([&](pqxx::work& tx) -> absl::Status {
      tx.exec(sql);
      return absl::OkStatus();
    });
  }
  static absl::StatusOr<pqxx::result> AdminQuery(const std::string& sql) {
    return admin_->WithTransaction(
        [&](pqxx::work& tx) -> absl::StatusOr<pqxx::result> { return tx.exec(sql); });
  }

  void SetUp() override {
    ASSERT_NE(admin_, nullptr);
    static std::atomic<int> counter{0};
    table_ = fmt::format("dbt_{}_{}", RunId(), counter++);
    ASSERT_OK(Admin(fmt::format(R"sql(
      CREATE TABLE app.{0} (
        id serial PRIMARY KEY, name text UNIQUE, total numeric(10,2), qty integer,
        price double precision, active boolean, data jsonb, tags text[], blob bytea,
        created timestamptz, day date, note varchar(20));
      INSERT INTO app.{0} (name, total, qty, price, active, data, tags, blob, created, day, note)
      VALUES ('ada', 12.50, 1, 1.5, true, '{{"a": 1}}', '{{x,y}}', '\x6869',
              '2024-05-01 12:00:00+00', '2024-05-01', 'n1'),
             ('bob', 3.00, 2, 2.5, false, NULL, '{{}}', NULL, NULL, NULL, NULL),
             ('cy', 7.25, 3, NULL, true, '[1, 2]', NULL, NULL, NULL, NULL, NULL),
             ('dee', NULL, 4, 4.0, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
             ('eve''s', 100.00, 5, 0.5, false, NULL, NULL, NULL, NULL, NULL, NULL))sql",
                                table_)));
    ASSERT_OK(Admin(fmt::format("CREATE TABLE app.{0}_other (id int)", table_)));
    policy_.max_rows = 50;
    backend_ = NewBackend();
    ASSERT_NE(backend_, nullptr);
    snapshot_ = Snapshot();
  }

  void TearDown() override {
    if (admin_ == nullptr) return;
    EXPECT_OK(Admin(
        fmt::format("DROP TABLE IF EXISTS app.{0}; DROP TABLE IF EXISTS app.{0}_other", table_)));
  }

  std::unique_ptr<DbBackend> NewBackend(DbBackendOptions options = {}, pg::PgPool* pool = nullptr) {
    absl::StatusOr<std::unique_ptr<DbBackend>> b =
        MakeDbBackend(pool != nullptr ? *pool : *admin_, policy_, std::move(options));
    EXPECT_OK(b);
    return b.ok() ? std::move(*b) : nullptr;
  }

  absl::StatusOr<json> Call(CapabilityKind kind, std::string_view op, const json& params,
                            DbBackend* backend = nullptr, const Capability* declared = nullptr,
                            absl::Time deadline = absl::Now() + absl::Seconds(20)) {
    Capability all;
    all.kind = kind;
    CallContext ctx;
    ctx.request_id = "req_db_test";
    ctx.controller = "DbTest";
    ctx.version = "1.0.0";
    ctx.kind = kind;
    ctx.declared = declared != nullptr ? declared : &all;
    ctx.deadline = deadline;
    audit_ = json::object();
    return (backend != nullptr ? backend : backend_.get())->Call(ctx, op, params, audit_);
  }
  absl::StatusOr<json> Read(std::string_view op, json params) {
    params["table"] = table_;
    return Call(CapabilityKind::kDbRead, op, params);
  }
  absl::StatusOr<json> Query(json params) { return Read("query", std::move(params)); }
  absl::StatusOr<json> Write(std::string_view op, json params) {
    params["table"] = table_;
    return Call(CapabilityKind::kDbWrite, op, params);
  }
  absl::StatusOr<json> Raw(DbBackend& backend, json params,
                           absl::Time deadline = absl::Now() + absl::Seconds(20)) {
    return Call(CapabilityKind::kDbRawSql, "raw", params, &backend, nullptr, deadline);
  }
  json Where(const json& where) {
    absl::StatusOr<json> rows = Query({{"where", where}, {"order_by", "id"}});
    EXPECT_OK(rows) << where.dump();
    return rows.ok() ? Ids(*rows) : json();
  }

  // Row count and every row's text, read as the superuser.
  std::string Snapshot() {
    absl::StatusOr<pqxx::result> r = AdminQuery(fmt::format(
        "SELECT count(*)::text || ':' || coalesce(string_agg(t::text, '|' ORDER BY id), '') "
        "FROM app.{0} t",
        table_));
    EXPECT_OK(r);
    return r.ok() ? (*r)[0][0].c_str() : "<missing table>";
  }
  void ExpectIntact() { EXPECT_EQ(Snapshot(), snapshot_); }

  static std::string* url_;
  static pg::PgPool* admin_;
  DbPolicy policy_;
  std::unique_ptr<DbBackend> backend_;
  std::string table_;
  std::string snapshot_;
  json audit_;
};

std::string* DbBackendTest::url_ = nullptr;
pg::PgPool* DbBackendTest::admin_ = nullptr;

// ---------------------------------------------------------------------------
// Migration

TEST_F(DbBackendTest, MigrationIsIdempotentAndRoleCannotSeeMagic) {
  EXPECT_OK(MigrateAppSchema(*admin_, DbPolicy{}));
  EXPECT_OK(MigrateAppSchema(*admin_, DbPolicy{}));
  absl::StatusOr<pqxx::result> r = AdminQuery(
      "SELECT has_schema_privilege('magic_app', 'app', 'USAGE'), "
      "has_schema_privilege('magic_app', 'app', 'CREATE'), "
      "has_schema_privilege('magic_app', 'magic', 'USAGE'), "
      "(SELECT rolcanlogin FROM pg_roles WHERE rolname = 'magic_app')");
  ASSERT_OK(r);
  EXPECT_EQ(std::string((*r)[0][0].c_str()) + (*r)[0][1].c_str() + (*r)[0][2].c_str() +
                (*r)[0][3].c_str(),
            "ttff");
  DbPolicy bad;
  bad.schema = "magic";
  EXPECT_EQ(ErrorCodeOf(MigrateAppSchema(*admin_, bad)), ErrorCode::kE1005);
  bad.schema = "app; DROP SCHEMA magic";
  EXPECT_EQ(CodeOf(MakeDbBackend(*admin_, bad)), ErrorCode::kE1005);
}

// ---------------------------------------------------------------------------
// db:read

TEST_F(DbBackendTest, QueryMapsTypesToJson) {
  absl::StatusOr<json> rows = Query({{"where", {{"id", 1}}}});
  ASSERT_OK(rows);
  ASSERT_EQ(rows->size(), 1u);
  const json& row = (*rows)[0];
  EXPECT_EQ(row["id"], 1);
  EXPECT_EQ(row["name"], "ada");
  EXPECT_EQ(row["total"], "12.50");  // numeric stays exact
  EXPECT_EQ(row["qty"], 1);
  EXPECT_EQ(row["price"], 1.5);
  EXPECT_EQ(row["active"], true);
  EXPECT_EQ(row["data"], json({{"a", 1}}));
  EXPECT_EQ(row["tags"], json({"x", "y"}));
  EXPECT_EQ(row["blob"], "aGk=");
  EXPECT_EQ(row["created"], "2024-05-01T12:00:00+00:00");
  EXPECT_EQ(row["day"], "2024-05-01");
  EXPECT_EQ(row["note"], "n1");
  EXPECT_EQ(audit_["table"], table_);
  EXPECT_EQ(audit_["query_hash"].get<std::string>().size(), 16u);
  absl::StatusOr<json> bob = Read("query_one", {{"where", {{"id", 2}}}});
  ASSERT_OK(bob);
  EXPECT_TRUE((*bob)["data"].is_null());
  EXPECT_EQ((*bob)["tags"], json::array());
}

TEST_F(DbBackendTest, QueryHashIgnoresValues) {
  ASSERT_OK(Query({{"where", {{"id", 1}}}}));
  const json first = audit_["query_hash"];
  ASSERT_OK(Query({{"where", {{"id", 2}}}}));
  EXPECT_EQ(audit_["query_hash"], first);
  ASSERT_OK(Query({{"where", {{"qty", 2}}}}));
  EXPECT_NE(audit_["query_hash"], first);
}

TEST_F(DbBackendTest, EveryWhereOperator) {
  EXPECT_EQ(Where({{"qty", 2}}), json({2}));
  EXPECT_EQ(Where({{"qty", "2"}}), json({2}));  // "2" and 2 both work
  EXPECT_EQ(Where({{"qty", {{"$gt", 3}}}}), json({4, 5}));
  EXPECT_EQ(Where({{"qty", {{"$gte", 3}}}}), json({3, 4, 5}));
  EXPECT_EQ(Where({{"qty", {{"$lt", 3}}}}), json({1, 2}));
  EXPECT_EQ(Where({{"qty", {{"$lte", 3}}}}), json({1, 2, 3}));
  EXPECT_EQ(Where({{"qty", {{"$ne", 3}}}}), json({1, 2, 4, 5}));
  EXPECT_EQ(Where({{"active", {{"$ne", true}}}}), json({2, 4, 5}));  // NULL counts as different
  EXPECT_EQ(Where({{"name", {{"$in", {"bob", "eve's", "zed"}}}}}), json({2, 5}));
  EXPECT_EQ(Where({{"name", {{"$in", json::array()}}}}), json::array());
  EXPECT_EQ(Where({{"name", {{"$like", "%e%"}}}}), json({4, 5}));
  EXPECT_EQ(Where({{"total", {{"$is_null", true}}}}), json({4}));
  EXPECT_EQ(Where({{"total", {{"$is_null", false}}}}), json({1, 2, 3, 5}));
  EXPECT_EQ(Where({{"total", nullptr}}), json({4}));
  EXPECT_EQ(Where({{"total", {{"$gt", "5"}, {"$lt", 50}}}}), json({1, 3}));
  EXPECT_EQ(Where({{"active", true}, {"qty", {{"$gt", 1}}}}), json({3}));
  EXPECT_EQ(Where({{"created", {{"$gte", "2024-01-01T00:00:00Z"}}}}), json({1}));
  // An object is operators, also for a jsonb column.
  EXPECT_EQ(CodeOf(Query({{"where", {{"data", {{"a", 1}}}}}})), ErrorCode::kE1005);
}

TEST_F(DbBackendTest, ColumnsOrderLimitOffset) {
  absl::StatusOr<json> rows =
      Query({{"columns", {"id", "name"}}, {"order_by", "-qty"}, {"limit", 2}, {"offset", 1}});
  ASSERT_OK(rows);
  EXPECT_EQ(*rows, json({{{"id", 4}, {"name", "dee"}}, {{"id", 3}, {"name", "cy"}}}));
  rows = Query({{"columns", {"id"}}, {"order_by", {"-active", "id"}}});
  ASSERT_OK(rows);
  EXPECT_EQ(Ids(*rows), json({4, 1, 3, 2, 5}));  // NULLs first when descending
}

TEST_F(DbBackendTest, QueryOne) {
  absl::StatusOr<json> row = Read("query_one", {{"where", {{"name", "cy"}}}, {"columns", {"qty"}}});
  ASSERT_OK(row);
  EXPECT_EQ(*row, json({{"qty", 3}}));
  row = Read("query_one", {{"where", {{"name", "nobody"}}}});
  ASSERT_OK(row);
  EXPECT_TRUE(row->is_null());
  EXPECT_EQ(CodeOf(Read("query_one", {{"limit", 1}})), ErrorCode::kE1005);  // not an argument
}

TEST_F(DbBackendTest, LimitDefaultsToAndIsCappedByMaxRows) {
  policy_.max_rows = 2;
  std::unique_ptr<DbBackend> small = NewBackend();
  absl::StatusOr<json> rows =
      Call(CapabilityKind::kDbRead, "query", {{"table", table_}}, small.get());
  ASSERT_OK(rows);
  EXPECT_EQ(rows->size(), 2u);
  rows = Call(CapabilityKind::kDbRead, "query", {{"table", table_}, {"limit", 3}}, small.get());
  EXPECT_EQ(CodeOf(rows), ErrorCode::kE2004);
  EXPECT_THAT(std::string(rows.status().message()), HasSubstr("limit exceeds max_rows"));
  // returning more than max_rows rolls the write back
  rows =
      Call(CapabilityKind::kDbWrite, "update",
           {{"table", table_}, {"values", {{"note", "x"}}}, {"all", true}, {"returning", {"id"}}},
           small.get());
  EXPECT_EQ(CodeOf(rows), ErrorCode::kE2004);
  ExpectIntact();
}

// ---------------------------------------------------------------------------
// db:write

TEST_F(DbBackendTest, InsertOneAndMany) {
  absl::StatusOr<json> out = Write("insert", {{"values", {{"name", "fay"}, {"qty", 6}}}});
  ASSERT_OK(out);
  EXPECT_EQ(*out, json({{"row_count", 1}}));
  EXPECT_EQ(audit_, json({{"table", table_}, {"operation", "insert"}, {"row_count", 1}}));
  out = Write("insert", {{"values",
                          {{{"name", "gus"}, {"data", {{"k", {1, 2}}}}, {"tags", {"a", "b,c"}}},
                           {{"name", "hal"}, {"blob", "AAEC"}, {"total", "1.10"}}}},
                         {"returning", {"id", "name", "data", "tags", "blob", "total"}}});
  ASSERT_OK(out);
  EXPECT_EQ((*out)["row_count"], 2);
  ASSERT_EQ((*out)["rows"].size(), 2u);
  EXPECT_EQ((*out)["rows"][0]["data"], json({{"k", {1, 2}}}));
  EXPECT_EQ((*out)["rows"][0]["tags"], json({"a", "b,c"}));
  EXPECT_EQ((*out)["rows"][1]["blob"], "AAEC");
  EXPECT_EQ((*out)["rows"][1]["total"], "1.10");
  EXPECT_EQ(Where({{"name", {{"$in", {"fay", "gus", "hal"}}}}}).size(), 3u);
}

TEST_F(DbBackendTest, UpdateAndDelete) {
  absl::StatusOr<json> out = Write("update", {{"where", {{"qty", {{"$gte", 4}}}}},
                                              {"values", {{"note", "big"}}},
                                              {"returning", {"id", "note"}}});
  ASSERT_OK(out);
  EXPECT_EQ((*out)["row_count"], 2);
  EXPECT_EQ(Ids((*out)["rows"]).size(), 2u);
  EXPECT_EQ(audit_["row_count"], 2);
  EXPECT_EQ(audit_["operation"], "update");
  EXPECT_EQ(Where({{"note", "big"}}), json({4, 5}));

  out = Write("delete", {{"where", {{"id", 1}}}, {"returning", {"name"}}});
  ASSERT_OK(out);
  EXPECT_EQ(*out, json({{"row_count", 1}, {"rows", {{{"name", "ada"}}}}}));
  EXPECT_EQ(Where({{"id", 1}}), json::array());
}

TEST_F(DbBackendTest, UpdateAndDeleteWithoutWhereNeedAll) {
  EXPECT_EQ(CodeOf(Write("update", {{"values", {{"note", "x"}}}})), ErrorCode::kE1005);
  EXPECT_EQ(CodeOf(Write("update", {{"values", {{"note", "x"}}}, {"where", json::object()}})),
            ErrorCode::kE1005);
  EXPECT_EQ(CodeOf(Write("delete", json::object())), ErrorCode::kE1005);
  EXPECT_EQ(CodeOf(Write("delete", {{"where", json::object()}, {"all", 1}})), ErrorCode::kE1005);
  EXPECT_EQ(audit_["operation"], "delete");  // filled although refused
  EXPECT_EQ(audit_["table"], table_);
  ExpectIntact();
  absl::StatusOr<json> out = Write("update", {{"values", {{"note", "x"}}}, {"all", true}});
  ASSERT_OK(out);
  EXPECT_EQ((*out)["row_count"], 5);
  out = Write("delete", {{"all", true}});
  ASSERT_OK(out);
  EXPECT_EQ((*out)["row_count"], 5);
}

TEST_F(DbBackendTest, ServerRefusalsAreE1005WithSqlstateAndNoValues) {
  absl::StatusOr<json> out = Write("insert", {{"values", {{"name", "ada"}}}});
  EXPECT_EQ(CodeOf(out), ErrorCode::kE1005);
  EXPECT_EQ(DetailsOf(out.status())["sqlstate"], "23505");
  const std::string message = DetailsOf(out.status())["message"];
  EXPECT_THAT(message, HasSubstr("duplicate key"));
  EXPECT_THAT(message, Not(HasSubstr("ada")));  // the DETAIL line quotes the row
  out = Write("insert", {{"values", {{"qty", "many"}}}});
  EXPECT_EQ(CodeOf(out), ErrorCode::kE1005);
  EXPECT_EQ(DetailsOf(out.status())["sqlstate"], "22P02");
  out = Write("insert", {{"values", {{"note", std::string(21, 'x')}}}});  // varchar(20)
  EXPECT_EQ(DetailsOf(out.status())["sqlstate"], "22001");
  out = Write("insert", {{"values", {{"blob", "not base64!"}}}});
  EXPECT_EQ(CodeOf(out), ErrorCode::kE1005);
  ExpectIntact();
}

// ---------------------------------------------------------------------------
// Allowlist, catalog, arguments

TEST_F(DbBackendTest, TablesOutsideTheAllowlistOrSchemaAreE2003) {
  Capability only_other;
  only_other.kind = CapabilityKind::kDbRead;
  only_other.tables = {table_ + "_other"};
  absl::StatusOr<json> out =
      Call(CapabilityKind::kDbRead, "query", {{"table", table_}}, nullptr, &only_other);
  EXPECT_EQ(CodeOf(out), ErrorCode::kE2003);
  EXPECT_EQ(DetailsOf(out.status())["table"], table_);
  EXPECT_OK(
      Call(CapabilityKind::kDbRead, "query", {{"table", table_ + "_other"}}, nullptr, &only_other));
  EXPECT_EQ(CodeOf(Call(CapabilityKind::kDbRead, "query", {{"table", "no_such_table"}})),
            ErrorCode::kE2003);
  EXPECT_EQ(CodeOf(Call(CapabilityKind::kDbRead, "query", {{"table", "magic." + SecretTable()}})),
            ErrorCode::kE2003);
  EXPECT_EQ(CodeOf(Call(CapabilityKind::kDbRead, "query", {{"table", SecretTable()}})),
            ErrorCode::kE2003);  // it lives in magic, not app
  EXPECT_EQ(CodeOf(Call(CapabilityKind::kDbRead, "query", {{"table", "pg_authid"}})),
            ErrorCode::kE2003);
}

TEST_F(DbBackendTest, UnknownColumnIsE1005NamingIt) {
  absl::StatusOr<json> out = Query({{"where", {{"nope", 1}}}});
  EXPECT_EQ(CodeOf(out), ErrorCode::kE1005);
  EXPECT_EQ(DetailsOf(out.status())["column"], "nope");
  EXPECT_EQ(DetailsOf(out.status())["table"], table_);
}

TEST_F(DbBackendTest, NewColumnIsFoundAtOnce) {
  ASSERT_OK(Query({{"where", {{"id", 1}}}}));  // caches the table
  ASSERT_OK(Admin(fmt::format("ALTER TABLE app.{} ADD COLUMN fresh int DEFAULT 7", table_)));
  EXPECT_EQ(Where({{"fresh", 7}}).size(), 5u);  // a miss reloads the catalog
}

TEST_F(DbBackendTest, OperationsAndArgumentsAreChecked) {
  EXPECT_EQ(CodeOf(Call(CapabilityKind::kDbRead, "insert",
                        {{"table", table_}, {"values", {{"qty", 1}}}})),
            ErrorCode::kE1005);  // insert is db:write
  EXPECT_EQ(CodeOf(Call(CapabilityKind::kDbWrite, "raw", {{"sql", "SELECT 1"}})),
            ErrorCode::kE1005);  // raw is db:rawsql
  EXPECT_EQ(CodeOf(Call(CapabilityKind::kDbRead, "drop", {{"table", table_}})), ErrorCode::kE1005);
  EXPECT_EQ(CodeOf(Call(CapabilityKind::kDbRead, "query", json::array({table_}))),
            ErrorCode::kE1005);
  EXPECT_EQ(CodeOf(Call(CapabilityKind::kDbRead, "query", json::object())), ErrorCode::kE1005);
  EXPECT_EQ(CodeOf(Query({{"wehre", {{"id", 1}}}})), ErrorCode::kE1005);
  EXPECT_EQ(DbOperationKind("insert"), CapabilityKind::kDbWrite);
  EXPECT_EQ(DbOperationKind("raw"), CapabilityKind::kDbRawSql);
  EXPECT_EQ(DbOperationKind("query_one"), CapabilityKind::kDbRead);
  EXPECT_EQ(DbOperationKind("nope"), std::nullopt);
}

TEST_F(DbBackendTest, HostileShapesAreRefusedCleanly) {
  json where = json::object();
  for (int i = 0; i < 10000; ++i) where["c" + std::to_string(i)] = i;
  EXPECT_EQ(CodeOf(Query({{"where", where}})), ErrorCode::kE2004);
  json in = json::array();
  for (int i = 0; i < 10000; ++i) in.push_back(i);
  EXPECT_EQ(CodeOf(Query({{"where", {{"id", {{"$in", in}}}}}})), ErrorCode::kE2004);
  in.erase(in.begin() + 1000, in.end());
  EXPECT_EQ(Where({{"id", {{"$in", in}}}}).size(), 5u);  // 1000 is fine
  json params = {{"values", {{"data", 1}}}};
  json* leaf = &params["values"]["data"];
  for (int i = 0; i < 50000; ++i) {
    *leaf = json::array({nullptr});
    leaf = &(*leaf)[0];
  }
  EXPECT_EQ(CodeOf(Write("insert", std::move(params))), ErrorCode::kE1005);
  EXPECT_EQ(CodeOf(Query({{"columns", {{{"id", 1}}}}})), ErrorCode::kE1005);
  EXPECT_EQ(CodeOf(Query({{"where", {{"id", {{"$in", {{{"x", 1}}}}}}}}})), ErrorCode::kE1005);
  EXPECT_EQ(CodeOf(Call(CapabilityKind::kDbRead, "query", {{"table", 42}})), ErrorCode::kE1005);
  EXPECT_EQ(CodeOf(Call(CapabilityKind::kDbRead, "query", {{"table", std::string(10000, 'a')}})),
            ErrorCode::kE1005);
  EXPECT_EQ(CodeOf(Write("insert", {{"values", {{"name", std::string("a\0b", 3)}}}})),
            ErrorCode::kE1005);
  ExpectIntact();
}

// SQL injection through every structured field: refused with an E-code, or
// (values) stored literally; the table and its rows are untouched.
TEST_F(DbBackendTest, SqlInjectionThroughEveryFieldFails) {
  const std::string drop = fmt::format("x; DROP TABLE app.{}; --", table_);
  const std::string quote_drop = fmt::format("id\"; DROP TABLE app.{}; --", table_);
  struct Case {
    CapabilityKind kind;
    std::string op;
    json params;
    ErrorCode code;
  };
  const CapabilityKind r = CapabilityKind::kDbRead, w = CapabilityKind::kDbWrite;
  const std::vector<Case> cases = {
      {r, "query", {{"table", table_ + "; DROP TABLE x"}}, ErrorCode::kE2003},
      {r, "query", {{"table", table_ + "\"; DROP TABLE x; --"}}, ErrorCode::kE2003},
      // longer than an identifier can be
      {r,
       "query",
       {{"table", table_ + "; DROP TABLE app." + table_ + "; --" + std::string(40, ' ')}},
       ErrorCode::kE1005},
      {r, "query", {{"table", "app\".\"" + table_}}, ErrorCode::kE2003},
      {r, "query", {{"table", table_}, {"columns", {quote_drop}}}, ErrorCode::kE1005},
      {r, "query", {{"table", table_}, {"columns", {"*, (SELECT 1)"}}}, ErrorCode::kE1005},
      {r, "query", {{"table", table_}, {"where", {{drop, 1}}}}, ErrorCode::kE1005},
      {r, "query", {{"table", table_}, {"where", {{quote_drop, 1}}}}, ErrorCode::kE1005},
      {r,
       "query",
       {{"table", table_}, {"where", {{"id", {{"= 1 OR 1=1; --", 1}}}}}},
       ErrorCode::kE1005},
      {r,
       "query",
       {{"table", table_}, {"order_by", "id; DROP TABLE app." + table_}},
       ErrorCode::kE1005},
      {r, "query", {{"table", table_}, {"order_by", {"-" + quote_drop}}}, ErrorCode::kE1005},
      {r, "query", {{"table", table_}, {"limit", "1; SELECT 1"}}, ErrorCode::kE1005},
      {r, "query", {{"table", table_}, {"offset", "0; DROP TABLE x"}}, ErrorCode::kE1005},
      {w, "insert", {{"table", table_}, {"values", {{drop, 1}}}}, ErrorCode::kE1005},
      {w,
       "insert",
       {{"table", table_}, {"values", {{"name", "z"}}}, {"returning", {drop}}},
       ErrorCode::kE1005},
      {w,
       "update",
       {{"table", table_}, {"values", {{quote_drop, 1}}}, {"where", {{"id", 1}}}},
       ErrorCode::kE1005},
      {w,
       "update",
       {{"table", table_}, {"values", {{"note", "x"}}}, {"where", {{drop, 1}}}},
       ErrorCode::kE1005},
      {w,
       "delete",
       {{"table", table_}, {"where", {{"id", {{"$in", {"1); DROP TABLE x; --"}}}}}}},
       ErrorCode::kE1005},
      {w, "delete", {{"table", table_}, {"where", {{"id", "1 OR 1=1"}}}}, ErrorCode::kE1005},
  };
  for (const Case& c : cases) {
    absl::StatusOr<json> out = Call(c.kind, c.op, c.params);
    EXPECT_EQ(CodeOf(out), c.code) << c.params.dump() << " -> " << out.status();
    ExpectIntact();
  }
  // Values are bound, never spliced: they are stored and matched literally.
  const std::string evil = "'; DROP TABLE app." + table_ + "; --";
  ASSERT_OK(Write("insert", {{"values", {{"name", evil}, {"note", "');--"}}}}));
  EXPECT_EQ(Where({{"name", evil}}).size(), 1u);
  EXPECT_EQ(Where({{"name", {{"$like", "%' OR '1'='1"}}}}), json::array());
  absl::StatusOr<json> row = Read("query_one", {{"where", {{"name", evil}}}});
  ASSERT_OK(row);
  EXPECT_EQ((*row)["note"], "');--");
  EXPECT_THAT(Snapshot(), HasSubstr("6:"));  // the 5 rows plus the literal one
}

// ---------------------------------------------------------------------------
// db:rawsql

TEST_F(DbBackendTest, RawIsRefusedOnAPrivilegedLogin) {
  absl::StatusOr<json> out = Raw(*backend_, {{"sql", "SELECT 1"}});
  EXPECT_EQ(CodeOf(out), ErrorCode::kE2002);
  EXPECT_EQ(audit_["query_text"], "SELECT 1");  // audited although refused
  EXPECT_EQ(audit_["query_hash"].get<std::string>().size(), 16u);
}

TEST_F(DbBackendTest, RawOnPrivilegedLoginWhenAllowedStillCannotReadMagic) {
  std::unique_ptr<DbBackend> raw = NewBackend({.allow_privileged_raw_session = true});
  const std::string sql = fmt::format("SELECT id, name FROM {} WHERE qty > $1 ORDER BY id", table_);
  absl::StatusOr<json> out = Raw(*raw, {{"sql", sql}, {"params", {3}}});
  ASSERT_OK(out);
  EXPECT_EQ(*out, json({{"row_count", 2},
                        {"rows", {{{"id", 4}, {"name", "dee"}}, {{"id", 5}, {"name", "eve's"}}}}}));
  EXPECT_EQ(audit_["query_text"], sql);
  out = Raw(*raw, {{"sql", "SELECT * FROM magic." + SecretTable()}});
  EXPECT_EQ(CodeOf(out), ErrorCode::kE1005) << out.status();
  EXPECT_EQ(DetailsOf(out.status())["sqlstate"], "42501") << out.status();
  out = Raw(*raw, {{"sql", fmt::format("DELETE FROM {}; DROP TABLE {}", table_, table_)}});
  EXPECT_EQ(CodeOf(out), ErrorCode::kE1005);  // one statement only
  ExpectIntact();
  out = Raw(*raw, {{"sql", fmt::format("UPDATE {} SET note = $1 WHERE id = $2", table_)},
                   {"params", {"raw", 2}}});
  ASSERT_OK(out);
  EXPECT_EQ(*out, json({{"row_count", 1}, {"rows", json::array()}}));
}

TEST_F(DbBackendTest, RawSessionSettingsDoNotLeak) {
  auto one = std::move(pg::PgPool::Create(*url_, 1)).value();
  std::unique_ptr<DbBackend> raw = NewBackend({.allow_privileged_raw_session = true}, one.get());
  absl::StatusOr<json> out = Raw(
      *raw, {{"sql", "SELECT pg_backend_pid() AS pid, set_config('work_mem', '1234kB', false)"}});
  ASSERT_OK(out);
  const json pid = (*out)["rows"][0]["pid"];
  out = Raw(*raw, {{"sql", "SELECT current_setting('work_mem') AS v, pg_backend_pid() AS pid"}});
  ASSERT_OK(out);
  EXPECT_NE((*out)["rows"][0]["v"], "1234kB");
  EXPECT_EQ((*out)["rows"][0]["pid"], pid);  // reset, not discarded
  out = Raw(*raw, {{"sql", "SELECT current_user AS u, current_setting('search_path') AS p"}});
  ASSERT_OK(out);

  EXPECT_EQ((*out)["rows"][0], json({{"u", "magic_app"}, {"p", "app"}}));
}

TEST_F(DbBackendTest, RawOnAnAppOnlyLoginCannotEscapeTheRole) {
  const std::string login = "dbt_login_" + RunId();
  ASSERT_OK(Admin(fmt::format("CREATE ROLE {} LOGIN IN ROLE magic_app", login)));
  {
    const std::string url =
        *url_ + (url_->find('?') == std::string::npos ? "?" : "&") + "user=" + login;
    absl::StatusOr<std::unique_ptr<pg::PgPool>> pool = pg::PgPool::Create(url, 1);
    ASSERT_OK(pool);
    std::unique_ptr<DbBackend> raw = NewBackend({}, pool->get());
    absl::StatusOr<json> out = Raw(*raw, {{"sql", "SELECT count(*) AS n FROM " + table_}});
    ASSERT_OK(out);
    EXPECT_EQ((*out)["rows"][0]["n"], 5);
    out = Raw(*raw, {{"sql", "SELECT set_config('role', 'postgres', true)"}});
    EXPECT_EQ(CodeOf(out), ErrorCode::kE1005) << out.status();
    out = Raw(*raw, {{"sql", fmt::format("SELECT set_config('role', 'postgres', true), "
                                         "(SELECT count(*) FROM magic.{})",
                                         SecretTable())}});
    EXPECT_EQ(CodeOf(out), ErrorCode::kE1005);
    out = Raw(*raw, {{"sql", "SELECT v FROM magic." + SecretTable()}});
    EXPECT_EQ(CodeOf(out), ErrorCode::kE1005);
    EXPECT_EQ(DetailsOf(out.status())["sqlstate"], "42501");
    // Structured ops work on the same login.
    EXPECT_EQ(CodeOf(Call(CapabilityKind::kDbRead, "query", {{"table", table_}}, raw.get())),
              std::nullopt);
  }
  EXPECT_OK(Admin("DROP ROLE " + login));
}

// ---------------------------------------------------------------------------
// Deadlines and failures

TEST_F(DbBackendTest, DeadlineIsHonoured) {
  std::unique_ptr<DbBackend> raw = NewBackend({.allow_privileged_raw_session = true});
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<json> out =
      Raw(*raw, {{"sql", "SELECT pg_sleep(10)"}}, absl::Now() + absl::Milliseconds(300));
  EXPECT_EQ(CodeOf(out), ErrorCode::kE3001) << out.status();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  // A deadline already past: nothing is sent.
  out = Call(CapabilityKind::kDbRead, "query", {{"table", table_}}, nullptr, nullptr,
             absl::Now() - absl::Seconds(1));
  EXPECT_EQ(CodeOf(out), ErrorCode::kE3001);
  // policy.statement_timeout when it is shorter than the deadline
  policy_.statement_timeout = absl::Milliseconds(200);
  std::unique_ptr<DbBackend> strict = NewBackend({.allow_privileged_raw_session = true});
  out = Raw(*strict, {{"sql", "SELECT pg_sleep(5)"}});
  EXPECT_EQ(CodeOf(out), ErrorCode::kE3001);
}

TEST_F(DbBackendTest, LostConnectionIsE3005AndRecovers) {
  auto one = std::move(pg::PgPool::Create(*url_, 1)).value();
  std::unique_ptr<DbBackend> raw = NewBackend({.allow_privileged_raw_session = true}, one.get());
  absl::StatusOr<json> out = Raw(*raw, {{"sql", "SELECT pg_backend_pid() AS pid"}});
  ASSERT_OK(out);
  const int64_t pid = (*out)["rows"][0]["pid"];
  ASSERT_OK(AdminQuery(fmt::format("SELECT pg_terminate_backend({})", pid)));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  out = Call(CapabilityKind::kDbRead, "query", {{"table", table_}}, raw.get());
  EXPECT_EQ(CodeOf(out), ErrorCode::kE3005) << out.status();
  EXPECT_OK(Call(CapabilityKind::kDbRead, "query", {{"table", table_}}, raw.get()));
}

TEST_F(DbBackendTest, ConcurrentCallsShareOneBackend) {
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 15; ++i) {
        Capability all;
        all.kind = CapabilityKind::kDbRead;
        CallContext ctx;
        ctx.kind = CapabilityKind::kDbRead;
        ctx.declared = &all;
        ctx.deadline = absl::Now() + absl::Seconds(20);
        json audit;
        absl::StatusOr<json> out = backend_->Call(
            ctx, "query", {{"table", table_}, {"where", {{"qty", 1 + (t + i) % 5}}}}, audit);
        if (!out.ok() || out->size() != 1) ++failures;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace magic::broker
