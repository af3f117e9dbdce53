// `magic audit`: show and verify the audit log of capability calls
// (PostgreSQL magic.audit_log, written by the broker; see broker/audit.h).
//
//   magic audit [--request ID] [--controller NAME] [--limit N] [--json]
//   magic audit --verify [--json]
//
// The database is --postgres, else $MAGIC_POSTGRES_URL, else the
// "postgres_url" of ~/.cache/magic/dev/state.json (written by `magic dev`).
// Exit codes as every verb: 0 ok (also when nothing matched, which it
// says on stderr), 1 the chain is broken (--verify), 2 usage or unreachable.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>

namespace CLI {
class App;
}  // namespace CLI

namespace magic::cli {

struct AuditOptions {
  std::string request_id;
  std::string controller;
  int64_t limit = 100;  // the most recent N matching records, oldest first
  bool json = false;    // JSON lines (the records as the magic.audit topic carries them)
  bool verify = false;  // recompute the hash chain instead of listing
  std::string postgres;
  std::string schema = "magic";  // hidden: scratch schemas in tests
};

// Registers the `audit` subcommand, filling `options`; returns it.
CLI::App* AddAuditCommand(CLI::App& app, AuditOptions& options);

int RunAudit(const AuditOptions& options, std::ostream& out, std::ostream& err);

// The PostgreSQL URL by the rule above, and where it came from ("--postgres",
// "MAGIC_POSTGRES_URL", the state file's path); nullopt with `error` set
// when there is none or the state file is unreadable.
std::optional<std::string> ResolvePostgresUrl(const std::string& flag, std::string& source,
                                              std::string& error);

}  // namespace magic::cli
