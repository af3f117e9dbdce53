// One broker replica, assembled: backends on their servers, the audit log,
// the Broker and its gRPC service. Used by magic-broker, `magic dev` and
// the end-to-end tests.
//
//   MAGIC_ASSIGN_OR_RETURN(auto broker, BrokerServer::Start(options, registry, clock));
//   worker connects to broker->address()
//   broker->Stop();   // also on destruction; flushes the audit log
#pragma once

#include "broker/policy.h"
#include "common/clock.h"
#include "common/kafka.h"
#include "contracts/registry.h"

#include <absl/status/statusor.h>

#include <memory>
#include <string>
#include <vector>

namespace magic::broker {

struct BrokerServerOptions {
  std::string grpc_addr = "127.0.0.1:7071";  // port 0: a free one
  std::string broker_id;                     // "" = a new "bk_..." id
  Policy policy;
  // Magic's own PostgreSQL (audit log, secrets).
  std::string postgres_url;
  int postgres_pool_size = 8;
  // The application database for db:* ("" = postgres_url). Connect as a
  // role without superuser rights in production (see db_backend.h).
  std::string app_postgres_url;
  std::string redis_url;     // "" = no cache backend (cache calls E3005)
  kafka::KafkaConfig kafka;  // queue:publish and the audit topic
  std::string audit_topic = "magic.audit";
  // The secrets master key file ("" = $MAGIC_MASTER_KEY; neither = no
  // secrets backend, secrets calls E3005).
  std::string master_key_file;
  // Raw hex public keys or key files (grant.h); at least one.
  std::vector<std::string> grant_public_key_files;
  std::vector<std::string> grant_public_keys;  // raw 32-byte keys (tests, dev)
  // Development only: allow db:rawsql on a login role that could leave
  // the app role (db_backend.h).
  bool allow_privileged_raw_session = false;
};

class BrokerServer {
 public:
  static absl::StatusOr<std::unique_ptr<BrokerServer>> Start(BrokerServerOptions options,
                                                             const contracts::Registry& registry,
                                                             Clock& clock);
  ~BrokerServer();
  BrokerServer(const BrokerServer&) = delete;
  BrokerServer& operator=(const BrokerServer&) = delete;

  // "127.0.0.1:<port>"
  std::string address() const;
  int port() const { return port_; }
  // Which backends are configured, for the start-up log line.
  const std::string& report() const { return report_; }
  void Stop();

  struct Parts;  // the assembled pieces (server.cc)

 private:
  BrokerServer() = default;
  std::unique_ptr<Parts> parts_;
  int port_ = 0;
  std::string host_;
  std::string report_;
};

}  // namespace magic::broker
