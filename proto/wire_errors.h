// Converting between the one error shape (common/errors.h) and its wire
// form magic.v1.Error (Kafka results, gRPC "magic-error-bin" trailers).
#pragma once

#include "common/errors.h"
#include "magic/v1/error.pb.h"
#include "magic/v1/invocation.pb.h"

#include <absl/status/status.h>

#include <string>

namespace magic {

magic::v1::Error ToWireError(const Error& error);
// An unknown code becomes E3005; broken details_json becomes {}.
Error FromWireError(const magic::v1::Error& wire);
// MakeError() from a wire error.
absl::Status StatusFromWireError(const magic::v1::Error& wire);
// Marks `result` FAILED with the E-coded error of `status`.
void SetResultError(magic::v1::InvocationResult& result, const absl::Status& status);

}  // namespace magic
