#include "proto/grpc_server.h"

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

}  // namespace magic
