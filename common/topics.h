// Kafka topic names (DESIGN.md "Kafka topics") and the specs EnsureTopics()
// creates at start-up.
#pragma once

#include "common/kafka.h"

#include <string>
#include <string_view>
#include <vector>

namespace magic::topics {

inline constexpr std::string_view kInvocations = "magic.invocations";
inline constexpr std::string_view kResults = "magic.results";
inline constexpr std::string_view kCancellations = "magic.cancellations";
inline constexpr std::string_view kDeployments = "magic.deployments";
inline constexpr std::string_view kAudit = "magic.audit";
inline constexpr std::string_view kDlq = "magic.dlq";
// Controller log lines shipped by the workers (worker/log_shipper.h), keyed
// by controller name; read by `magic logs`.
inline constexpr std::string_view kLogs = "magic.logs";

// "magic.replies.<gateway-id>": one per gateway, one partition.
inline std::string ReplyTopic(std::string_view gateway_id) {
  return std::string("magic.replies.") + std::string(gateway_id);
}

// Every farm topic with its partitions and config; each service ensures
// them at start (EnsureTopics leaves existing topics as they are).
inline std::vector<kafka::TopicSpec> FarmTopicSpecs() {
  return {{.name = std::string(kInvocations), .partitions = 8},
          {.name = std::string(kResults), .partitions = 4},
          {.name = std::string(kCancellations), .partitions = 1},
          {.name = std::string(kDeployments),
           .partitions = 1,
           .config = {{"cleanup.policy", "compact"}}},
          {.name = std::string(kAudit), .partitions = 4},
          {.name = std::string(kDlq), .partitions = 1},
          {.name = std::string(kLogs), .partitions = 4}};
}

}  // namespace magic::topics
