// magic-gateway: one gateway replica. Reads its configuration (defaults,
// --config FILE, MAGIC_* environment, --set KEY=VALUE), connects the
// pieces and serves until SIGINT/SIGTERM.
#include "common/clock.h"
#include "common/logging.h"
#include "common/postgres.h"
#include "common/service_config.h"
#include "common/topics.h"
#include "contracts/registry.h"
#include "gateway/gateway_server.h"
#include "gateway/store_reader.h"
#include "scheduler/deployed_registry.h"
#include "scheduler/result_store.h"

#include <prometheus/registry.h>

#include <iostream>
#include <optional>
#include <signal.h>
#include <unistd.h>

extern char** environ;

namespace {

nlohmann::json Defaults() {
  nlohmann::json d = magic::CommonServiceDefaults(/*postgres_pool_size=*/8);
  // source: "dir" (the bundles under dir) or "deployments" (what the
  // Control service deployed, switched live through magic.deployments).
  d["controllers"] = {{"dir", "controllers"}, {"source", "dir"}};
  d["gateway"] = {{"grpc_addr", "127.0.0.1:7070"},
                  {"http_host", "127.0.0.1"},
                  {"http_port", 8080},
                  {"max_input_bytes", 1 << 20}};
  // The Ed25519 seed that signs each job's grant (broker/grant.h). Empty:
  // jobs carry no grant and every capability call is refused (E2005).
  d["grant"] = {{"signing_key_file", ""}};
  return d;
}

int Fail(const std::string& what, const absl::Status& s) {
  std::cerr << "magic-gateway: " << what << ": " << s.message() << "\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  auto config = magic::LoadServiceConfig(argc, argv, environ, Defaults(), std::cout);
  if (!config.ok())
    return config.status().code() == absl::StatusCode::kCancelled ? 0
                                                                  : Fail("config", config.status());
  const nlohmann::json& c = *config;
  magic::StopSignals stop;
  magic::logging::Init({.component = "gateway", .level = c["log"]["level"], .file = ""});

  auto store =
      magic::scheduler::OpenPgResultStore(c["postgres"]["url"], c["postgres"]["pool_size"]);
  if (!store.ok()) return Fail("result store", store.status());
  magic::gateway::StoreReader reader(*store->store);
  prometheus::Registry metrics;
  magic::gateway::GatewayServerOptions options{.grpc_addr = c["gateway"]["grpc_addr"],
                                               .http_host = c["gateway"]["http_host"],
                                               .http_port = c["gateway"]["http_port"]};
  options.service.max_input_bytes = c["gateway"]["max_input_bytes"];
  auto signer = magic::broker::GrantSigner::FromConfiguredFile(c["grant"]["signing_key_file"]);
  if (!signer.ok()) return Fail("grant signing key", signer.status());
  if (signer->has_value()) options.service.grant_signer = &**signer;
  magic::kafka::KafkaConfig kafka{.brokers = c["kafka"]["brokers"], .client_id = "magic-gateway"};
  if (absl::Status s = magic::kafka::EnsureTopics(kafka, magic::topics::FarmTopicSpecs());
      !s.ok()) {
    return Fail("kafka topics", s);
  }
  auto registry = magic::scheduler::OpenControllerRegistry(
      c["controllers"]["source"], c["controllers"]["dir"], *store->pool, kafka);
  if (!registry.ok()) return Fail("controllers", registry.status());
  auto server = magic::gateway::GatewayServer::Start(options, *registry->registry, kafka, reader,
                                                     magic::RealClockInstance(), &metrics);
  if (!server.ok()) return Fail("start", server.status());
  stop.Wait();
  (*server)->Stop();
  return 0;
}
