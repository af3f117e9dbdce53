# Stores behind the broker: cache:* on Redis, queue:publish on Kafka,
# secrets:read on an encrypted PostgreSQL table (+ `magic secrets`).
# Integration tests need the servers of scripts/services (MAGIC_TEST_*).

# Redis URL parsing and the hiredis connection pool (internal/).
magic_cc_library(NAME broker_redis
  HDRS internal/redis_url.h internal/redis_pool.h
  SRCS internal/redis_url.cc internal/redis_pool.cc
  DEPS magic::common absl::status absl::statusor absl::time
  PRIVATE_DEPS PkgConfig::HIREDIS)
magic_cc_test(NAME broker_redis_url_test SRCS internal/redis_url_test.cc DEPS magic::broker_redis)

magic_cc_library(NAME broker_cache
  HDRS cache_backend.h
  SRCS cache_backend.cc
  DEPS magic::broker_policy magic::broker_redis
  PRIVATE_DEPS PkgConfig::HIREDIS)
magic_cc_test(NAME broker_cache_backend_test SRCS cache_backend_test.cc
  DEPS magic::broker_cache PkgConfig::HIREDIS LABELS integration)

magic_cc_library(NAME broker_queue
  HDRS queue_backend.h
  SRCS queue_backend.cc
  DEPS magic::broker_policy magic::common)
magic_cc_test(NAME broker_queue_backend_unit_test SRCS queue_backend_unit_test.cc
  DEPS magic::broker_queue)
magic_cc_test(NAME broker_queue_backend_test SRCS queue_backend_test.cc
  DEPS magic::broker_queue LABELS integration)

# The encrypted secret store (libsodium secretbox) and secrets:read.
magic_cc_library(NAME broker_secrets
  HDRS secrets_store.h secrets_backend.h
  SRCS secrets_store.cc secrets_backend.cc
  DEPS magic::broker_policy magic::common absl::time
  PRIVATE_DEPS PkgConfig::SODIUM)
magic_cc_test(NAME broker_secrets_crypto_test SRCS secrets_crypto_test.cc
  DEPS magic::broker_secrets)
magic_cc_test(NAME broker_secrets_test SRCS secrets_test.cc
  DEPS magic::broker_secrets LABELS integration)
