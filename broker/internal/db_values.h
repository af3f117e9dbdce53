// PostgreSQL result values -> JSON for the db capability, and the audit
// query hash. The mapping (also in the broker README):
//
//   int2/int4/int8/oid          number
//   float4/float8               number; NaN and ±Infinity as strings
//   numeric                     string (exact: "12.50")
//   bool                        true / false
//   json/jsonb                  the embedded JSON value (a document nested
//                               deeper than kMaxResultJsonDepth: its text)
//   timestamp                   "2024-05-01T12:00:00.5" (ISO-8601, no zone)
//   timestamptz                 "2024-05-01T12:00:00.5+00:00" (the session runs in UTC)
//   date                        "2024-05-01"
//   bytea                       base64 string
//   arrays of the types above   JSON arrays (nested for several dimensions),
//                               elements mapped as above
//   NULL                        null
//   anything else (text, varchar, uuid, interval, time, enums, ...)
//                               the PostgreSQL text form as a string
//
// Expects the session settings DbBackend sets: DateStyle ISO, TimeZone UTC,
// IntervalStyle iso_8601, bytea_output hex.
#pragma once

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include <cstdint>
#include <string>
#include <string_view>

namespace magic::broker::internal {

inline constexpr int kMaxResultJsonDepth = 128;

// One value given its type OID and its text form (never NULL here).
nlohmann::json TextToJson(uint32_t type_oid, std::string_view text);

// Rows as JSON objects keyed by column name (a later duplicate name wins).
nlohmann::json RowToJson(const pqxx::row& row);
nlohmann::json RowsToJson(const pqxx::result& result);

// Hex SHA-256 of `sql`, first 16 hex characters (64 bits: enough to group
// and compare statements in the audit log, not a security property).
std::string QueryHash(std::string_view sql);

std::string Base64(std::string_view bytes);

}  // namespace magic::broker::internal
