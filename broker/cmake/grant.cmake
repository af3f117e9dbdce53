# Grants (grant.h): Ed25519 signing by the gateway, verification and replay
# refusal in the broker.
magic_cc_library(NAME broker_grant
  HDRS grant.h
  SRCS grant.cc
  DEPS magic::proto magic::common absl::status absl::statusor absl::time
  PRIVATE_DEPS PkgConfig::SODIUM)
magic_cc_test(NAME broker_grant_test SRCS grant_test.cc DEPS magic::broker_grant
  PkgConfig::SODIUM)
