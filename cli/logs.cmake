# `magic logs` (logs_command.h), linked into the magic binary.
magic_cc_library(NAME cli_logs
  HDRS logs_command.h
  SRCS logs_command.cc
  DEPS magic::cli magic::common
  PRIVATE_DEPS CLI11::CLI11)
target_link_libraries(magic PRIVATE magic::cli_logs)
magic_cc_test(NAME cli_logs_command_test SRCS logs_command_test.cc DEPS magic::cli_logs)
