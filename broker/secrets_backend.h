// secrets:read: op get {key} -> the secret's value (a string).
//
//   SecretsBackend secrets(store);
//   secrets.Call(ctx, "get", {{"key", "STRIPE_API_KEY"}}, audit);
//
// The key must be a secret name ([A-Z][A-Z0-9_]{0,127}, else E1005) listed
// in the contract's secrets:read `keys` (else E2003); a declared key that
// was never set is E4003 (details {"secret"}). A row that does not decrypt
// (wrong master key, altered row) is E3005 naming the secret, never its
// value.
//
// Audit fields: {"key_name"}. The value is returned to the caller only:
// it never enters the audit record, a log line or an error.
//
// Thread-safe. The store must outlive the backend.
#pragma once

#include "broker/backend.h"
#include "broker/secrets_store.h"
#include "common/clock.h"

namespace magic::broker {

class SecretsBackend final : public Backend {
 public:
  explicit SecretsBackend(SecretStore& store, Clock& clock = RealClockInstance());

  // Backend
  absl::StatusOr<nlohmann::json> Call(const CallContext& ctx, std::string_view op,
                                      const nlohmann::json& params, nlohmann::json& audit) override;

 private:
  SecretStore& store_;
  Clock& clock_;
};

}  // namespace magic::broker
