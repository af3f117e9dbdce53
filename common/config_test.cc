#include "common/config.h"

#include <gtest/gtest.h>

namespace magic {
namespace {

nlohmann::json Defaults() {
  return nlohmann::json::parse(R"({
    "gateway": {"grpc_addr": "127.0.0.1:7070", "max_request_bytes": 1048576,
                "reflection": true, "brokers": ["localhost:9092"]},
    "worker": {"cpu_overcommit": 1.5}
  })");
}

TEST(ConfigTest, EnvName) {
  EXPECT_EQ(ConfigLoader::EnvName("gateway.grpc_addr"), "MAGIC_GATEWAY_GRPC_ADDR");
}

TEST(ConfigTest, LaterSourcesWin) {
  ConfigLoader loader(Defaults());
  ASSERT_TRUE(
      loader.LoadYaml("gateway:\n  grpc_addr: 0.0.0.0:1\n  max_request_bytes: 10\n", "f").ok());
  const char* env[] = {"MAGIC_GATEWAY_GRPC_ADDR=0.0.0.0:2", "OTHER=1", nullptr};
  ASSERT_TRUE(loader.LoadEnvironment(env).ok());
  EXPECT_EQ(loader.Get("gateway.grpc_addr"), "0.0.0.0:2");
  EXPECT_EQ(loader.Get("gateway.max_request_bytes"), 10);
  ASSERT_TRUE(loader.Set("gateway.grpc_addr", "0.0.0.0:3", "--set").ok());
  EXPECT_EQ(loader.Get("gateway.grpc_addr"), "0.0.0.0:3");
  EXPECT_EQ(loader.Get("worker.cpu_overcommit"), 1.5);
}

TEST(ConfigTest, TypesAreConverted) {
  ConfigLoader loader(Defaults());
  ASSERT_TRUE(loader.Set("gateway.reflection", "off", "flag").ok());
  EXPECT_EQ(loader.Get("gateway.reflection"), false);
  ASSERT_TRUE(loader.Set("gateway.brokers", "a:1, b:2", "flag").ok());
  EXPECT_EQ(loader.Get("gateway.brokers"), nlohmann::json({"a:1", "b:2"}));
  ASSERT_TRUE(loader.Set("worker.cpu_overcommit", "2.25", "flag").ok());
  EXPECT_EQ(loader.Get("worker.cpu_overcommit"), 2.25);
}

TEST(ConfigTest, BadValuesAndUnknownKeysAreErrors) {
  ConfigLoader loader(Defaults());
  EXPECT_EQ(loader.Set("gateway.max_request_bytes", "lots", "flag").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(loader.Set("gateway.grpc_adr", "x", "flag").code(), absl::StatusCode::kInvalidArgument);
  absl::Status s = loader.LoadYaml("gateway:\n  grcp_addr: x\n", "magic.yaml");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("grcp_addr"), std::string::npos);
  EXPECT_NE(s.message().find("magic.yaml"), std::string::npos);
  EXPECT_EQ(loader.LoadYaml("gateway: [1, 2\n", "bad.yaml").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(loader.LoadYaml("- a\n", "list.yaml").code(), absl::StatusCode::kInvalidArgument);
  const char* env[] = {"MAGIC_GATEWAY_REFLECTION=maybe", nullptr};
  EXPECT_EQ(loader.LoadEnvironment(env).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ConfigTest, MissingFileIsNotFound) {
  ConfigLoader loader(Defaults());
  EXPECT_EQ(loader.LoadFile("/nonexistent/magic.yaml").code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace magic
