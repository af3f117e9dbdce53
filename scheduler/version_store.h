// Controller versions in PostgreSQL: the control plane's source of truth.
//
//   magic.controller_versions     one row per (name, version): bundle digest,
//                                 contract digest, created_at
//   magic.controller_files        the bundle's files (bytea), per version
//   magic.controller_deployments  name -> active_version (NULL: undeployed)
//   magic.deployment_history      append-only: every deploy / rollback /
//                                 undeploy, for audits and `magic get`
//
// Deploy validates the bundle (contracts::LoadBundleFromFiles: E4001), stores
// it (E4002 when the version exists with another digest; the same digest
// again is idempotent) and makes it active, in one transaction. Versions are
// never deleted: in-flight jobs name the version they were validated
// against, and workers look it up by (name, version).
//
// Errors: E4001 / E4002 / E4003 / E4004 as the catalog says; every
// PostgreSQL failure is E4005 (details: the cause).
//
// Thread-safe (every call leases its own connection).
#pragma once

#include "common/postgres.h"
#include "contracts/registry.h"

#include <absl/status/statusor.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace magic::scheduler {

// The result of a lifecycle change.
struct Deployment {
  std::string name;
  std::string version;   // active after the change; "" after Undeploy
  std::string digest;    // bundle digest of `version`
  bool created = false;  // Deploy stored a new version
  bool undeployed = false;
  std::string previous_version;  // active before; "" if none
  int64_t unix_ms = 0;
};

struct VersionInfo {
  std::string version;
  std::string digest;
  std::string contract_digest;
  int64_t created_unix_ms = 0;
  bool active = false;
};

struct ControllerInfo {
  std::string name;
  std::string active_version;         // "" when undeployed
  std::vector<VersionInfo> versions;  // oldest first
  int64_t updated_unix_ms = 0;
};

class VersionStore {
 public:
  // Migrates (idempotent, under an advisory lock). `pool` must outlive the
  // store.
  static absl::StatusOr<std::unique_ptr<VersionStore>> Open(pg::PgPool& pool);

  absl::StatusOr<Deployment> Deploy(std::vector<contracts::BundleFile> files);
  // Makes a stored version active (rollback or roll forward). E4004 when
  // (name, version) is not stored.
  absl::StatusOr<Deployment> Activate(const std::string& name, const std::string& version);
  // Clears the active version. E4003 when `name` has none.
  absl::StatusOr<Deployment> Undeploy(const std::string& name);

  absl::StatusOr<std::vector<ControllerInfo>> List();
  // E4003 when `name` was never deployed.
  absl::StatusOr<ControllerInfo> Get(const std::string& name);

  // For registries: every stored version, loaded and compiled (versions
  // whose stored bundle no longer loads are logged and skipped).
  absl::StatusOr<std::vector<std::shared_ptr<const contracts::ControllerVersion>>> LoadAll();
  // One version; E4003 when not stored.
  absl::StatusOr<std::shared_ptr<const contracts::ControllerVersion>> Load(
      const std::string& name, const std::string& version);
  // name -> active version, for every controller that has one.
  absl::StatusOr<std::map<std::string, std::string>> ActiveVersions();
  // The active version of `name`; nullopt when undeployed or unknown.
  absl::StatusOr<std::optional<std::string>> ActiveVersion(const std::string& name);

 private:
  explicit VersionStore(pg::PgPool& pool) : pool_(pool) {}

  pg::PgPool& pool_;
};

// The schema alone (CREATE ... IF NOT EXISTS under an advisory lock).
absl::Status MigrateVersionStore(pg::PgPool& pool);

}  // namespace magic::scheduler
