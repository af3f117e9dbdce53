# db:read / db:write / db:rawsql on PostgreSQL (db_backend.h).
magic_cc_library(NAME broker_db
  HDRS db_backend.h internal/sql_builder.h internal/db_catalog.h internal/db_values.h
  SRCS db_backend.cc internal/sql_builder.cc internal/db_catalog.cc internal/db_values.cc
  DEPS magic::broker_policy magic::common magic::contracts
  PRIVATE_DEPS PkgConfig::SODIUM)
magic_cc_test(NAME broker_sql_builder_test SRCS internal/sql_builder_test.cc DEPS magic::broker_db)
# Against the PostgreSQL of scripts/services (MAGIC_TEST_POSTGRES_URL).
magic_cc_test(NAME broker_db_backend_test SRCS db_backend_test.cc DEPS magic::broker_db
  LABELS integration)
