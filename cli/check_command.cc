#include "cli/commands.h"
#include "common/errors.h"
#include "contracts/loader.h"
#include "contracts/schema.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <istream>
#include <iterator>
#include <ostream>
#include <sstream>

namespace magic::cli {
namespace {

// The contract file named by `path` (a file, or a controller directory).
std::string ResolveContractPath(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_directory(path, ec)) return path;
  absl::StatusOr<std::string> file = contracts::FindContractFile(path);
  return file.ok() ? *file : path;
}

void PrintError(const Error& e, std::ostream& out) { out << e.ToJson().dump(2) << "\n"; }

// Reads the value to check; nullopt (and an E1005 on `out`) if unreadable.
std::optional<std::string> ReadValue(const CheckOptions& options, std::istream& in,
                                     std::ostream& out) {
  if (options.value) return *options.value;
  if (*options.value_file == "-") {
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  std::ifstream file(*options.value_file, std::ios::binary);
  if (!file) {
    PrintError({ErrorCode::kE1005, "cannot read " + *options.value_file, {}, ""}, out);
    return std::nullopt;
  }
  std::stringstream buffer;
  buffer << file.rdbuf();
  return buffer.str();
}

}  // namespace

int RunCheck(const CheckOptions& options, std::istream& in, std::ostream& out, std::ostream& err) {
  const char* verb = options.direction == Direction::kInput ? "check-input" : "check-output";
  if (options.value.has_value() == options.value_file.has_value()) {
    err << "magic " << verb << ": give exactly one of --"
        << (options.direction == Direction::kInput ? "input" : "output") << " or --"
        << (options.direction == Direction::kInput ? "input-file" : "output-file") << "\n";
    return kExitUsage;
  }
  const std::string path = ResolveContractPath(options.contract);
  contracts::CheckResult loaded = contracts::LoadContract(path);
  if (!loaded.contract) {
    for (const auto& f : loaded.findings) err << contracts::FormatFinding(f) << "\n";
    const auto& first = loaded.findings.front();
    PrintError(
        {first.code, "contract " + path + " is invalid: " + first.message, first.ToJson(), ""},
        out);
    return kExitUsage;
  }
  absl::StatusOr<std::shared_ptr<const contracts::CompiledContract>> compiled =
      contracts::CompiledContract::Compile(*loaded.contract);
  if (!compiled.ok()) {
    PrintError(ErrorFromStatus(compiled.status()), out);
    return kExitUsage;
  }
  std::optional<std::string> text = ReadValue(options, in, out);
  if (!text) return kExitInvalid;
  nlohmann::json value = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) {
    PrintError({ErrorCode::kE1005, "the value is not valid JSON", {}, ""}, out);
    return kExitInvalid;
  }
  absl::Status status = options.direction == Direction::kInput ? (*compiled)->ValidateInput(value)
                                                               : (*compiled)->ValidateOutput(value);
  if (!status.ok()) {
    PrintError(ErrorFromStatus(status), out);
    return kExitInvalid;
  }
  out << nlohmann::json({{"valid", true},
                         {"contract", (*compiled)->contract().name},
                         {"version", (*compiled)->contract().version}})
             .dump()
      << "\n";
  return kExitOk;
}

}  // namespace magic::cli
