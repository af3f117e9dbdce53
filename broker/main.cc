// magic-broker: one broker replica. Reads its configuration (defaults,
// --config FILE, MAGIC_* environment, --set KEY=VALUE), starts the
// backends and the Broker gRPC service, and serves until SIGINT/SIGTERM.
#include "broker/policy.h"
#include "broker/server.h"
#include "common/clock.h"
#include "common/logging.h"
#include "common/postgres.h"
#include "common/service_config.h"
#include "common/topics.h"
#include "contracts/registry.h"
#include "scheduler/deployed_registry.h"

#include <absl/strings/str_split.h>

#include <string_view>

extern char** environ;

namespace {

constexpr std::string_view kBinary = "magic-broker";

nlohmann::json Defaults() {
  nlohmann::json d = magic::CommonServiceDefaults(/*postgres_pool_size=*/8);
  // source "dir": the bundles under dir; "deployments": what the control
  // plane deployed (scheduler/deployed_registry.h), as gateways and workers.
  d["controllers"] = {{"dir", "controllers"}, {"source", "dir"}};
  // policy_file "": the production defaults (docs/policy.md).
  d["broker"] = {{"grpc_addr", "127.0.0.1:7071"}, {"id", ""}, {"policy_file", ""}};
  // Comma-separated files with the gateways' grant public keys.
  d["grant"] = {{"public_key_files", ""}};
  d["redis"] = {{"url", "redis://127.0.0.1:6379"}};
  d["secrets"] = {{"master_key_file", ""}};
  d["db"] = {{"app_url", ""}};  // "" = postgres.url
  d["audit"] = {{"topic", "magic.audit"}};
  return d;
}

int Run(const nlohmann::json& c, magic::StopSignals& stop) {
  magic::broker::BrokerServerOptions options;
  options.grpc_addr = c["broker"]["grpc_addr"];
  options.broker_id = c["broker"]["id"];
  if (const std::string file = c["broker"]["policy_file"]; !file.empty()) {
    auto policy = magic::broker::LoadPolicy(file);
    if (!policy.ok()) return magic::FailStart(kBinary, "policy", policy.status());
    options.policy = *std::move(policy);
  } else {
    options.policy = magic::broker::Policy::Defaults(magic::broker::Environment::kProduction);
    MAGIC_LOG(warn, "no broker.policy_file: using the production defaults");
  }
  options.postgres_url = c["postgres"]["url"];
  options.postgres_pool_size = c["postgres"]["pool_size"];
  options.app_postgres_url = c["db"]["app_url"];
  options.redis_url = c["redis"]["url"];
  options.kafka = {.brokers = c["kafka"]["brokers"], .client_id = "magic-broker"};
  options.audit_topic = c["audit"]["topic"];
  options.master_key_file = c["secrets"]["master_key_file"];
  for (absl::string_view file :
       absl::StrSplit(c["grant"]["public_key_files"].get<std::string>(), ',', absl::SkipEmpty())) {
    options.grant_public_key_files.emplace_back(file);
  }
  if (absl::Status s = magic::kafka::EnsureTopics(options.kafka, magic::topics::FarmTopicSpecs());
      !s.ok()) {
    return magic::FailStart(kBinary, "kafka topics", s);
  }
  auto pool = magic::pg::PgPool::Create(options.postgres_url, 2);
  if (!pool.ok()) return magic::FailStart(kBinary, "postgres", pool.status());
  auto registry = magic::scheduler::OpenControllerRegistry(
      c["controllers"]["source"], c["controllers"]["dir"], **pool, options.kafka);
  if (!registry.ok()) return magic::FailStart(kBinary, "controllers", registry.status());
  auto server = magic::broker::BrokerServer::Start(std::move(options), *registry->registry,
                                                   magic::RealClockInstance());
  if (!server.ok()) return magic::FailStart(kBinary, "start", server.status());
  stop.Wait();
  (*server)->Stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return magic::ServiceMain(kBinary, "broker", argc, argv, environ, Defaults(), Run);
}
