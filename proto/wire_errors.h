// Converting between the one error shape (common/errors.h) and its wire
// form magic.v1.Error (Kafka results, gRPC "magic-error-bin" trailers).
#pragma once

#include "common/errors.h"
#include "magic/v1/error.pb.h"
#include "magic/v1/invocation.pb.h"

#include <absl/status/status.h>
#include <grpcpp/server_context.h>

#include <string>

namespace magic {

magic::v1::Error ToWireError(const Error& error);
// An unknown code becomes E3005; broken details_json becomes {}.
Error FromWireError(const magic::v1::Error& wire);
// MakeError() from a wire error.
absl::Status StatusFromWireError(const magic::v1::Error& wire);
// Marks `result` FAILED with the E-coded error of `status`.
void SetResultError(magic::v1::InvocationResult& result, const absl::Status& status);

// A gRPC server's answer for an E-coded `status`: the catalog's gRPC code,
// "E4003: message", and the whole error in the "magic-error-bin" trailer
// on `context` (sync and callback servers alike). OK stays OK.
grpc::Status ToGrpcStatus(const absl::Status& status, const std::string& request_id,
                          grpc::ServerContextBase& context);

}  // namespace magic
