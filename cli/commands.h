// The verbs of the `magic` CLI that need no farm: validate, check-input,
// check-output and `new controller`. Each returns the process exit code
// (0 ok, 1 the thing checked is bad, 2 usage or unreachable) and writes
// only to the streams it is given, so tests drive them directly.
#pragma once

#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace magic::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitInvalid = 1;
inline constexpr int kExitUsage = 2;

struct ValidateOptions {
  std::vector<std::string> paths;  // files or directories (recursive)
  bool strict = false;             // warnings count as errors
  bool json = false;               // one JSON document on stdout
};
int RunValidate(const ValidateOptions& options, std::ostream& out, std::ostream& err);

// Every contract file under `dir`, sorted: <snake>.contract.{yaml,yml,json}
// and contract.{yaml,yml,json}. Hidden directories and build trees are
// skipped.
std::vector<std::string> FindContractFiles(const std::string& dir);

enum class Direction { kInput, kOutput };
struct CheckOptions {
  std::string contract;                   // contract file or controller directory
  std::optional<std::string> value;       // --input / --output JSON text
  std::optional<std::string> value_file;  // --input-file / --output-file ("-" = stdin)
  Direction direction = Direction::kInput;
};
// Validates one JSON value against the contract's input (E1003) or output
// (E1004) schema; nothing is run. Prints {"valid": true} or the error JSON
// on stdout.
int RunCheck(const CheckOptions& options, std::istream& in, std::ostream& out, std::ostream& err);

struct NewControllerOptions {
  std::string name;       // PascalCase, e.g. InvoiceSync
  std::string dir = ".";  // parent directory; the controller goes in dir/<snake_name>
};
// Scaffolds contract, Python code in the spec's style, sample input and a
// unittest. Refuses to overwrite anything.
int RunNewController(const NewControllerOptions& options, std::ostream& out, std::ostream& err);

// Text from controllers or the network, made safe for a terminal: control
// characters (C0, DEL, C1) and bidi overrides become \x.. / \u.... (audit,
// logs).
std::string Printable(std::string_view text);

}  // namespace magic::cli
