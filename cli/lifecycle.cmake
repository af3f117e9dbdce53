# The Control service client pieces every Control verb shares
# (control_client.h): lifecycle and schedule.
magic_cc_library(NAME cli_control_client
  HDRS control_client.h
  SRCS control_client.cc
  DEPS magic::proto magic::common gRPC::grpc++
  PRIVATE_DEPS magic::cli magic::proto_util)

# `magic deploy | list | get | rollback | undeploy` (lifecycle_commands.h),
# linked into the magic binary.
magic_cc_library(NAME cli_lifecycle
  HDRS lifecycle_commands.h
  SRCS lifecycle_commands.cc
  DEPS magic::cli magic::contracts magic::proto magic::proto_util magic::common
  PRIVATE_DEPS CLI11::CLI11 gRPC::grpc++ magic::cli_control_client)
target_link_libraries(magic PRIVATE magic::cli_lifecycle)
