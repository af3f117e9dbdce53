// Start-up configuration for the service binaries (magic-gateway,
// magic-worker, magic-scheduler): defaults, then `--config FILE` (YAML),
// then MAGIC_* environment variables, then `--set key=value` flags.
//
//   absl::StatusOr<nlohmann::json> config = LoadServiceConfig(argc, argv, environ, defaults);
//
// `--help` prints every key with its default and environment name and
// returns a Status with code kCancelled (the caller exits 0).
#pragma once

#include <absl/status/statusor.h>
#include <nlohmann/json.hpp>

#include <iosfwd>
#include <signal.h>
#include <string>

namespace magic {

absl::StatusOr<nlohmann::json> LoadServiceConfig(int argc, const char* const* argv,
                                                 const char* const* envp,
                                                 const nlohmann::json& defaults,
                                                 std::ostream& help_out);

// The keys every service shares: kafka.brokers, postgres.url,
// postgres.pool_size and log.level. Components merge their own on top.
nlohmann::json CommonServiceDefaults(int postgres_pool_size);

// Blocks SIGINT and SIGTERM in the calling thread and in every thread it
// starts afterwards (construct it first thing in main); Wait() returns the
// signal once one arrives.
class StopSignals {
 public:
  StopSignals();
  int Wait();

 private:
  sigset_t set_;
};

}  // namespace magic
