#include "gateway/invocation_service.h"

#include "common/errors.h"
#include "gateway/testing/fakes.h"

#include <gtest/gtest.h>

#include <optional>

namespace magic::gateway {
namespace {

class InvocationServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto registry = contracts::LoadDirectoryRegistry("examples");
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = *std::move(registry);
    service_ = std::make_unique<InvocationService>(
        GatewayOptions{.gateway_id = "gw_test", .reply_topic = "magic.replies.gw_test"}, *registry_,
        sink_, router_, reader_, clock_);
  }

  static constexpr char kGoodInput[] = R"({"customer_id": "3f1c2a9e-8b1d-4c5e-9f3a-2b7d6e1c0a44"})";

  FakeClock clock_;
  ReplyRouter router_{clock_, /*start_sweeper=*/false};
  testing::FakeJobSink sink_;
  testing::FakeInvocationReader reader_;
  std::unique_ptr<contracts::Registry> registry_;
  std::unique_ptr<InvocationService> service_;
};

TEST_F(InvocationServiceTest, InvokeProducesJobAndCompletesOnReply) {
  std::optional<absl::StatusOr<magic::v1::InvokeResponse>> got;
  std::string id = service_->Invoke({.controller = "CustomerLookup", .input_json = kGoodInput},
                                    [&](auto r) { got = std::move(r); });
  EXPECT_TRUE(id.starts_with("req_"));
  ASSERT_EQ(sink_.jobs().size(), 1u);
  const magic::v1::InvocationJob job = sink_.jobs().front();
  EXPECT_EQ(job.request_id(), id);
  EXPECT_EQ(job.controller(), "CustomerLookup");
  EXPECT_EQ(job.version(), "1.0.0");
  EXPECT_EQ(job.reply_topic(), "magic.replies.gw_test");
  // 5 s contract timeout + 5 s queue grace.
  EXPECT_EQ(job.deadline_unix_ms() - job.enqueued_unix_ms(), 10'000);
  EXPECT_FALSE(got.has_value());

  magic::v1::InvocationResult result;
  result.set_request_id(id);
  result.set_controller("CustomerLookup");
  result.set_version("1.0.0");
  result.set_state(magic::v1::SUCCEEDED);
  result.set_output_json(R"({"ok": true})");
  router_.Deliver(result);
  ASSERT_TRUE(got.has_value());
  ASSERT_TRUE(got->ok()) << got->status();
  EXPECT_EQ((*got)->output_json(), R"({"ok": true})");
  EXPECT_EQ(router_.pending(), 0u);
}

TEST_F(InvocationServiceTest, CallerRequestIdIsKept) {
  std::string id = service_->Invoke(
      {.controller = "CustomerLookup", .input_json = kGoodInput, .request_id = "req_mine"},
      [](auto) {});
  EXPECT_EQ(id, "req_mine");
  EXPECT_EQ(sink_.jobs().front().request_id(), "req_mine");
}

TEST_F(InvocationServiceTest, InvalidInputIsE1003AndNothingIsProduced) {
  std::optional<absl::Status> got;
  service_->Invoke({.controller = "CustomerLookup", .input_json = R"({"customer_id": "nope"})"},
                   [&](auto r) { got = r.status(); });
  ASSERT_TRUE(got.has_value());
  Error e = ErrorFromStatus(*got);
  EXPECT_EQ(e.code, ErrorCode::kE1003);
  EXPECT_EQ(e.details["field"], "customer_id");
  EXPECT_TRUE(sink_.jobs().empty());
}

TEST_F(InvocationServiceTest, OversizeAndMalformedInputsAreE1005) {
  std::optional<absl::Status> big, bad;
  service_->Invoke({.controller = "CustomerLookup", .input_json = std::string(2 << 20, ' ')},
                   [&](auto r) { big = r.status(); });
  service_->Invoke({.controller = "CustomerLookup", .input_json = "{"},
                   [&](auto r) { bad = r.status(); });
  EXPECT_EQ(ErrorCodeOf(*big), ErrorCode::kE1005);
  EXPECT_EQ(ErrorCodeOf(*bad), ErrorCode::kE1005);
  EXPECT_TRUE(sink_.jobs().empty());
}

TEST_F(InvocationServiceTest, UnknownControllerIsE4003) {
  std::optional<absl::Status> got;
  service_->Invoke({.controller = "Nope", .input_json = "{}"}, [&](auto r) { got = r.status(); });
  EXPECT_EQ(ErrorCodeOf(*got), ErrorCode::kE4003);
}

TEST_F(InvocationServiceTest, DeadlineWithoutReplyIsE3001) {
  std::optional<absl::Status> got;
  service_->Invoke({.controller = "CustomerLookup", .input_json = kGoodInput, .timeout_ms = 1000},
                   [&](auto r) { got = r.status(); });
  clock_.Advance(absl::Milliseconds(5999));
  router_.ExpireDue();
  EXPECT_FALSE(got.has_value());
  clock_.Advance(absl::Milliseconds(1));
  router_.ExpireDue();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(ErrorCodeOf(*got), ErrorCode::kE3001);
}

TEST_F(InvocationServiceTest, FailedResultCarriesItsErrorCode) {
  std::optional<absl::Status> got;
  std::string id = service_->Invoke({.controller = "CustomerLookup", .input_json = kGoodInput},
                                    [&](auto r) { got = r.status(); });
  magic::v1::InvocationResult result;
  result.set_request_id(id);
  result.set_state(magic::v1::FAILED);
  result.mutable_error()->set_code("E3003");
  result.mutable_error()->set_message("ZeroDivisionError");
  result.mutable_error()->set_details_json(R"({"traceback": "..."})");
  router_.Deliver(result);
  Error e = ErrorFromStatus(*got);
  EXPECT_EQ(e.code, ErrorCode::kE3003);
  EXPECT_EQ(e.details["traceback"], "...");
}

TEST_F(InvocationServiceTest, ProduceFailureFailsTheCall) {
  sink_.set_ack(MakeError(ErrorCode::kE3005, "kafka down"));
  std::optional<absl::Status> got;
  service_->Invoke({.controller = "CustomerLookup", .input_json = kGoodInput},
                   [&](auto r) { got = r.status(); });
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(ErrorCodeOf(*got), ErrorCode::kE3005);
  EXPECT_EQ(router_.pending(), 0u);
}

TEST_F(InvocationServiceTest, SubmitAnswersQueuedUntilTheStoreKnows) {
  std::optional<absl::StatusOr<std::string>> got;
  std::string id = service_->Submit({.controller = "CustomerLookup", .input_json = kGoodInput},
                                    [&](auto r) { got = std::move(r); });
  ASSERT_TRUE(got.has_value() && got->ok());
  EXPECT_EQ(**got, id);
  EXPECT_TRUE(sink_.jobs().front().reply_topic().empty());
  auto queued = service_->Get(id);
  ASSERT_TRUE(queued.ok());
  EXPECT_EQ(queued->state(), magic::v1::QUEUED);

  magic::v1::Invocation done;
  done.set_request_id(id);
  done.set_state(magic::v1::SUCCEEDED);
  reader_.Put(done);
  EXPECT_EQ(service_->Get(id)->state(), magic::v1::SUCCEEDED);
  EXPECT_EQ(ErrorCodeOf(service_->Get("req_unknown").status()), ErrorCode::kE4003);
}

TEST_F(InvocationServiceTest, SubmitFailureIsNotRemembered) {
  sink_.set_ack(MakeError(ErrorCode::kE3005, "kafka down"));
  std::optional<absl::StatusOr<std::string>> got;
  std::string id = service_->Submit({.controller = "CustomerLookup", .input_json = kGoodInput},
                                    [&](auto r) { got = std::move(r); });
  EXPECT_FALSE(got->ok());
  EXPECT_FALSE(service_->Get(id).ok());
}

TEST(ReplyRouterTest, DuplicateIdInFlightIsRefusedAndLateRepliesDropped) {
  FakeClock clock;
  ReplyRouter router(clock, false);
  int calls = 0;
  router.Expect("a", clock.Now() + absl::Seconds(1), [&](auto) { ++calls; });
  std::optional<absl::Status> second;
  router.Expect("a", clock.Now() + absl::Seconds(1), [&](auto r) { second = r.status(); });
  EXPECT_EQ(ErrorCodeOf(*second), ErrorCode::kE1005);
  magic::v1::InvocationResult late;
  late.set_request_id("zzz");
  router.Deliver(late);
  EXPECT_EQ(router.dropped(), 1u);
  EXPECT_EQ(calls, 0);
}

TEST(ReplyRouterTest, DestructionFailsWaitersWithE3005) {
  FakeClock clock;
  std::optional<absl::Status> got;
  {
    ReplyRouter router(clock, true);
    router.Expect("a", clock.Now() + absl::Hours(1), [&](auto r) { got = r.status(); });
  }
  EXPECT_EQ(ErrorCodeOf(*got), ErrorCode::kE3005);
}

}  // namespace
}  // namespace magic::gateway

namespace magic::gateway {
namespace {

TEST_F(InvocationServiceTest, CancelFailsTheWaitingCallAndTellsWorkers) {
  std::optional<absl::Status> got;
  std::string id = service_->Invoke({.controller = "CustomerLookup", .input_json = kGoodInput},
                                    [&](auto r) { got = r.status(); });
  auto cancelled = service_->Cancel(id);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->state(), magic::v1::CANCELLED);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(ErrorFromStatus(*got).details["cancelled"], true);
  EXPECT_EQ(sink_.cancels(), std::deque<std::string>{id});
  EXPECT_EQ(ErrorCodeOf(service_->Cancel("req_unknown").status()), ErrorCode::kE4003);
}

TEST_F(InvocationServiceTest, CancellingAFinishedRunChangesNothing) {
  magic::v1::Invocation done;
  done.set_request_id("req_done");
  done.set_state(magic::v1::SUCCEEDED);
  reader_.Put(done);
  EXPECT_EQ(service_->Cancel("req_done")->state(), magic::v1::SUCCEEDED);
  EXPECT_TRUE(sink_.cancels().empty());
}

}  // namespace
}  // namespace magic::gateway
