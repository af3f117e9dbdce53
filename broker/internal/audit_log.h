// AuditLog, the AuditSink of MakeAuditLog(). Record() appends to a bounded
// in-memory queue under a mutex and returns; one writer thread drains the
// queue in batches (up to max_batch records, or whatever arrived within
// max_delay, or at once when someone waits in Flush()), appends each batch
// to the PostgreSQL chain (AppendBatch) and then produces its records to
// Kafka. A failed write is retried with backoff, with the batch kept, until
// it succeeds or the log is destroyed.
//
// Thread-safety: Record() and Flush() from any thread. Ownership: borrows
// the pool and the producer (both must outlive the log). Kafka delivery
// callbacks share the State, so they may run after the log is gone.
// Destruction drains for up to options.shutdown_timeout, then logs (at
// error) how many records never reached PostgreSQL.
#pragma once

#include "broker/audit.h"
#include "broker/internal/audit_store.h"
#include "common/clock.h"
#include "common/kafka.h"
#include "common/postgres.h"

#include <absl/status/status.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace magic::broker::internal {

class AuditLog final : public AuditSink {
 public:
  // Starts the writer; the table must exist (Migrate()).
  AuditLog(pg::PgPool& pool, kafka::KafkaProducer* producer, AuditLogOptions options);
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;
  ~AuditLog() override;

  // AuditSink
  absl::Status Record(magic::v1::AuditRecord record) override;
  absl::Status Flush(absl::Duration timeout) override;

  AuditLogStats stats() const;

 private:
  struct State;

  void Run();
  std::vector<PreparedRecord> TakeBatch();           // needs state_->mu held
  void Prepare(std::vector<PreparedRecord>& batch);  // ids, normalization, JSON
  bool Write(std::vector<PreparedRecord>& batch);    // false: abandoned at shutdown
  absl::Status Attempt(std::vector<PreparedRecord>& batch, bool maybe_written);
  void Produce(const std::vector<PreparedRecord>& batch, uint64_t first);

  pg::PgPool& pool_;
  kafka::KafkaProducer* const producer_;  // null when options_.topic is empty
  const AuditLogOptions options_;
  Clock& clock_;
  const std::shared_ptr<State> state_;
  std::thread writer_;
};

}  // namespace magic::broker::internal
