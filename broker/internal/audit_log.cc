#include "broker/internal/audit_log.h"

#include "broker/internal/audit_chain.h"
#include "common/errors.h"
#include "common/ids.h"
#include "common/logging.h"

#include <absl/time/clock.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <string>
#include <unordered_set>
#include <utility>

namespace magic::broker::internal {
namespace {

// 9999-12-31T23:59:59.999999Z, the last instant timestamptz prints as RFC 3339.
constexpr int64_t kMaxTimeUs = 253'402'300'799'999'999;
constexpr absl::Duration kFirstBackoff = absl::Milliseconds(50);
constexpr absl::Duration kMaxBackoff = absl::Seconds(5);

// absl::Duration -> a wait that cannot overflow the steady clock.
std::chrono::nanoseconds ChronoWait(absl::Duration d) {
  d = std::clamp(d, absl::ZeroDuration(), absl::Hours(24 * 365));
  return absl::ToChronoNanoseconds(d);
}

}  // namespace

// Everything the writer, Record(), Flush() and the Kafka callbacks share.
// Records are numbered 1, 2, 3... in the order Record() accepted them.
struct AuditLog::State {
  std::mutex mu;
  std::condition_variable wake;  // the writer: records, Flush(), shutdown
  std::condition_variable done;  // Flush() and shutdown: progress
  std::deque<magic::v1::AuditRecord> queue;
  uint64_t enqueued = 0;  // records accepted
  uint64_t written = 0;   // records committed to PostgreSQL (always a prefix)
  // Batches in PostgreSQL whose Kafka deliveries are outstanding: number
  // of the batch's first record -> deliveries left.
  std::map<uint64_t, int64_t> producing;
  int flush_waiters = 0;
  bool stopping = false;  // shutting down: drain, take no more records
  bool abandon = false;   // shutdown timed out: stop now
  AuditLogStats stats;

  // Records 1..Done() are in PostgreSQL and acknowledged (or refused) by Kafka.
  uint64_t Done() const { return producing.empty() ? written : producing.begin()->first - 1; }

  void Delivered(uint64_t batch, bool ok) {
    std::lock_guard<std::mutex> lock(mu);
    ++(ok ? stats.kafka_delivered : stats.kafka_failures);
    auto it = producing.find(batch);
    if (it != producing.end() && --it->second == 0) producing.erase(it);
    done.notify_all();
  }
};

AuditLog::AuditLog(pg::PgPool& pool, kafka::KafkaProducer* producer, AuditLogOptions options)
    : pool_(pool),
      producer_(options.topic.empty() ? nullptr : producer),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? *options_.clock : RealClockInstance()),
      state_(std::make_shared<State>()),
      writer_([this] { Run(); }) {}

AuditLog::~AuditLog() {
  State& s = *state_;
  std::unique_lock<std::mutex> lock(s.mu);
  s.stopping = true;
  s.wake.notify_all();
  const uint64_t target = s.enqueued;
  s.done.wait_for(lock, ChronoWait(options_.shutdown_timeout),
                  [&s, target] { return s.Done() >= target; });
  s.abandon = true;
  s.wake.notify_all();
  lock.unlock();
  writer_.join();
  lock.lock();
  if (s.enqueued > s.written) {
    MAGIC_LOG(err, "AUDIT RECORDS LOST: not written to PostgreSQL before shutdown",
              {{"lost", s.enqueued - s.written}, {"schema", options_.schema}});
  }
  if (s.written > s.Done()) {
    MAGIC_LOG(warn, "audit records in PostgreSQL but not yet acknowledged by Kafka at shutdown",
              {{"records", s.written - s.Done()}, {"topic", options_.topic}});
  }
}

absl::Status AuditLog::Record(magic::v1::AuditRecord record) {
  if (record.time_unix_us() == 0) record.set_time_unix_us(absl::ToUnixMicros(clock_.Now()));
  if (record.time_unix_us() < 0 || record.time_unix_us() > kMaxTimeUs) {
    return MakeError(ErrorCode::kE3005, "audit record time out of range",
                     {{"time_unix_us", record.time_unix_us()}});
  }
  State& s = *state_;
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.stopping) return MakeError(ErrorCode::kE3005, "audit log is shutting down");
  const uint64_t backlog = s.enqueued - s.written;
  if (backlog >= static_cast<uint64_t>(options_.max_backlog)) {
    return MakeError(ErrorCode::kE3005, "audit backlog full: PostgreSQL is not keeping up",
                     {{"backlog", backlog}, {"max_backlog", options_.max_backlog}});
  }
  s.queue.push_back(std::move(record));
  ++s.enqueued;
  // Wake the writer only when it has something new to decide on.
  if (s.queue.size() == 1 || s.queue.size() == static_cast<size_t>(options_.max_batch)) {
    s.wake.notify_one();
  }
  return absl::OkStatus();
}

absl::Status AuditLog::Flush(absl::Duration timeout) {
  State& s = *state_;
  std::unique_lock<std::mutex> lock(s.mu);
  const uint64_t target = s.enqueued;
  ++s.flush_waiters;
  s.wake.notify_one();
  const bool done =
      s.done.wait_for(lock, ChronoWait(timeout), [&s, target] { return s.Done() >= target; });
  --s.flush_waiters;
  if (done) return absl::OkStatus();
  return MakeError(ErrorCode::kE3001, "audit flush timed out",
                   {{"not_in_postgres", target > s.written ? target - s.written : 0},
                    {"not_acknowledged", target - s.Done()}});
}

AuditLogStats AuditLog::stats() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->stats;
}

void AuditLog::Run() {
  State& s = *state_;
  const size_t max_batch = static_cast<size_t>(options_.max_batch);
  std::unique_lock<std::mutex> lock(s.mu);
  while (true) {
    s.wake.wait(lock, [&s] { return !s.queue.empty() || s.stopping; });
    if (s.queue.empty() || s.abandon) return;
    // A batch is due when full, when someone flushes, at shutdown, or
    // max_delay after its first record was seen.
    s.wake.wait_for(lock, ChronoWait(options_.max_delay), [&s, max_batch] {
      return s.queue.size() >= max_batch || s.flush_waiters > 0 || s.stopping;
    });
    std::vector<PreparedRecord> batch = TakeBatch();
    const uint64_t first = s.written + 1;
    lock.unlock();
    Prepare(batch);
    const bool written = Write(batch);
    lock.lock();
    if (!written) return;  // abandoned: the destructor counts the loss
    s.written += batch.size();
    s.stats.records_written += static_cast<int64_t>(batch.size());
    ++s.stats.batches_written;
    if (producer_ != nullptr) s.producing.emplace(first, static_cast<int64_t>(batch.size()));
    s.done.notify_all();
    if (producer_ == nullptr) continue;
    lock.unlock();
    Produce(batch, first);
    lock.lock();
  }
}

void AuditLog::Prepare(std::vector<PreparedRecord>& batch) {
  std::unordered_set<std::string> ids;
  ids.reserve(batch.size());
  for (PreparedRecord& p : batch) {
    // Ids are made here, off the caller's path (a getrandom() each). A
    // caller-chosen id seen twice in one batch would fail every INSERT.
    NormalizeRecord(p.record);
    if (p.record.id().empty() || ids.contains(p.record.id())) p.record.set_id(NewId("aud_"));
    ids.insert(p.record.id());
    p.json = AuditRecordToJson(p.record);
  }
}

std::vector<PreparedRecord> AuditLog::TakeBatch() {
  State& s = *state_;
  const size_t n = std::min(s.queue.size(), static_cast<size_t>(options_.max_batch));
  std::vector<PreparedRecord> batch(n);
  for (size_t i = 0; i < n; ++i) {
    batch[i].record = std::move(s.queue.front());
    s.queue.pop_front();
  }
  return batch;
}

bool AuditLog::Write(std::vector<PreparedRecord>& batch) {
  State& s = *state_;
  absl::Duration backoff = kFirstBackoff;
  for (int attempt = 1;; ++attempt) {
    // After a failure the commit may still have happened (lost answer):
    // the retry checks for the batch's ids first.
    const absl::Status status = Attempt(batch, /*maybe_written=*/attempt > 1);
    if (status.ok()) return true;
    MAGIC_LOG(warn, "audit batch not written to PostgreSQL; kept and retried",
              {{"error", status.ToString()},
               {"records", batch.size()},
               {"attempt", attempt},
               {"retry_in_ms", absl::ToInt64Milliseconds(backoff)}});
    std::unique_lock<std::mutex> lock(s.mu);
    ++s.stats.write_failures;
    if (s.wake.wait_for(lock, ChronoWait(backoff), [&s] { return s.abandon; })) return false;
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
}

absl::Status AuditLog::Attempt(std::vector<PreparedRecord>& batch, bool maybe_written) {
  const auto& fault = options_.fault_for_testing;
  if (fault) {
    if (absl::Status s = fault("before"); !s.ok()) return s;
  }
  if (absl::Status s = AppendBatch(pool_, options_.schema, batch, maybe_written); !s.ok()) {
    return s;
  }
  return fault ? fault("after") : absl::OkStatus();
}

void AuditLog::Produce(const std::vector<PreparedRecord>& batch, uint64_t first) {
  for (const PreparedRecord& p : batch) {
    const std::string value =
        p.json.dump(-1, ' ', /*ensure_ascii=*/false, nlohmann::json::error_handler_t::replace);
    const absl::Status status = producer_->Produce(
        {.topic = options_.topic, .key = p.record.request_id(), .value = value},
        [state = state_, first, id = p.record.id(),
         topic = options_.topic](const kafka::DeliveryReport& report) {
          if (!report.status.ok()) {
            MAGIC_LOG(err, "audit record not delivered to Kafka (it is in PostgreSQL)",
                      {{"audit_id", id}, {"topic", topic}, {"error", report.status.ToString()}});
          }
          state->Delivered(first, report.status.ok());
        });
    if (!status.ok()) {
      MAGIC_LOG(
          err, "audit record not produced to Kafka (it is in PostgreSQL)",
          {{"audit_id", p.record.id()}, {"topic", options_.topic}, {"error", status.ToString()}});
      state_->Delivered(first, false);
    }
  }
}

}  // namespace magic::broker::internal
