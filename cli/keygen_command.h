// `magic keygen --dir D`: the key files a production farm needs (ADR 0011):
//   D/grant.key   Ed25519 seed the gateways sign grants with (mode 0600)
//   D/grant.pub   its public key, for the brokers
//   D/master.key  the secrets master key, for brokers and `magic secrets` (0600)
// Existing files are never overwritten (exit 1 names them).
#pragma once

#include <CLI/CLI.hpp>

#include <ostream>
#include <string>

namespace magic::cli {

struct KeygenOptions {
  std::string dir = ".";
};

CLI::App* AddKeygenCommand(CLI::App& app, KeygenOptions& options);
int RunKeygen(const KeygenOptions& options, std::ostream& out, std::ostream& err);

}  // namespace magic::cli
