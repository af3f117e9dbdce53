#include "proto/grpc_server.h"

#include <arpa/inet.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

namespace magic {

std::unique_ptr<grpc::Server> StartGrpcServer(const std::string& address,
                                              const std::vector<grpc::Service*>& services,
                                              int* bound_port) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  // Bundles (Control.Deploy, up to 8 MiB of sources) and capability call
  // arguments are larger than gRPC's 4 MiB default; the services check
  // their own limits and answer with E-codes.
  builder.SetMaxReceiveMessageSize(16 << 20);
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), bound_port);
  for (grpc::Service* s : services) builder.RegisterService(s);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server) server->GetHealthCheckService()->SetServingStatus(true);
  return server;
}

bool IsLoopbackListenAddress(std::string_view address) {
  if (address.starts_with("unix:") || address.starts_with("unix-abstract:")) return true;
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos) return false;
  std::string_view host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host == "localhost" || host == "::1") return true;
  in_addr v4{};
  const std::string text(host);
  return inet_pton(AF_INET, text.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127;
}

}  // namespace magic
