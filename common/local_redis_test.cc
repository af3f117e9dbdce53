// LocalRedis starts a real redis-server (from the redis-server package).
#include "common/local_redis.h"

#include "common/testing/status_testing.h"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <filesystem>

namespace magic {
namespace {

TEST(LocalRedisTest, StartsAnswersAndCleansUp) {
  absl::StatusOr<std::unique_ptr<LocalRedis>> redis = LocalRedis::Start();
  ASSERT_OK(redis);
  EXPECT_EQ((*redis)->url(), "redis://127.0.0.1:" + std::to_string((*redis)->port()));
  redisContext* ctx = redisConnect("127.0.0.1", (*redis)->port());
  ASSERT_NE(ctx, nullptr);
  ASSERT_EQ(ctx->err, 0) << ctx->errstr;
  auto* set = static_cast<redisReply*>(redisCommand(ctx, "SET k %s", "v"));
  ASSERT_NE(set, nullptr);
  freeReplyObject(set);
  auto* get = static_cast<redisReply*>(redisCommand(ctx, "GET k"));
  ASSERT_NE(get, nullptr);
  EXPECT_EQ(std::string(get->str, get->len), "v");
  freeReplyObject(get);
  redisFree(ctx);

  const int port = (*redis)->port();
  (*redis)->Stop();
  redisContext* after = redisConnect("127.0.0.1", port);
  EXPECT_TRUE(after == nullptr || after->err != 0);
  if (after != nullptr) redisFree(after);
}

TEST(LocalRedisTest, TwoInstancesGetDifferentPorts) {
  auto a = LocalRedis::Start();
  auto b = LocalRedis::Start();
  ASSERT_OK(a);
  ASSERT_OK(b);
  EXPECT_NE((*a)->port(), (*b)->port());
}

}  // namespace
}  // namespace magic
