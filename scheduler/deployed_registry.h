// Hot deploys: the registry gateways, workers and brokers read, kept in step
// with PostgreSQL through the compacted topic `magic.deployments`.
//
//   Deployer          (scheduler / Control service) writes PostgreSQL first,
//                     then produces a DeploymentEvent (key = controller name)
//                     and waits for Kafka's ack.
//   DeployedRegistry  (every process) loads every stored version at start,
//                     then reads the topic with its own group-less consumer
//                     (every process must see every event). An event is a
//                     wake-up: the registry re-reads that controller's active
//                     version from PostgreSQL (the truth, so events produced
//                     out of order by two schedulers cannot leave a stale
//                     pointer), loads the version if it is new, and switches.
//                     A periodic resync covers an event that was never
//                     produced (a scheduler dying between commit and produce).
//
// Versions are kept once loaded: a job validated against v1 still finds v1
// on its worker after v2 became active, or after an undeploy (Active() is
// then E4003, Get(name, version) still answers). A Get() for a version this
// process has not loaded yet (the gateway switched before this worker read
// the event) loads it from PostgreSQL on the spot.
//
// Thread-safety: DeployedRegistry's Registry methods from any thread (a
// shared_mutex; readers never wait on PostgreSQL unless a version is
// missing). Deployer: any thread.
#pragma once

#include "common/kafka.h"
#include "common/topics.h"
#include "contracts/registry.h"
#include "scheduler/version_store.h"

#include <absl/status/statusor.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

namespace magic::scheduler {

struct DeployedRegistryOptions {
  std::string topic = std::string(topics::kDeployments);
  // How long one Poll() waits: bounds how fast Stop() returns.
  std::chrono::milliseconds poll_timeout{200};
  // Re-read every active version from PostgreSQL this often (0: never).
  std::chrono::milliseconds resync_interval{30000};
  // How long Start() waits for the topic's partitions and end offsets.
  std::chrono::milliseconds start_timeout{30000};
};

class DeployedRegistry final : public contracts::Registry {
 public:
  // Positions the consumer at the topic's end, then loads every stored
  // version and the active pointers (in that order: a change committed
  // after the load is announced after the consumer's position, so none is
  // missed), then starts the consumer thread. `store` must outlive the
  // registry. NOT_FOUND when the topic does not exist.
  static absl::StatusOr<std::unique_ptr<DeployedRegistry>> Start(
      VersionStore& store, const kafka::KafkaConfig& kafka, DeployedRegistryOptions options = {});
  ~DeployedRegistry() override;  // Stop()
  // Stops the consumer thread. Lookups keep working. Idempotent.
  void Stop();

  // contracts::Registry
  absl::StatusOr<std::shared_ptr<const contracts::ControllerVersion>> Active(
      std::string_view name) const override;
  absl::StatusOr<std::shared_ptr<const contracts::ControllerVersion>> Get(
      std::string_view name, std::string_view version) const override;
  std::vector<std::string> List() const override;

  // Applies what PostgreSQL says about `name` now (what an event triggers).
  absl::Status Refresh(const std::string& name);
  // The same for every controller (start-up and the periodic resync).
  absl::Status RefreshAll();

  // Called after every switch of an active version ("" = undeployed), on
  // the thread that applied it (the consumer's, or Refresh()'s caller).
  void OnSwitch(std::function<void(const std::string& name, const std::string& version)> hook);

 private:
  struct Entry {
    std::string active;  // "" when undeployed
    std::map<std::string, std::shared_ptr<const contracts::ControllerVersion>, std::less<>>
        versions;
  };

  DeployedRegistry(VersionStore& store, DeployedRegistryOptions options,
                   std::unique_ptr<kafka::KafkaConsumer> consumer);
  void Loop();
  void Remember(std::shared_ptr<const contracts::ControllerVersion> version) const;
  // Loads (name, version) unless held; then points `name` at it ("" clears).
  absl::Status SetActive(const std::string& name, const std::string& version);

  VersionStore& store_;
  const DeployedRegistryOptions options_;
  std::unique_ptr<kafka::KafkaConsumer> consumer_;

  mutable std::shared_mutex mu_;
  mutable std::map<std::string, Entry, std::less<>> entries_;              // guarded by mu_
  std::function<void(const std::string&, const std::string&)> on_switch_;  // guarded by mu_

  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// The write side: PostgreSQL, then the announcement.
class Deployer {
 public:
  // Borrows `store` and `producer`.
  Deployer(VersionStore& store, kafka::KafkaProducer& producer,
           std::string topic = std::string(topics::kDeployments),
           std::chrono::milliseconds ack_timeout = std::chrono::seconds(10));

  absl::StatusOr<Deployment> Deploy(std::vector<contracts::BundleFile> files);
  absl::StatusOr<Deployment> Rollback(const std::string& name, const std::string& to_version);
  absl::StatusOr<Deployment> Undeploy(const std::string& name);

  VersionStore& store() { return store_; }

 private:
  // Produces the event for a stored change and waits for the ack. E4005
  // (details: stored = true) when Kafka does not confirm: the change is in
  // PostgreSQL and replicas pick it up at their next resync; repeating the
  // call announces it again.
  absl::StatusOr<Deployment> Announce(absl::StatusOr<Deployment> stored);

  VersionStore& store_;
  kafka::KafkaProducer& producer_;
  const std::string topic_;
  const std::chrono::milliseconds ack_timeout_;
};

// What a service binary does with its `controllers` config section:
//   source "dir" (default): the bundles under `dir` (LoadDirectoryRegistry);
//   source "deployments":   a DeployedRegistry over PostgreSQL (`pool`) and
//                           the deployments topic (must exist: EnsureTopics).
// The registry is destroyed before the store it reads (member order).
struct ControllerRegistryHandle {
  std::unique_ptr<VersionStore> store;  // null for "dir"
  std::unique_ptr<contracts::Registry> registry;
};
absl::StatusOr<ControllerRegistryHandle> OpenControllerRegistry(const std::string& source,
                                                                const std::string& dir,
                                                                pg::PgPool& pool,
                                                                const kafka::KafkaConfig& kafka);

}  // namespace magic::scheduler
