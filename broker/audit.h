// Audit records of capability calls (spec "Capability Audit"): every call,
// allowed or denied, is recorded once in PostgreSQL `magic.audit_log`
// (append-only, hash-chained so that an edited or deleted row shows) and
// produced to the `magic.audit` topic (key: request id, value: the record
// as JSON) for SIEM systems.
//
//   MAGIC_ASSIGN_OR_RETURN(auto audit, MakeAuditLog(pool, producer.get(), {}));
//   MAGIC_RETURN_IF_ERROR(audit->Record(std::move(record)));  // never blocks on I/O
//   ...
//   MAGIC_ASSIGN_OR_RETURN(std::vector<magic::v1::AuditRecord> rows,
//                          ReadAuditRecords(pool, {.request_id = "req_..."}));
//   MAGIC_ASSIGN_OR_RETURN(ChainReport report, VerifyAuditChain(pool));
//
// The chain. Rows are numbered chain_seq = 1, 2, 3... without gaps, and
//   hash(n) = SHA-256(hash(n-1) || canonical(n)),   hash(0) = 32 zero bytes,
// where canonical(n) is AuditCanonicalBytes(record, n): the JSON object of
// AuditRecordToJson() plus "chain_seq": n, keys sorted (byte order), no
// whitespace, UTF-8 unescaped. Writers in every broker replica extend the
// one chain under a transaction-scoped advisory lock. UPDATE, DELETE and
// TRUNCATE are refused by a trigger; a superuser who bypasses it breaks the
// chain, which VerifyAuditChain() reports. (Dropping rows from the END of
// the chain is not detectable from the table alone.)
//
// Text is stored as sent except that invalid UTF-8 and NUL characters
// (which PostgreSQL refuses) become U+FFFD, and `fields_json` is normalized
// (see AuditLog below) so that it survives the jsonb round trip bit for bit.
#pragma once

#include "common/clock.h"
#include "common/kafka.h"
#include "common/postgres.h"
#include "magic/v1/broker.pb.h"

#include <absl/status/status.h>
#include <absl/status/statusor.h>
#include <absl/time/time.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace magic::broker {

class AuditSink {
 public:
  virtual ~AuditSink() = default;
  // Queues one record. Never blocks on I/O. E3005 when the backlog is full
  // (the broker then refuses the call: nothing runs unaudited). Fills `id`
  // ("aud_...") and `time_unix_us` (now) when empty.
  virtual absl::Status Record(magic::v1::AuditRecord record) = 0;
  // Waits until everything queued so far is durable in PostgreSQL and
  // acknowledged by Kafka, or the timeout passes (E3001).
  virtual absl::Status Flush(absl::Duration timeout) = 0;
};

// The default PostgreSQL schema of the table (tests use scratch schemas).
inline constexpr std::string_view kAuditSchema = "magic";

struct AuditLogOptions {
  std::string topic = "magic.audit";                  // "" = PostgreSQL only
  int max_batch = 500;                                // rows per INSERT
  absl::Duration max_delay = absl::Milliseconds(20);  // a record waits at most this long
  int64_t max_backlog = 100'000;  // records not yet in PostgreSQL before Record() refuses
  std::string schema = std::string(kAuditSchema);  // [a-z_][a-z0-9_]*, at most 63
  // Destruction waits this long for the backlog, then logs what is lost.
  absl::Duration shutdown_timeout = absl::Seconds(5);
  Clock* clock = nullptr;  // time of records without one; null = the real clock
  // Test hook, called at stage "before" (no SQL sent yet) and "after" (the
  // batch is committed) of every write attempt; a non-OK result fails the
  // attempt there, as a lost connection or a lost commit answer would.
  std::function<absl::Status(std::string_view stage)> fault_for_testing;
};

// Creates the table on first use (idempotent migration) and starts one
// writer thread that batches records; a batch takes a transaction-scoped
// advisory lock so that several broker replicas extend one chain. While
// PostgreSQL is down the writer retries with backoff and keeps the backlog.
// `producer` may be null (no topic); it must outlive the log. `pool` too.
absl::StatusOr<std::unique_ptr<AuditSink>> MakeAuditLog(pg::PgPool& pool,
                                                        kafka::KafkaProducer* producer,
                                                        AuditLogOptions options);

// Creates schema, table, indexes and the append-only trigger if missing.
// Safe to run from several processes at once.
absl::Status MigrateAuditLog(pg::PgPool& pool, std::string_view schema = kAuditSchema);

struct AuditQuery {
  std::string request_id;  // "" = any
  std::string controller;  // "" = any
  int64_t limit = 1000;    // 1..100000: the most recent `limit` matching records
  std::string schema = std::string(kAuditSchema);
};
// The most recent `limit` matching records, oldest first (chain order).
// Empty when the table does not exist yet. E1005 for a bad limit or schema.
absl::StatusOr<std::vector<magic::v1::AuditRecord>> ReadAuditRecords(pg::PgPool& pool,
                                                                     const AuditQuery& query);

struct ChainReport {
  int64_t rows = 0;  // rows checked (up to and including the first bad one)
  bool intact = true;
  int64_t first_bad_seq = 0;  // chain position of the first bad (or missing) row
  std::string problem;        // why, for people; "" when intact
};
// Recomputes the hash chain over the whole table, a page at a time. A
// missing table is an empty, intact chain.
absl::StatusOr<ChainReport> VerifyAuditChain(pg::PgPool& pool,
                                             std::string_view schema = kAuditSchema);

// The record as the JSON object `magic audit --json` prints and the topic
// carries: {"id", "time" (RFC 3339 UTC, microseconds), "request_id",
// "controller", "version", "capability", "operation", "decision"
// ("allowed"|"denied"), "code", "latency_us", "seq", "worker_id", "fields"}.
// `fields` is fields_json as an object (a non-object value is wrapped as
// {"value": v}, text that is not JSON as {"invalid_fields_json": text}).
nlohmann::json AuditRecordToJson(const magic::v1::AuditRecord& record);

// The canonical bytes hashed for the row at `chain_seq` (see above).
std::string AuditCanonicalBytes(const magic::v1::AuditRecord& record, int64_t chain_seq);

// Counters of one AuditLog (MakeAuditLog), for tests and metrics.
struct AuditLogStats {
  int64_t records_written = 0;  // rows committed to PostgreSQL
  int64_t batches_written = 0;  // INSERT statements committed
  int64_t write_failures = 0;   // failed write attempts (each retried)
  int64_t kafka_delivered = 0;
  int64_t kafka_failures = 0;  // refused by Produce() or failed delivery
};
// Zeros for a sink that is not an AuditLog.
AuditLogStats GetAuditLogStats(const AuditSink& sink);

}  // namespace magic::broker
