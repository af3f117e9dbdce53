# `magic batch NAME --file inputs.jsonl` (batch_command.h), linked into the magic binary.
magic_cc_library(NAME cli_batch
  HDRS batch_command.h
  SRCS batch_command.cc
  DEPS magic::cli magic::gateway magic::proto magic::proto_util magic::common
  PRIVATE_DEPS CLI11::CLI11 gRPC::grpc++)
target_link_libraries(magic PRIVATE magic::cli_batch)
