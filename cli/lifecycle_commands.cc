#include "cli/lifecycle_commands.h"

#include "cli/commands.h"
#include "common/errors.h"
#include "contracts/registry.h"
#include "magic/v1/control.grpc.pb.h"
#include "proto/wire_errors.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <ostream>

namespace magic::cli {
namespace {

using Stub = magic::v1::Control::Stub;

std::string Address(const std::string& given) {
  if (!given.empty()) return given;
  const char* env = std::getenv("MAGIC_CONTROL_ADDR");
  return env != nullptr && *env != '\0' ? env : "127.0.0.1:7072";
}

// Bundles go up to 8 MiB (LoadBundle's bound); gRPC's default is 4 MiB.
constexpr int kMaxMessageBytes = 9 << 20;

std::unique_ptr<Stub> Connect(const std::string& addr) {
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  return magic::v1::Control::NewStub(
      grpc::CreateCustomChannel(addr, grpc::InsecureChannelCredentials(), args));
}

void SetDeadline(grpc::ClientContext& context) {
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
}

// The E-coded error of a failed call on `out` (from the "magic-error-bin"
// trailer); 2 when the service was unreachable, else 1.
int PrintRpcError(const grpc::Status& status, const grpc::ClientContext& context,
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

std::string Time(int64_t unix_ms) {
  const std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

nlohmann::json ToJson(const magic::v1::Deployment& d) {
  return {{"name", d.name()},
          {"version", d.version()},
          {"digest", d.digest()},
          {"created", d.created()},
          {"undeployed", d.undeployed()},
          {"previous_version", d.previous_version()},
          {"unix_ms", d.unix_ms()}};
}

nlohmann::json ToJson(const magic::v1::ControllerInfo& c) {
  nlohmann::json versions = nlohmann::json::array();
  for (const auto& v : c.versions()) {
    versions.push_back({{"version", v.version()},
                        {"digest", v.digest()},
                        {"contract_digest", v.contract_digest()},
                        {"created_at", Time(v.created_unix_ms())},
                        {"active", v.active()}});
  }
  return {{"name", c.name()},
          {"active_version", c.active_version()},
          {"versions", versions},
          {"updated_at", Time(c.updated_unix_ms())}};
}

std::string Short(const std::string& digest) { return digest.substr(0, 12); }

int Deploy(Stub& stub, const LifecycleOptions& o, const std::string& addr, std::ostream& out,
           std::ostream& err) {
  // Checked here first: a bad bundle is reported without a round trip (the
  // service checks it again; it trusts no client).
  auto bundle = contracts::LoadBundle(o.dir);
  if (!bundle.ok()) {
    out << ErrorFromStatus(bundle.status()).ToJson().dump(2) << "\n";
    return kExitInvalid;
  }
  magic::v1::DeployRequest request;
  for (const contracts::BundleFile& f : (*bundle)->files) {
    magic::v1::BundleFile* file = request.add_files();
    file->set_path(f.path);
    file->set_content(f.content);
  }
  grpc::ClientContext context;
  SetDeadline(context);
  magic::v1::Deployment d;
  grpc::Status status = stub.Deploy(&context, request, &d);
  if (!status.ok()) return PrintRpcError(status, context, addr, out, err);
  if (o.json) {
    out << ToJson(d).dump(2) << "\n";
  } else if (d.created()) {
    out << fmt::format("deployed {} {} (digest {}){}\n", d.name(), d.version(), Short(d.digest()),
                       d.previous_version().empty() ? "" : ", was " + d.previous_version());
  } else {
    out << fmt::format("{} {} was already stored with this content (digest {}); it is active\n",
                       d.name(), d.version(), Short(d.digest()));
  }
  return kExitOk;
}

int List(Stub& stub, const LifecycleOptions& o, const std::string& addr, std::ostream& out,
         std::ostream& err) {
  grpc::ClientContext context;
  SetDeadline(context);
  magic::v1::ListControllersResponse response;
  grpc::Status status = stub.List(&context, {}, &response);
  if (!status.ok()) return PrintRpcError(status, context, addr, out, err);
  if (o.json) {
    nlohmann::json all = nlohmann::json::array();
    for (const auto& c : response.controllers()) all.push_back(ToJson(c));
    out << all.dump(2) << "\n";
    return kExitOk;
  }
  if (response.controllers().empty()) {
    err << "magic list: nothing deployed\n";
    return kExitOk;
  }
  out << fmt::format("{:<32} {:<12} {}\n", "NAME", "ACTIVE", "VERSIONS");
  for (const auto& c : response.controllers()) {
    std::string versions;
    for (const auto& v : c.versions()) versions += (versions.empty() ? "" : ", ") + v.version();
    out << fmt::format("{:<32} {:<12} {}\n", c.name(),
                       c.active_version().empty() ? "-" : c.active_version(), versions);
  }
  return kExitOk;
}

int Get(Stub& stub, const LifecycleOptions& o, const std::string& addr, std::ostream& out,
        std::ostream& err) {
  grpc::ClientContext context;
  SetDeadline(context);
  magic::v1::GetControllerRequest request;
  request.set_name(o.name);
  magic::v1::ControllerInfo c;
  grpc::Status status = stub.Get(&context, request, &c);
  if (!status.ok()) return PrintRpcError(status, context, addr, out, err);
  if (o.json) {
    out << ToJson(c).dump(2) << "\n";
    return kExitOk;
  }
  out << c.name() << ": "
      << (c.active_version().empty() ? "undeployed" : "active " + c.active_version()) << "\n";
  out << fmt::format("  {:<12} {:<14} {:<20} {}\n", "VERSION", "DIGEST", "CREATED", "");
  for (const auto& v : c.versions()) {
    out << fmt::format("  {:<12} {:<14} {:<20} {}\n", v.version(), Short(v.digest()),
                       Time(v.created_unix_ms()), v.active() ? "active" : "");
  }
  return kExitOk;
}

int Change(Stub& stub, bool rollback, const LifecycleOptions& o, const std::string& addr,
           std::ostream& out, std::ostream& err) {
  grpc::ClientContext context;
  SetDeadline(context);
  magic::v1::Deployment d;
  grpc::Status status;
  if (rollback) {
    magic::v1::RollbackRequest request;
    request.set_name(o.name);
    request.set_to_version(o.to_version);
    status = stub.Rollback(&context, request, &d);
  } else {
    magic::v1::UndeployRequest request;
    request.set_name(o.name);
    status = stub.Undeploy(&context, request, &d);
  }
  if (!status.ok()) return PrintRpcError(status, context, addr, out, err);
  if (o.json) {
    out << ToJson(d).dump(2) << "\n";
  } else if (rollback) {
    out << fmt::format("{}: active version {}{}\n", d.name(), d.version(),
                       d.previous_version().empty() ? "" : " (was " + d.previous_version() + ")");
  } else {
    out << fmt::format("{} undeployed (was {}); its versions stay stored\n", d.name(),
                       d.previous_version());
  }
  return kExitOk;
}

void AddCommon(CLI::App* cmd, LifecycleOptions& options) {
  cmd->add_option("--addr", options.addr,
                  "Control service address (default $MAGIC_CONTROL_ADDR, else 127.0.0.1:7072)");
  cmd->add_flag("--json", options.json, "Machine-readable output");
}

}  // namespace

LifecycleCommands AddLifecycleCommands(CLI::App& app, LifecycleOptions& options) {
  LifecycleCommands c;
  c.deploy = app.add_subcommand("deploy", "Deploy a controller bundle as its active version");
  c.deploy->add_option("DIR", options.dir, "Controller directory")->required();
  c.list = app.add_subcommand("list", "List deployed controllers and their versions");
  c.get = app.add_subcommand("get", "Show one controller's versions");
  c.get->add_option("NAME", options.name, "Controller name")->required();
  c.rollback = app.add_subcommand("rollback", "Make a stored version active again");
  c.rollback->add_option("NAME", options.name, "Controller name")->required();
  c.rollback->add_option("--to", options.to_version, "The version to activate")->required();
  c.undeploy = app.add_subcommand("undeploy", "Stop serving a controller (versions are kept)");
  c.undeploy->add_option("NAME", options.name, "Controller name")->required();
  for (CLI::App* cmd : {c.deploy, c.list, c.get, c.rollback, c.undeploy}) AddCommon(cmd, options);
  return c;
}

std::optional<int> RunLifecycle(const LifecycleCommands& c, const LifecycleOptions& o,
                                std::ostream& out, std::ostream& err) {
  const bool any = c.deploy->parsed() || c.list->parsed() || c.get->parsed() ||
                   c.rollback->parsed() || c.undeploy->parsed();
  if (!any) return std::nullopt;
  const std::string addr = Address(o.addr);
  std::unique_ptr<Stub> stub = Connect(addr);
  if (c.deploy->parsed()) return Deploy(*stub, o, addr, out, err);
  if (c.list->parsed()) return List(*stub, o, addr, out, err);
  if (c.get->parsed()) return Get(*stub, o, addr, out, err);
  return Change(*stub, c.rollback->parsed(), o, addr, out, err);
}

}  // namespace magic::cli
