#include "worker/worker_service.h"

#include "common/errors.h"
#include "common/logging.h"
#include "proto/wire_errors.h"

#include <fmt/format.h>

namespace magic::worker {

WorkerService::WorkerService(WorkerOptions options, kafka::KafkaConfig kafka_config,
                             kafka::KafkaProducer& producer, JobExecutor& executor,
                             ResultLookup* lookup, Clock& clock)
    : options_(std::move(options)),
      kafka_config_(std::move(kafka_config)),
      producer_(producer),
      executor_(executor),
      lookup_(lookup),
      clock_(clock) {}

WorkerService::~WorkerService() { Stop(); }

absl::Status WorkerService::Start() {
  kafka::ConsumerOptions opts{.group_id = options_.group_id};
  opts.hooks.on_assign = [this](const std::vector<kafka::PartitionOffset>& assigned) {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& p : assigned) {
      assigned_at_[{p.topic, p.partition}] = clock_.NowUnixMillis();
    }
  };
  opts.hooks.on_revoke = [this](const std::vector<kafka::TopicPartition>& revoked, bool lost) {
    if (!lost) MaybeCommit(/*force=*/true);
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& p : revoked) {
      assigned_at_.erase({p.topic, p.partition});
      offsets_.Forget(p.topic, p.partition);
    }
  };
  auto consumer = kafka::MakeKafkaConsumer(kafka_config_, std::move(opts));
  if (!consumer.ok()) return consumer.status();
  consumer_ = *std::move(consumer);
  if (absl::Status s = consumer_->Subscribe({options_.jobs_topic}); !s.ok()) return s;

  auto cancels = kafka::MakeKafkaConsumer(kafka_config_, {});
  if (!cancels.ok()) return cancels.status();
  cancel_consumer_ = *std::move(cancels);
  if (absl::Status s = cancel_consumer_->AssignAll(options_.cancellations_topic,
                                                   kafka::StartAt::kEnd, std::chrono::seconds(30));
      !s.ok()) {
    return s;
  }
  last_commit_ = std::chrono::steady_clock::now();
  consume_thread_ = std::thread([this] { ConsumeLoop(); });
  cancel_thread_ = std::thread([this] { CancelLoop(); });
  for (int i = 0; i < options_.concurrency; ++i) {
    executors_.emplace_back([this] { ExecuteLoop(); });
  }
  MAGIC_LOG(info, "worker started",
            {{"worker_id", options_.worker_id},
             {"concurrency", options_.concurrency},
             {"group", options_.group_id}});
  return absl::OkStatus();
}

void WorkerService::Stop() {
  if (stopping_.exchange(true)) return;
  if (consume_thread_.joinable()) consume_thread_.join();
  {
    std::lock_guard<std::mutex> lock(mu_);
    draining_ = true;
  }
  work_cv_.notify_all();
  for (std::thread& t : executors_) t.join();
  executors_.clear();
  if (cancel_thread_.joinable()) cancel_thread_.join();
  (void)producer_.Flush(std::chrono::seconds(10));
  MaybeCommit(/*force=*/true);
  if (consumer_) consumer_->Close();
  if (cancel_consumer_) cancel_consumer_->Close();
}

WorkerStats WorkerService::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void WorkerService::ConsumeLoop() {
  while (!stopping_) {
    MaybeCommit(/*force=*/false);
    ApplyBackpressure();
    absl::StatusOr<std::optional<kafka::KafkaMessage>> polled =
        consumer_->Poll(options_.poll_timeout);
    if (!polled.ok()) {
      MAGIC_LOG(err, "job consumer failed", {{"error", std::string(polled.status().message())}});
      return;
    }
    if (polled->has_value()) Accept(**polled);
  }
}

void WorkerService::Accept(const kafka::KafkaMessage& message) {
  Work work;
  work.topic = std::string(message.topic());
  work.partition = message.partition();
  work.offset = message.offset();
  work.received_unix_ms = clock_.NowUnixMillis();
  const std::string_view value = message.value();
  const bool parsed = work.job.ParseFromArray(value.data(), static_cast<int>(value.size())) &&
                      !work.job.request_id().empty();
  std::lock_guard<std::mutex> lock(mu_);
  ++stats_.received;
  offsets_.Started(work.topic, work.partition, work.offset);
  if (!parsed) {
    // Hostile or corrupt: nobody can be answered; skip it for good.
    ++stats_.malformed;
    offsets_.Finished(work.topic, work.partition, work.offset);
    return;
  }
  auto assigned = assigned_at_.find({work.topic, work.partition});
  work.maybe_redelivered =
      assigned != assigned_at_.end() && work.job.enqueued_unix_ms() <= assigned->second;
  queue_.push_back(std::move(work));
  work_cv_.notify_one();
}

void WorkerService::ApplyBackpressure() {
  size_t queued;
  {
    std::lock_guard<std::mutex> lock(mu_);
    queued = queue_.size();
  }
  const size_t high = static_cast<size_t>(options_.max_queued);
  if (!consumer_->paused() && queued >= high) {
    (void)consumer_->Pause();
  } else if (consumer_->paused() && queued <= high / 2) {
    (void)consumer_->Resume();
  }
}

void WorkerService::ExecuteLoop() {
  while (true) {
    Work work;
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_cv_.wait(lock, [this] { return !queue_.empty() || draining_; });
      if (queue_.empty()) return;
      work = std::move(queue_.front());
      queue_.pop_front();
    }
    Process(std::move(work));
  }
}

void WorkerService::Process(Work work) {
  const magic::v1::InvocationJob& job = work.job;
  if (clock_.NowUnixMillis() >= job.deadline_unix_ms()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.expired;
    }
    return Publish(work,
                   FailedResult(work, MakeError(ErrorCode::kE3001,
                                                "the deadline passed before the job could run; "
                                                "it was not run late")));
  }
  if (IsCancelled(job.request_id())) {
    magic::v1::InvocationResult result = FailedResult(
        work, MakeError(ErrorCode::kE3005, "cancelled by the caller", {{"cancelled", true}}));
    result.set_state(magic::v1::CANCELLED);
    return Publish(work, std::move(result));
  }
  if (work.maybe_redelivered && lookup_ != nullptr) {
    absl::StatusOr<std::set<std::string>> done = lookup_->FindFinished({job.request_id()});
    if (done.ok() && done->contains(job.request_id())) {
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.skipped_finished;
      offsets_.Finished(work.topic, work.partition, work.offset);
      return;
    }
  }
  const int64_t started = clock_.NowUnixMillis();
  if (job.reply_topic().empty()) AnnounceStart(job, started);
  magic::v1::InvocationResult result = executor_.Execute(job);
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.executed;
  }
  result.set_started_unix_ms(started);
  result.mutable_timings()->set_queue_us((started - job.enqueued_unix_ms()) * 1000);
  Publish(work, std::move(result));
}

magic::v1::InvocationResult WorkerService::FailedResult(const Work& work,
                                                        const absl::Status& status) const {
  magic::v1::InvocationResult result;
  result.set_request_id(work.job.request_id());
  SetResultError(result, status);
  return result;
}

void WorkerService::AnnounceStart(const magic::v1::InvocationJob& job, int64_t started_ms) {
  // Best effort and never waited for: a lost event only means the watchdog
  // judges the run by its deadline instead of its lease.
  magic::v1::InvocationResult event;
  event.set_request_id(job.request_id());
  event.set_controller(job.controller());
  event.set_version(job.version());
  event.set_state(magic::v1::RUNNING);
  event.set_worker_id(options_.worker_id);
  event.set_attempt(job.attempt());
  event.set_started_unix_ms(started_ms);
  // A job without a timeout (an older producer) is judged by its deadline.
  const int64_t end = job.timeout_ms() > 0 ? started_ms + job.timeout_ms() : job.deadline_unix_ms();
  event.set_lease_until_unix_ms(end + options_.lease_grace_ms);
  (void)producer_.Produce({.topic = options_.results_topic,
                           .key = job.request_id(),
                           .value = event.SerializeAsString()},
                          [](const kafka::DeliveryReport&) {});
}

void WorkerService::Publish(const Work& work, magic::v1::InvocationResult result) {
  const magic::v1::InvocationJob& job = work.job;
  result.set_request_id(job.request_id());
  result.set_controller(job.controller());
  result.set_version(job.version());
  result.set_worker_id(options_.worker_id);
  result.set_attempt(job.attempt());
  *result.mutable_retry() = job.retry();
  result.set_source(job.source());
  const int64_t now = clock_.NowUnixMillis();
  result.set_finished_unix_ms(now);
  result.mutable_timings()->set_total_us((now - job.enqueued_unix_ms()) * 1000);
  const std::string value = result.SerializeAsString();

  std::vector<std::string> destinations = {options_.results_topic};
  if (!job.reply_topic().empty()) destinations.push_back(job.reply_topic());
  auto remaining = std::make_shared<std::atomic<int>>(static_cast<int>(destinations.size()));
  auto failed = std::make_shared<std::atomic<bool>>(false);
  for (const std::string& topic : destinations) {
    auto on_delivery = [this, work, remaining, failed](const kafka::DeliveryReport& report) {
      if (!report.status.ok()) failed->store(true);
      if (remaining->fetch_sub(1) != 1) return;
      if (failed->load()) {
        // Not durable: leave the offset open so the job is redelivered.
        std::lock_guard<std::mutex> lock(mu_);
        ++stats_.publish_failures;
        return;
      }
      MarkFinished(work);
    };
    absl::Status queued =
        producer_.Produce({.topic = topic, .key = job.request_id(), .value = value}, on_delivery);
    if (!queued.ok()) {
      failed->store(true);
      on_delivery({.status = queued});
    }
  }
}

void WorkerService::MarkFinished(const Work& work) {
  std::lock_guard<std::mutex> lock(mu_);
  offsets_.Finished(work.topic, work.partition, work.offset);
}

void WorkerService::MaybeCommit(bool force) {
  const auto now = std::chrono::steady_clock::now();
  std::vector<kafka::PartitionOffset> next;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!force && now - last_commit_ < options_.commit_interval) return;
    last_commit_ = now;
    next = offsets_.TakeCommittable();
    if (!next.empty()) ++stats_.commits;
  }
  if (next.empty()) return;
  absl::Status s = force ? consumer_->CommitOffsets(next) : consumer_->CommitOffsetsAsync(next);
  if (!s.ok()) MAGIC_LOG(warn, "offset commit failed", {{"error", std::string(s.message())}});
}

void WorkerService::CancelLoop() {
  while (!stopping_) {
    absl::StatusOr<std::optional<kafka::KafkaMessage>> polled =
        cancel_consumer_->Poll(std::chrono::milliseconds(100));
    if (!polled.ok()) return;
    if (!polled->has_value()) continue;
    const std::string id((*polled)->value());
    {
      std::lock_guard<std::mutex> lock(mu_);
      cancelled_.Add(id, clock_.NowUnixMillis());
      ++stats_.cancelled;
    }
    executor_.Cancel(id);
  }
}

bool WorkerService::IsCancelled(const std::string& request_id) {
  std::lock_guard<std::mutex> lock(mu_);
  return cancelled_.Contains(request_id);
}

}  // namespace magic::worker
