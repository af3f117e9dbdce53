#include "cli/secrets_command.h"

#include "broker/secrets_store.h"
#include "cli/commands.h"
#include "cli/dev_state.h"
#include "common/errors.h"
#include "common/postgres.h"

#include <CLI/CLI.hpp>
#include <absl/time/time.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <termios.h>
#include <unistd.h>

namespace magic::cli {
namespace {

using broker::MasterKey;
using broker::SecretStore;
using nlohmann::json;

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

int ExitCodeFor(const Error& e) {
  switch (e.code) {
    case ErrorCode::kE3005:
    case ErrorCode::kE5001:
    case ErrorCode::kE5002:
      return kExitUsage;  // configuration or reachability, not the secret
    default:
      return kExitInvalid;
  }
}

int Fail(const absl::Status& status, std::ostream& out) {
  const Error e = ErrorFromStatus(status);
  out << e.ToJson().dump(2) << "\n";
  return ExitCodeFor(e);
}

absl::StatusOr<std::string> PostgresUrl(const SecretsOptions& o, const json& state) {
  for (std::string url :
       {o.postgres, Env("MAGIC_POSTGRES_URL"), DevStateString(state, "postgres_url")}) {
    if (!url.empty()) return url;
  }
  return MakeError(ErrorCode::kE5001,
                   "no PostgreSQL: give --postgres or MAGIC_POSTGRES_URL, or start `magic dev`");
}

absl::StatusOr<MasterKey> MasterKeyFor(const SecretsOptions& o, const json& state) {
  if (!o.master_key_file.empty()) return broker::LoadMasterKey(o.master_key_file);
  if (std::string file = Env("MAGIC_MASTER_KEY_FILE"); !file.empty()) {
    return broker::LoadMasterKey(file);
  }
  if (!Env("MAGIC_MASTER_KEY").empty()) return broker::LoadMasterKey("");
  if (std::string file = DevStateString(state, "master_key_file"); !file.empty()) {
    return broker::LoadMasterKey(file);
  }
  return MakeError(ErrorCode::kE5001,
                   "no master key: give --master-key-file, MAGIC_MASTER_KEY_FILE or "
                   "MAGIC_MASTER_KEY, or start `magic dev`");
}

// Reads a line from the terminal without echoing it.
std::string ReadHidden(std::istream& in, std::ostream& err, const std::string& name) {
  err << "value for " << name << ": " << std::flush;
  termios old{};
  const bool tty = tcgetattr(STDIN_FILENO, &old) == 0;
  if (tty) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  std::string line;
  std::getline(in, line);
  if (tty) tcsetattr(STDIN_FILENO, TCSANOW, &old);
  err << "\n";
  return line;
}

// --value, --from-file (as is), or stdin (one trailing newline dropped, so
// `echo v | magic secrets set N` stores "v").
absl::StatusOr<std::string> ReadValue(const SecretsOptions& o, std::istream& in,
                                      std::ostream& err) {
  if (o.value && !o.from_file.empty()) {
    return MakeError(ErrorCode::kE1005, "give --value or --from-file, not both");
  }
  if (o.value) return *o.value;
  if (!o.from_file.empty() && o.from_file != "-") {
    std::ifstream file(o.from_file, std::ios::binary);
    if (!file) {
      return MakeError(ErrorCode::kE1005, fmt::format("cannot read {}", o.from_file),
                       {{"path", o.from_file}});
    }
    std::stringstream buffer;
    buffer << file.rdbuf();
    return buffer.str();
  }
  if (&in == &std::cin && o.from_file.empty() && isatty(STDIN_FILENO) != 0) {
    return ReadHidden(in, err, o.name);
  }
  std::string value(std::istreambuf_iterator<char>(in), {});
  if (value.ends_with("\r\n")) {
    value.resize(value.size() - 2);
  } else if (value.ends_with('\n')) {
    value.pop_back();
  }
  return value;
}

int RunSet(const SecretsOptions& o, const json& state, pg::PgPool& pool, std::istream& in,
           std::ostream& out, std::ostream& err) {
  absl::StatusOr<MasterKey> key = MasterKeyFor(o, state);
  if (!key.ok()) return Fail(key.status(), out);
  absl::StatusOr<std::string> value = ReadValue(o, in, err);
  if (!value.ok()) return Fail(value.status(), out);
  SecretStore store(pool, std::move(*key));
  if (absl::Status s = store.Set(o.name, *value); !s.ok()) return Fail(s, out);
  out << "secret " << o.name << " set\n";
  return kExitOk;
}

int RunList(const SecretsOptions& o, pg::PgPool& pool, std::ostream& out) {
  // Listing never decrypts: any key will do.
  SecretStore store(pool, MasterKey::Random());
  absl::StatusOr<std::vector<broker::SecretInfo>> list = store.List();
  if (!list.ok()) return Fail(list.status(), out);
  if (o.json) {
    json rows = json::array();
    for (const broker::SecretInfo& s : *list) {
      rows.push_back(
          {{"name", s.name},
           {"updated_at", absl::FormatTime(absl::RFC3339_sec, s.updated_at, absl::UTCTimeZone())}});
    }
    out << json{{"secrets", rows}}.dump(2) << "\n";
    return kExitOk;
  }
  if (list->empty()) {
    out << "no secrets\n";
    return kExitOk;
  }
  size_t width = 4;
  for (const broker::SecretInfo& s : *list) width = std::max(width, s.name.size());
  out << fmt::format("{:<{}}  {}\n", "NAME", width, "UPDATED");
  for (const broker::SecretInfo& s : *list) {
    out << fmt::format("{:<{}}  {}\n", s.name, width,
                       absl::FormatTime(absl::RFC3339_sec, s.updated_at, absl::UTCTimeZone()));
  }
  return kExitOk;
}

int RunRemove(const SecretsOptions& o, pg::PgPool& pool, std::ostream& out) {
  SecretStore store(pool, MasterKey::Random());  // removing never decrypts
  if (absl::Status s = store.Remove(o.name); !s.ok()) return Fail(s, out);
  out << "secret " << o.name << " removed\n";
  return kExitOk;
}

void AddWhereOptions(CLI::App* cmd, SecretsOptions& o) {
  cmd->add_option("--postgres", o.postgres, "PostgreSQL URL (default $MAGIC_POSTGRES_URL)");
  cmd->add_option("--master-key-file", o.master_key_file,
                  "Master key file, 64 hex characters, mode 0600 (default "
                  "$MAGIC_MASTER_KEY_FILE or $MAGIC_MASTER_KEY)");
}

}  // namespace

CLI::App* AddSecretsCommand(CLI::App& app, SecretsOptions& o) {
  CLI::App* cmd = app.add_subcommand("secrets", "Manage the encrypted secrets of secrets:read");
  cmd->require_subcommand(1);
  CLI::App* set = cmd->add_subcommand("set", "Create or replace a secret (value from stdin)");
  set->add_option("NAME", o.name, "Secret name, e.g. STRIPE_API_KEY")->required();
  set->add_option("--value", o.value, "The value (visible in the process list; prefer stdin)");
  set->add_option("--from-file", o.from_file, "Read the value from this file, as is");
  set->callback([&o] { o.verb = SecretsOptions::Verb::kSet; });
  AddWhereOptions(set, o);
  CLI::App* list = cmd->add_subcommand("list", "Names and update times (never values)");
  list->add_flag("--json", o.json, "Machine-readable output");
  list->callback([&o] { o.verb = SecretsOptions::Verb::kList; });
  AddWhereOptions(list, o);
  CLI::App* rm = cmd->add_subcommand("rm", "Remove a secret");
  rm->add_option("NAME", o.name, "Secret name")->required();
  rm->callback([&o] { o.verb = SecretsOptions::Verb::kRemove; });
  AddWhereOptions(rm, o);
  return cmd;
}

int RunSecrets(const SecretsOptions& o, std::istream& in, std::ostream& out, std::ostream& err) {
  if (o.verb == SecretsOptions::Verb::kNone) {
    err << "magic secrets: give set, list or rm\n";
    return kExitUsage;
  }
  const json state = ReadDevState(o.state_file);
  absl::StatusOr<std::string> url = PostgresUrl(o, state);
  if (!url.ok()) return Fail(url.status(), out);
  absl::StatusOr<std::unique_ptr<pg::PgPool>> pool =
      pg::PgPool::Create({.url = *url, .size = 1, .application_name = "magic secrets"});
  if (!pool.ok()) {
    return Fail(
        MakeError(ErrorCode::kE3005, fmt::format("PostgreSQL unreachable: {}",
                                                 std::string_view(pool.status().message().data(),
                                                                  pool.status().message().size()))),
        out);
  }
  if (absl::Status s = broker::MigrateSecrets(**pool); !s.ok()) return Fail(s, out);
  switch (o.verb) {
    case SecretsOptions::Verb::kSet:
      return RunSet(o, state, **pool, in, out, err);
    case SecretsOptions::Verb::kList:
      return RunList(o, **pool, out);
    case SecretsOptions::Verb::kRemove:
      return RunRemove(o, **pool, out);
    case SecretsOptions::Verb::kNone:
      break;
  }
  return kExitUsage;
}

}  // namespace magic::cli
