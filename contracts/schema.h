// Compiled JSON Schema (draft-07) validators over valijson, built once per
// contract and reused for every invocation.
//
//   absl::StatusOr<SchemaValidator> v = SchemaValidator::Compile(contract.input);
//   absl::Status s = v->Validate(input_json, ErrorCode::kE1003);
//   // s is OK, or E1003 with details {"field", "constraint", "expected", ...}
//
// Supported: all draft-07 keywords; local "$ref" ("#/definitions/X",
// "#/properties/..."), plus remote refs only through a caller-supplied
// fetcher (the conformance suite; contracts get none); formats uuid, email,
// date-time, date, time, ipv4, ipv6, hostname, uri (checked; other formats
// are accepted as annotations, as draft-07 allows).
//
// Thread-safety: a compiled SchemaValidator is immutable and safe to use
// from many threads at once. Copying is cheap (shared state).
#pragma once

#include "common/errors.h"
#include "contracts/contract.h"

#include <absl/status/status.h>
#include <absl/status/statusor.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace magic::contracts {

// One reason a value failed validation.
struct Violation {
  std::string field;        // JSON pointer into the value ("/invoice_data/amount"); "" = root
  std::string constraint;   // the keyword that failed: "format", "required", "type", ...
  nlohmann::json expected;  // what the keyword asked for: "uuid", 0, ["USD","EUR"], ...
  std::string message;      // human sentence
};

// Loads the document at an absolute URI (without fragment) for remote $ref;
// nullopt when unknown.
using SchemaFetcher = std::function<std::optional<nlohmann::json>(const std::string& uri)>;

struct CompileOptions {
  SchemaFetcher fetcher;  // empty: any non-local $ref fails to compile
};

class SchemaValidator {
 public:
  // Compiles `schema`. InvalidArgument (message says where) if it is not a
  // usable draft-07 schema: bad $ref, wrong keyword types, regex that does
  // not compile.
  static absl::StatusOr<SchemaValidator> Compile(const nlohmann::json& schema,
                                                 const CompileOptions& options = {});

  // All violations of `value` (empty: valid). The most specific ones
  // (deepest field) come first.
  std::vector<Violation> Check(const nlohmann::json& value) const;
  bool IsValid(const nlohmann::json& value) const;

  // OK, or `code` (E1003 for inputs, E1004 for outputs) with details =
  // the first violation's {field, constraint, expected} plus "violations"
  // listing all of them (at most 20).
  absl::Status Validate(const nlohmann::json& value, ErrorCode code) const;

 private:
  struct State;
  explicit SchemaValidator(std::shared_ptr<const State> state);
  std::shared_ptr<const State> state_;
};

// Checks `schema` against the draft-07 meta-schema, then compiles it. Each
// problem is a Violation whose `field` is a pointer into the schema.
std::vector<Violation> CheckSchemaDocument(const nlohmann::json& schema);

// The draft-07 meta-schema, parsed.
const nlohmann::json& Draft07MetaSchema();

// Formats we check; ChecksFormat("uuid") is true, ChecksFormat("color")
// false (an annotation only).
bool ChecksFormat(std::string_view format);
// True if `value` satisfies `format` (true for formats we do not check).
bool MatchesFormat(std::string_view format, std::string_view value);

// A contract with its input and output validators compiled: what the
// gateway and worker keep per controller version. Immutable, thread-safe.
class CompiledContract {
 public:
  // InvalidArgument (E1002 payload) if either schema does not compile.
  static absl::StatusOr<std::shared_ptr<const CompiledContract>> Compile(Contract contract);

  const Contract& contract() const { return contract_; }
  // OK or E1003 with details (see SchemaValidator::Validate).
  absl::Status ValidateInput(const nlohmann::json& input) const;
  // OK or E1004 with details.
  absl::Status ValidateOutput(const nlohmann::json& output) const;

 private:
  CompiledContract(Contract contract, SchemaValidator input, SchemaValidator output);
  Contract contract_;
  SchemaValidator input_;
  SchemaValidator output_;
};

}  // namespace magic::contracts
