#include "cli/control_client.h"

#include "cli/commands.h"
#include "common/errors.h"
#include "proto/wire_errors.h"

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <ostream>
#include <string>

namespace magic::cli {
namespace {

// Bundles go up to 8 MiB (LoadBundle's bound); gRPC's default is 4 MiB.
constexpr int kMaxMessageBytes = 9 << 20;

}  // namespace

std::string ControlAddress(const std::string& given) {
  if (!given.empty()) return given;
  const char* env = std::getenv("MAGIC_CONTROL_ADDR");
  return env != nullptr && *env != '\0' ? env : "127.0.0.1:7072";
}

std::unique_ptr<magic::v1::Control::Stub> ConnectControl(const std::string& addr) {
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  return magic::v1::Control::NewStub(
      grpc::CreateCustomChannel(addr, grpc::InsecureChannelCredentials(), args));
}

void SetControlDeadline(grpc::ClientContext& context) {
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
}

int PrintControlError(const grpc::Status& status, const grpc::ClientContext& context,
                      const std::string& addr, std::ostream& out, std::ostream& err) {
  const auto& trailers = context.GetServerTrailingMetadata();
  auto it = trailers.find("magic-error-bin");
  if (it == trailers.end() && (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                               status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED)) {
    err << "magic: control service " << addr << " unreachable: " << status.error_message()
        << " (start one with `magic dev` or magic-scheduler, or set MAGIC_CONTROL_ADDR / "
           "--addr)\n";
    return kExitUsage;
  }
  magic::v1::Error wire;
  if (it != trailers.end() &&
      wire.ParseFromArray(it->second.data(), static_cast<int>(it->second.size()))) {
    out << FromWireError(wire).ToJson().dump(2) << "\n";
  } else {
    err << "magic: " << status.error_message() << "\n";
  }
  return kExitInvalid;
}

std::string FormatUnixMs(int64_t unix_ms) {
  const std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  char buf[48];
  if (gmtime_r(&t, &tm) == nullptr ||
      std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
    return std::to_string(unix_ms) + "ms";  // beyond the calendar: still say something
  }
  return buf;
}

}  // namespace magic::cli
