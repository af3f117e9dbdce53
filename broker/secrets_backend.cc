#include "broker/secrets_backend.h"

#include "common/errors.h"

#include <fmt/format.h>

namespace magic::broker {

using nlohmann::json;

SecretsBackend::SecretsBackend(SecretStore& store, Clock& clock) : store_(store), clock_(clock) {}

absl::StatusOr<json> SecretsBackend::Call(const CallContext& ctx, std::string_view op,
                                          const json& params, json& audit) {
  if (op != "get" || ctx.declared == nullptr) {
    return MakeError(ErrorCode::kE1005, fmt::format("unknown secrets operation '{}'", op),
                     {{"operation", op}});
  }
  auto key = params.is_object() ? params.find("key") : params.end();
  if (!params.is_object() || key == params.end() || !key->is_string()) {
    return MakeError(ErrorCode::kE1005, "key must be a string", {{"argument", "key"}});
  }
  const std::string& name = key->get_ref<const std::string&>();
  if (!IsValidSecretName(name)) {
    return MakeError(ErrorCode::kE1005,
                     "a secret name is an upper-case letter then up to 127 of [A-Z0-9_]",
                     {{"secret", name.substr(0, kMaxSecretNameBytes)}});
  }
  audit["key_name"] = name;
  if (!ctx.declared->AllowsKey(name)) {
    return MakeError(ErrorCode::kE2003, "the secret is not declared in the contract",
                     {{"secret", name}});
  }
  if (clock_.Now() >= ctx.deadline) {
    return MakeError(ErrorCode::kE3001, "the invocation deadline passed before the secret read");
  }
  // Errors name the secret, never its value (the store guarantees it).
  absl::StatusOr<std::string> value = store_.Get(name);
  if (!value.ok()) return value.status();
  return json(std::move(*value));
}

}  // namespace magic::broker
