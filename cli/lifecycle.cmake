# `magic deploy | list | get | rollback | undeploy` (lifecycle_commands.h),
# linked into the magic binary.
magic_cc_library(NAME cli_lifecycle
  HDRS lifecycle_commands.h
  SRCS lifecycle_commands.cc
  DEPS magic::cli magic::contracts magic::proto magic::proto_util magic::common
  PRIVATE_DEPS CLI11::CLI11 gRPC::grpc++)
target_link_libraries(magic PRIVATE magic::cli_lifecycle)
