// EmbeddedKafka: librdkafka's mock cluster on a dedicated client handle.
// Running clusters are listed by bootstrap string so that EnsureTopics()
// with KafkaConfig::mock can create topics through the mock's API (the mock
// has no CreateTopics request handler).
#include "common/internal/kafka_conf.h"
#include "common/kafka.h"
#include "common/status_macros.h"

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <utility>

namespace magic::kafka {

struct EmbeddedKafka::State {
  internal::HandlePtr rk;  // owns the cluster's threads; destroyed after it
  rd_kafka_mock_cluster_t* cluster = nullptr;
  std::string bootstrap;
  int brokers = 0;
};

namespace internal {
namespace {

// bootstrap string -> running EmbeddedKafka. Entries are added by Start()
// and removed by Stop(); the mutex also keeps an entry alive while a
// CreateTopic() through the registry runs.
struct Registry {
  std::mutex mu;
  std::map<std::string, EmbeddedKafka*, std::less<>> clusters;
};

Registry& TheRegistry() {
  static Registry* registry = new Registry();  // never destroyed: used at exit
  return *registry;
}

}  // namespace

absl::Status EnsureMockTopics(const std::string& bootstrap, const std::vector<TopicSpec>& topics) {
  Registry& registry = TheRegistry();
  std::lock_guard lock(registry.mu);
  auto it = registry.clusters.find(bootstrap);
  if (it == registry.clusters.end()) {
    return absl::FailedPreconditionError(
        fmt::format("kafka mock: no EmbeddedKafka at {} in this process", bootstrap));
  }
  for (const TopicSpec& spec : topics) MAGIC_RETURN_IF_ERROR(it->second->CreateTopic(spec));
  return absl::OkStatus();
}

}  // namespace internal

EmbeddedKafka::EmbeddedKafka() : state_(std::make_unique<State>()) {}

EmbeddedKafka::~EmbeddedKafka() { Stop(); }

absl::StatusOr<std::string> EmbeddedKafka::Start(int brokers) {
  if (state_->cluster != nullptr) return state_->bootstrap;
  if (brokers < 1) return absl::InvalidArgumentError("kafka mock: need at least one broker");
  internal::ConfPtr conf(rd_kafka_conf_new());
  // The handle only hosts the cluster; it never connects anywhere.
  MAGIC_RETURN_IF_ERROR(internal::SetProperty(conf.get(), "log_level", "3"));
  MAGIC_RETURN_IF_ERROR(internal::SetProperty(conf.get(), "client.id", "magic-embedded-kafka"));
  MAGIC_ASSIGN_OR_RETURN(state_->rk, internal::NewHandle(RD_KAFKA_PRODUCER, std::move(conf)));
  state_->cluster = rd_kafka_mock_cluster_new(state_->rk.get(), brokers);
  if (state_->cluster == nullptr) {
    state_->rk.reset();
    return absl::InternalError("kafka mock: cannot create the mock cluster");
  }
  state_->bootstrap = rd_kafka_mock_cluster_bootstraps(state_->cluster);
  state_->brokers = brokers;
  internal::Registry& registry = internal::TheRegistry();
  std::lock_guard lock(registry.mu);
  registry.clusters[state_->bootstrap] = this;
  return state_->bootstrap;
}

std::string EmbeddedKafka::bootstrap_servers() const { return state_->bootstrap; }

KafkaConfig EmbeddedKafka::Config(std::string client_id) const {
  KafkaConfig config;
  config.brokers = state_->bootstrap;
  config.client_id = std::move(client_id);
  config.mock = true;
  return config;
}

absl::Status EmbeddedKafka::CreateTopic(const TopicSpec& spec) {
  if (state_->cluster == nullptr) return absl::FailedPreconditionError("kafka mock: not started");
  if (spec.partitions < 1) {
    return absl::InvalidArgumentError(
        fmt::format("kafka mock topic {}: partitions < 1", spec.name));
  }
  const int replication = std::clamp(spec.replication_factor, 1, state_->brokers);
  const rd_kafka_resp_err_t err =
      rd_kafka_mock_topic_create(state_->cluster, spec.name.c_str(), spec.partitions, replication);
  if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) return absl::OkStatus();
  return internal::StatusFromError(err, fmt::format("kafka mock create topic {}", spec.name));
}

void EmbeddedKafka::Stop() {
  if (state_->cluster == nullptr) return;
  {
    internal::Registry& registry = internal::TheRegistry();
    std::lock_guard lock(registry.mu);
    registry.clusters.erase(state_->bootstrap);
  }
  rd_kafka_mock_cluster_destroy(state_->cluster);
  state_->cluster = nullptr;
  state_->rk.reset();
  state_->bootstrap.clear();
}

}  // namespace magic::kafka
