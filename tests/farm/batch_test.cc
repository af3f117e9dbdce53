// Async batches end to end against the REAL servers (scripts/services):
// SubmitBatch -> one job per item on Kafka -> worker -> results topic ->
// result store -> GetBatch / WatchBatch / ListBatchItems, and the HTTP face.
// Topics and groups are unique per run (a testing::Farm). The controller is
// Adder (worker/testdata/controllers/adder) with one change made in the
// farm's copy: b == -1 raises InputError (E1003) and b == -2 divides by zero
// (E3003), so a few chosen items fail.
#include "common/errors.h"
#include "common/ids.h"
#include "common/postgres.h"
#include "proto/wire_errors.h"
#include "tests/farm/testing/farm.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <httplib.h>
#include <map>
#include <thread>

namespace magic {
namespace {

constexpr char kFailingAdder[] = R"py(
import magic
from helpers.math import add


async def execute(input, ctx):
    if input["b"] == -1:
        raise magic.InputError("b must not be -1", details={"b": -1})
    if input["b"] == -2:
        return {"sum": 1 // 0, "request_id": ctx.request_id}
    return {"sum": add(input["a"], input["b"]), "request_id": ctx.request_id}
)py";

testing::Farm* farm = nullptr;

class BatchTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    farm = new testing::Farm({.files = {{"adder/controller.py", kFailingAdder}}});
    started_ = farm->Start();
  }
  static void TearDownTestSuite() {
    delete farm;
    farm = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(started_) << farm->error;
    stub_ = farm->GatewayStub();
    http_ = std::make_unique<httplib::Client>("127.0.0.1", farm->gateway->http_port());
    http_->set_read_timeout(60, 0);
  }

  grpc::Status Submit(const magic::v1::SubmitBatchRequest& request,
                      magic::v1::SubmitBatchResponse* response, Error* error) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    grpc::Status s = stub_->SubmitBatch(&ctx, request, response);
    auto trailer = ctx.GetServerTrailingMetadata().find("magic-error-bin");
    if (trailer != ctx.GetServerTrailingMetadata().end()) {
      magic::v1::Error wire;
      wire.ParseFromArray(trailer->second.data(), static_cast<int>(trailer->second.size()));
      *error = FromWireError(wire);
    }
    return s;
  }

  static bool started_;
  std::unique_ptr<magic::v1::Gateway::Stub> stub_;
  std::unique_ptr<httplib::Client> http_;
};

bool BatchTest::started_ = false;

TEST_F(BatchTest, ThousandItemsWithAFewFailures) {
  const std::map<int, std::string> failing = {
      {17, "E1003"}, {250, "E3003"}, {611, "E1003"}, {998, "E3003"}};
  magic::v1::SubmitBatchRequest request;
  request.set_controller("Adder");
  for (int i = 0; i < 1000; ++i) {
    auto it = failing.find(i);
    const int b = it == failing.end() ? i : (it->second == "E1003" ? -1 : -2);
    request.add_inputs_json(nlohmann::json({{"a", i}, {"b", b}}).dump());
  }
  magic::v1::SubmitBatchResponse submitted;
  Error error;
  grpc::Status s = Submit(request, &submitted, &error);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(submitted.request_ids_size(), 1000);
  EXPECT_TRUE(submitted.batch_id().starts_with("batch_"));
  EXPECT_EQ(submitted.request_ids(17), submitted.batch_id() + "-00017");

  // WatchBatch: progress only grows, and it ends finished with exact counts.
  magic::v1::GetBatchRequest get;
  get.set_batch_id(submitted.batch_id());
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(300));
  auto reader = stub_->WatchBatch(&ctx, get);
  magic::v1::Batch batch;
  uint32_t last_done = 0;
  int updates = 0;
  while (reader->Read(&batch)) {
    const uint32_t done = batch.succeeded() + batch.failed() + batch.cancelled();
    EXPECT_GE(done, last_done);
    EXPECT_EQ(batch.total(), 1000u);
    last_done = done;
    ++updates;
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_GE(updates, 2);  // at least one progress update before the end
  EXPECT_TRUE(batch.finished());
  EXPECT_EQ(batch.succeeded(), 996u);
  EXPECT_EQ(batch.failed(), 4u);
  EXPECT_EQ(batch.queued(), 0u);
  EXPECT_EQ(batch.running(), 0u);
  EXPECT_EQ(batch.controller(), "Adder");

  // ListBatchItems(FAILED): exactly the failing items, with their codes.
  magic::v1::ListBatchItemsRequest list;
  list.set_batch_id(submitted.batch_id());
  list.set_state(magic::v1::FAILED);
  list.set_page_size(3);
  std::map<std::string, std::string> failed;
  for (int page = 0; page < 10; ++page) {
    magic::v1::ListBatchItemsResponse items;
    grpc::ClientContext lctx;
    ASSERT_TRUE(stub_->ListBatchItems(&lctx, list, &items).ok());
    for (const auto& item : items.items()) failed[item.request_id()] = item.error().code();
    if (items.next_page_token().empty()) break;
    list.set_page_token(items.next_page_token());
  }
  std::map<std::string, std::string> expected;
  for (const auto& [index, code] : failing) expected[submitted.request_ids(index)] = code;
  EXPECT_EQ(failed, expected);

  // One succeeded item carries Adder's output.
  magic::v1::GetRequest one;
  one.set_request_id(submitted.request_ids(3));
  magic::v1::Invocation inv;
  grpc::ClientContext gctx;
  ASSERT_TRUE(stub_->Get(&gctx, one, &inv).ok());
  EXPECT_EQ(nlohmann::json::parse(inv.output_json())["sum"], 6);
}

TEST_F(BatchTest, InvalidItemRejectsTheWholeBatch) {
  magic::v1::SubmitBatchRequest request;
  request.set_controller("Adder");
  request.add_inputs_json(R"({"a": 1, "b": 2})");
  request.add_inputs_json(R"({"a": 1, "b": 2})");
  request.add_inputs_json(R"({"a": "one", "b": 2})");
  magic::v1::SubmitBatchResponse response;
  Error error;
  grpc::Status s = Submit(request, &response, &error);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(error.code, ErrorCode::kE1003);
  EXPECT_EQ(error.details["item"], 2);
  EXPECT_TRUE(response.batch_id().empty());

  request.set_inputs_json(2, "{not json");
  s = Submit(request, &response, &error);
  EXPECT_EQ(error.code, ErrorCode::kE1005);
  EXPECT_EQ(error.details["item"], 2);

  magic::v1::SubmitBatchRequest empty;
  empty.set_controller("Adder");
  s = Submit(empty, &response, &error);
  EXPECT_EQ(error.code, ErrorCode::kE1005);

  magic::v1::SubmitBatchRequest unknown;
  unknown.set_controller("Nobody");
  unknown.add_inputs_json("{}");
  s = Submit(unknown, &response, &error);
  EXPECT_EQ(error.code, ErrorCode::kE4003);
}

TEST_F(BatchTest, InvalidBatchRecordsAndProducesNothing) {
  // Jobs are produced only after the batch is recorded; a rejected batch
  // leaves no row, so nothing of it reached Kafka. The tag finds its rows.
  const std::string tag = NewId("tag_");
  magic::v1::SubmitBatchRequest bad;
  bad.set_controller("Adder");
  for (int i = 0; i < 50; ++i) {
    bad.add_inputs_json(nlohmann::json({{"a", 1}, {"b", 1}, {"tag", tag}}).dump());
  }
  bad.add_inputs_json(nlohmann::json({{"a", 1}, {"tag", tag}}).dump());
  magic::v1::SubmitBatchResponse response;
  Error error;
  ASSERT_FALSE(Submit(bad, &response, &error).ok());
  EXPECT_EQ(error.code, ErrorCode::kE1003);
  EXPECT_EQ(error.details["item"], 50);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  absl::StatusOr<int64_t> rows =
      farm->pool->WithConnection([&tag](pqxx::connection& conn) -> absl::StatusOr<int64_t> {
        pqxx::nontransaction tx(conn);
        return tx
            .exec_params1(
                "SELECT count(*) FROM magic.invocations WHERE input_json::text "
                "LIKE '%' || $1 || '%'",
                tag)[0]
            .as<int64_t>();
      });
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(*rows, 0);
}

TEST_F(BatchTest, HttpSubmitBatchAndGet) {
  auto res =
      http_->Post("/v1/controllers/Adder:submitBatch",
                  R"({"inputs": [{"a": 1, "b": 2}, {"a": 3, "b": -1}]})", "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 202) << res->body;
  nlohmann::json body = nlohmann::json::parse(res->body);
  const std::string id = body["batch_id"];
  ASSERT_EQ(body["request_ids"].size(), 2u);

  nlohmann::json batch;
  for (int i = 0; i < 300; ++i) {
    auto got = http_->Get("/v1/batches/" + id);
    ASSERT_TRUE(got);
    ASSERT_EQ(got->status, 200) << got->body;
    batch = nlohmann::json::parse(got->body);
    if (batch["finished"] == true) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(batch["finished"], true);
  EXPECT_EQ(batch["total"], 2);
  EXPECT_EQ(batch["succeeded"], 1);
  EXPECT_EQ(batch["failed"], 1);

  auto items = http_->Get("/v1/batches/" + id + "/items?state=FAILED");
  ASSERT_TRUE(items);
  ASSERT_EQ(items->status, 200) << items->body;
  nlohmann::json page = nlohmann::json::parse(items->body);
  ASSERT_EQ(page["items"].size(), 1u);
  EXPECT_EQ(page["items"][0]["request_id"], body["request_ids"][1]);
  EXPECT_EQ(page["items"][0]["error"]["code"], "E1003");

  auto bad_state = http_->Get("/v1/batches/" + id + "/items?state=DONE");
  ASSERT_TRUE(bad_state);
  EXPECT_EQ(bad_state->status, 400);
  auto missing = http_->Get("/v1/batches/batch_nope");
  ASSERT_TRUE(missing);
  EXPECT_EQ(nlohmann::json::parse(missing->body)["error"]["code"], "E4003");
  auto bad_body =
      http_->Post("/v1/controllers/Adder:submitBatch", R"([{"a": 1}])", "application/json");
  ASSERT_TRUE(bad_body);
  EXPECT_EQ(nlohmann::json::parse(bad_body->body)["error"]["code"], "E1005");
}

}  // namespace
}  // namespace magic
