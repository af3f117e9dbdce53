// TriggerService: queue:subscribe consumers (see triggers.h).
#include "scheduler/triggers.h"

#include "common/errors.h"
#include "common/ids.h"
#include "common/logging.h"
#include "proto/wire_errors.h"
#include "scheduler/job_maker.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <unordered_set>
#include <utility>
#include <variant>

namespace magic::scheduler {
namespace {

// Text as a JSON string value: invalid UTF-8 is replaced on output.
nlohmann::json Text(std::string_view text) { return std::string(text); }

std::string Dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// The queues `version` subscribes to, sorted and unique.
std::vector<std::string> SubscribedQueues(const contracts::ControllerVersion& version) {
  std::set<std::string> queues;
  for (const contracts::Capability& cap : version.contract().capabilities) {
    if (cap.kind != contracts::CapabilityKind::kQueueSubscribe) continue;
    queues.insert(cap.queues.begin(), cap.queues.end());
  }
  return {queues.begin(), queues.end()};
}

uint64_t Fnv1a(std::string_view text) {
  uint64_t h = 1469598103934665603ull;
  for (const char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace

std::string EventEnvelope(const QueueMessage& m) {
  nlohmann::json payload = nullptr;
  if (!m.value.empty()) {
    payload = nlohmann::json::parse(m.value, nullptr, /*allow_exceptions=*/false);
    if (payload.is_discarded()) payload = Text(m.value);
  }
  nlohmann::json headers = nlohmann::json::object();
  for (const kafka::HeaderView& h : m.headers) headers[std::string(h.key)] = Text(h.value);
  nlohmann::json envelope = {
      {"queue", m.queue},
      {"message_id", fmt::format("{}/{}/{}", m.queue, m.partition, m.offset)},
      {"partition", m.partition},
      {"offset", m.offset},
      {"key", m.key.empty() ? nlohmann::json(nullptr) : Text(m.key)},
      {"headers", std::move(headers)},
      {"published_at_ms", m.timestamp_ms >= 0 ? nlohmann::json(m.timestamp_ms) : nullptr},
      {"payload", std::move(payload)}};
  return Dump(envelope);
}

std::string EventRequestId(std::string_view controller, const QueueMessage& m) {
  std::string id = fmt::format("evt-{}-{}-{}-{}", controller, m.queue, m.partition, m.offset);
  if (IsValidRequestId(id)) return id;
  return fmt::format("evt-{:016x}-{}-{}", Fnv1a(fmt::format("{}\n{}", controller, m.queue)),
                     m.partition, m.offset);
}

struct TriggerService::Subscription {
  std::string controller;
  std::vector<std::string> queues;
  std::unique_ptr<kafka::KafkaConsumer> consumer;
};

TriggerService::TriggerService(const contracts::Registry& registry, ResultStore& store,
                               TimerService& timers, const broker::GrantSigner* signer,
                               kafka::KafkaProducer& producer, kafka::KafkaConfig kafka,
                               Clock& clock, TriggerOptions options)
    : registry_(registry),
      store_(store),
      timers_(timers),
      signer_(signer),
      producer_(producer),
      kafka_(std::move(kafka)),
      clock_(clock),
      options_(std::move(options)) {}

TriggerService::~TriggerService() { Stop(); }

void TriggerService::Start() {
  loop_.Start([this, next_refresh = absl::InfinitePast()]() mutable {
    if (clock_.Now() >= next_refresh) {
      Refresh();
      next_refresh = clock_.Now() + options_.refresh;
    }
    if (subs_.empty()) return std::chrono::milliseconds(200);
    if (!PollOnce()) next_refresh = clock_.Now() + absl::Seconds(1);
    return std::chrono::milliseconds(0);
  });
}

void TriggerService::Stop() {
  loop_.Stop();
  // The thread is gone: the consumers are ours now.
  for (auto& [name, sub] : subs_) sub->consumer->Close();
  subs_.clear();
}

std::map<std::string, std::vector<std::string>> TriggerService::Subscriptions() const {
  std::lock_guard<std::mutex> lock(mu_);
  return subscribed_;
}

void TriggerService::Refresh() {
  std::map<std::string, std::vector<std::string>> wanted;
  for (const std::string& name : registry_.List()) {
    auto version = registry_.Active(name);
    if (!version.ok()) continue;  // undeployed
    std::vector<std::string> queues = SubscribedQueues(**version);
    if (!queues.empty()) wanted[name] = std::move(queues);
  }
  for (auto it = subs_.begin(); it != subs_.end();) {
    auto w = wanted.find(it->first);
    if (w != wanted.end() && w->second == it->second->queues) {
      ++it;
      continue;
    }
    MAGIC_LOG(info, "trigger unsubscribed", {{"controller", it->first}});
    it->second->consumer->Close();
    it = subs_.erase(it);
  }
  for (auto& [name, queues] : wanted) {
    if (subs_.contains(name)) continue;
    std::vector<kafka::TopicSpec> specs;
    std::vector<std::string> topics;
    for (const std::string& q : queues) {
      topics.push_back(options_.topic_prefix + q);
      specs.push_back({.name = topics.back(), .partitions = 4});
    }
    if (absl::Status s = kafka::EnsureTopics(kafka_, specs); !s.ok()) {
      MAGIC_LOG(warn, "trigger topics not ready; retried",
                {{"controller", name}, {"error", s.ToString()}});
      continue;
    }
    kafka::ConsumerOptions consumer_options;
    consumer_options.group_id = options_.group_prefix + name;
    consumer_options.reset = kafka::ConsumerOptions::Reset::kEarliest;
    auto consumer = kafka::MakeKafkaConsumer(kafka_, std::move(consumer_options));
    absl::Status s = consumer.ok() ? (*consumer)->Subscribe(topics) : consumer.status();
    if (!s.ok()) {
      MAGIC_LOG(warn, "trigger consumer failed; retried",
                {{"controller", name}, {"error", s.ToString()}});
      continue;
    }
    MAGIC_LOG(info, "trigger subscribed", {{"controller", name}, {"queues", queues}});
    subs_[name] = std::make_unique<Subscription>(
        Subscription{.controller = name, .queues = queues, .consumer = *std::move(consumer)});
  }
  std::lock_guard<std::mutex> lock(mu_);
  subscribed_.clear();
  for (const auto& [name, sub] : subs_) subscribed_[name] = sub->queues;
}

std::variant<magic::v1::InvocationJob, DeadLetter> TriggerService::Prepare(
    const Subscription& sub, const contracts::ControllerVersion& version,
    const kafka::KafkaMessage& message) {
  QueueMessage m{
      .queue = std::string(message.topic())
                   .substr(std::min(options_.topic_prefix.size(), message.topic().size())),
      .partition = message.partition(),
      .offset = message.offset(),
      .key = message.key(),
      .value = message.value(),
      .headers = message.headers(),
      .timestamp_ms = message.timestamp_ms()};
  const std::string request_id = EventRequestId(sub.controller, m);
  absl::StatusOr<magic::v1::InvocationJob> job;
  std::string input;
  if (static_cast<int64_t>(m.value.size()) > options_.max_message_bytes) {
    job = MakeError(ErrorCode::kE1005,
                    fmt::format("queue message is {} bytes; the limit is {}", m.value.size(),
                                options_.max_message_bytes),
                    {{"limit_bytes", options_.max_message_bytes}});
  } else {
    input = EventEnvelope(m);
    auto retry = MakeRetryPolicy(options_.max_attempts, /*on_timeout=*/true, /*on_error=*/true);
    job = retry.ok() ? MakeJob(version,
                               {.request_id = request_id,
                                .input_json = input,
                                .ttl = options_.ttl,
                                .retry = *retry,
                                .source = "trigger"},
                               clock_.Now(), signer_)
                     : absl::StatusOr<magic::v1::InvocationJob>(retry.status());
  }
  if (job.ok()) return *std::move(job);
  Error e = ErrorFromStatus(job.status());
  e.request_id = request_id;
  return DeadLetter{.request_id = request_id,
                    .controller = sub.controller,
                    .version = version.version(),
                    .source = "trigger",
                    .attempts = 0,
                    .reason = ToWireError(e),
                    .input_json = std::move(input),
                    .origin = {{"queue", m.queue},
                               {"partition", m.partition},
                               {"offset", m.offset},
                               {"key", Text(m.key)}},
                    .failed_unix_ms = clock_.NowUnixMillis()};
}

bool TriggerService::Handle(Subscription& sub, const std::vector<kafka::KafkaMessage>& messages) {
  auto version = registry_.Active(sub.controller);
  if (!version.ok()) return false;  // undeployed meanwhile: the refresh drops it
  std::vector<magic::v1::InvocationJob> jobs;
  std::vector<DeadLetter> dead;
  for (const kafka::KafkaMessage& message : messages) {
    auto prepared = Prepare(sub, **version, message);
    if (auto* job = std::get_if<magic::v1::InvocationJob>(&prepared)) {
      jobs.push_back(std::move(*job));
    } else {
      dead.push_back(std::get<DeadLetter>(std::move(prepared)));
    }
  }
  if (!dead.empty()) {
    if (!timers_.SendDeadLetters(dead).ok()) return false;
    dead_lettered_.fetch_add(dead.size(), std::memory_order_relaxed);
  }
  if (jobs.empty()) return true;
  // A redelivered message whose run already finished is not run again.
  std::vector<std::string> ids;
  ids.reserve(jobs.size());
  for (const magic::v1::InvocationJob& job : jobs) ids.push_back(job.request_id());
  absl::StatusOr<std::unordered_set<std::string>> finished = store_.FindFinished(ids);
  if (!finished.ok()) return false;
  std::erase_if(jobs, [&finished](const magic::v1::InvocationJob& job) {
    return finished->contains(job.request_id());
  });
  if (jobs.empty()) return true;
  if (!store_.RecordQueuedBatch(jobs).ok()) return false;
  std::vector<std::string> values;  // the records below view them
  std::vector<kafka::ProducerRecord> records;
  values.reserve(jobs.size());
  records.reserve(jobs.size());
  for (const magic::v1::InvocationJob& job : jobs) {
    values.push_back(job.SerializeAsString());
    records.push_back(
        {.topic = options_.jobs_topic, .key = job.controller(), .value = values.back()});
  }
  if (!kafka::ProduceAll(producer_, records, options_.ack_timeout).ok()) return false;
  triggered_.fetch_add(jobs.size(), std::memory_order_relaxed);
  MAGIC_LOG(info, "triggered",
            {{"controller", sub.controller},
             {"runs", jobs.size()},
             {"first_request_id", jobs.front().request_id()},
             {"last_request_id", jobs.back().request_id()}});
  return true;
}

bool TriggerService::PollOnce() {
  // Every subscription gets a turn within about 50 ms, however many there are.
  const auto wait = std::max(std::chrono::milliseconds(5),
                             std::chrono::milliseconds(50) / static_cast<int64_t>(subs_.size()));
  for (auto& [name, sub] : subs_) {
    std::vector<kafka::KafkaMessage> batch;
    auto polled = sub->consumer->Poll(wait);
    while (polled.ok() && polled->has_value()) {
      batch.push_back(**std::move(polled));
      if (batch.size() >= options_.max_batch) break;
      polled = sub->consumer->Poll(std::chrono::milliseconds(0));
    }
    if (batch.empty()) continue;
    if (Handle(*sub, batch)) {
      // The next offset of each partition: its last message + 1.
      std::map<std::pair<std::string, int32_t>, int64_t> next;
      for (const kafka::KafkaMessage& message : batch) {
        const kafka::PartitionOffset o = message.NextOffset();
        int64_t& at = next[{o.topic, o.partition}];
        at = std::max(at, o.offset);
      }
      std::vector<kafka::PartitionOffset> offsets;
      for (const auto& [tp, offset] : next) {
        offsets.push_back({.topic = tp.first, .partition = tp.second, .offset = offset});
      }
      if (absl::Status s = sub->consumer->CommitOffsets(offsets); !s.ok()) {
        MAGIC_LOG(warn, "trigger commit failed", {{"controller", name}, {"error", s.ToString()}});
      }
      continue;
    }
    // Not handled: read them again from the last commit (a fresh consumer
    // at the next refresh).
    MAGIC_LOG(warn, "trigger messages not handled; re-reading",
              {{"controller", name},
               {"messages", batch.size()},
               {"first_offset", batch.front().offset()}});
    batch.clear();  // the messages go before their consumer
    sub->consumer->Close();
    subs_.erase(name);
    return false;
  }
  return true;
}

}  // namespace magic::scheduler
