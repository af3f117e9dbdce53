// Start-up of the service binaries (magic-gateway, magic-worker,
// magic-broker, magic-scheduler). Configuration: defaults, then
// `--config FILE` (YAML), then MAGIC_* environment variables, then
// `--set key=value` flags.
//
//   int Run(const nlohmann::json& config, magic::StopSignals& stop) {
//     auto store = ...;
//     if (!store.ok()) return magic::FailStart("magic-gateway", "result store", store.status());
//     ... start the pieces; stop.Wait(); stop them ...
//     return 0;
//   }
//   int main(int argc, char** argv) {
//     return magic::ServiceMain("magic-gateway", "gateway", argc, argv, environ, Defaults(), Run);
//   }
#pragma once

#include <absl/status/statusor.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <iosfwd>
#include <signal.h>
#include <string>
#include <string_view>

namespace magic {

// Parses the arguments and sources above over `defaults`. `--help` prints
// every key with its default and environment name on `help_out` and returns
// a Status with code kCancelled (the caller exits 0).
absl::StatusOr<nlohmann::json> LoadServiceConfig(int argc, const char* const* argv,
                                                 const char* const* envp,
                                                 const nlohmann::json& defaults,
                                                 std::ostream& help_out);

// The keys every service shares: kafka.brokers, postgres.url,
// postgres.pool_size and log.level. Components merge their own on top.
nlohmann::json CommonServiceDefaults(int postgres_pool_size);

// Blocks SIGINT and SIGTERM in the calling thread and in every thread it
// starts afterwards (construct it before any thread starts: ServiceMain
// does); Wait() returns the signal once one arrives.
class StopSignals {
 public:
  StopSignals();
  int Wait();

 private:
  sigset_t set_;
};

// What a service runs once it is configured: starts its pieces, waits on
// stop.Wait(), stops them and returns the exit code.
using ServiceBody = std::function<int(const nlohmann::json& config, StopSignals& stop)>;

// A service binary's main: loads the configuration (LoadServiceConfig with
// --help on stdout), constructs StopSignals, initialises logging for
// `component` at log.level, then returns body(config, stop). The order is
// the guarantee: StopSignals exists before body runs, so every thread body
// starts inherits the blocked SIGINT/SIGTERM and they reach only
// stop.Wait(). --help returns 0 without calling body; a bad configuration
// prints "<binary>: config: <message>" on stderr and returns 2. `defaults`
// must hold CommonServiceDefaults' keys.
int ServiceMain(std::string_view binary, std::string_view component, int argc,
                const char* const* argv, const char* const* envp, const nlohmann::json& defaults,
                const ServiceBody& body);

// Prints "<binary>: <what>: <message>" on stderr and returns 2, the exit
// code of a service that failed to start.
int FailStart(std::string_view binary, std::string_view what, const absl::Status& status);

}  // namespace magic
