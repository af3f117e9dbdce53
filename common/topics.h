// Kafka topic names (DESIGN.md "Kafka topics") and the specs EnsureTopics()
// creates at start-up.
#pragma once

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

// "magic.replies.<gateway-id>": one per gateway, one partition.
inline std::string ReplyTopic(std::string_view gateway_id) {
  return std::string("magic.replies.") + std::string(gateway_id);
}

}  // namespace magic::topics
