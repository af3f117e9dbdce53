# `magic schedule add|list|rm` (schedule_commands.h), linked into the magic
# binary. Included from cli/CMakeLists.txt.
magic_cc_library(NAME cli_schedule
  HDRS schedule_commands.h
  SRCS schedule_commands.cc
  DEPS magic::cli magic::proto magic::common absl::statusor nlohmann_json::nlohmann_json
  PRIVATE_DEPS magic::cli_control_client CLI11::CLI11 absl::time gRPC::grpc++)
target_link_libraries(magic PRIVATE magic::cli_schedule)
magic_cc_test(NAME cli_schedule_commands_test SRCS schedule_commands_test.cc
  DEPS magic::cli_schedule)
