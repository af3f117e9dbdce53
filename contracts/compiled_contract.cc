// CompiledContract: a contract with its input and output validators built
// once, shared by every invocation of that controller version.
#include "common/errors.h"
#include "contracts/contract.h"
#include "contracts/schema.h"

#include <absl/status/status.h>
#include <absl/status/statusor.h>
#include <absl/strings/str_cat.h>
#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <utility>

namespace magic::contracts {
namespace {

// The compiled `schema`, or E1002 naming which side of the contract failed.
absl::StatusOr<SchemaValidator> CompileSide(const nlohmann::json& schema, std::string_view side,
                                            const Contract& contract) {
  absl::StatusOr<SchemaValidator> validator = SchemaValidator::Compile(schema);
  if (validator.ok()) return validator;
  nlohmann::json details = {{"field", std::string(side)},
                            {"constraint", "schema"},
                            {"message", std::string(validator.status().message())}};
  if (!contract.name.empty()) details["contract"] = contract.name;
  return MakeError(
      ErrorCode::kE1002,
      absl::StrCat("Contract ", std::string(side), " schema is not a usable JSON Schema: ",
                   std::string(validator.status().message())),
      details);
}

}  // namespace

CompiledContract::CompiledContract(Contract contract, SchemaValidator input, SchemaValidator output)
    : contract_(std::move(contract)), input_(std::move(input)), output_(std::move(output)) {}

absl::StatusOr<std::shared_ptr<const CompiledContract>> CompiledContract::Compile(
    Contract contract) {
  absl::StatusOr<SchemaValidator> input = CompileSide(contract.input, "input", contract);
  if (!input.ok()) return input.status();
  absl::StatusOr<SchemaValidator> output = CompileSide(contract.output, "output", contract);
  if (!output.ok()) return output.status();
  return std::shared_ptr<const CompiledContract>(
      new CompiledContract(std::move(contract), *std::move(input), *std::move(output)));
}

absl::Status CompiledContract::ValidateInput(const nlohmann::json& input) const {
  return input_.Validate(input, ErrorCode::kE1003);
}

absl::Status CompiledContract::ValidateOutput(const nlohmann::json& output) const {
  return output_.Validate(output, ErrorCode::kE1004);
}

}  // namespace magic::contracts
