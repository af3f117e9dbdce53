// The lifecycle verbs (issue 5 part 1), gRPC clients of the Control service
// (magic-scheduler, or `magic dev`):
//
//   magic deploy DIR                 validate the bundle here, send it; E4001, E4002
//   magic list                       controllers, active version, versions
//   magic get NAME                   one controller's versions; E4003
//   magic rollback NAME --to VERSION make a stored version active; E4004
//   magic undeploy NAME              no active version any more; E4003
//
// --addr, else $MAGIC_CONTROL_ADDR, else 127.0.0.1:7072; --json for machine
// output. Exit codes as every verb: 0 ok, 1 an E-coded refusal (printed as
// the JSON error shape on stdout), 2 usage or the service unreachable.
// (`magic logs NAME [--follow]` is not built yet.)
#pragma once

#include <iosfwd>
#include <optional>
#include <string>

namespace CLI {
class App;
}  // namespace CLI

namespace magic::cli {

struct LifecycleOptions {
  std::string addr;
  bool json = false;
  std::string dir;         // deploy
  std::string name;        // get, rollback, undeploy
  std::string to_version;  // rollback
};

struct LifecycleCommands {
  CLI::App* deploy = nullptr;
  CLI::App* list = nullptr;
  CLI::App* get = nullptr;
  CLI::App* rollback = nullptr;
  CLI::App* undeploy = nullptr;
};

// Registers the five subcommands on `app`, filling `options`.
LifecycleCommands AddLifecycleCommands(CLI::App& app, LifecycleOptions& options);

// Runs the lifecycle verb that was parsed; nullopt when none was.
std::optional<int> RunLifecycle(const LifecycleCommands& commands, const LifecycleOptions& options,
                                std::ostream& out, std::ostream& err);

}  // namespace magic::cli
