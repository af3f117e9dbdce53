# The environment policy (policy.h): parsed from YAML, immutable.
magic_cc_library(NAME broker_policy
  HDRS policy.h backend.h
  SRCS policy.cc
  DEPS magic::contracts magic::common absl::status absl::statusor absl::time
  PRIVATE_DEPS yaml-cpp)
magic_cc_test(NAME broker_policy_test SRCS policy_test.cc DEPS magic::broker_policy)
