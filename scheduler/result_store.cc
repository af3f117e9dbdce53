// ResultRecorder: magic.results -> ResultStore, in batches, commit after
// the batch is durable.
#include "scheduler/result_store.h"

#include "common/logging.h"
#include "common/status_macros.h"

#include <fmt/format.h>

#include <map>
#include <utility>

namespace magic::scheduler {

struct ResultRecorder::Batch {
  std::vector<magic::v1::InvocationResult> results;
  // (topic, partition) -> next offset to commit.
  std::map<std::pair<std::string, int32_t>, int64_t> next_offsets;
  std::chrono::steady_clock::time_point first_at;

  bool empty() const { return next_offsets.empty(); }
  void clear() {
    results.clear();
    next_offsets.clear();
  }
  std::vector<kafka::PartitionOffset> Offsets() const {
    std::vector<kafka::PartitionOffset> out;
    for (const auto& [tp, offset] : next_offsets) out.push_back({tp.first, tp.second, offset});
    return out;
  }
};

ResultRecorder::ResultRecorder(ResultStore& store, ConsumerFactory consumer_factory,
                               ResultRecorderOptions options)
    : store_(store),
      consumer_factory_(std::move(consumer_factory)),
      options_(std::move(options)),
      batch_(std::make_unique<Batch>()) {}

ResultRecorder::ResultRecorder(ResultStore& store, const kafka::KafkaConfig& config,
                               ResultRecorderOptions options)
    : ResultRecorder(
          store,
          [config](kafka::ConsumerOptions consumer_options) {
            return kafka::MakeKafkaConsumer(config, std::move(consumer_options));
          },
          std::move(options)) {}

ResultRecorder::~ResultRecorder() { Stop(); }

kafka::RebalanceHooks ResultRecorder::Hooks() {
  kafka::RebalanceHooks hooks;
  // Runs inside Poll() on the recorder thread: the batch holds messages of
  // the partitions about to go; write and commit them while we own them.
  hooks.on_revoke = [this](const std::vector<kafka::TopicPartition>& /*revoked*/, bool lost) {
    if (lost) {
      batch_->clear();  // someone else owns them now; they will be redelivered there
      return;
    }
    Flush();
  };
  return hooks;
}

absl::Status ResultRecorder::Start() {
  if (thread_.joinable()) return absl::FailedPreconditionError("result recorder already started");
  kafka::ConsumerOptions consumer_options;
  consumer_options.group_id = options_.group_id;
  consumer_options.reset = kafka::ConsumerOptions::Reset::kEarliest;
  consumer_options.hooks = Hooks();
  MAGIC_ASSIGN_OR_RETURN(consumer_, consumer_factory_(std::move(consumer_options)));
  MAGIC_RETURN_IF_ERROR(consumer_->Subscribe({options_.topic}));
  stop_.store(false);
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void ResultRecorder::Stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  consumer_.reset();
}

void ResultRecorder::Run() {
  MAGIC_LOG(info, "result recorder started",
            {{"topic", options_.topic}, {"group", options_.group_id}});
  while (!stop_.load()) {
    auto timeout = std::chrono::milliseconds(100);
    if (!batch_->empty()) {
      const auto due = batch_->first_at + options_.max_delay;
      timeout = std::max(std::chrono::milliseconds(0),
                         std::chrono::duration_cast<std::chrono::milliseconds>(
                             due - std::chrono::steady_clock::now()));
    }
    absl::StatusOr<std::optional<kafka::KafkaMessage>> message = consumer_->Poll(timeout);
    if (!message.ok()) {
      MAGIC_LOG(err, "result recorder: consumer failed", {{"status", message.status().ToString()}});
      std::this_thread::sleep_for(options_.retry_backoff);
      continue;
    }
    if (message->has_value()) Add(**message);
    const bool full = batch_->results.size() >= options_.max_batch;
    const bool due = !batch_->empty() &&
                     std::chrono::steady_clock::now() >= batch_->first_at + options_.max_delay;
    if (full || due) Flush();
  }
  Flush();
  consumer_->Close();  // on_revoke: nothing left to write
  MAGIC_LOG(info, "result recorder stopped", {{"recorded", recorded()}});
}

void ResultRecorder::Add(const kafka::KafkaMessage& message) {
  if (batch_->empty()) batch_->first_at = std::chrono::steady_clock::now();
  batch_->next_offsets[{std::string(message.topic()), message.partition()}] = message.offset() + 1;
  magic::v1::InvocationResult result;
  if (!result.ParseFromArray(message.value().data(), static_cast<int>(message.value().size())) ||
      result.request_id().empty()) {
    MAGIC_LOG(warn, "result recorder: skipping undecodable message",
              {{"topic", message.topic()},
               {"partition", message.partition()},
               {"offset", message.offset()}});
    return;  // its offset is committed with the batch
  }
  batch_->results.push_back(std::move(result));
}

absl::Status ResultRecorder::Write() {
  if (!options_.take_retries) return store_.RecordResults(batch_->results);
  // Retried failures are recorded by the hook (QUEUED, with their next
  // attempt); the rest are final. Running the hook again after a store
  // failure is harmless: a scheduled retry is keyed by run and attempt.
  absl::StatusOr<std::vector<magic::v1::InvocationResult>> finals =
      options_.take_retries(batch_->results);
  if (!finals.ok()) return finals.status();
  return store_.RecordResults(*finals);
}

void ResultRecorder::Flush() {
  if (batch_->empty()) return;
  if (!batch_->results.empty()) {
    absl::Status status = Write();
    while (!status.ok()) {
      MAGIC_LOG(warn, "result recorder: store failed, retrying",
                {{"status", status.ToString()}, {"batch", batch_->results.size()}});
      if (stop_.load()) return;  // not committed: redelivered to the next recorder
      std::this_thread::sleep_for(options_.retry_backoff);
      status = Write();
    }
  }
  // Durable now. A failed commit only means redelivery, which the store
  // absorbs (first result wins).
  const absl::Status committed = consumer_->CommitOffsets(batch_->Offsets());
  if (!committed.ok()) {
    MAGIC_LOG(warn, "result recorder: commit failed", {{"status", committed.ToString()}});
  }
  recorded_.fetch_add(batch_->results.size(), std::memory_order_relaxed);
  batches_.fetch_add(1, std::memory_order_relaxed);
  batch_->clear();
}

}  // namespace magic::scheduler
