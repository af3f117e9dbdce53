#include "scheduler/deployed_registry.h"

#include "common/absl_compat.h"
#include "common/errors.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "magic/v1/control.pb.h"

#include <fmt/format.h>

#include <future>
#include <mutex>
#include <set>
#include <utility>

namespace magic::scheduler {
namespace {

using contracts::ControllerVersion;

absl::Status NotDeployed(std::string_view name) {
  return MakeError(ErrorCode::kE4003, fmt::format("controller {} is not deployed", name),
                   {{"controller", std::string(name)}});
}

}  // namespace

// ----------------------------------------------------------------------------
// DeployedRegistry

absl::StatusOr<std::unique_ptr<DeployedRegistry>> DeployedRegistry::Start(
    VersionStore& store, const kafka::KafkaConfig& kafka, DeployedRegistryOptions options) {
  MAGIC_ASSIGN_OR_RETURN(auto consumer, kafka::MakeKafkaConsumer(kafka, {}));
  MAGIC_RETURN_IF_ERROR(
      consumer->AssignAll(options.topic, kafka::StartAt::kEnd, options.start_timeout));
  std::unique_ptr<DeployedRegistry> registry(
      new DeployedRegistry(store, std::move(options), std::move(consumer)));
  MAGIC_ASSIGN_OR_RETURN(auto versions, store.LoadAll());
  for (auto& v : versions) registry->Remember(std::move(v));
  MAGIC_RETURN_IF_ERROR(registry->RefreshAll());
  registry->thread_ = std::thread([r = registry.get()] { r->Loop(); });
  MAGIC_LOG(info, "deployed registry ready",
            {{"controllers", registry->List().size()}, {"versions", versions.size()}});
  return registry;
}

DeployedRegistry::DeployedRegistry(VersionStore& store, DeployedRegistryOptions options,
                                   std::unique_ptr<kafka::KafkaConsumer> consumer)
    : store_(store), options_(std::move(options)), consumer_(std::move(consumer)) {}

DeployedRegistry::~DeployedRegistry() { Stop(); }

void DeployedRegistry::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void DeployedRegistry::OnSwitch(
    std::function<void(const std::string& name, const std::string& version)> hook) {
  std::unique_lock lock(mu_);
  on_switch_ = std::move(hook);
}

void DeployedRegistry::Loop() {
  auto next_resync = std::chrono::steady_clock::now() + options_.resync_interval;
  while (!stop_) {
    auto polled = consumer_->Poll(options_.poll_timeout);
    if (!polled.ok()) {
      // Fatal for this consumer; the resync below still keeps us current.
      MAGIC_LOG(err, "deployments consumer failed", {{"error", polled.status().ToString()}});
      std::this_thread::sleep_for(options_.poll_timeout);
    } else if (polled->has_value()) {
      magic::v1::DeploymentEvent event;
      const std::string_view value = (*polled)->value();
      if (!event.ParseFromArray(value.data(), static_cast<int>(value.size())) ||
          event.name().empty()) {
        MAGIC_LOG(warn, "unreadable deployment event", {{"offset", (*polled)->offset()}});
      } else if (absl::Status s = Refresh(event.name()); !s.ok()) {
        MAGIC_LOG(err, "deployment event not applied",
                  {{"controller", event.name()}, {"error", s.ToString()}});
      }
    }
    if (options_.resync_interval.count() > 0 && std::chrono::steady_clock::now() >= next_resync) {
      if (absl::Status s = RefreshAll(); !s.ok()) {
        MAGIC_LOG(warn, "deployments resync failed", {{"error", s.ToString()}});
      }
      next_resync = std::chrono::steady_clock::now() + options_.resync_interval;
    }
  }
}

void DeployedRegistry::Remember(std::shared_ptr<const ControllerVersion> version) const {
  std::unique_lock lock(mu_);
  Entry& entry = entries_[version->name()];
  entry.versions.try_emplace(version->version(), std::move(version));
}

absl::Status DeployedRegistry::SetActive(const std::string& name, const std::string& version) {
  if (!version.empty()) {
    // Load outside the lock: readers never wait on PostgreSQL.
    MAGIC_RETURN_IF_ERROR(Get(name, version).status());
  }
  std::function<void(const std::string&, const std::string&)> hook;
  {
    std::unique_lock lock(mu_);
    Entry& entry = entries_[name];
    if (entry.active == version) return absl::OkStatus();
    MAGIC_LOG(info, "controller version switched",
              {{"controller", name}, {"from", entry.active}, {"to", version}});
    entry.active = version;
    hook = on_switch_;
  }
  if (hook) hook(name, version);
  return absl::OkStatus();
}

absl::Status DeployedRegistry::Refresh(const std::string& name) {
  MAGIC_ASSIGN_OR_RETURN(std::optional<std::string> active, store_.ActiveVersion(name));
  return SetActive(name, active.value_or(""));
}

absl::Status DeployedRegistry::RefreshAll() {
  MAGIC_ASSIGN_OR_RETURN(auto active, store_.ActiveVersions());
  std::vector<std::string> known;
  {
    std::shared_lock lock(mu_);
    for (const auto& [name, entry] : entries_) known.push_back(name);
  }
  absl::Status first_error;
  for (const std::string& name : known) {
    if (!active.contains(name)) first_error.Update(SetActive(name, ""));
  }
  for (const auto& [name, version] : active) first_error.Update(SetActive(name, version));
  return first_error;
}

absl::StatusOr<std::shared_ptr<const ControllerVersion>> DeployedRegistry::Active(
    std::string_view name) const {
  std::shared_lock lock(mu_);
  auto it = entries_.find(name);
  if (it == entries_.end() || it->second.active.empty()) return NotDeployed(name);
  auto v = it->second.versions.find(it->second.active);
  if (v == it->second.versions.end()) return NotDeployed(name);  // SetActive loads first
  return v->second;
}

absl::StatusOr<std::shared_ptr<const ControllerVersion>> DeployedRegistry::Get(
    std::string_view name, std::string_view version) const {
  {
    std::shared_lock lock(mu_);
    auto it = entries_.find(name);
    if (it != entries_.end()) {
      auto v = it->second.versions.find(version);
      if (v != it->second.versions.end()) return v->second;
    }
  }
  // Not held yet: a job can name a version before this process has read its
  // announcement. PostgreSQL has it (the deployer wrote it first).
  MAGIC_ASSIGN_OR_RETURN(auto loaded, store_.Load(std::string(name), std::string(version)));
  Remember(loaded);
  return loaded;
}

std::vector<std::string> DeployedRegistry::List() const {
  std::shared_lock lock(mu_);
  std::vector<std::string> names;
  for (const auto& [name, entry] : entries_) {
    if (!entry.active.empty()) names.push_back(name);
  }
  return names;  // std::map: sorted
}

// ----------------------------------------------------------------------------
// Deployer

Deployer::Deployer(VersionStore& store, kafka::KafkaProducer& producer, std::string topic,
                   std::chrono::milliseconds ack_timeout)
    : store_(store), producer_(producer), topic_(std::move(topic)), ack_timeout_(ack_timeout) {}

absl::StatusOr<Deployment> Deployer::Deploy(std::vector<contracts::BundleFile> files) {
  return Announce(store_.Deploy(std::move(files)));
}

absl::StatusOr<Deployment> Deployer::Rollback(const std::string& name,
                                              const std::string& to_version) {
  return Announce(store_.Activate(name, to_version));
}

absl::StatusOr<Deployment> Deployer::Undeploy(const std::string& name) {
  return Announce(store_.Undeploy(name));
}

absl::StatusOr<Deployment> Deployer::Announce(absl::StatusOr<Deployment> stored) {
  if (!stored.ok()) return stored;
  magic::v1::DeploymentEvent event;
  event.set_name(stored->name);
  event.set_version(stored->version);
  event.set_digest(stored->digest);
  event.set_undeployed(stored->undeployed);
  event.set_unix_ms(stored->unix_ms);
  const std::string value = event.SerializeAsString();
  const absl::Status outcome = kafka::ProduceAll(
      producer_, {{.topic = topic_, .key = stored->name, .value = value}}, ack_timeout_);
  if (!outcome.ok()) {
    return MakeError(ErrorCode::kE4005,
                     fmt::format("{} is stored but its announcement failed ({}); replicas pick "
                                 "it up at their next resync, or repeat the command",
                                 stored->name, FromAbsl(outcome.message())),
                     {{"controller", stored->name}, {"stored", true}, {"topic", topic_}});
  }
  MAGIC_LOG(info, "deployment announced",
            {{"controller", stored->name},
             {"version", stored->version},
             {"undeployed", stored->undeployed}});
  return stored;
}

// ----------------------------------------------------------------------------

absl::StatusOr<ControllerRegistryHandle> OpenControllerRegistry(const std::string& source,
                                                                const std::string& dir,
                                                                pg::PgPool& pool,
                                                                const kafka::KafkaConfig& kafka) {
  ControllerRegistryHandle handle;
  if (source == "dir") {
    MAGIC_ASSIGN_OR_RETURN(handle.registry, contracts::LoadDirectoryRegistry(dir));
    return handle;
  }
  if (source != "deployments") {
    return absl::InvalidArgumentError(
        fmt::format("controllers.source must be \"dir\" or \"deployments\", not \"{}\"", source));
  }
  MAGIC_ASSIGN_OR_RETURN(handle.store, VersionStore::Open(pool));
  MAGIC_ASSIGN_OR_RETURN(auto registry, DeployedRegistry::Start(*handle.store, kafka));
  handle.registry = std::move(registry);
  return handle;
}

}  // namespace magic::scheduler
