// Row codec of the PostgreSQL result store: InvocationResult -> columns,
// columns -> Invocation, and PostgreSQL array literals.
#include "common/absl_compat.h"
#include "common/errors.h"
#include "scheduler/internal/pg_result_store.h"

#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <utility>

namespace magic::scheduler::internal {
namespace {

using magic::v1::Invocation;
using magic::v1::InvocationResult;

void AppendQuoted(std::string& out, std::string_view value) {
  out.push_back('"');
  for (const char c : value) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
}

template <typename T, typename Fn>
std::string ArrayOf(const std::vector<T>& rows, Fn&& field) {
  std::string out = "{";
  for (size_t i = 0; i < rows.size(); ++i) {
    if (i > 0) out.push_back(',');
    field(out, rows[i]);
  }
  out.push_back('}');
  return out;
}

std::string TextColumn(const std::vector<ResultRow>& rows, std::string ResultRow::*member) {
  return ArrayOf(rows,
                 [member](std::string& out, const ResultRow& r) { AppendQuoted(out, r.*member); });
}

std::string IntColumn(const std::vector<ResultRow>& rows, int64_t ResultRow::*member) {
  return ArrayOf(
      rows, [member](std::string& out, const ResultRow& r) { out += std::to_string(r.*member); });
}

magic::v1::Error ErrorFromJson(std::string_view text) {
  magic::v1::Error error;
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return error;
  error.set_code(j.value("code", ""));
  error.set_category(j.value("category", ""));
  error.set_message(j.value("message", ""));
  error.set_request_id(j.value("request_id", ""));
  if (j.contains("details")) {
    const nlohmann::json& d = j["details"];
    error.set_details_json(d.is_string() ? d.get<std::string>() : d.dump());
  }
  return error;
}

std::string TimingsToJson(const magic::v1::Timings& timings) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(timings, &out, options).ok()) return "";
  return out;
}

magic::v1::Error StoreError(std::string_view request_id, std::string_view message) {
  const ErrorInfo& info = Describe(ErrorCode::kE3005);
  magic::v1::Error error;
  error.set_code(std::string(info.id));
  error.set_category(std::string(CategoryName(info.category)));
  error.set_message(std::string(message));
  error.set_request_id(std::string(request_id));
  return error;
}

}  // namespace

std::string ErrorToJson(const magic::v1::Error& error) {
  nlohmann::json j = {
      {"code", error.code()}, {"category", error.category()}, {"message", error.message()}};
  if (!error.details_json().empty()) {
    nlohmann::json details = nlohmann::json::parse(error.details_json(), nullptr, false);
    j["details"] = details.is_discarded() ? nlohmann::json(error.details_json()) : details;
  }
  if (!error.request_id().empty()) j["request_id"] = error.request_id();
  return j.dump();
}

std::string RunJson(const magic::v1::InvocationJob& job) {
  const magic::v1::RetryPolicy& r = job.retry();
  return nlohmann::json{{"timeout_ms", job.timeout_ms()},
                        {"ttl_ms", job.deadline_unix_ms() - job.enqueued_unix_ms()},
                        {"source", job.source()},
                        {"retry",
                         {{"max_attempts", std::max<uint32_t>(r.max_attempts(), 1)},
                          {"on_timeout", r.on_timeout()},
                          {"on_error", r.on_error()}}}}
      .dump();
}

std::string TextArray(const std::vector<std::string>& values) {
  return ArrayOf(values, [](std::string& out, const std::string& v) { AppendQuoted(out, v); });
}

ResultRow ToRow(const InvocationResult& result) {
  ResultRow row;
  row.request_id = result.request_id();
  row.controller = result.controller();
  row.version = result.version();
  row.state = magic::v1::InvocationState_Name(result.state());
  row.output = result.output_json();
  if (result.has_error()) row.error = ErrorToJson(result.error());
  if (result.has_timings()) row.timings = TimingsToJson(result.timings());
  row.attempt = result.attempt();
  row.started_ms = result.started_unix_ms();
  row.finished_ms = result.finished_unix_ms();
  if (row.started_ms > 0 && result.timings().queue_us() > 0) {
    row.created_ms = row.started_ms - result.timings().queue_us() / 1000;  // when it was queued
  }
  row.worker = result.worker_id();
  // Final states only: a worker reports SUCCEEDED, FAILED, or CANCELLED (a
  // job it skipped or killed on a cancellation).
  if (row.state != "SUCCEEDED" && row.state != "FAILED" && row.state != "CANCELLED") {
    row.error = ErrorToJson(
        StoreError(row.request_id, fmt::format("result arrived with state {}", row.state)));
    row.state = "FAILED";
  }
  if (row.output.find('\0') != std::string::npos) {  // cannot travel as a text parameter
    return Unstorable(std::move(row), absl::InvalidArgumentError("output contains NUL bytes"));
  }
  return row;
}

ResultRow Unstorable(ResultRow row, const absl::Status& why) {
  row.state = "FAILED";
  row.output.clear();
  row.error = ErrorToJson(
      StoreError(row.request_id, fmt::format("result not storable: {}", FromAbsl(why.message()))));
  return row;
}

ResultArrays ToArrays(const std::vector<ResultRow>& rows) {
  ResultArrays a;
  a.ids = TextColumn(rows, &ResultRow::request_id);
  a.controllers = TextColumn(rows, &ResultRow::controller);
  a.versions = TextColumn(rows, &ResultRow::version);
  a.states = TextColumn(rows, &ResultRow::state);
  a.outputs = TextColumn(rows, &ResultRow::output);
  a.errors = TextColumn(rows, &ResultRow::error);
  a.attempts = IntColumn(rows, &ResultRow::attempt);
  a.timings = TextColumn(rows, &ResultRow::timings);
  a.created_ms = IntColumn(rows, &ResultRow::created_ms);
  a.started_ms = IntColumn(rows, &ResultRow::started_ms);
  a.finished_ms = IntColumn(rows, &ResultRow::finished_ms);
  a.workers = TextColumn(rows, &ResultRow::worker);
  return a;
}

absl::StatusOr<Invocation> FromRow(const pqxx::row& row) {
  Invocation inv;
  inv.set_request_id(row[0].as<std::string>());
  inv.set_controller(row[1].as<std::string>());
  inv.set_version(row[2].as<std::string>());
  magic::v1::InvocationState state = magic::v1::INVOCATION_STATE_UNSPECIFIED;
  magic::v1::InvocationState_Parse(row[3].as<std::string>(), &state);
  inv.set_state(state);
  if (!row[4].is_null()) inv.set_output_json(row[4].as<std::string>());
  if (!row[5].is_null()) *inv.mutable_error() = ErrorFromJson(row[5].as<std::string>());
  inv.set_attempts(row[6].as<uint32_t>());
  if (!row[7].is_null()) {
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = true;
    (void)google::protobuf::util::JsonStringToMessage(row[7].as<std::string>(),
                                                      inv.mutable_timings(), options);
  }
  inv.set_created_unix_ms(row[8].as<int64_t>());
  inv.set_finished_unix_ms(row[9].as<int64_t>());
  return inv;
}

}  // namespace magic::scheduler::internal
