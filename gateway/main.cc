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

#include <optional>
#include <string_view>
#include <unistd.h>

extern char** environ;

namespace {

constexpr std::string_view kBinary = "magic-gateway";

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

int Run(const nlohmann::json& c, magic::StopSignals& stop) {
  auto store =
      magic::scheduler::OpenPgResultStore(c["postgres"]["url"], c["postgres"]["pool_size"]);
  if (!store.ok()) return magic::FailStart(kBinary, "result store", store.status());
  magic::gateway::StoreReader reader(*store->store);
  prometheus::Registry metrics;
  magic::gateway::GatewayServerOptions options{.grpc_addr = c["gateway"]["grpc_addr"],
                                               .http_host = c["gateway"]["http_host"],
                                               .http_port = c["gateway"]["http_port"]};
  options.service.max_input_bytes = c["gateway"]["max_input_bytes"];
  auto signer = magic::broker::GrantSigner::FromConfiguredFile(c["grant"]["signing_key_file"]);
  if (!signer.ok()) return magic::FailStart(kBinary, "grant signing key", signer.status());
  if (signer->has_value()) options.service.grant_signer = &**signer;
  magic::kafka::KafkaConfig kafka{.brokers = c["kafka"]["brokers"], .client_id = "magic-gateway"};
  if (absl::Status s = magic::kafka::EnsureTopics(kafka, magic::topics::FarmTopicSpecs());
      !s.ok()) {
    return magic::FailStart(kBinary, "kafka topics", s);
  }
  auto registry = magic::scheduler::OpenControllerRegistry(
      c["controllers"]["source"], c["controllers"]["dir"], *store->pool, kafka);
  if (!registry.ok()) return magic::FailStart(kBinary, "controllers", registry.status());
  auto server = magic::gateway::GatewayServer::Start(options, *registry->registry, kafka, reader,
                                                     magic::RealClockInstance(), &metrics);
  if (!server.ok()) return magic::FailStart(kBinary, "start", server.status());
  stop.Wait();
  (*server)->Stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return magic::ServiceMain(kBinary, "gateway", argc, argv, environ, Defaults(), Run);
}
