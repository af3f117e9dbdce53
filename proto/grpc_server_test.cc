#include "proto/grpc_server.h"

#include <gtest/gtest.h>

namespace magic {
namespace {

TEST(IsLoopbackListenAddressTest, OnlyThisMachine) {
  EXPECT_TRUE(IsLoopbackListenAddress("127.0.0.1:7072"));
  EXPECT_TRUE(IsLoopbackListenAddress("127.10.0.3:0"));
  EXPECT_TRUE(IsLoopbackListenAddress("localhost:7072"));
  EXPECT_TRUE(IsLoopbackListenAddress("[::1]:7072"));
  EXPECT_TRUE(IsLoopbackListenAddress("unix:/run/magic/control.sock"));

  EXPECT_FALSE(IsLoopbackListenAddress("0.0.0.0:7072"));
  EXPECT_FALSE(IsLoopbackListenAddress("[::]:7072"));
  EXPECT_FALSE(IsLoopbackListenAddress("10.0.0.5:7072"));
  EXPECT_FALSE(IsLoopbackListenAddress("128.0.0.1:7072"));
  EXPECT_FALSE(IsLoopbackListenAddress("control.internal:7072"));
  EXPECT_FALSE(IsLoopbackListenAddress("localhost.evil.example:7072"));
  EXPECT_FALSE(IsLoopbackListenAddress("127.0.0.1"));  // no port: not an address we listen on
  EXPECT_FALSE(IsLoopbackListenAddress(":7072"));
  EXPECT_FALSE(IsLoopbackListenAddress(""));
}

TEST(StartGrpcServerTest, PicksAFreeLoopbackPort) {
  int port = 0;
  std::unique_ptr<grpc::Server> server = StartGrpcServer("127.0.0.1:0", {}, &port);
  ASSERT_NE(server, nullptr);
  EXPECT_GT(port, 0);
  server->Shutdown();
}

}  // namespace
}  // namespace magic
