#include "cli/commands.h"
#include "cli/farm_commands.h"
#include "common/errors.h"
#include "gateway/http_server.h"
#include "magic/v1/gateway.grpc.pb.h"
#include "proto/wire_errors.h"

#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>
#include <istream>
#include <iterator>
#include <ostream>
#include <sstream>

namespace magic::cli {
namespace {

std::string Address(const std::string& given) {
  if (!given.empty()) return given;
  const char* env = std::getenv("MAGIC_ADDR");
  return env != nullptr && *env != '\0' ? env : "127.0.0.1:7070";
}

std::unique_ptr<magic::v1::Gateway::Stub> Connect(const std::string& addr) {
  return magic::v1::Gateway::NewStub(grpc::CreateChannel(addr, grpc::InsecureChannelCredentials()));
}

// Prints the E-coded error of a failed call on `out` (from the
// "magic-error-bin" trailer); 2 when the gateway was unreachable, else 1.
int PrintRpcError(const grpc::Status& status, const grpc::ClientContext& context,
                  const std::string& addr, std::ostream& out, std::ostream& err) {
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE &&
      context.GetServerTrailingMetadata().find("magic-error-bin") ==
          context.GetServerTrailingMetadata().end()) {
    err << "magic: gateway " << addr << " unreachable: " << status.error_message()
        << " (start one with `magic dev`, or set MAGIC_ADDR / --addr)\n";
    return kExitUsage;
  }
  auto it = context.GetServerTrailingMetadata().find("magic-error-bin");
  magic::v1::Error wire;
  if (it != context.GetServerTrailingMetadata().end() &&
      wire.ParseFromArray(it->second.data(), static_cast<int>(it->second.size()))) {
    out << FromWireError(wire).ToJson().dump(2) << "\n";
  } else {
    err << "magic: " << status.error_message() << "\n";
  }
  return kExitInvalid;
}

std::optional<std::string> ReadInput(const InvokeOptions& o, std::istream& in, std::ostream& err) {
  if (!o.input.empty() && !o.input_file.empty()) {
    err << "magic invoke: give --input or --input-file, not both\n";
    return std::nullopt;
  }
  if (o.input_file.empty()) return o.input.empty() ? "{}" : o.input;
  if (o.input_file == "-") {
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  std::ifstream file(o.input_file, std::ios::binary);
  if (!file) {
    err << "magic invoke: cannot read " << o.input_file << "\n";
    return std::nullopt;
  }
  std::stringstream buffer;
  buffer << file.rdbuf();
  return buffer.str();
}

}  // namespace

int RunInvoke(const InvokeOptions& o, std::istream& in, std::ostream& out, std::ostream& err) {
  if (!o.async && (o.max_attempts || o.retry_on_timeout || o.idempotency_key)) {
    err << "magic invoke: --max-attempts, --retry-on-timeout and --idempotency-key need --async "
           "(a synchronous invoke is not retried)\n";
    return kExitUsage;
  }
  if (o.max_attempts.value_or(0) > 10) {
    err << "magic invoke: --max-attempts is at most 10\n";
    return kExitUsage;
  }
  std::optional<std::string> input = ReadInput(o, in, err);
  if (!input) return kExitUsage;
  const std::string addr = Address(o.addr);
  auto stub = Connect(addr);
  magic::v1::InvokeRequest request;
  request.set_controller(o.controller);
  request.set_input_json(*input);
  request.set_request_id(o.request_id);
  request.set_timeout_ms(static_cast<uint32_t>(std::max(0, o.timeout_ms)));
  request.set_max_attempts(o.max_attempts.value_or(0));
  request.set_retry_on_timeout(o.retry_on_timeout);
  request.set_idempotency_key(o.idempotency_key.value_or(""));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(330));
  if (o.async) {
    magic::v1::SubmitResponse response;
    grpc::Status status = stub->Submit(&context, request, &response);
    if (!status.ok()) return PrintRpcError(status, context, addr, out, err);
    if (o.json) {
      out << nlohmann::json({{"request_id", response.request_id()}}).dump() << "\n";
    } else {
      out << response.request_id() << "\n";
    }
    return kExitOk;
  }
  magic::v1::InvokeResponse response;
  grpc::Status status = stub->Invoke(&context, request, &response);
  if (!status.ok()) return PrintRpcError(status, context, addr, out, err);
  nlohmann::json output = nlohmann::json::parse(response.output_json(), nullptr, false);
  if (o.json) {
    out << nlohmann::json({{"request_id", response.request_id()},
                           {"controller", response.controller()},
                           {"version", response.version()},
                           {"output", output},
                           {"timings",
                            {{"queue_us", response.timings().queue_us()},
                             {"sandbox_us", response.timings().sandbox_us()},
                             {"exec_us", response.timings().exec_us()},
                             {"capability_us", response.timings().capability_us()},
                             {"total_us", response.timings().total_us()},
                             {"warm", response.timings().warm()}}}})
               .dump(2)
        << "\n";
  } else {
    out << output.dump(2) << "\n";
  }
  return kExitOk;
}

int RunStatus(const StatusOptions& o, std::ostream& out, std::ostream& err) {
  const std::string addr = Address(o.addr);
  auto stub = Connect(addr);
  magic::v1::GetRequest request;
  request.set_request_id(o.request_id);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(o.watch ? 3600 : 10));
  if (!o.watch) {
    magic::v1::Invocation inv;
    grpc::Status status = stub->Get(&context, request, &inv);
    if (!status.ok()) return PrintRpcError(status, context, addr, out, err);
    out << gateway::InvocationToJson(inv).dump(2) << "\n";
    return kExitOk;
  }
  auto reader = stub->Watch(&context, request);
  magic::v1::Invocation inv;
  while (reader->Read(&inv)) out << gateway::InvocationToJson(inv).dump() << std::endl;
  grpc::Status status = reader->Finish();
  if (!status.ok()) return PrintRpcError(status, context, addr, out, err);
  return kExitOk;
}

}  // namespace magic::cli
