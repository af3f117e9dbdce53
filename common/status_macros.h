// MAGIC_RETURN_IF_ERROR / MAGIC_ASSIGN_OR_RETURN: Debian's abseil (20220623)
// ships neither status macro, so they live here once.
//
//   MAGIC_RETURN_IF_ERROR(DoThing());
//   MAGIC_ASSIGN_OR_RETURN(auto contract, LoadContract(path));
#pragma once

#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include <utility>

#define MAGIC_STATUS_CONCAT_INNER_(a, b) a##b
#define MAGIC_STATUS_CONCAT_(a, b) MAGIC_STATUS_CONCAT_INNER_(a, b)

#define MAGIC_RETURN_IF_ERROR(expr)                \
  do {                                             \
    ::absl::Status magic_status_ = (expr);         \
    if (!magic_status_.ok()) return magic_status_; \
  } while (false)

#define MAGIC_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                 \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()

#define MAGIC_ASSIGN_OR_RETURN(lhs, rexpr) \
  MAGIC_ASSIGN_OR_RETURN_IMPL_(MAGIC_STATUS_CONCAT_(magic_statusor_, __LINE__), lhs, rexpr)
