#include "scheduler/version_store.h"

#include "common/errors.h"
#include "common/logging.h"
#include "common/status_macros.h"

#include <fmt/format.h>

#include <chrono>
#include <string_view>
#include <utility>

namespace magic::scheduler {
namespace {

using contracts::BundleFile;
using contracts::ControllerVersion;

constexpr std::string_view kMigration = R"sql(
CREATE SCHEMA IF NOT EXISTS magic;
CREATE TABLE IF NOT EXISTS magic.controller_versions (
  name            text NOT NULL,
  version         text NOT NULL,
  digest          text NOT NULL,
  contract_digest text NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (name, version)
);
CREATE TABLE IF NOT EXISTS magic.controller_files (
  name    text NOT NULL,
  version text NOT NULL,
  path    text NOT NULL,
  content bytea NOT NULL,
  PRIMARY KEY (name, version, path),
  FOREIGN KEY (name, version) REFERENCES magic.controller_versions ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS magic.controller_deployments (
  name           text PRIMARY KEY,
  active_version text,
  updated_at     timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (name, active_version) REFERENCES magic.controller_versions
);
CREATE TABLE IF NOT EXISTS magic.deployment_history (
  id               bigserial PRIMARY KEY,
  name             text NOT NULL,
  action           text NOT NULL CHECK (action IN ('deploy', 'rollback', 'undeploy')),
  version          text,
  previous_version text,
  digest           text,
  at               timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS deployment_history_name_idx ON magic.deployment_history (name, id);
)sql";

// Any 64-bit constant (the result store uses ...0001).
constexpr int64_t kMigrationLock = 0x6d61676963'0002;

// Changes to one controller are serialised by a transaction-scoped advisory
// lock on (this class id, hashtext(name)): the two-key lock space is apart
// from the one-key migration locks.
constexpr int kDeployLockClass = 0x6d67;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// PostgreSQL failures become E4005; E-coded outcomes pass through.
absl::Status StorageError(const absl::Status& status, std::string_view what) {
  if (status.ok() || ErrorCodeOf(status).has_value()) return status;
  return MakeError(ErrorCode::kE4005, fmt::format("deployment storage failed: {}", what),
                   {{"cause", std::string(status.message())}});
}
template <typename T>
absl::StatusOr<T> StorageResult(absl::StatusOr<T> result, std::string_view what) {
  if (result.ok()) return result;
  return StorageError(result.status(), what);
}

void LockController(pqxx::work& tx, const std::string& name) {
  tx.exec_params("SELECT pg_advisory_xact_lock($1, hashtext($2))", kDeployLockClass, name);
}

std::optional<std::string> ActiveIn(pqxx::work& tx, const std::string& name) {
  pqxx::result r = tx.exec_params(
      "SELECT active_version FROM magic.controller_deployments WHERE name = $1", name);
  if (r.empty() || r[0][0].is_null()) return std::nullopt;
  return r[0][0].as<std::string>();
}

// `version` "" clears the active version (versions are never empty: semver).
void SetActive(pqxx::work& tx, const std::string& name, const std::string& version) {
  tx.exec_params(
      "INSERT INTO magic.controller_deployments (name, active_version, updated_at) "
      "VALUES ($1, NULLIF($2, ''), now()) ON CONFLICT (name) DO UPDATE SET "
      "active_version = EXCLUDED.active_version, updated_at = now()",
      name, version);
}

void Record(pqxx::work& tx, std::string_view action, const Deployment& d) {
  tx.exec_params(
      "INSERT INTO magic.deployment_history (name, action, version, previous_version, digest) "
      "VALUES ($1, $2, NULLIF($3, ''), NULLIF($4, ''), NULLIF($5, ''))",
      d.name, std::string(action), d.version, d.previous_version, d.digest);
}

void InsertVersion(pqxx::work& tx, const ControllerVersion& v) {
  tx.exec_params(
      "INSERT INTO magic.controller_versions (name, version, digest, contract_digest) "
      "VALUES ($1, $2, $3, $4)",
      v.name(), v.version(), v.digest, v.contract().digest);
  // One statement per file: deploys are rare and bundles small (<= 256 files).
  for (const BundleFile& f : v.files) {
    tx.exec_params(
        "INSERT INTO magic.controller_files (name, version, path, content) "
        "VALUES ($1, $2, $3, $4)",
        v.name(), v.version(), f.path, pqxx::binarystring(f.content.data(), f.content.size()));
  }
}

// Rows (name, version, path, content) ordered by name, version, path ->
// loaded versions. A stored bundle that no longer loads (a contract check
// added since) is logged and skipped rather than failing every replica.
std::vector<std::shared_ptr<const ControllerVersion>> VersionsFromRows(const pqxx::result& rows) {
  std::vector<std::shared_ptr<const ControllerVersion>> out;
  std::vector<BundleFile> files;
  auto flush = [&](const std::string& name, const std::string& version) {
    if (files.empty()) return;
    const std::string origin = fmt::format("postgres:{}@{}", name, version);
    auto loaded = contracts::LoadBundleFromFiles(std::move(files), origin);
    files.clear();
    if (!loaded.ok()) {
      MAGIC_LOG(
          err, "stored controller version does not load",
          {{"controller", name}, {"version", version}, {"error", loaded.status().ToString()}});
    } else if ((*loaded)->name() != name || (*loaded)->version() != version) {
      MAGIC_LOG(err, "stored controller version names another one",
                {{"controller", name}, {"version", version}});
    } else {
      out.push_back(*std::move(loaded));
    }
  };
  std::string name, version;
  for (const auto& row : rows) {
    std::string n = row[0].as<std::string>(), v = row[1].as<std::string>();
    if (n != name || v != version) {
      flush(name, version);
      name = std::move(n);
      version = std::move(v);
    }
    pqxx::binarystring content(row[3]);
    files.push_back({row[2].as<std::string>(), content.str()});
  }
  flush(name, version);
  return out;
}

constexpr std::string_view kVersionRowsSql =
    "SELECT name, version, path, content FROM magic.controller_files ";

std::vector<ControllerInfo> InfosFromRows(const pqxx::result& deployments,
                                          const pqxx::result& versions) {
  std::vector<ControllerInfo> out;
  std::map<std::string, size_t> index;
  for (const auto& row : deployments) {
    ControllerInfo info;
    info.name = row[0].as<std::string>();
    info.active_version = row[1].is_null() ? "" : row[1].as<std::string>();
    info.updated_unix_ms = row[2].as<int64_t>();
    index[info.name] = out.size();
    out.push_back(std::move(info));
  }
  for (const auto& row : versions) {
    auto it = index.find(row[0].as<std::string>());
    if (it == index.end()) continue;
    ControllerInfo& info = out[it->second];
    VersionInfo v{.version = row[1].as<std::string>(),
                  .digest = row[2].as<std::string>(),
                  .contract_digest = row[3].as<std::string>(),
                  .created_unix_ms = row[4].as<int64_t>()};
    v.active = v.version == info.active_version;
    info.versions.push_back(std::move(v));
  }
  return out;
}

constexpr std::string_view kDeploymentsSql =
    "SELECT name, active_version, (extract(epoch FROM updated_at) * 1000)::bigint "
    "FROM magic.controller_deployments ";
constexpr std::string_view kVersionsSql =
    "SELECT name, version, digest, contract_digest, "
    "(extract(epoch FROM created_at) * 1000)::bigint FROM magic.controller_versions ";

}  // namespace

absl::Status MigrateVersionStore(pg::PgPool& pool) {
  return StorageError(pool.WithTransaction([](pqxx::work& tx) -> absl::Status {
    tx.exec_params("SELECT pg_advisory_xact_lock($1)", kMigrationLock);
    tx.exec(std::string(kMigration));
    return absl::OkStatus();
  }),
                      "migration");
}

absl::StatusOr<std::unique_ptr<VersionStore>> VersionStore::Open(pg::PgPool& pool) {
  MAGIC_RETURN_IF_ERROR(MigrateVersionStore(pool));
  return std::unique_ptr<VersionStore>(new VersionStore(pool));
}

absl::StatusOr<Deployment> VersionStore::Deploy(std::vector<BundleFile> files) {
  MAGIC_ASSIGN_OR_RETURN(auto version, contracts::LoadBundleFromFiles(std::move(files), "deploy"));
  const ControllerVersion& v = *version;
  auto result = pool_.WithTransaction([&v](pqxx::work& tx) -> absl::StatusOr<Deployment> {
    LockController(tx, v.name());
    pqxx::result existing = tx.exec_params(
        "SELECT digest FROM magic.controller_versions WHERE name = $1 AND version = $2", v.name(),
        v.version());
    Deployment d{.name = v.name(), .version = v.version(), .digest = v.digest};
    if (!existing.empty() && existing[0][0].as<std::string>() != v.digest) {
      return MakeError(ErrorCode::kE4002,
                       fmt::format("{} {} is already deployed with other content; deploy it "
                                   "under a new version",
                                   v.name(), v.version()),
                       {{"controller", v.name()},
                        {"version", v.version()},
                        {"stored_digest", existing[0][0].as<std::string>()},
                        {"digest", v.digest}});
    }
    d.created = existing.empty();
    if (d.created) InsertVersion(tx, v);
    d.previous_version = ActiveIn(tx, v.name()).value_or("");
    SetActive(tx, v.name(), v.version());
    Record(tx, "deploy", d);
    d.unix_ms = NowMs();
    return d;
  });
  return StorageResult(std::move(result), "deploy");
}

absl::StatusOr<Deployment> VersionStore::Activate(const std::string& name,
                                                  const std::string& version) {
  auto result = pool_.WithTransaction([&](pqxx::work& tx) -> absl::StatusOr<Deployment> {
    LockController(tx, name);
    pqxx::result row = tx.exec_params(
        "SELECT digest FROM magic.controller_versions WHERE name = $1 AND version = $2", name,
        version);
    if (row.empty()) {
      return MakeError(ErrorCode::kE4004,
                       fmt::format("{} has no stored version {} to roll back to", name, version),
                       {{"controller", name}, {"version", version}});
    }
    Deployment d{.name = name, .version = version, .digest = row[0][0].as<std::string>()};
    d.previous_version = ActiveIn(tx, name).value_or("");
    SetActive(tx, name, version);
    Record(tx, "rollback", d);
    d.unix_ms = NowMs();
    return d;
  });
  return StorageResult(std::move(result), "rollback");
}

absl::StatusOr<Deployment> VersionStore::Undeploy(const std::string& name) {
  auto result = pool_.WithTransaction([&](pqxx::work& tx) -> absl::StatusOr<Deployment> {
    LockController(tx, name);
    std::optional<std::string> active = ActiveIn(tx, name);
    if (!active) {
      return MakeError(ErrorCode::kE4003, fmt::format("controller {} is not deployed", name),
                       {{"controller", name}});
    }
    Deployment d{.name = name, .undeployed = true, .previous_version = *active};
    SetActive(tx, name, "");
    Record(tx, "undeploy", d);
    d.unix_ms = NowMs();
    return d;
  });
  return StorageResult(std::move(result), "undeploy");
}

absl::StatusOr<std::vector<ControllerInfo>> VersionStore::List() {
  auto result =
      pool_.WithTransaction([](pqxx::work& tx) -> absl::StatusOr<std::vector<ControllerInfo>> {
        pqxx::result deployments = tx.exec(std::string(kDeploymentsSql) + "ORDER BY name");
        pqxx::result versions =
            tx.exec(std::string(kVersionsSql) + "ORDER BY name, created_at, version");
        return InfosFromRows(deployments, versions);
      });
  return StorageResult(std::move(result), "list");
}

absl::StatusOr<ControllerInfo> VersionStore::Get(const std::string& name) {
  auto result =
      pool_.WithTransaction([&name](pqxx::work& tx) -> absl::StatusOr<std::vector<ControllerInfo>> {
        pqxx::result deployments =
            tx.exec_params(std::string(kDeploymentsSql) + "WHERE name = $1", name);
        pqxx::result versions = tx.exec_params(
            std::string(kVersionsSql) + "WHERE name = $1 ORDER BY created_at, version", name);
        return InfosFromRows(deployments, versions);
      });
  MAGIC_ASSIGN_OR_RETURN(auto infos, StorageResult(std::move(result), "get"));
  if (infos.empty()) {
    return MakeError(ErrorCode::kE4003, fmt::format("controller {} was never deployed", name),
                     {{"controller", name}});
  }
  return std::move(infos[0]);
}

absl::StatusOr<std::vector<std::shared_ptr<const ControllerVersion>>> VersionStore::LoadAll() {
  auto rows = pool_.WithConnection([](pqxx::connection& conn) -> absl::StatusOr<pqxx::result> {
    pqxx::nontransaction tx(conn);
    return tx.exec(std::string(kVersionRowsSql) + "ORDER BY name, version, path");
  });
  MAGIC_ASSIGN_OR_RETURN(pqxx::result r, StorageResult(std::move(rows), "load versions"));
  return VersionsFromRows(r);
}

absl::StatusOr<std::shared_ptr<const ControllerVersion>> VersionStore::Load(
    const std::string& name, const std::string& version) {
  auto rows = pool_.WithConnection([&](pqxx::connection& conn) -> absl::StatusOr<pqxx::result> {
    pqxx::nontransaction tx(conn);
    return tx.exec_params(
        std::string(kVersionRowsSql) + "WHERE name = $1 AND version = $2 ORDER BY path", name,
        version);
  });
  MAGIC_ASSIGN_OR_RETURN(pqxx::result r, StorageResult(std::move(rows), "load version"));
  std::vector<std::shared_ptr<const ControllerVersion>> loaded = VersionsFromRows(r);
  if (loaded.empty()) {
    return MakeError(ErrorCode::kE4003,
                     fmt::format("controller {} has no version {}", name, version),
                     {{"controller", name}, {"version", version}});
  }
  return loaded[0];
}

absl::StatusOr<std::map<std::string, std::string>> VersionStore::ActiveVersions() {
  auto result = pool_.WithConnection(
      [](pqxx::connection& conn) -> absl::StatusOr<std::map<std::string, std::string>> {
        pqxx::nontransaction tx(conn);
        std::map<std::string, std::string> active;
        for (const auto& row : tx.exec("SELECT name, active_version FROM "
                                       "magic.controller_deployments WHERE active_version IS NOT "
                                       "NULL")) {
          active.emplace(row[0].as<std::string>(), row[1].as<std::string>());
        }
        return active;
      });
  return StorageResult(std::move(result), "active versions");
}

absl::StatusOr<std::optional<std::string>> VersionStore::ActiveVersion(const std::string& name) {
  auto result = pool_.WithConnection(
      [&name](pqxx::connection& conn) -> absl::StatusOr<std::optional<std::string>> {
        pqxx::work tx(conn);
        return ActiveIn(tx, name);
      });
  return StorageResult(std::move(result), "active version");
}

}  // namespace magic::scheduler
