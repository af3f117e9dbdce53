// The SQL side of the audit log: migration, appending a batch at the end of
// the chain, reading rows back. Every function is one short transaction or
// statement on a leased connection; thread-safe as PgPool is.
#pragma once

#include "broker/audit.h"
#include "broker/internal/audit_chain.h"
#include "common/postgres.h"
#include "magic/v1/broker.pb.h"

#include <absl/status/status.h>
#include <absl/status/statusor.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace magic::broker::internal {

// E1005 unless `schema` is [a-z_][a-z0-9_]* and at most 63 characters (so
// it needs no quoting and is safe to splice into SQL).
absl::Status CheckSchemaName(std::string_view schema);

absl::Status Migrate(pg::PgPool& pool, std::string_view schema);

// A normalized record (NormalizeRecord) and its AuditRecordToJson().
struct PreparedRecord {
  magic::v1::AuditRecord record;
  nlohmann::json json;
};

// Appends `batch` at the end of the chain in one transaction: advisory
// lock, last (chain_seq, hash), one INSERT. When `maybe_written` (an
// earlier attempt may have committed without us hearing of it) and the
// batch's ids are all present already, returns OK without writing.
absl::Status AppendBatch(pg::PgPool& pool, std::string_view schema,
                         std::vector<PreparedRecord>& batch, bool maybe_written);

struct StoredRow {
  int64_t chain_seq = 0;
  magic::v1::AuditRecord record;
  std::string prev_hash_hex;
  std::string hash_hex;
};

absl::StatusOr<bool> TableExists(pg::PgPool& pool, std::string_view schema);

// Rows with chain_seq > after_seq, in chain order, at most `limit`.
absl::StatusOr<std::vector<StoredRow>> ReadChainPage(pg::PgPool& pool, std::string_view schema,
                                                     int64_t after_seq, int64_t limit);

// The most recent `query.limit` matching rows, in chain order.
absl::StatusOr<std::vector<StoredRow>> QueryRows(pg::PgPool& pool, const AuditQuery& query);

}  // namespace magic::broker::internal
