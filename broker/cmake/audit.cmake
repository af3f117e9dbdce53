# The audit log of capability calls (audit.h): PostgreSQL magic.audit_log,
# hash-chained and append-only, plus the magic.audit topic.
magic_cc_library(NAME broker_audit
  HDRS audit.h
  SRCS audit.cc
       internal/audit_chain.h internal/audit_chain.cc
       internal/audit_store.h internal/audit_store.cc
       internal/audit_log.h internal/audit_log.cc
  DEPS magic::proto magic::common absl::status absl::statusor absl::time
       nlohmann_json::nlohmann_json
  PRIVATE_DEPS PkgConfig::SODIUM)
# Pure functions (sanitizing, normalization, canonical bytes, hashes).
magic_cc_test(NAME broker_audit_chain_test SRCS internal/audit_chain_test.cc
  DEPS magic::broker_audit PkgConfig::SODIUM)
# Against the real servers of scripts/services (MAGIC_TEST_POSTGRES_URL,
# MAGIC_TEST_KAFKA_BROKERS).
magic_cc_test(NAME broker_audit_test SRCS audit_test.cc DEPS magic::broker_audit
  LABELS integration)
