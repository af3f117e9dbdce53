#include "cli/lifecycle_commands.h"

#include "cli/commands.h"
#include "cli/control_client.h"
#include "common/errors.h"
#include "contracts/registry.h"
#include "magic/v1/control.grpc.pb.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include <ostream>

namespace magic::cli {
namespace {

using Stub = magic::v1::Control::Stub;

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
                        {"created_at", FormatUnixMs(v.created_unix_ms())},
                        {"active", v.active()}});
  }
  return {{"name", c.name()},
          {"active_version", c.active_version()},
          {"versions", versions},
          {"updated_at", FormatUnixMs(c.updated_unix_ms())}};
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
  SetControlDeadline(context);
  magic::v1::Deployment d;
  grpc::Status status = stub.Deploy(&context, request, &d);
  if (!status.ok()) return PrintControlError(status, context, addr, out, err);
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
  SetControlDeadline(context);
  magic::v1::ListControllersResponse response;
  grpc::Status status = stub.List(&context, {}, &response);
  if (!status.ok()) return PrintControlError(status, context, addr, out, err);
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
  SetControlDeadline(context);
  magic::v1::GetControllerRequest request;
  request.set_name(o.name);
  magic::v1::ControllerInfo c;
  grpc::Status status = stub.Get(&context, request, &c);
  if (!status.ok()) return PrintControlError(status, context, addr, out, err);
  if (o.json) {
    out << ToJson(c).dump(2) << "\n";
    return kExitOk;
  }
  out << c.name() << ": "
      << (c.active_version().empty() ? "undeployed" : "active " + c.active_version()) << "\n";
  out << fmt::format("  {:<12} {:<14} {:<20} {}\n", "VERSION", "DIGEST", "CREATED", "");
  for (const auto& v : c.versions()) {
    out << fmt::format("  {:<12} {:<14} {:<20} {}\n", v.version(), Short(v.digest()),
                       FormatUnixMs(v.created_unix_ms()), v.active() ? "active" : "");
  }
  return kExitOk;
}

int Change(Stub& stub, bool rollback, const LifecycleOptions& o, const std::string& addr,
           std::ostream& out, std::ostream& err) {
  grpc::ClientContext context;
  SetControlDeadline(context);
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
  if (!status.ok()) return PrintControlError(status, context, addr, out, err);
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
  const std::string addr = ControlAddress(o.addr);
  std::unique_ptr<Stub> stub = ConnectControl(addr);
  if (c.deploy->parsed()) return Deploy(*stub, o, addr, out, err);
  if (c.list->parsed()) return List(*stub, o, addr, out, err);
  if (c.get->parsed()) return Get(*stub, o, addr, out, err);
  return Change(*stub, c.rollback->parsed(), o, addr, out, err);
}

}  // namespace magic::cli
