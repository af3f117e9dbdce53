#include "cli/audit_command.h"

#include "broker/audit.h"
#include "cli/commands.h"
#include "cli/dev_state.h"
#include "common/errors.h"
#include "common/postgres.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <fstream>
#include <ostream>
#include <string_view>
#include <vector>

namespace magic::cli {
namespace {

using magic::v1::AuditRecord;
using nlohmann::json;

constexpr size_t kMaxFieldValue = 60;  // characters of one field value in the table
constexpr size_t kColumns = 8;

// Characters on screen (code points; good enough for alignment).
size_t Width(std::string_view text) {
  return static_cast<size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

std::string Truncated(std::string text, size_t max_chars) {
  if (Width(text) <= max_chars) return text;
  size_t chars = 0;
  size_t i = 0;
  for (; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80 && ++chars > max_chars - 1) break;
  }
  text.resize(i);
  return text + "\xE2\x80\xA6";  // …
}

std::string Latency(int64_t us) {
  if (us < 1000) return fmt::format("{}us", us);
  if (us < 1'000'000) return fmt::format("{:.1f}ms", static_cast<double>(us) / 1e3);
  return fmt::format("{:.2f}s", static_cast<double>(us) / 1e6);
}

// key=value pairs, keys sorted; strings bare unless they need quotes.
std::string FieldsText(const json& fields) {
  std::string out;
  for (const auto& [key, value] : fields.items()) {
    std::string text = value.is_string()
                           ? value.get<std::string>()
                           : value.dump(-1, ' ', false, json::error_handler_t::replace);
    if (value.is_string() && (text.empty() || text.find_first_of(" \"=") != std::string::npos)) {
      text = value.dump(-1, ' ', false, json::error_handler_t::replace);
    }
    if (!out.empty()) out += ' ';
    out += Printable(key) + "=" + Truncated(Printable(text), kMaxFieldValue);
  }
  return out;
}

std::array<std::string, kColumns> Row(const AuditRecord& r) {
  const json j = broker::AuditRecordToJson(r);
  std::string decision = r.allowed() ? "allowed" : "denied";
  if (!r.code().empty()) decision += " " + r.code();
  return {j["time"].get<std::string>(),
          Printable(r.request_id()),
          Printable(r.controller() + "@" + r.version()),
          Printable(r.capability().empty() ? "-" : r.capability()),
          Printable(r.operation()),
          Printable(decision),
          Latency(r.latency_us()),
          FieldsText(j["fields"])};
}

void PrintTable(const std::vector<AuditRecord>& records, std::ostream& out) {
  std::vector<std::array<std::string, kColumns>> rows;
  rows.push_back({"TIME", "REQUEST", "CONTROLLER", "CAPABILITY", "OPERATION", "DECISION", "LATENCY",
                  "FIELDS"});
  for (const AuditRecord& r : records) rows.push_back(Row(r));
  std::array<size_t, kColumns> width{};
  for (const auto& row : rows) {
    for (size_t c = 0; c < kColumns; ++c) width[c] = std::max(width[c], Width(row[c]));
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < kColumns; ++c) {
      line += row[c];
      if (c + 1 < kColumns) line += std::string(width[c] - Width(row[c]) + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << '\n';
  }
}

int PrintVerify(pg::PgPool& pool, const AuditOptions& o, std::ostream& out, std::ostream& err) {
  absl::StatusOr<broker::ChainReport> report = broker::VerifyAuditChain(pool, o.schema);
  if (!report.ok()) {
    err << "magic audit: " << report.status().message() << '\n';
    return kExitUsage;
  }
  if (o.json) {
    out << json{{"rows", report->rows},
                {"intact", report->intact},
                {"first_bad_seq", report->first_bad_seq},
                {"problem", report->problem}}
               .dump()
        << '\n';
  } else if (report->intact) {
    out << fmt::format("audit chain intact: {} row(s) verified\n", report->rows);
  } else {
    out << fmt::format("audit chain BROKEN at chain_seq {}: {} ({} row(s) checked)\n",
                       report->first_bad_seq, report->problem, report->rows);
  }
  return report->intact ? kExitOk : kExitInvalid;
}

int PrintRecords(pg::PgPool& pool, const AuditOptions& o, std::ostream& out, std::ostream& err) {
  absl::StatusOr<std::vector<AuditRecord>> records =
      broker::ReadAuditRecords(pool, {.request_id = o.request_id,
                                      .controller = o.controller,
                                      .limit = o.limit,
                                      .schema = o.schema});
  if (!records.ok()) {
    err << "magic audit: " << records.status().message() << '\n';
    return kExitUsage;
  }
  if (records->empty()) {
    if (!o.request_id.empty()) {
      err << "no audit records for request " << Printable(o.request_id) << '\n';
    } else {
      err << "no audit records" << (o.controller.empty() ? "" : " for controller ")
          << Printable(o.controller) << '\n';
    }
    return kExitOk;
  }
  if (o.json) {
    for (const AuditRecord& r : *records) {
      out << broker::AuditRecordToJson(r).dump(-1, ' ', false, json::error_handler_t::replace)
          << '\n';
    }
  } else {
    PrintTable(*records, out);
  }
  return kExitOk;
}

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

}  // namespace

std::optional<std::string> ResolvePostgresUrl(const std::string& flag, std::string& source,
                                              std::string& error) {
  if (!flag.empty()) {
    source = "--postgres";
    return flag;
  }
  if (std::string env = Env("MAGIC_POSTGRES_URL"); !env.empty()) {
    source = "MAGIC_POSTGRES_URL";
    return env;
  }
  const std::string path = DevStatePath();
  const json state = ReadDevState();
  if (path.empty() || state.empty()) {
    error =
        "no PostgreSQL to read: pass --postgres URL, set MAGIC_POSTGRES_URL, or run `magic dev`";
    return std::nullopt;
  }
  if (DevStateString(state, "postgres_url").empty()) {
    error = path + ": no \"postgres_url\" string (is `magic dev` running?)";
    return std::nullopt;
  }
  source = path;
  return state["postgres_url"].get<std::string>();
}

CLI::App* AddAuditCommand(CLI::App& app, AuditOptions& options) {
  CLI::App* cmd = app.add_subcommand("audit", "Show or verify the audit log of capability calls");
  cmd->add_option("--request", options.request_id, "Only this request id");
  cmd->add_option("--controller", options.controller, "Only this controller");
  cmd->add_option("--limit", options.limit, "The most recent N records (1..100000)")
      ->check(CLI::Range(int64_t{1}, int64_t{100'000}));
  cmd->add_flag("--json", options.json, "JSON lines, as the magic.audit topic carries them");
  cmd->add_flag("--verify", options.verify,
                "Recompute the hash chain; exit 1 if a row was edited or deleted");
  cmd->add_option("--postgres", options.postgres,
                  "PostgreSQL URL (default $MAGIC_POSTGRES_URL, else `magic dev`'s)");
  cmd->add_option("--schema", options.schema)->group("");  // hidden: tests
  return cmd;
}

int RunAudit(const AuditOptions& options, std::ostream& out, std::ostream& err) {
  if (options.verify && (!options.request_id.empty() || !options.controller.empty())) {
    err << "magic audit: --verify checks the whole chain; it takes no --request/--controller\n";
    return kExitUsage;
  }
  std::string source, error;
  const std::optional<std::string> url = ResolvePostgresUrl(options.postgres, source, error);
  if (!url) {
    err << "magic audit: " << error << '\n';
    return kExitUsage;
  }
  // libpq would otherwise wait for the OS (minutes) on an unroutable host.
  setenv("PGCONNECT_TIMEOUT", "5", /*overwrite=*/0);
  absl::StatusOr<std::unique_ptr<pg::PgPool>> pool =
      pg::PgPool::Create({.url = *url, .size = 1, .application_name = "magic-audit"});
  if (!pool.ok()) {  // the message names the host, never the URL's password
    err << "magic audit: cannot reach PostgreSQL (from " << source
        << "): " << pool.status().message() << '\n';
    return kExitUsage;
  }
  return options.verify ? PrintVerify(**pool, options, out, err)
                        : PrintRecords(**pool, options, out, err);
}

}  // namespace magic::cli
