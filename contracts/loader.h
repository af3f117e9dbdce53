// Loading and checking contracts: parse YAML or JSON, run every check the
// spec lists, and return either a valid Contract or the findings that
// explain why not. Pure library: no I/O but reading the named file.
//
//   CheckResult r = LoadContract("examples/invoice_sync/invoice_sync.contract.yaml");
//   for (const Finding& f : r.findings) std::cerr << FormatFinding(f) << "\n";
//   if (!r.ok(/*strict=*/false)) return 1;
//   const Contract& c = *r.contract;
//
// Every finding carries its E-code (E1001: unreadable / not YAML or JSON;
// E1002: breaks the contract schema), where it is (line:column, 1-based,
// and the JSON pointer into the document) and a hint saying how to fix it.
// Warnings are findings that do not stop loading; under --strict they count
// as errors.
#pragma once

#include "common/errors.h"
#include "contracts/contract.h"

#include <absl/status/statusor.h>
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace magic::contracts {

enum class Severity { kError, kWarning };

struct Finding {
  ErrorCode code = ErrorCode::kE1002;
  Severity severity = Severity::kError;
  std::string file;     // as given to LoadContract; "" for in-memory text
  int line = 0;         // 1-based; 0 when unknown
  int column = 0;       // 1-based; 0 when unknown
  std::string pointer;  // RFC 6901 JSON pointer, "" for the whole document
  std::string message;  // what is wrong
  std::string hint;     // how to fix it

  nlohmann::json ToJson() const;
};

struct CheckResult {
  std::optional<Contract> contract;  // set when there is no error finding
  std::vector<Finding> findings;     // errors and warnings, in document order

  int errors() const;
  int warnings() const;
  // No errors, and under `strict` no warnings either.
  bool ok(bool strict) const;
};

enum class SourceFormat { kAuto, kYaml, kJson };

// Reads and checks the contract at `path` (format from the extension:
// .json is JSON, anything else YAML).
CheckResult LoadContract(const std::string& path);

// Checks contract text already in memory. `source_name` is used as the
// findings' file name. kAuto treats text starting with '{' as JSON.
CheckResult ParseContract(std::string_view text, SourceFormat format = SourceFormat::kAuto,
                          std::string_view source_name = "");

// "file:line:col: error E1002: message (at /pointer)\n  hint: ..." — the
// human form `magic validate` prints.
std::string FormatFinding(const Finding& finding);

// Finds the contract file of a controller directory (DESIGN.md "Surfaces"):
// <snake>.contract.yaml|.yml|.json, else contract.yaml|.yml|.json. NotFound
// when there is none, InvalidArgument when there are several.
absl::StatusOr<std::string> FindContractFile(const std::string& dir);

// Parses a size such as "256Mi", "2Gi", "512Ki", "1G", "100M" or a plain
// byte count. nullopt if malformed.
std::optional<int64_t> ParseByteSize(std::string_view text);
// Parses a duration such as "30s", "500ms", "5m", "1h", "1m30s". nullopt if
// malformed.
std::optional<int64_t> ParseDurationMs(std::string_view text);

// "InvoiceSync" -> "invoice_sync".
std::string SnakeCase(std::string_view pascal);

}  // namespace magic::contracts
