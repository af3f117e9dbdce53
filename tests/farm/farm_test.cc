// The invocation path end to end, in one process, against the REAL servers
// that scripts/services starts (Apache Kafka, PostgreSQL): gateway (gRPC and
// HTTP) -> Kafka -> worker -> bubblewrap sandbox -> reply topic / results
// topic -> result store, in one testing::Farm (tests/farm/testing/farm.h).
// Topics and consumer groups are unique per run.
#include "tests/farm/testing/farm.h"

#include "common/clock.h"
#include "common/errors.h"
#include "common/ids.h"
#include "common/kafka.h"
#include "proto/wire_errors.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <future>
#include <httplib.h>
#include <thread>

namespace magic {
namespace {

// One farm for the whole suite (starting it costs a few seconds).
testing::Farm* farm = nullptr;

class FarmTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    farm = new testing::Farm({.controllers = {"greeter", "adder", "bad_output", "crasher",
                                              "sleeper", "long_sleeper", "memory_hog"}});
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
    http_->set_read_timeout(30, 0);
  }

  // Invoke over gRPC; returns the status and fills response / wire error.
  grpc::Status Invoke(const std::string& controller, const std::string& input,
                      magic::v1::InvokeResponse* response, Error* error = nullptr,
                      std::string* request_id = nullptr) {
    magic::v1::InvokeRequest req;
    req.set_controller(controller);
    req.set_input_json(input);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    grpc::Status s = stub_->Invoke(&ctx, req, response);
    auto trailer = ctx.GetServerTrailingMetadata().find("magic-error-bin");
    if (error != nullptr && trailer != ctx.GetServerTrailingMetadata().end()) {
      magic::v1::Error wire;
      wire.ParseFromArray(trailer->second.data(), static_cast<int>(trailer->second.size()));
      *error = FromWireError(wire);
    }
    auto id = ctx.GetServerInitialMetadata().find("x-request-id");
    if (request_id != nullptr && id != ctx.GetServerInitialMetadata().end()) {
      *request_id = std::string(id->second.data(), id->second.size());
    }
    return s;
  }

  static bool started_;
  std::unique_ptr<magic::v1::Gateway::Stub> stub_;
  std::unique_ptr<httplib::Client> http_;
};

bool FarmTest::started_ = false;

TEST_F(FarmTest, SyncInvokeOverGrpc) {
  magic::v1::InvokeResponse response;
  std::string id;
  grpc::Status s = Invoke("Greeter", R"({"name": "Farm"})", &response, nullptr, &id);
  ASSERT_TRUE(s.ok()) << s.error_message();
  nlohmann::json out = nlohmann::json::parse(response.output_json());
  EXPECT_EQ(out["greeting"], "Hello, Farm!");
  EXPECT_EQ(response.request_id(), id);
  EXPECT_TRUE(id.starts_with("req_"));
  EXPECT_EQ(response.controller(), "Greeter");
  EXPECT_GT(response.timings().total_us(), 0);
}

TEST_F(FarmTest, SyncInvokeOverHttpKeepsRequestId) {
  auto res = http_->Post("/v1/controllers/Greeter:invoke", {{"X-Request-ID", "req_http_kept"}},
                         R"({"name": "Http"})", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(res->get_header_value("X-Request-ID"), "req_http_kept");
  nlohmann::json body = nlohmann::json::parse(res->body);
  EXPECT_EQ(body["output"]["greeting"], "Hello, Http!");
  EXPECT_EQ(body["output"]["request_id"], "req_http_kept");

  auto generated =
      http_->Post("/v1/controllers/Greeter:invoke", R"({"name": "x"})", "application/json");
  ASSERT_TRUE(generated);
  EXPECT_TRUE(generated->get_header_value("X-Request-ID").starts_with("req_"));
}

TEST_F(FarmTest, AsyncSubmitThenGetOverGrpcAndHttp) {
  magic::v1::InvokeRequest req;
  req.set_controller("Greeter");
  req.set_input_json(R"({"name": "Later"})");
  magic::v1::SubmitResponse submitted;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub_->Submit(&ctx, req, &submitted).ok());
  const std::string id = submitted.request_id();
  magic::v1::Invocation inv;
  for (int i = 0; i < 200; ++i) {
    grpc::ClientContext get_ctx;
    magic::v1::GetRequest get;
    get.set_request_id(id);
    ASSERT_TRUE(stub_->Get(&get_ctx, get, &inv).ok());
    if (inv.state() == magic::v1::SUCCEEDED) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(inv.state(), magic::v1::SUCCEEDED);
  EXPECT_EQ(nlohmann::json::parse(inv.output_json())["greeting"], "Hello, Later!");
  auto res = http_->Get("/v1/invocations/" + id);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(nlohmann::json::parse(res->body)["state"], "SUCCEEDED");

  auto http_submit =
      http_->Post("/v1/controllers/Greeter:submit", R"({"name": "h"})", "application/json");
  ASSERT_TRUE(http_submit);
  EXPECT_EQ(http_submit->status, 202);
  EXPECT_TRUE(nlohmann::json::parse(http_submit->body)["request_id"].get<std::string>().starts_with(
      "req_"));
}

TEST_F(FarmTest, WatchStreamsUntilFinished) {
  magic::v1::InvokeRequest req;
  req.set_controller("Greeter");
  req.set_input_json(R"({"name": "Watch"})");
  magic::v1::SubmitResponse submitted;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub_->Submit(&ctx, req, &submitted).ok());
  grpc::ClientContext watch_ctx;
  watch_ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  magic::v1::GetRequest get;
  get.set_request_id(submitted.request_id());
  auto reader = stub_->Watch(&watch_ctx, get);
  magic::v1::Invocation inv, last;
  while (reader->Read(&inv)) last = inv;
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_EQ(last.state(), magic::v1::SUCCEEDED);
}

TEST_F(FarmTest, BadInputIsE1003WithDetails) {
  auto res = http_->Post("/v1/controllers/Greeter:invoke", R"({"name": 5})", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  nlohmann::json e = nlohmann::json::parse(res->body)["error"];
  EXPECT_EQ(e["code"], "E1003");
  EXPECT_EQ(e["details"]["field"], "name");
  EXPECT_EQ(e["details"]["constraint"], "type");
  EXPECT_FALSE(e["request_id"].get<std::string>().empty());
}

TEST_F(FarmTest, OversizeOrMalformedRequestIsE1005) {
  auto big = http_->Post("/v1/controllers/Greeter:invoke",
                         R"({"name": ")" + std::string(3 << 20, 'a') + R"("})", "application/json");
  ASSERT_TRUE(big);
  EXPECT_EQ(nlohmann::json::parse(big->body)["error"]["code"], "E1005");
  magic::v1::InvokeResponse response;
  Error error;
  grpc::Status s = Invoke("Greeter", "{not json", &response, &error);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(error.code, ErrorCode::kE1005);
}

TEST_F(FarmTest, OutputBreakingTheSchemaIsE1004) {
  magic::v1::InvokeResponse response;
  Error error;
  grpc::Status s = Invoke("BadOutput", R"({"mode": "wrong_type"})", &response, &error);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(error.code, ErrorCode::kE1004);
}

TEST_F(FarmTest, UnhandledExceptionIsE3003WithTraceback) {
  magic::v1::InvokeResponse response;
  Error error;
  grpc::Status s = Invoke("Crasher", R"({"mode": "divide"})", &response, &error);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(error.code, ErrorCode::kE3003);
  EXPECT_NE(error.details.dump().find("ZeroDivisionError"), std::string::npos) << error.details;
}

TEST_F(FarmTest, TimeoutIsE3001) {
  magic::v1::InvokeResponse response;
  Error error;
  grpc::Status s =
      Invoke("Sleeper", R"({"seconds": 30, "marker": "farm-timeout"})", &response, &error);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(error.code, ErrorCode::kE3001);
}

TEST_F(FarmTest, MemoryLimitIsE3002) {
  magic::v1::InvokeResponse response;
  Error error;
  grpc::Status s = Invoke("MemoryHog", R"({"megabytes": 512})", &response, &error);
  EXPECT_EQ(error.code, ErrorCode::kE3002) << s.error_message();
}

TEST_F(FarmTest, UnknownControllerIsE4003) {
  magic::v1::InvokeResponse response;
  Error error;
  grpc::Status s = Invoke("NoSuchController", "{}", &response, &error);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(error.code, ErrorCode::kE4003);
}

// Calls a unary method by name with raw protobuf bytes (no generated stub).
grpc::Status RawUnary(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                      const std::string& request, std::string* response) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::Slice slice(request);
  grpc::ByteBuffer req(&slice, 1), resp;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&ctx, method, grpc::StubOptions(), &req, &resp,
                 [&done](grpc::Status s) { done.set_value(s); });
  grpc::Status s = done.get_future().get();
  std::vector<grpc::Slice> slices;
  if (s.ok() && resp.Dump(&slices).ok()) {
    for (const auto& piece : slices) response->append(piece.begin(), piece.end());
  }
  return s;
}

// One request, one response on a bidi stream, with raw protobuf bytes.
class OneShotBidi final : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  OneShotBidi(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
              const std::string& request)
      : stub_(channel), slice_(request), request_(&slice_, 1) {
    ctx_.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    stub_.PrepareBidiStreamingCall(&ctx_, method, grpc::StubOptions(), this);
    StartWrite(&request_);
    StartRead(&response_);
    StartCall();
  }
  void OnWriteDone(bool) override { StartWritesDone(); }
  void OnReadDone(bool ok) override {
    if (ok) {
      std::vector<grpc::Slice> slices;
      if (response_.Dump(&slices).ok()) {
        for (const auto& piece : slices) bytes_.append(piece.begin(), piece.end());
      }
    }
  }
  void OnDone(const grpc::Status& s) override { done_.set_value(s); }
  grpc::Status Await() { return done_.get_future().get(); }
  const std::string& bytes() const { return bytes_; }

 private:
  grpc::GenericStub stub_;
  grpc::ClientContext ctx_;
  grpc::Slice slice_;
  grpc::ByteBuffer request_, response_;
  std::string bytes_;
  std::promise<grpc::Status> done_;
};

TEST_F(FarmTest, HealthAndReflectionAreServed) {
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(farm->gateway->grpc_port()),
                                     grpc::InsecureChannelCredentials());
  std::string health;
  // grpc.health.v1.HealthCheckRequest{} -> HealthCheckResponse{status: SERVING (1)}.
  ASSERT_TRUE(RawUnary(channel, "/grpc.health.v1.Health/Check", "", &health).ok());
  EXPECT_EQ(health, std::string("\x08\x01", 2));
  // grpc.reflection.v1alpha.ServerReflectionRequest{list_services: ""} lists the services.
  OneShotBidi reflection(channel, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                         std::string("\x3a\x00", 2));
  ASSERT_TRUE(reflection.Await().ok());
  EXPECT_NE(reflection.bytes().find("magic.v1.Gateway"), std::string::npos);
  EXPECT_NE(reflection.bytes().find("grpc.health.v1.Health"), std::string::npos);
  auto res = http_->Get("/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_FALSE(res->get_header_value("X-Request-ID").empty());
}

TEST_F(FarmTest, RedeliveredJobWithARecordedResultIsNotRunAgain) {
  magic::v1::InvokeResponse response;
  ASSERT_TRUE(Invoke("Adder", R"({"a": 1, "b": 2})", &response).ok());
  // The recorder writes results in batches: wait until the store has it.
  for (int i = 0; i < 100 && !farm->store->Get(response.request_id()).ok(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(farm->store->Get(response.request_id())->state(), magic::v1::SUCCEEDED);
  const worker::WorkerStats before = farm->worker->stats();

  // The same job again, as Kafka redelivers it after a rebalance: enqueued
  // before the worker got its partitions, still within its deadline.
  auto version = farm->registry->Active("Adder");
  ASSERT_TRUE(version.ok());
  magic::v1::InvocationJob job;
  job.set_request_id(response.request_id());
  job.set_controller("Adder");
  job.set_version((*version)->version());
  job.set_contract_digest((*version)->digest);
  job.set_input_json(R"({"a": 1, "b": 2})");
  const int64_t now = RealClockInstance().NowUnixMillis();
  job.set_enqueued_unix_ms(now - 10 * 60 * 1000);
  job.set_deadline_unix_ms(now + 60 * 1000);
  job.set_attempt(1);
  const std::string value = job.SerializeAsString();
  std::promise<absl::Status> delivered;
  ASSERT_TRUE(farm->producer
                  ->Produce({.topic = farm->jobs(), .key = "Adder", .value = value},
                            [&](const kafka::DeliveryReport& r) { delivered.set_value(r.status); })
                  .ok());
  ASSERT_TRUE(delivered.get_future().get().ok());
  worker::WorkerStats after = farm->worker->stats();
  for (int i = 0; i < 250 && after.received == before.received; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    after = farm->worker->stats();
  }
  for (int i = 0; i < 50 && after.skipped_finished == before.skipped_finished; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    after = farm->worker->stats();
  }
  EXPECT_EQ(after.received, before.received + 1);
  EXPECT_EQ(after.skipped_finished, before.skipped_finished + 1);
  EXPECT_EQ(after.executed, before.executed);
}

TEST_F(FarmTest, JobPastItsDeadlineIsNotRunLate) {
  auto version = farm->registry->Active("Adder");
  ASSERT_TRUE(version.ok());
  magic::v1::InvocationJob job;
  job.set_request_id(NewRequestId());
  job.set_controller("Adder");
  job.set_version((*version)->version());
  job.set_contract_digest((*version)->digest);
  job.set_input_json(R"({"a": 1, "b": 2})");
  const int64_t now = RealClockInstance().NowUnixMillis();
  job.set_enqueued_unix_ms(now - 2000);
  job.set_deadline_unix_ms(now - 1000);  // e.g. queued while the workers were down
  job.set_attempt(1);
  const worker::WorkerStats before = farm->worker->stats();
  const std::string value = job.SerializeAsString();
  ASSERT_TRUE(
      farm->producer->Produce({.topic = farm->jobs(), .key = "Adder", .value = value}, {}).ok());
  absl::StatusOr<magic::v1::Invocation> stored = absl::NotFoundError("");
  for (int i = 0; i < 250 && !stored.ok(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    stored = farm->store->Get(job.request_id());
  }
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->state(), magic::v1::FAILED);
  EXPECT_EQ(stored->error().code(), "E3001");
  EXPECT_EQ(farm->worker->stats().executed, before.executed);
  EXPECT_EQ(farm->worker->stats().expired, before.expired + 1);
}

TEST_F(FarmTest, CancelKillsARunningJob) {
  magic::v1::InvokeRequest req;
  req.set_controller("LongSleeper");  // 30 s timeout: the cancel, not the timeout, ends it
  req.set_input_json(R"({"seconds": 20, "marker": "farm-cancel"})");
  magic::v1::SubmitResponse submitted;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub_->Submit(&ctx, req, &submitted).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // let it start
  magic::v1::CancelRequest cancel;
  cancel.set_request_id(submitted.request_id());
  magic::v1::Invocation answer;
  grpc::ClientContext cancel_ctx;
  ASSERT_TRUE(stub_->Cancel(&cancel_ctx, cancel, &answer).ok());
  EXPECT_EQ(answer.state(), magic::v1::CANCELLED);
  absl::StatusOr<magic::v1::Invocation> stored = absl::NotFoundError("");
  for (int i = 0; i < 250; ++i) {
    stored = farm->store->Get(submitted.request_id());
    if (stored.ok() && stored->state() != magic::v1::QUEUED &&
        stored->state() != magic::v1::RUNNING) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->state(), magic::v1::CANCELLED) << stored->error().code();
}

}  // namespace
}  // namespace magic
