#include "cli/batch_command.h"

#include "cli/commands.h"
#include "common/errors.h"
#include "gateway/http_server.h"
#include "magic/v1/gateway.grpc.pb.h"
#include "proto/wire_errors.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <istream>
#include <optional>
#include <ostream>
#include <variant>
#include <vector>

namespace magic::cli {
namespace {

constexpr int kBarWidth = 30;

std::string Address(const std::string& given) {
  if (!given.empty()) return given;
  const char* env = std::getenv("MAGIC_ADDR");
  return env != nullptr && *env != '\0' ? env : "127.0.0.1:7070";
}

// The E-coded error of a failed call on `out`; 2 when the gateway was
// unreachable, else 1 (as `magic invoke`).
int PrintRpcError(const grpc::Status& status, const grpc::ClientContext& context,
                  const std::string& addr, std::ostream& out, std::ostream& err) {
  auto it = context.GetServerTrailingMetadata().find("magic-error-bin");
  const bool has_error = it != context.GetServerTrailingMetadata().end();
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE && !has_error) {
    err << "magic: gateway " << addr << " unreachable: " << status.error_message()
        << " (start one with `magic dev`, or set MAGIC_ADDR / --addr)\n";
    return kExitUsage;
  }
  magic::v1::Error wire;
  if (has_error && wire.ParseFromArray(it->second.data(), static_cast<int>(it->second.size()))) {
    out << FromWireError(wire).ToJson().dump(2) << "\n";
  } else {
    err << "magic: " << status.error_message() << "\n";
  }
  return kExitInvalid;
}

int PrintLocalError(const std::string& message, nlohmann::json details, std::ostream& out) {
  out << Error{.code = ErrorCode::kE1005, .message = message, .details = std::move(details)}
             .ToJson()
             .dump(2)
      << "\n";
  return kExitInvalid;
}

// The file's JSON lines (blank lines skipped), or the exit code after
// printing why not.
std::variant<std::vector<std::string>, int> ReadLines(const BatchOptions& o, std::istream& in,
                                                      std::ostream& out, std::ostream& err) {
  std::ifstream file;
  if (o.file != "-") {
    file.open(o.file, std::ios::binary);
    if (!file) {
      err << "magic batch: cannot read " << o.file << "\n";
      return kExitUsage;
    }
  }
  std::istream& source = o.file == "-" ? in : file;
  std::vector<std::string> inputs;
  std::string line;
  for (int number = 1; std::getline(source, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    if (nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false).is_discarded()) {
      return PrintLocalError(fmt::format("{} line {} is not valid JSON", o.file, number),
                             {{"file", o.file}, {"line", number}}, out);
    }
    inputs.push_back(std::move(line));
  }
  if (inputs.empty()) {
    return PrintLocalError(fmt::format("{} holds no inputs", o.file), {{"file", o.file}}, out);
  }
  return inputs;
}

std::string ProgressText(const magic::v1::Batch& b) {
  const uint32_t done = b.succeeded() + b.failed() + b.cancelled();
  return fmt::format("{}/{} ok {} failed {}", done, b.total(), b.succeeded(),
                     b.failed() + b.cancelled());
}

void DrawBar(const magic::v1::Batch& b, std::ostream& err) {
  const uint32_t done = b.succeeded() + b.failed() + b.cancelled();
  const int filled =
      b.total() == 0 ? kBarWidth : static_cast<int>(int64_t{kBarWidth} * done / b.total());
  err << "\r[" << std::string(static_cast<size_t>(filled), '#')
      << std::string(static_cast<size_t>(kBarWidth - filled), ' ') << "] " << ProgressText(b)
      << "\x1b[K" << std::flush;
}

// Follows the batch until it is finished; the last state, or the exit code.
std::variant<magic::v1::Batch, int> Follow(magic::v1::Gateway::Stub& stub, const std::string& id,
                                           const std::string& addr, bool tty, std::ostream& out,
                                           std::ostream& err) {
  magic::v1::GetBatchRequest request;
  request.set_batch_id(id);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::hours(24));
  auto reader = stub.WatchBatch(&context, request);
  magic::v1::Batch batch;
  auto last_line = std::chrono::steady_clock::time_point();
  while (reader->Read(&batch)) {
    if (tty) {
      DrawBar(batch, err);
    } else if (batch.finished() ||
               std::chrono::steady_clock::now() - last_line >= std::chrono::seconds(1)) {
      err << "batch " << id << ": " << ProgressText(batch) << "\n";
      last_line = std::chrono::steady_clock::now();
    }
  }
  if (tty) err << "\n";
  grpc::Status status = reader->Finish();
  if (!status.ok()) return PrintRpcError(status, context, addr, out, err);
  return batch;
}

// The first `limit` failed runs (one page).
std::vector<magic::v1::Invocation> FirstFailures(magic::v1::Gateway::Stub& stub,
                                                 const std::string& id, int limit) {
  magic::v1::ListBatchItemsRequest request;
  request.set_batch_id(id);
  request.set_state(magic::v1::FAILED);
  request.set_page_size(static_cast<uint32_t>(std::max(1, limit)));
  magic::v1::ListBatchItemsResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  if (!stub.ListBatchItems(&context, request, &response).ok()) return {};
  return {response.items().begin(), response.items().end()};
}

void PrintSummary(const magic::v1::Batch& b, const std::vector<magic::v1::Invocation>& failures,
                  bool json, std::ostream& out) {
  if (json) {
    nlohmann::json failed = nlohmann::json::array();
    for (const auto& f : failures) {
      failed.push_back({{"request_id", f.request_id()},
                        {"code", f.error().code()},
                        {"message", f.error().message()}});
    }
    out << nlohmann::json({{"batch", gateway::BatchToJson(b)}, {"first_failures", failed}}).dump(2)
        << "\n";
    return;
  }
  out << fmt::format("batch {}: {} runs, {} succeeded, {} failed", b.batch_id(), b.total(),
                     b.succeeded(), b.failed());
  if (b.cancelled() > 0) out << fmt::format(", {} cancelled", b.cancelled());
  out << "\n";
  for (const auto& f : failures) {
    out << fmt::format("  {}  {}  {}\n", f.request_id(), f.error().code(), f.error().message());
  }
  if (b.failed() > failures.size()) {
    out << fmt::format("  ... (GET /v1/batches/{}/items?state=FAILED lists them all)\n",
                       b.batch_id());
  }
}

}  // namespace

CLI::App* AddBatchCommand(CLI::App& app, BatchOptions& options) {
  CLI::App* cmd =
      app.add_subcommand("batch", "Run a controller once per JSON line of a file, with progress");
  cmd->add_option("NAME", options.controller, "Controller name")->required();
  cmd->add_option("--file", options.file, "JSON lines, one input per line ('-' = stdin)")
      ->required();
  cmd->add_option("--addr", options.addr, "Gateway gRPC address (default $MAGIC_ADDR)");
  cmd->add_flag("--json", options.json, "Machine-readable output");
  cmd->add_flag("--no-wait", options.no_wait, "Print the batch id once accepted and return");
  return cmd;
}

int RunBatch(const BatchOptions& o, std::istream& in, std::ostream& out, std::ostream& err,
             bool progress_tty) {
  auto lines = ReadLines(o, in, out, err);
  if (const int* code = std::get_if<int>(&lines)) return *code;
  const std::string addr = Address(o.addr);
  auto stub =
      magic::v1::Gateway::NewStub(grpc::CreateChannel(addr, grpc::InsecureChannelCredentials()));
  magic::v1::SubmitBatchRequest request;
  request.set_controller(o.controller);
  for (std::string& line : std::get<std::vector<std::string>>(lines)) {
    request.add_inputs_json(std::move(line));
  }
  magic::v1::SubmitBatchResponse submitted;
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    grpc::Status status = stub->SubmitBatch(&context, request, &submitted);
    if (!status.ok()) return PrintRpcError(status, context, addr, out, err);
  }
  if (o.no_wait) {
    if (o.json) {
      out << nlohmann::json(
                 {{"batch_id", submitted.batch_id()}, {"total", submitted.request_ids_size()}})
                 .dump()
          << "\n";
    } else {
      out << submitted.batch_id() << "\n";
    }
    return kExitOk;
  }
  auto followed = Follow(*stub, submitted.batch_id(), addr, progress_tty, out, err);
  if (const int* code = std::get_if<int>(&followed)) return *code;
  const auto& batch = std::get<magic::v1::Batch>(followed);
  std::vector<magic::v1::Invocation> failures;
  if (batch.failed() > 0) failures = FirstFailures(*stub, batch.batch_id(), o.failures_shown);
  PrintSummary(batch, failures, o.json, out);
  return batch.succeeded() == batch.total() ? kExitOk : kExitInvalid;
}

}  // namespace magic::cli
