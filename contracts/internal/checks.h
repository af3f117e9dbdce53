// The semantic checks of a contract document (spec "Contract Validation"):
// required fields, name and version, the input/output JSON Schemas,
// capabilities and their options, resource bounds, observability. Each
// problem becomes a Finding with its E-code (E1002), severity, position
// (from the YamlDocument), JSON pointer, message and a concrete hint.
//
//   CheckResult r = CheckContractDocument(doc);
//   // r.contract is set iff no finding is an error.
//
// Stateless functions; thread-safe.
#pragma once

#include "contracts/internal/yaml_document.h"
#include "contracts/loader.h"

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace magic::contracts::internal {

// Runs every check on `doc` (which must be ok()). Findings are in document
// order, with `file` left empty; the Contract (without digest and
// source_path) is set iff there is no error.
CheckResult CheckContractDocument(const YamlDocument& doc);

// Damerau-Levenshtein (optimal string alignment) distance.
int EditDistance(std::string_view a, std::string_view b);

// The candidate closest to `word` if it is close enough to be a likely typo
// (distance <= 1 for short words, <= 2 otherwise, case-insensitive), else "".
std::string ClosestMatch(std::string_view word, std::span<const std::string_view> candidates);

// "invoice_sync" / "invoice-sync" / "invoiceSync" -> "InvoiceSync".
std::string PascalCaseSuggestion(std::string_view name);

// Checks one http:egress `allow` entry: a host name (lower-cased), a leading
// "*." wildcard over at least two labels, or an IP literal (ok, with a
// warning). URLs, ports, paths, "*" and malformed names are not ok.
struct HostCheck {
  bool ok = false;
  std::string host;     // normalized (lower case)
  std::string message;  // why not ok, or the warning
  std::string hint;
  bool warning = false;
};
HostCheck CheckAllowedHost(std::string_view entry);

}  // namespace magic::contracts::internal
