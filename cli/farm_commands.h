// The verbs that run or talk to a farm: `magic dev` (the whole farm in one
// process), `magic invoke` and `magic status` (gRPC clients of a gateway).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>

namespace magic::cli {

struct DevOptions {
  // Directory of controller bundles, each deployed at start (the farm then
  // serves what the Control service says, so deploy/rollback work live).
  std::string controllers = "controllers";
  std::string grpc_addr = "127.0.0.1:7070";
  std::string http_addr = "127.0.0.1:8080";
  // The Control service (magic deploy / list / get / rollback / undeploy).
  std::string control_addr = "127.0.0.1:7072";
  std::string kafka;     // brokers; "" = embedded (librdkafka mock cluster)
  std::string postgres;  // URL; "" = a private server in a temp directory
  std::string redis;     // URL; "" = a private redis-server in a temp directory
  std::string policy;    // broker policy file; "" = the development defaults
  // Where `magic secrets` / `magic audit` find this farm (state.json) and
  // the secrets master key (master.key): "" = ~/.cache/magic/dev.
  std::string state_dir;
  int workers = 2;  // executor threads
  int generic_runners = 2;
  std::string ready_file;  // written with the endpoints as JSON once ready
};
// Runs until SIGINT/SIGTERM. Prints its endpoints and "magic dev: ready".
int RunDev(const DevOptions& options, std::ostream& out, std::ostream& err);

struct InvokeOptions {
  std::string addr;  // gateway gRPC address; "" = $MAGIC_ADDR or 127.0.0.1:7070
  std::string controller;
  std::string input;       // JSON
  std::string input_file;  // or a file ("-" = stdin)
  bool async = false;      // Submit: print the request id
  bool json = false;       // the whole response as JSON
  int timeout_ms = 0;
  std::string request_id;
  // Only with async (else a usage error): the Submit's retry policy and
  // idempotency key.
  std::optional<uint32_t> max_attempts;  // 0..10; 0: 3, 1: no retry
  bool retry_on_timeout = false;         // E3001 counts as retryable
  std::optional<std::string> idempotency_key;
};
int RunInvoke(const InvokeOptions& options, std::istream& in, std::ostream& out, std::ostream& err);

struct StatusOptions {
  std::string addr;
  std::string request_id;
  bool watch = false;  // stream state changes until finished
};
int RunStatus(const StatusOptions& options, std::ostream& out, std::ostream& err);

}  // namespace magic::cli
