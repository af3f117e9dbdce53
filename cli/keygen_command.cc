#include "cli/keygen_command.h"

#include "broker/grant.h"
#include "broker/secrets_store.h"
#include "cli/commands.h"

#include <filesystem>

namespace magic::cli {

CLI::App* AddKeygenCommand(CLI::App& app, KeygenOptions& options) {
  CLI::App* cmd = app.add_subcommand(
      "keygen", "Create grant.key, grant.pub (grant signing) and master.key (secrets)");
  cmd->add_option("--dir", options.dir, "Directory for the key files (default: .)");
  return cmd;
}

int RunKeygen(const KeygenOptions& o, std::ostream& out, std::ostream& err) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(o.dir, ec);
  const fs::path dir(o.dir);
  const std::string grant_key = (dir / "grant.key").string();
  const std::string grant_pub = (dir / "grant.pub").string();
  const std::string master_key = (dir / "master.key").string();
  for (const std::string& path : {grant_key, grant_pub, master_key}) {
    if (fs::exists(path, ec)) {
      err << "magic keygen: " << path << " exists; not overwriting it\n";
      return kExitInvalid;
    }
  }
  absl::StatusOr<broker::GrantKeyPair> pair = broker::GenerateGrantKeyPair();
  absl::Status written =
      pair.ok() ? broker::WriteGrantKeyFiles(*pair, grant_key, grant_pub) : pair.status();
  if (written.ok()) written = broker::GenerateMasterKeyFile(master_key).status();
  if (!written.ok()) {
    err << "magic keygen: " << written.message() << "\n";
    return kExitUsage;
  }
  out << "wrote " << grant_key << " (gateways: grant.signing_key_file)\n"
      << "wrote " << grant_pub << " (brokers: grant.public_key_files)\n"
      << "wrote " << master_key << " (brokers: secrets.master_key_file; magic secrets)\n";
  return kExitOk;
}

}  // namespace magic::cli
