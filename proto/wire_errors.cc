#include "proto/wire_errors.h"

#include <nlohmann/json.hpp>

namespace magic {

magic::v1::Error ToWireError(const Error& error) {
  magic::v1::Error wire;
  wire.set_code(std::string(error.info().id));
  wire.set_category(std::string(CategoryName(error.info().category)));
  wire.set_message(error.message);
  wire.set_details_json(error.details.empty() ? "" : error.details.dump());
  wire.set_request_id(error.request_id);
  return wire;
}

Error FromWireError(const magic::v1::Error& wire) {
  Error e;
  e.code = ParseErrorCode(wire.code()).value_or(ErrorCode::kE3005);
  e.message = wire.message();
  e.request_id = wire.request_id();
  if (!wire.details_json().empty()) {
    e.details = nlohmann::json::parse(wire.details_json(), nullptr, /*allow_exceptions=*/false);
    if (e.details.is_discarded()) e.details = nlohmann::json::object();
  }
  return e;
}

absl::Status StatusFromWireError(const magic::v1::Error& wire) {
  Error e = FromWireError(wire);
  return MakeError(e.code, e.message, e.details);
}

void SetResultError(magic::v1::InvocationResult& result, const absl::Status& status) {
  result.set_state(magic::v1::FAILED);
  *result.mutable_error() = ToWireError(ErrorFromStatus(status, result.request_id()));
}

grpc::Status ToGrpcStatus(const absl::Status& status, const std::string& request_id,
                          grpc::ServerContextBase& context) {
  if (status.ok()) return grpc::Status::OK;
  Error e = ErrorFromStatus(status, request_id);
  context.AddTrailingMetadata("magic-error-bin", ToWireError(e).SerializeAsString());
  return grpc::Status(static_cast<grpc::StatusCode>(e.info().grpc_code),
                      std::string(e.info().id) + ": " + e.message);
}

}  // namespace magic
