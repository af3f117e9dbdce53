# `magic audit` (audit_command.h), linked into the magic binary.
magic_cc_library(NAME cli_audit
  HDRS audit_command.h
  SRCS audit_command.cc
  DEPS magic::broker_audit magic::cli magic::common
  PRIVATE_DEPS CLI11::CLI11)
target_link_libraries(magic PRIVATE magic::cli_audit)
