// The pure parts of the audit log: making a record storable (text
// PostgreSQL accepts, fields_json that survives the jsonb round trip bit
// for bit), its canonical bytes and the chain hash. No I/O.
#pragma once

#include "magic/v1/broker.pb.h"

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace magic::broker::internal {

using Hash = std::array<unsigned char, 32>;  // SHA-256

// fields_json larger than this, or nested deeper, is replaced by a summary
// ({"fields_truncated": true, "fields_bytes": n, "fields_sha256": hex}):
// an audit row must never be refused or blow a stack.
inline constexpr size_t kMaxFieldsBytes = 64 * 1024;
inline constexpr int kMaxFieldsDepth = 32;

// `text` as valid UTF-8 without NUL: each invalid byte and each NUL becomes
// U+FFFD. Returns true if it changed anything.
bool SanitizeText(std::string& text);

// fields_json as the compact JSON of a normalized object: parsed (not JSON
// -> {"invalid_fields_json": text}, not an object -> {"value": v}), NUL in
// strings and keys -> U+FFFD, -0.0 -> 0, non-finite -> null, integral
// doubles within int64 -> integers (jsonb prints 1e16 as 10000000000000000,
// which would read back as an integer). Idempotent.
std::string NormalizeFieldsJson(std::string_view fields_json);

// Sanitizes every text field and normalizes fields_json, in place.
void NormalizeRecord(magic::v1::AuditRecord& record);

// SHA-256(prev || canonical).
Hash ChainHash(const Hash& prev, std::string_view canonical);

std::string HexEncode(const Hash& hash);
// False unless `hex` is 64 hex digits.
bool HexDecode(std::string_view hex, Hash& out);

// RFC 3339 UTC with microseconds: 2024-05-01T12:00:00.123456Z.
std::string FormatAuditTime(int64_t unix_us);

}  // namespace magic::broker::internal
