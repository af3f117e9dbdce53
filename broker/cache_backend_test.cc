// CacheBackend against a real Redis (scripts/services): needs
// MAGIC_TEST_REDIS_URL and fails without it. Every key lives under a
// namespace unique to the run, so reruns and other users never collide.
#include "broker/cache_backend.h"

#include "broker/internal/redis_pool.h"
#include "broker/internal/redis_url.h"
#include "common/errors.h"
#include "common/testing/status_testing.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>
#include <unistd.h>
#include <vector>

namespace magic::broker {
namespace {

using contracts::Capability;
using contracts::CapabilityKind;
using internal::RedisPool;
using internal::RedisReplyPtr;
using nlohmann::json;

std::string RunId() {
  static const std::string id = fmt::format(
      "{}-{}", getpid(), std::chrono::steady_clock::now().time_since_epoch().count() % 1000000007);
  return id;
}

std::string RedisUrl() {
  const char* url = std::getenv("MAGIC_TEST_REDIS_URL");
  return url == nullptr ? "" : url;
}

absl::Time Soon() { return absl::Now() + absl::Seconds(5); }

// A TCP port on loopback where nothing listens (bound, then closed).
int ClosedPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

class CacheBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(RedisUrl().empty()) << "set MAGIC_TEST_REDIS_URL (source /tmp/magic-services/env)";
    policy_.key_namespace = fmt::format("magic-test:{}:{}:", RunId(), NextId());
    policy_.max_ttl_seconds = 3600;
    policy_.max_value_bytes = 1024;
    read_.kind = CapabilityKind::kCacheRead;
    read_.prefix = "customer:";
    write_.kind = CapabilityKind::kCacheWrite;
    write_.prefix = "customer:";
    write_.max_ttl_seconds = 600;
    absl::StatusOr<std::unique_ptr<CacheBackend>> cache = CacheBackend::Create(RedisUrl(), policy_);
    ASSERT_OK(cache);
    cache_ = std::move(*cache);
    absl::StatusOr<internal::RedisEndpoint> endpoint = internal::ParseRedisUrl(RedisUrl());
    ASSERT_OK(endpoint);
    raw_ = std::make_unique<RedisPool>(internal::RedisPoolOptions{.endpoint = *endpoint});
  }

  static int NextId() {
    static std::atomic<int> id{0};
    return ++id;
  }

  CallContext Ctx(CapabilityKind kind) const {
    CallContext ctx;
    ctx.request_id = "req_cache_test";
    ctx.controller = "CacheTest";
    ctx.kind = kind;
    ctx.declared = kind == CapabilityKind::kCacheRead ? &read_ : &write_;
    ctx.deadline = Soon();
    return ctx;
  }

  absl::StatusOr<json> Read(std::string_view op, const json& params) {
    audit_ = json::object();
    return cache_->Call(Ctx(CapabilityKind::kCacheRead), op, params, audit_);
  }
  absl::StatusOr<json> Write(std::string_view op, const json& params) {
    audit_ = json::object();
    return cache_->Call(Ctx(CapabilityKind::kCacheWrite), op, params, audit_);
  }

  // TTL of the namespaced key, straight from Redis.
  int64_t RawTtl(const std::string& key) {
    absl::StatusOr<RedisReplyPtr> reply =
        raw_->Command({"TTL", policy_.key_namespace + key}, Soon(), true);
    EXPECT_OK(reply);
    return reply.ok() ? (*reply)->integer : -100;
  }
  absl::StatusOr<RedisReplyPtr> Raw(std::initializer_list<std::string_view> argv) {
    return raw_->Command(argv, Soon(), true);
  }

  CachePolicy policy_;
  Capability read_, write_;
  std::unique_ptr<CacheBackend> cache_;
  std::unique_ptr<RedisPool> raw_;
  json audit_;
};

std::optional<ErrorCode> CodeOf(const absl::StatusOr<json>& r) { return ErrorCodeOf(r.status()); }

TEST_F(CacheBackendTest, SetThenGetReturnsTheSameJsonValue) {
  for (const json& value : {json{{"name", "Ada"}, {"tags", {1, 2.5, "x"}}}, json("text"), json(42),
                            json(-1.5), json(true), json(nullptr), json::array()}) {
    ASSERT_OK(Write("set", {{"key", "customer:1"}, {"value", value}}));
    absl::StatusOr<json> got = Read("get", {{"key", "customer:1"}});
    ASSERT_OK(got);
    EXPECT_EQ(*got, value);
  }
}

TEST_F(CacheBackendTest, GetOfMissingKeyIsNull) {
  absl::StatusOr<json> got = Read("get", {{"key", "customer:nobody"}});
  ASSERT_OK(got);
  EXPECT_TRUE(got->is_null());
}

TEST_F(CacheBackendTest, ExistsDeleteAndTtl) {
  EXPECT_EQ(*Read("exists", {{"key", "customer:2"}}), json(false));
  EXPECT_TRUE(Read("ttl", {{"key", "customer:2"}})->is_null());
  ASSERT_OK(Write("set", {{"key", "customer:2"}, {"value", 1}, {"ttl", 120}}));
  EXPECT_EQ(*Read("exists", {{"key", "customer:2"}}), json(true));
  absl::StatusOr<json> ttl = Read("ttl", {{"key", "customer:2"}});
  ASSERT_OK(ttl);
  EXPECT_GT(ttl->get<int64_t>(), 110);
  EXPECT_LE(ttl->get<int64_t>(), 120);
  EXPECT_EQ(*Write("delete", {{"key", "customer:2"}}), json(true));
  EXPECT_EQ(*Write("delete", {{"key", "customer:2"}}), json(false));
  EXPECT_EQ(*Read("exists", {{"key", "customer:2"}}), json(false));
}

TEST_F(CacheBackendTest, KeyOutsideThePrefixIsE2003) {
  EXPECT_EQ(CodeOf(Read("get", {{"key", "order:1"}})), ErrorCode::kE2003);
  EXPECT_EQ(CodeOf(Write("set", {{"key", "order:1"}, {"value", 1}})), ErrorCode::kE2003);
  EXPECT_EQ(audit_["key"], "order:1");  // the refused key is audited
  EXPECT_EQ(CodeOf(Write("incr", {{"key", "custome"}})), ErrorCode::kE2003);
  EXPECT_EQ(CodeOf(Write("delete", {{"key", ""}})), ErrorCode::kE1005);
  absl::StatusOr<RedisReplyPtr> raw = Raw({"EXISTS", policy_.key_namespace + "order:1"});
  ASSERT_OK(raw);
  EXPECT_EQ((*raw)->integer, 0);
}

TEST_F(CacheBackendTest, TtlOverTheCapIsE2004) {
  // Contract max_ttl 600 < policy 3600: 600 is the cap.
  EXPECT_EQ(CodeOf(Write("set", {{"key", "customer:3"}, {"value", 1}, {"ttl", 601}})),
            ErrorCode::kE2004);
  EXPECT_OK(Write("set", {{"key", "customer:3"}, {"value", 1}, {"ttl", 600}}));
  EXPECT_EQ(audit_["ttl"], 600);
  // Without a contract max_ttl the policy caps.
  write_.max_ttl_seconds.reset();
  EXPECT_EQ(CodeOf(Write("set", {{"key", "customer:3"}, {"value", 1}, {"ttl", 3601}})),
            ErrorCode::kE2004);
  EXPECT_EQ(CodeOf(Write("incr", {{"key", "customer:3n"}, {"ttl", 3601}})), ErrorCode::kE2004);
}

TEST_F(CacheBackendTest, BadTtlIsE1005) {
  for (const json& ttl : {json(0), json(-5), json(1.5), json("60"), json(true)}) {
    EXPECT_EQ(CodeOf(Write("set", {{"key", "customer:4"}, {"value", 1}, {"ttl", ttl}})),
              ErrorCode::kE1005)
        << ttl;
  }
}

TEST_F(CacheBackendTest, SetWithoutTtlGetsTheCap) {
  ASSERT_OK(Write("set", {{"key", "customer:5"}, {"value", "v"}}));
  EXPECT_EQ(audit_, json({{"key", "customer:5"}, {"ttl", 600}}));
  const int64_t ttl = RawTtl("customer:5");
  EXPECT_GT(ttl, 590);
  EXPECT_LE(ttl, 600);
}

TEST_F(CacheBackendTest, ValueOverTheCapIsE2004) {
  const std::string big(2000, 'x');
  EXPECT_EQ(CodeOf(Write("set", {{"key", "customer:6"}, {"value", big}})), ErrorCode::kE2004);
  EXPECT_EQ(*Read("exists", {{"key", "customer:6"}}), json(false));
  EXPECT_OK(Write("set", {{"key", "customer:6"}, {"value", std::string(1000, 'x')}}));
}

TEST_F(CacheBackendTest, MissingOrBadArgumentsAreE1005) {
  EXPECT_EQ(CodeOf(Write("set", {{"key", "customer:7"}})), ErrorCode::kE1005);  // no value
  EXPECT_EQ(CodeOf(Read("get", json::object())), ErrorCode::kE1005);
  EXPECT_EQ(CodeOf(Read("get", {{"key", 7}})), ErrorCode::kE1005);
  EXPECT_EQ(CodeOf(Read("get", json::array())), ErrorCode::kE1005);
  EXPECT_EQ(CodeOf(Read("get", {{"key", "customer:" + std::string(600, 'k')}})), ErrorCode::kE1005);
  EXPECT_EQ(CodeOf(Write("incr", {{"key", "customer:7"}, {"amount", 1.5}})), ErrorCode::kE1005);
  EXPECT_EQ(CodeOf(Write("incr", {{"key", "customer:7"}, {"amount", 1ULL << 63}})),
            ErrorCode::kE1005);
  // An operation of the other kind, or an unknown one.
  EXPECT_EQ(CodeOf(Read("set", {{"key", "customer:7"}, {"value", 1}})), ErrorCode::kE1005);
  EXPECT_EQ(CodeOf(Write("get", {{"key", "customer:7"}})), ErrorCode::kE1005);
  EXPECT_EQ(CodeOf(Write("flushall", {{"key", "customer:7"}})), ErrorCode::kE1005);
  // Binary and odd keys are just bytes.
  EXPECT_OK(Write("set", {{"key", std::string("customer:a b\r\n*3\r\n", 19)}, {"value", 1}}));
}

TEST_F(CacheBackendTest, IncrCountsAndANewKeyGetsATtl) {
  EXPECT_EQ(*Write("incr", {{"key", "customer:hits"}}), json(1));
  EXPECT_EQ(*Write("incr", {{"key", "customer:hits"}, {"amount", 10}}), json(11));
  EXPECT_EQ(*Write("incr", {{"key", "customer:hits"}, {"amount", -12}}), json(-1));
  EXPECT_EQ(audit_["key"], "customer:hits");
  EXPECT_EQ(audit_["ttl"], 600);
  const int64_t ttl = RawTtl("customer:hits");
  EXPECT_GT(ttl, 590);
  EXPECT_LE(ttl, 600);
  EXPECT_EQ(*Read("get", {{"key", "customer:hits"}}), json(-1));
}

TEST_F(CacheBackendTest, IncrKeepsAnExistingExpiry) {
  ASSERT_OK(Write("incr", {{"key", "customer:window"}, {"ttl", 30}}));
  ASSERT_OK(Write("incr", {{"key", "customer:window"}, {"ttl", 500}}));
  EXPECT_LE(RawTtl("customer:window"), 30);
}

TEST_F(CacheBackendTest, IncrGivesAKeyWithoutExpiryOne) {
  ASSERT_OK(Raw({"SET", policy_.key_namespace + "customer:noexp", "5"}));
  EXPECT_EQ(*Write("incr", {{"key", "customer:noexp"}}), json(6));
  EXPECT_GT(RawTtl("customer:noexp"), 0);
  ASSERT_OK(Raw({"EXPIRE", policy_.key_namespace + "customer:noexp", "60"}));
}

TEST_F(CacheBackendTest, IncrOfANonIntegerIsE1005) {
  ASSERT_OK(Write("set", {{"key", "customer:text"}, {"value", "abc"}}));
  EXPECT_EQ(CodeOf(Write("incr", {{"key", "customer:text"}})), ErrorCode::kE1005);
  ASSERT_OK(Write("set", {{"key", "customer:max"}, {"value", INT64_MAX}}));
  EXPECT_EQ(CodeOf(Write("incr", {{"key", "customer:max"}})), ErrorCode::kE1005);
}

TEST_F(CacheBackendTest, TheNamespaceIsPrependedAndOnlyThere) {
  ASSERT_OK(Write("set", {{"key", "customer:ns"}, {"value", {{"a", 1}}}}));
  absl::StatusOr<RedisReplyPtr> raw = Raw({"GET", policy_.key_namespace + "customer:ns"});
  ASSERT_OK(raw);
  ASSERT_EQ((*raw)->type, REDIS_REPLY_STRING);
  EXPECT_EQ(std::string((*raw)->str, (*raw)->len), R"({"a":1})");
  raw = Raw({"EXISTS", "customer:ns"});
  ASSERT_OK(raw);
  EXPECT_EQ((*raw)->integer, 0);
}

TEST_F(CacheBackendTest, ANonJsonValueComesBackAsAString) {
  ASSERT_OK(Raw({"SET", policy_.key_namespace + "customer:foreign", "not json{", "EX", "60"}));
  EXPECT_EQ(*Read("get", {{"key", "customer:foreign"}}), json("not json{"));
}

TEST_F(CacheBackendTest, ReadAuditHasOnlyTheKeyPattern) {
  ASSERT_OK(Read("get", {{"key", "customer:alice@example.com"}}));
  EXPECT_EQ(audit_, json({{"key_pattern", "customer:*"}}));
}

TEST_F(CacheBackendTest, DeadlineAlreadyPassedIsE3001) {
  CallContext ctx = Ctx(CapabilityKind::kCacheRead);
  ctx.deadline = absl::Now() - absl::Seconds(1);
  json audit;
  EXPECT_EQ(ErrorCodeOf(cache_->Call(ctx, "get", {{"key", "customer:1"}}, audit).status()),
            ErrorCode::kE3001);
}

TEST_F(CacheBackendTest, ManyThreadsShareThePool) {
  constexpr int kThreads = 8, kEach = 50;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        json audit;
        if (!cache_->Call(Ctx(CapabilityKind::kCacheWrite), "incr", {{"key", "customer:n"}}, audit)
                 .ok()) {
          ++failures;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(*Read("get", {{"key", "customer:n"}}), json(kThreads * kEach));
}

TEST(CacheBackendUnreachableTest, ClosedPortIsE3005) {
  absl::StatusOr<std::unique_ptr<CacheBackend>> cache =
      CacheBackend::Create(fmt::format("redis://127.0.0.1:{}", ClosedPort()), CachePolicy{});
  ASSERT_OK(cache);  // lazy: created while Redis is down
  Capability read{.kind = CapabilityKind::kCacheRead};
  CallContext ctx{.kind = CapabilityKind::kCacheRead, .declared = &read, .deadline = Soon()};
  json audit;
  EXPECT_EQ(ErrorCodeOf((*cache)->Call(ctx, "get", {{"key", "k"}}, audit).status()),
            ErrorCode::kE3005);
  EXPECT_EQ(ErrorCodeOf((*cache)->Ping(Soon())), ErrorCode::kE3005);
}

TEST(CacheBackendUnreachableTest, ASilentServerRunsIntoTheDeadline) {
  // A listener that never answers: the kernel completes the handshake.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(fd, 8), 0);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  absl::StatusOr<std::unique_ptr<CacheBackend>> cache =
      CacheBackend::Create(fmt::format("redis://127.0.0.1:{}", ntohs(addr.sin_port)), {});
  ASSERT_OK(cache);
  Capability read{.kind = CapabilityKind::kCacheRead};
  CallContext ctx{.kind = CapabilityKind::kCacheRead,
                  .declared = &read,
                  .deadline = absl::Now() + absl::Milliseconds(300)};
  json audit;
  const absl::Time start = absl::Now();
  EXPECT_EQ(ErrorCodeOf((*cache)->Call(ctx, "get", {{"key", "k"}}, audit).status()),
            ErrorCode::kE3001);
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  close(fd);
}

TEST(RedisPoolTest, AKilledConnectionIsReplacedForIdempotentCommands) {
  ASSERT_FALSE(RedisUrl().empty());
  absl::StatusOr<internal::RedisEndpoint> endpoint = internal::ParseRedisUrl(RedisUrl());
  ASSERT_OK(endpoint);
  RedisPool pool({.endpoint = *endpoint, .size = 1});
  RedisPool killer({.endpoint = *endpoint, .size = 1});
  absl::StatusOr<RedisReplyPtr> id = pool.Command({"CLIENT", "ID"}, Soon(), true);
  ASSERT_OK(id);
  const std::string id_text = std::to_string((*id)->integer);
  ASSERT_OK(killer.Command({"CLIENT", "KILL", "ID", id_text}, Soon(), true));
  absl::StatusOr<RedisReplyPtr> pong = pool.Command({"PING"}, Soon(), /*idempotent=*/true);
  ASSERT_OK(pong);
  EXPECT_EQ(std::string((*pong)->str, (*pong)->len), "PONG");
  // Not idempotent: one E3005, then the next call reconnects.
  id = pool.Command({"CLIENT", "ID"}, Soon(), true);
  ASSERT_OK(id);
  ASSERT_OK(killer.Command({"CLIENT", "KILL", "ID", std::to_string((*id)->integer)}, Soon(), true));
  EXPECT_EQ(ErrorCodeOf(pool.Command({"PING"}, Soon(), false).status()), ErrorCode::kE3005);
  EXPECT_OK(pool.Command({"PING"}, Soon(), false));
}

}  // namespace
}  // namespace magic::broker
