// `magic secrets set|list|rm`: the operator's side of secrets:read. Secrets
// are stored encrypted in PostgreSQL (broker/secrets_store.h); values are
// written, never printed.
//
//   magic secrets set STRIPE_API_KEY                      # value from stdin
//   magic secrets set STRIPE_API_KEY --from-file key.txt  # the file as is
//   magic secrets set STRIPE_API_KEY --value sk_live_...  # visible in `ps`!
//   magic secrets list [--json]
//   magic secrets rm STRIPE_API_KEY
//
// Where (each verb): --postgres URL, else $MAGIC_POSTGRES_URL; the master
// key from --master-key-file F, else $MAGIC_MASTER_KEY_FILE, else
// $MAGIC_MASTER_KEY (hex). What is still missing is read from the state
// file of a running `magic dev` ($HOME/.cache/magic/dev/state.json, keys
// "postgres_url" and "master_key_file"), so the verbs work against it with
// no flags. Only `set` needs the master key.
//
// Exit codes: 0 ok; 1 the secret or its value is bad (E4003 not found,
// E1005 bad name or value); 2 usage, no or unusable configuration
// (E5001/E5002), PostgreSQL unreachable (E3005). Errors are printed as the
// E-code JSON document on stdout, like the other verbs.
#pragma once

#include <iosfwd>
#include <optional>
#include <string>

namespace CLI {
class App;
}

namespace magic::cli {

struct SecretsOptions {
  enum class Verb { kNone, kSet, kList, kRemove };
  Verb verb = Verb::kNone;
  std::string name;
  std::optional<std::string> value;  // --value
  std::string from_file;             // --from-file ("-" = stdin)
  bool json = false;                 // list --json
  std::string postgres;              // --postgres
  std::string master_key_file;       // --master-key-file
  // The `magic dev` state file; empty = $HOME/.cache/magic/dev/state.json.
  std::string state_file;
};

// Adds `secrets` with its three verbs to `app`; parsing fills `options`.
CLI::App* AddSecretsCommand(CLI::App& app, SecretsOptions& options);

int RunSecrets(const SecretsOptions& options, std::istream& in, std::ostream& out,
               std::ostream& err);

}  // namespace magic::cli
