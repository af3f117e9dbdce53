#include "broker/internal/redis_url.h"

#include "common/errors.h"
#include "common/testing/status_testing.h"

#include <gtest/gtest.h>

namespace magic::broker::internal {
namespace {

TEST(RedisUrlTest, HostPortDb) {
  absl::StatusOr<RedisEndpoint> e = ParseRedisUrl("redis://10.0.0.5:6380/3");
  ASSERT_OK(e);
  EXPECT_EQ(e->host, "10.0.0.5");
  EXPECT_EQ(e->port, 6380);
  EXPECT_EQ(e->db, 3);
  EXPECT_EQ(e->password, "");
  EXPECT_EQ(e->Describe(), "10.0.0.5:6380/3");
}

TEST(RedisUrlTest, Defaults) {
  absl::StatusOr<RedisEndpoint> e = ParseRedisUrl("redis://cache.internal");
  ASSERT_OK(e);
  EXPECT_EQ(e->host, "cache.internal");
  EXPECT_EQ(e->port, 6379);
  EXPECT_EQ(e->db, 0);
  ASSERT_OK(ParseRedisUrl("redis://cache.internal/"));
}

TEST(RedisUrlTest, PasswordForms) {
  absl::StatusOr<RedisEndpoint> e = ParseRedisUrl("redis://:s3cr%40t@h:1/0");
  ASSERT_OK(e);
  EXPECT_EQ(e->password, "s3cr@t");
  EXPECT_EQ(e->host, "h");
  e = ParseRedisUrl("redis://user:pw@h");
  ASSERT_OK(e);
  EXPECT_EQ(e->password, "pw");
  e = ParseRedisUrl("redis://pw@h");
  ASSERT_OK(e);
  EXPECT_EQ(e->password, "pw");
  EXPECT_EQ(e->Describe().find("pw"), std::string::npos);
}

TEST(RedisUrlTest, Ipv6) {
  absl::StatusOr<RedisEndpoint> e = ParseRedisUrl("redis://[::1]:7000/1");
  ASSERT_OK(e);
  EXPECT_EQ(e->host, "::1");
  EXPECT_EQ(e->port, 7000);
  EXPECT_EQ(e->Describe(), "[::1]:7000/1");
  e = ParseRedisUrl("redis://[::1]");
  ASSERT_OK(e);
  EXPECT_EQ(e->port, 6379);
}

TEST(RedisUrlTest, UnixSocket) {
  absl::StatusOr<RedisEndpoint> e = ParseRedisUrl("unix:///run/redis.sock?db=2");
  ASSERT_OK(e);
  EXPECT_EQ(e->unix_path, "/run/redis.sock");
  EXPECT_EQ(e->db, 2);
  EXPECT_FALSE(ParseRedisUrl("unix://relative.sock").ok());
  EXPECT_FALSE(ParseRedisUrl("unix:///x.sock?timeout=1").ok());
}

TEST(RedisUrlTest, MalformedIsE1005WithoutThePassword) {
  for (const char* url :
       {"", "http://h:1", "redis://", "redis://h:", "redis://h:0", "redis://h:65536",
        "redis://h:12x", "redis://h/abc", "redis://h/-1", "redis://h/1001", "redis://[::1",
        "redis://[::1]x", "redis://:pw@", "redis://:bad%zz@h", "redis://:bad%4@h"}) {
    absl::StatusOr<RedisEndpoint> e = ParseRedisUrl(url);
    ASSERT_FALSE(e.ok()) << url;
    EXPECT_EQ(ErrorCodeOf(e.status()), ErrorCode::kE1005) << url;
  }
  absl::StatusOr<RedisEndpoint> e = ParseRedisUrl("redis://:hunter2@h:0");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(ErrorFromStatus(e.status()).details.dump().find("hunter2"), std::string::npos);
  EXPECT_EQ(e.status().ToString().find("hunter2"), std::string::npos);
}

}  // namespace
}  // namespace magic::broker::internal
