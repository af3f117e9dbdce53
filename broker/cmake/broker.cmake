# The broker core (broker.h), the fs:temp check, and the gRPC service.
magic_cc_library(NAME broker
  HDRS broker.h fs_backend.h grpc_service.h audit.h
  SRCS broker.cc fs_backend.cc grpc_service.cc
  DEPS magic::broker_policy magic::broker_grant magic::broker_audit magic::contracts magic::common
       magic::proto
       magic::proto_util gRPC::grpc++
  PRIVATE_DEPS PkgConfig::SODIUM)
magic_cc_test(NAME broker_core_test SRCS broker_test.cc DEPS magic::broker)
