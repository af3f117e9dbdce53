#include "broker/server.h"

#include "broker/audit.h"
#include "broker/broker.h"
#include "broker/cache_backend.h"
#include "broker/db_backend.h"
#include "broker/fs_backend.h"
#include "broker/grant.h"
#include "broker/grpc_service.h"
#include "broker/http_backend.h"
#include "broker/queue_backend.h"
#include "broker/secrets_backend.h"
#include "broker/secrets_store.h"
#include "common/ids.h"
#include "common/logging.h"
#include "common/postgres.h"
#include "common/status_macros.h"
#include "proto/grpc_server.h"

#include <fmt/format.h>

namespace magic::broker {

// Declared in destruction order: the gRPC server stops taking calls
// first, the audit log flushes before the pools and producer it uses go.
struct BrokerServer::Parts {
  Policy policy;
  std::unique_ptr<pg::PgPool> pool;
  std::unique_ptr<pg::PgPool> app_pool;
  std::unique_ptr<kafka::KafkaProducer> producer;
  std::unique_ptr<DbBackend> db;
  std::unique_ptr<CacheBackend> cache;
  std::unique_ptr<QueueBackend> queue;
  std::unique_ptr<HttpBackend> http;
  std::unique_ptr<SecretStore> secret_store;
  std::unique_ptr<SecretsBackend> secrets;
  FsBackend fs;
  std::unique_ptr<AuditSink> audit;
  std::optional<GrantVerifier> verifier;
  std::unique_ptr<Broker> broker;
  std::unique_ptr<BrokerGrpcService> service;
  std::unique_ptr<grpc::Server> server;
};

namespace {

absl::Status StartStores(const BrokerServerOptions& options, BrokerServer::Parts& parts,
                         std::vector<std::string>& report);

}  // namespace

absl::StatusOr<std::unique_ptr<BrokerServer>> BrokerServer::Start(
    BrokerServerOptions options, const contracts::Registry& registry, Clock& clock) {
  std::unique_ptr<BrokerServer> server(new BrokerServer());
  server->parts_ = std::make_unique<Parts>();
  Parts& parts = *server->parts_;
  parts.policy = options.policy;
  if (options.broker_id.empty()) options.broker_id = NewId("bk_");

  std::vector<std::string> keys = options.grant_public_keys;
  if (!options.grant_public_key_files.empty()) {
    MAGIC_ASSIGN_OR_RETURN(GrantVerifier from_files,
                           GrantVerifier::FromPublicKeyFiles(options.grant_public_key_files));
    parts.verifier.emplace(std::move(from_files));
    if (!keys.empty()) {
      return MakeError(ErrorCode::kE1005, "give grant public keys as files or raw, not both");
    }
  } else {
    MAGIC_ASSIGN_OR_RETURN(GrantVerifier raw, GrantVerifier::FromPublicKeys(keys));
    parts.verifier.emplace(std::move(raw));
  }

  std::vector<std::string> report = {
      fmt::format("environment={}", EnvironmentName(parts.policy.environment))};
  MAGIC_RETURN_IF_ERROR(StartStores(options, parts, report));
  MAGIC_ASSIGN_OR_RETURN(parts.audit, MakeAuditLog(*parts.pool, parts.producer.get(),
                                                   AuditLogOptions{.topic = options.audit_topic}));
  parts.broker =
      std::make_unique<Broker>(registry, parts.policy, *parts.verifier,
                               Backends{.db = parts.db.get(),
                                        .cache = parts.cache.get(),
                                        .queue = parts.queue.get(),
                                        .http = parts.http.get(),
                                        .secrets = parts.secrets.get(),
                                        .fs = &parts.fs},
                               *parts.audit, clock, BrokerOptions{.broker_id = options.broker_id});
  parts.service = std::make_unique<BrokerGrpcService>(*parts.broker);
  parts.server = StartGrpcServer(options.grpc_addr, {parts.service.get()}, &server->port_);
  if (parts.server == nullptr || server->port_ == 0) {
    return MakeError(ErrorCode::kE3005,
                     fmt::format("broker cannot listen on {}", options.grpc_addr));
  }
  server->host_ = options.grpc_addr.substr(0, options.grpc_addr.rfind(':'));
  for (const std::string& part : report) {
    server->report_ += (server->report_.empty() ? "" : " ") + part;
  }
  MAGIC_LOG(info, "broker started",
            {{"broker_id", options.broker_id},
             {"address", server->address()},
             {"backends", server->report_}});
  return server;
}

namespace {

absl::Status StartStores(const BrokerServerOptions& options, BrokerServer::Parts& parts,
                         std::vector<std::string>& report) {
  MAGIC_ASSIGN_OR_RETURN(parts.pool,
                         pg::PgPool::Create(options.postgres_url, options.postgres_pool_size));
  MAGIC_RETURN_IF_ERROR(MigrateAuditLog(*parts.pool));
  MAGIC_RETURN_IF_ERROR(MigrateSecrets(*parts.pool));
  MAGIC_RETURN_IF_ERROR(MigrateAppSchema(*parts.pool, parts.policy.db));

  pg::PgPool* app = parts.pool.get();
  if (!options.app_postgres_url.empty() && options.app_postgres_url != options.postgres_url) {
    MAGIC_ASSIGN_OR_RETURN(
        parts.app_pool, pg::PgPool::Create(options.app_postgres_url, options.postgres_pool_size));
    app = parts.app_pool.get();
  }
  MAGIC_ASSIGN_OR_RETURN(parts.db, MakeDbBackend(*app, parts.policy.db,
                                                 {.allow_privileged_raw_session =
                                                      options.allow_privileged_raw_session}));
  report.push_back(fmt::format("db=postgres(schema {})", parts.policy.db.schema));

  if (!options.redis_url.empty()) {
    MAGIC_ASSIGN_OR_RETURN(parts.cache,
                           CacheBackend::Create(options.redis_url, parts.policy.cache));
    report.push_back("cache=redis");
  } else {
    report.push_back("cache=off");
  }

  MAGIC_ASSIGN_OR_RETURN(parts.producer, kafka::MakeKafkaProducer(options.kafka));
  parts.queue = std::make_unique<QueueBackend>(*parts.producer, parts.policy.queue);
  report.push_back("queue=kafka");

  MAGIC_ASSIGN_OR_RETURN(parts.http, MakeHttpBackend(parts.policy.http));
  report.push_back("http=curl");

  absl::StatusOr<MasterKey> key = LoadMasterKey(options.master_key_file);
  if (key.ok()) {
    parts.secret_store = std::make_unique<SecretStore>(*parts.pool, *std::move(key));
    parts.secrets = std::make_unique<SecretsBackend>(*parts.secret_store);
    report.push_back("secrets=postgres(secretbox)");
  } else if (ErrorCodeOf(key.status()) == ErrorCode::kE5001) {
    MAGIC_LOG(warn, "no secrets master key: secrets:read calls will fail (E3005)");
    report.push_back("secrets=off");
  } else {
    return key.status();
  }
  return absl::OkStatus();
}

}  // namespace

BrokerServer::~BrokerServer() { Stop(); }

std::string BrokerServer::address() const { return fmt::format("{}:{}", host_, port_); }

void BrokerServer::Stop() {
  if (parts_ == nullptr) return;
  if (parts_->server)
    parts_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  if (parts_->audit) {
    absl::Status flushed = parts_->audit->Flush(absl::Seconds(10));
    if (!flushed.ok())
      MAGIC_LOG(err, "audit log not flushed at stop", {{"error", flushed.ToString()}});
  }
  parts_.reset();
}

}  // namespace magic::broker
