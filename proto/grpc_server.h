// Every gRPC server of the farm starts the same way (DESIGN.md: server
// reflection and grpc.health.v1 on every gRPC server).
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace magic {

// Builds and starts a gRPC server on `address` ("127.0.0.1:0" picks a free
// port; the chosen one is written to `*bound_port`) with `services`, server
// reflection and grpc.health.v1 (SERVING). Null when it cannot listen.
std::unique_ptr<grpc::Server> StartGrpcServer(const std::string& address,
                                              const std::vector<grpc::Service*>& services,
                                              int* bound_port);

// Whether a listen address ("host:port", "[v6]:port", "unix:path") only
// accepts connections from this machine: 127.0.0.0/8, ::1, "localhost" or
// a Unix socket. Anything else, including 0.0.0.0, "::" and names, is not.
bool IsLoopbackListenAddress(std::string_view address);

}  // namespace magic
