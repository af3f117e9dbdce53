# `magic secrets set|list|rm` (secrets_command.h) and `magic keygen` (keygen_command.h) over the encrypted store
# of broker/secrets_store.h. Included from cli/CMakeLists.txt.
magic_cc_library(NAME cli_secrets
  HDRS secrets_command.h keygen_command.h
  SRCS secrets_command.cc keygen_command.cc
  DEPS magic::cli magic::broker_secrets magic::broker_grant
  PRIVATE_DEPS CLI11::CLI11)
target_link_libraries(magic PRIVATE magic::cli_secrets)
