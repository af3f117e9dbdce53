// libpqxx exceptions -> absl::Status (the table is in common/postgres.h).
#include "common/absl_compat.h"
#include "common/postgres.h"

#include <absl/strings/ascii.h>
#include <fmt/format.h>

#include <string>
#include <string_view>

namespace magic::pg {
namespace {

std::string Trimmed(const char* what) {
  return std::string(FromAbsl(absl::StripTrailingAsciiWhitespace(ToAbsl(what))));
}

absl::StatusCode CodeForSqlState(std::string_view state) {
  const std::string_view cls = state.substr(0, 2);
  if (state == "40003") return absl::StatusCode::kUnknown;  // statement completion unknown
  if (state == "23505") return absl::StatusCode::kAlreadyExists;
  if (state == "42501") return absl::StatusCode::kPermissionDenied;
  if (state == "57014") return absl::StatusCode::kDeadlineExceeded;
  if (state == "55P03") return absl::StatusCode::kAborted;  // lock_not_available
  if (cls == "08" || state.substr(0, 4) == "57P0") return absl::StatusCode::kUnavailable;
  if (cls == "40") return absl::StatusCode::kAborted;
  if (cls == "23") return absl::StatusCode::kFailedPrecondition;
  if (cls == "53") return absl::StatusCode::kResourceExhausted;
  if (cls == "0A") return absl::StatusCode::kUnimplemented;
  if (cls == "XX" || cls == "58") return absl::StatusCode::kInternal;
  return absl::StatusCode::kInvalidArgument;
}

absl::Status FromSqlError(const pqxx::sql_error& e) {
  const std::string& state = e.sqlstate();
  if (state.empty())
    return absl::InvalidArgumentError(fmt::format("postgres: {}", Trimmed(e.what())));
  return {CodeForSqlState(state), fmt::format("postgres {}: {}", state, Trimmed(e.what()))};
}

}  // namespace

absl::Status StatusFromPgError(const std::exception_ptr& error) {
  if (!error) return absl::OkStatus();
  try {
    std::rethrow_exception(error);
  } catch (const pqxx::broken_connection& e) {
    return absl::UnavailableError(fmt::format("postgres connection: {}", Trimmed(e.what())));
  } catch (const pqxx::in_doubt_error& e) {
    return absl::UnknownError(
        fmt::format("postgres commit outcome unknown: {}", Trimmed(e.what())));
  } catch (const pqxx::statement_completion_unknown& e) {
    return absl::UnknownError(fmt::format("postgres 40003: {}", Trimmed(e.what())));
  } catch (const pqxx::serialization_failure& e) {
    return absl::AbortedError(fmt::format("postgres 40001: {}", Trimmed(e.what())));
  } catch (const pqxx::deadlock_detected& e) {
    return absl::AbortedError(fmt::format("postgres 40P01: {}", Trimmed(e.what())));
  } catch (const pqxx::transaction_rollback& e) {
    return absl::AbortedError(fmt::format("postgres 40: {}", Trimmed(e.what())));
  } catch (const pqxx::insufficient_privilege& e) {
    // libpqxx 6.4 builds this one without its SQLSTATE (42501).
    return absl::PermissionDeniedError(fmt::format("postgres 42501: {}", Trimmed(e.what())));
  } catch (const pqxx::sql_error& e) {
    return FromSqlError(e);
  } catch (const pqxx::conversion_error& e) {
    return absl::InvalidArgumentError(fmt::format("postgres conversion: {}", Trimmed(e.what())));
  } catch (const pqxx::argument_error& e) {
    return absl::InvalidArgumentError(fmt::format("postgres argument: {}", Trimmed(e.what())));
  } catch (const pqxx::range_error& e) {
    return absl::InvalidArgumentError(fmt::format("postgres range: {}", Trimmed(e.what())));
  } catch (const pqxx::usage_error& e) {
    return absl::InternalError(fmt::format("postgres usage: {}", Trimmed(e.what())));
  } catch (const std::exception& e) {
    return absl::InternalError(fmt::format("postgres: {}", Trimmed(e.what())));
  } catch (...) {
    return absl::InternalError("postgres: unknown exception");
  }
}

}  // namespace magic::pg
