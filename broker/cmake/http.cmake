# http:egress (http_backend.h): libcurl with SSRF protection. Address
# rules, URL/argument checks and the curl exchange live in internal/.
magic_cc_library(NAME broker_http
  HDRS http_backend.h internal/net_address.h internal/http_request.h
       internal/http_transfer.h internal/http_result.h
  SRCS http_backend.cc internal/net_address.cc internal/http_request.cc
       internal/http_transfer.cc internal/http_result.cc
  DEPS magic::broker_policy magic::common magic::contracts absl::status absl::statusor
       absl::time nlohmann_json::nlohmann_json PkgConfig::CURL
  PRIVATE_DEPS absl::strings)

magic_cc_test(NAME broker_net_address_test SRCS internal/net_address_test.cc
  DEPS magic::broker_http)

# Loopback servers only (cpp-httplib in-process; python3 + openssl for the
# HTTPS case): no external service needed.
magic_cc_test(NAME broker_http_backend_test SRCS http_backend_test.cc
  DEPS magic::broker_http PkgConfig::HTTPLIB Threads::Threads LABELS integration)
target_compile_definitions(broker_http_backend_test PRIVATE
  MAGIC_BROKER_TESTDATA="${CMAKE_CURRENT_SOURCE_DIR}/testdata")
