// fs:temp. The files themselves live in the sandbox's private tmpfs (at
// most max_size, see worker/sandbox.h); no byte of them reaches the broker.
// The SDK asks the broker before each file operation so that the operation
// is checked against the contract and audited (operation + path_hash), and
// a controller without fs:temp has nothing writable anyway.
#pragma once

#include "broker/backend.h"

namespace magic::broker {

class FsBackend final : public Backend {
 public:
  // Backend. Ops: open {path, mode}, remove {path}, list {path}, mkdir {path}.
  // Paths are relative to the temp directory: no "..", no NUL, <= 1024 bytes.
  absl::StatusOr<nlohmann::json> Call(const CallContext& ctx, std::string_view op,
                                      const nlohmann::json& params, nlohmann::json& audit) override;
};

}  // namespace magic::broker
