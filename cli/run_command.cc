#include "cli/run_command.h"

#include "cli/commands.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/ids.h"
#include "contracts/loader.h"
#include "contracts/schema.h"
#include "worker/sandbox.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <ostream>
#include <sstream>

namespace magic::cli {
namespace {

using nlohmann::json;

// Prints the error document and returns `exit_code`.
int Fail(const Error& error, bool compact, std::ostream& out, int exit_code) {
  out << error.ToJson().dump(compact ? -1 : 2, ' ', false, json::error_handler_t::replace) << "\n";
  return exit_code;
}

int Fail(const absl::Status& status, const std::string& request_id, bool compact, std::ostream& out,
         int exit_code) {
  return Fail(ErrorFromStatus(status, request_id), compact, out, exit_code);
}

// The controller's logs on stderr.
class StreamEventSink final : public worker::EventSink {
 public:
  StreamEventSink(std::ostream& err, bool json_lines) : err_(err), json_(json_lines) {}

  void OnLog(const worker::LogRecord& record) override {
    json line = record.fields.is_object() ? record.fields : json::object();
    line["level"] = record.level;
    line["msg"] = record.msg;
    if (!record.request_id.empty()) line["request_id"] = record.request_id;
    if (json_) {
      err_ << line.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
      return;
    }
    err_ << "[" << record.level << "] " << record.msg;
    for (const auto& [key, value] : record.fields.items()) {
      err_ << " " << key << "="
           << (value.is_string() ? value.get<std::string>()
                                 : value.dump(-1, ' ', false, json::error_handler_t::replace));
    }
    err_ << "\n";
  }
  void OnMetric(const worker::MetricRecord& record) override {
    if (json_) return;  // machine output: logs only
    err_ << "[metric] " << record.name << " " << record.kind << " " << record.value << " "
         << record.labels.dump() << "\n";
  }

 private:
  std::ostream& err_;
  bool json_;
};

std::optional<std::string> ReadInput(const RunLocalOptions& options) {
  if (options.input) return *options.input;
  std::ifstream file(*options.input_file, std::ios::binary);
  if (!file) return std::nullopt;
  std::stringstream buffer;
  buffer << file.rdbuf();
  return buffer.str();
}

// Loads and compiles the contract of `dir`; prints why not on failure.
std::shared_ptr<const contracts::CompiledContract> LoadCompiled(const std::string& dir,
                                                                bool compact, std::ostream& out,
                                                                std::ostream& err) {
  absl::StatusOr<std::string> file = contracts::FindContractFile(dir);
  if (!file.ok()) {
    Fail({ErrorCode::kE1001, std::string(file.status().message()), {{"dir", dir}}, ""}, compact,
         out, kExitUsage);
    return nullptr;
  }
  contracts::CheckResult loaded = contracts::LoadContract(*file);
  if (!loaded.contract) {
    for (const auto& f : loaded.findings) err << contracts::FormatFinding(f) << "\n";
    const contracts::Finding& first = loaded.findings.front();
    Fail({first.code, "contract " + *file + " is invalid: " + first.message, first.ToJson(), ""},
         compact, out, kExitUsage);
    return nullptr;
  }
  absl::StatusOr<std::shared_ptr<const contracts::CompiledContract>> compiled =
      contracts::CompiledContract::Compile(*loaded.contract);
  if (!compiled.ok()) {
    Fail(compiled.status(), "", compact, out, kExitUsage);
    return nullptr;
  }
  return *compiled;
}

// Starts the sandbox and runs the controller once; prints the result.
int RunInSandbox(const RunLocalOptions& options, const contracts::CompiledContract& contract,
                 const worker::Invocation& invocation, std::ostream& out, std::ostream& err) {
  const bool compact = options.json;
  const std::string& id = invocation.request_id;
  absl::StatusOr<worker::ControllerBundle> bundle =
      worker::ReadBundle(contract.contract(), options.dir);
  if (!bundle.ok()) return Fail(bundle.status(), id, compact, out, kExitInvalid);
  worker::SandboxConfig config;
  config.sdk_dir = options.sdk_dir;
  absl::StatusOr<std::unique_ptr<worker::RunnerFactory>> factory =
      worker::MakeSandboxRunnerFactory(config, RealClockInstance());
  if (!factory.ok()) return Fail(factory.status(), id, compact, out, kExitUsage);
  absl::StatusOr<std::unique_ptr<worker::Runner>> runner =
      (*factory)->StartGeneric(bundle->profile);
  if (!runner.ok()) return Fail(runner.status(), id, compact, out, kExitUsage);
  StreamEventSink events(err, options.json);
  if (absl::Status s = (*runner)->Load(*bundle, events); !s.ok()) {
    return Fail(s, id, compact, out, kExitInvalid);
  }
  worker::DenyAllCallHandler calls;
  worker::InvocationHooks hooks{calls, events};
  absl::StatusOr<json> output = worker::RunAndValidate(**runner, contract, invocation, hooks);
  if (!output.ok()) return Fail(output.status(), id, compact, out, kExitInvalid);
  out << output->dump(compact ? -1 : 2, ' ', false, json::error_handler_t::replace) << "\n";
  return kExitOk;
}

}  // namespace

int RunLocal(const RunLocalOptions& options, std::ostream& out, std::ostream& err) {
  if (options.input.has_value() == options.input_file.has_value()) {
    err << "magic run: give exactly one of --input or --input-file\n";
    return kExitUsage;
  }
  std::error_code ec;
  if (!std::filesystem::is_directory(options.dir, ec)) {
    err << "magic run: " << options.dir << " is not a controller directory\n";
    return kExitUsage;
  }
  const bool compact = options.json;
  const std::string request_id = options.request_id.empty() ? NewRequestId() : options.request_id;
  std::shared_ptr<const contracts::CompiledContract> contract =
      LoadCompiled(options.dir, compact, out, err);
  if (contract == nullptr) return kExitUsage;
  std::optional<std::string> text = ReadInput(options);
  if (!text) {
    return Fail({ErrorCode::kE1005, "cannot read " + *options.input_file, {}, request_id}, compact,
                out, kExitInvalid);
  }
  json input = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (input.is_discarded()) {
    return Fail({ErrorCode::kE1005, "the input is not valid JSON", {}, request_id}, compact, out,
                kExitInvalid);
  }
  if (absl::Status s = contract->ValidateInput(input); !s.ok()) {
    return Fail(s, request_id, compact, out, kExitInvalid);
  }
  const worker::Invocation invocation{
      request_id, std::move(input), absl::Milliseconds(contract->contract().resources.timeout_ms)};
  return RunInSandbox(options, *contract, invocation, out, err);
}

}  // namespace magic::cli
