// The public face of the audit log (audit.h): factory, migration, reads and
// chain verification. The writer is internal/audit_log.cc, the SQL
// internal/audit_store.cc, canonical bytes and hashing internal/audit_chain.cc.
#include "broker/audit.h"

#include "broker/internal/audit_chain.h"
#include "broker/internal/audit_log.h"
#include "broker/internal/audit_store.h"
#include "common/errors.h"

#include <fmt/format.h>

#include <utility>

namespace magic::broker {
namespace {

constexpr int64_t kMaxQueryLimit = 100'000;
constexpr int64_t kVerifyPage = 1000;

absl::Status CheckOptions(const AuditLogOptions& o) {
  if (o.max_batch < 1 || o.max_batch > 10'000) {
    return absl::InvalidArgumentError(
        fmt::format("audit max_batch {} not in 1..10000", o.max_batch));
  }
  if (o.max_backlog < 1) return absl::InvalidArgumentError("audit max_backlog must be positive");
  if (o.max_delay < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("audit max_delay must not be negative");
  }
  return internal::CheckSchemaName(o.schema);
}

// Checks one stored row against the chain so far; false (and `report`
// filled) at the first problem.
bool CheckRow(const internal::StoredRow& row, int64_t expected_seq, internal::Hash& prev,
              ChainReport& report) {
  auto bad = [&report](int64_t seq, std::string problem) {
    report.intact = false;
    report.first_bad_seq = seq;
    report.problem = std::move(problem);
    return false;
  };
  if (row.chain_seq != expected_seq) {
    return bad(expected_seq, fmt::format("row {} is missing (the next row is {}): deleted",
                                         expected_seq, row.chain_seq));
  }
  internal::Hash stored_prev{};
  internal::Hash stored{};
  if (!internal::HexDecode(row.prev_hash_hex, stored_prev) ||
      !internal::HexDecode(row.hash_hex, stored)) {
    return bad(row.chain_seq, "malformed hash column");
  }
  if (stored_prev != prev) {
    return bad(row.chain_seq, "prev_hash does not match the previous row's hash");
  }
  const internal::Hash computed =
      internal::ChainHash(prev, AuditCanonicalBytes(row.record, row.chain_seq));
  if (computed != stored) return bad(row.chain_seq, "hash does not match the row: edited");
  prev = stored;
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<AuditSink>> MakeAuditLog(pg::PgPool& pool,
                                                        kafka::KafkaProducer* producer,
                                                        AuditLogOptions options) {
  if (absl::Status s = CheckOptions(options); !s.ok()) return s;
  if (absl::Status s = internal::Migrate(pool, options.schema); !s.ok()) return s;
  return std::unique_ptr<AuditSink>(
      std::make_unique<internal::AuditLog>(pool, producer, std::move(options)));
}

absl::Status MigrateAuditLog(pg::PgPool& pool, std::string_view schema) {
  return internal::Migrate(pool, schema);
}

absl::StatusOr<std::vector<magic::v1::AuditRecord>> ReadAuditRecords(pg::PgPool& pool,
                                                                     const AuditQuery& query) {
  if (query.limit < 1 || query.limit > kMaxQueryLimit) {
    return MakeError(ErrorCode::kE1005, "audit query limit must be in 1..100000",
                     {{"limit", query.limit}});
  }
  if (absl::Status s = internal::CheckSchemaName(query.schema); !s.ok()) return s;
  absl::StatusOr<bool> exists = internal::TableExists(pool, query.schema);
  if (!exists.ok()) return exists.status();
  std::vector<magic::v1::AuditRecord> records;
  if (!*exists) return records;
  absl::StatusOr<std::vector<internal::StoredRow>> rows = internal::QueryRows(pool, query);
  if (!rows.ok()) return rows.status();
  records.reserve(rows->size());
  for (internal::StoredRow& row : *rows) records.push_back(std::move(row.record));
  return records;
}

absl::StatusOr<ChainReport> VerifyAuditChain(pg::PgPool& pool, std::string_view schema) {
  if (absl::Status s = internal::CheckSchemaName(schema); !s.ok()) return s;
  ChainReport report;
  absl::StatusOr<bool> exists = internal::TableExists(pool, schema);
  if (!exists.ok()) return exists.status();
  if (!*exists) return report;
  internal::Hash prev{};  // the first row's prev_hash: 32 zero bytes
  int64_t last_seq = 0;
  while (true) {
    absl::StatusOr<std::vector<internal::StoredRow>> page =
        internal::ReadChainPage(pool, schema, last_seq, kVerifyPage);
    if (!page.ok()) return page.status();
    for (const internal::StoredRow& row : *page) {
      ++report.rows;
      if (!CheckRow(row, last_seq + 1, prev, report)) return report;
      last_seq = row.chain_seq;
    }
    if (static_cast<int64_t>(page->size()) < kVerifyPage) return report;
  }
}

AuditLogStats GetAuditLogStats(const AuditSink& sink) {
  const auto* log = dynamic_cast<const internal::AuditLog*>(&sink);
  return log != nullptr ? log->stats() : AuditLogStats{};
}

}  // namespace magic::broker
