#include "broker/internal/audit_chain.h"

#include "broker/audit.h"

#include <absl/time/time.h>
#include <fmt/format.h>

#include <cmath>
#include <sodium.h>
#include <utility>

namespace magic::broker {
namespace internal {
namespace {

using nlohmann::json;

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

bool IsCont(unsigned char c) { return (c & 0xC0) == 0x80; }

// Length of the well-formed UTF-8 sequence at `p` (Unicode table 3-7), 0 if
// none. NUL counts as ill-formed: PostgreSQL text cannot hold it.
size_t SequenceLength(const unsigned char* p, size_t n) {
  const unsigned char c = p[0];
  if (c >= 0x01 && c <= 0x7F) return 1;
  if (c >= 0xC2 && c <= 0xDF) return n >= 2 && IsCont(p[1]) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (n < 3 || !IsCont(p[1]) || !IsCont(p[2])) return 0;
    if (c == 0xE0 && p[1] < 0xA0) return 0;  // overlong
    if (c == 0xED && p[1] > 0x9F) return 0;  // UTF-16 surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (n < 4 || !IsCont(p[1]) || !IsCont(p[2]) || !IsCont(p[3])) return 0;
    if (c == 0xF0 && p[1] < 0x90) return 0;  // overlong
    if (c == 0xF4 && p[1] > 0x8F) return 0;  // beyond U+10FFFF
    return 4;
  }
  return 0;
}

json Summary(std::string_view fields_json) {
  Hash digest{};
  crypto_hash_sha256(digest.data(), reinterpret_cast<const unsigned char*>(fields_json.data()),
                     fields_json.size());
  return json{{"fields_truncated", true},
              {"fields_bytes", fields_json.size()},
              {"fields_sha256", HexEncode(digest)}};
}

// See NormalizeFieldsJson(). Depth is bounded by the parser check.
void NormalizeValue(json& value) {
  switch (value.type()) {
    case json::value_t::string:
      SanitizeText(value.get_ref<std::string&>());
      return;
    case json::value_t::number_float: {
      const double d = value.get<double>();
      if (!std::isfinite(d)) {
        value = nullptr;
      } else if (d == std::trunc(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0) {
        value = static_cast<int64_t>(d);  // also turns -0.0 into 0
      } else if (d == std::trunc(d) && d >= 0 && d < 18446744073709551616.0) {
        value = static_cast<uint64_t>(d);
      }
      return;
    }
    case json::value_t::array:
      for (json& item : value) NormalizeValue(item);
      return;
    case json::value_t::object: {
      json out = json::object();
      for (auto& [key, item] : value.items()) {
        std::string name = key;
        SanitizeText(name);
        NormalizeValue(item);
        out[std::move(name)] = std::move(item);
      }
      value = std::move(out);
      return;
    }
    default:
      return;
  }
}

// fields_json as a normalized object (see NormalizeFieldsJson()).
json NormalizedFields(std::string_view fields_json) {
  if (fields_json.empty()) return json::object();
  if (fields_json.size() > kMaxFieldsBytes) return Summary(fields_json);
  bool too_deep = false;
  json::parser_callback_t check_depth = [&too_deep](int depth, json::parse_event_t, json&) {
    if (depth > kMaxFieldsDepth) too_deep = true;
    return true;
  };
  json value = json::parse(fields_json, check_depth, /*allow_exceptions=*/false);
  if (too_deep) return Summary(fields_json);
  if (value.is_discarded()) {
    std::string text(fields_json);
    SanitizeText(text);
    return json{{"invalid_fields_json", std::move(text)}};
  }
  NormalizeValue(value);
  if (!value.is_object()) return json{{"value", std::move(value)}};
  return value;
}

std::string Dump(const json& value) {
  return value.dump(-1, ' ', /*ensure_ascii=*/false, json::error_handler_t::replace);
}

}  // namespace

bool SanitizeText(std::string& text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {  // fast path: nothing to change
    const size_t len = SequenceLength(p + i, n - i);
    if (len == 0) break;
    i += len;
  }
  if (i == n) return false;
  std::string out(text, 0, i);
  out.reserve(n + 8);
  while (i < n) {
    const size_t len = SequenceLength(p + i, n - i);
    if (len == 0) {
      out += kReplacement;
      ++i;
    } else {
      out.append(text, i, len);
      i += len;
    }
  }
  text = std::move(out);
  return true;
}

std::string NormalizeFieldsJson(std::string_view fields_json) {
  return Dump(NormalizedFields(fields_json));
}

void NormalizeRecord(magic::v1::AuditRecord& r) {
  SanitizeText(*r.mutable_id());
  SanitizeText(*r.mutable_request_id());
  SanitizeText(*r.mutable_controller());
  SanitizeText(*r.mutable_version());
  SanitizeText(*r.mutable_capability());
  SanitizeText(*r.mutable_operation());
  SanitizeText(*r.mutable_code());
  SanitizeText(*r.mutable_worker_id());
  r.set_fields_json(NormalizeFieldsJson(r.fields_json()));
}

Hash ChainHash(const Hash& prev, std::string_view canonical) {
  crypto_hash_sha256_state state;
  crypto_hash_sha256_init(&state);
  crypto_hash_sha256_update(&state, prev.data(), prev.size());
  crypto_hash_sha256_update(&state, reinterpret_cast<const unsigned char*>(canonical.data()),
                            canonical.size());
  Hash out{};
  crypto_hash_sha256_final(&state, out.data());
  return out;
}

std::string HexEncode(const Hash& hash) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex(hash.size() * 2, '0');
  for (size_t i = 0; i < hash.size(); ++i) {
    hex[2 * i] = kDigits[hash[i] >> 4];
    hex[2 * i + 1] = kDigits[hash[i] & 15];
  }
  return hex;
}

bool HexDecode(std::string_view hex, Hash& out) {
  if (hex.size() != out.size() * 2) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < out.size(); ++i) {
    const int hi = nibble(hex[2 * i]);
    const int lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<unsigned char>(hi * 16 + lo);
  }
  return true;
}

std::string FormatAuditTime(int64_t unix_us) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::FromUnixMicros(unix_us),
                          absl::UTCTimeZone());
}

}  // namespace internal

nlohmann::json AuditRecordToJson(const magic::v1::AuditRecord& r) {
  return nlohmann::json{{"id", r.id()},
                        {"time", internal::FormatAuditTime(r.time_unix_us())},
                        {"request_id", r.request_id()},
                        {"controller", r.controller()},
                        {"version", r.version()},
                        {"capability", r.capability()},
                        {"operation", r.operation()},
                        {"decision", r.allowed() ? "allowed" : "denied"},
                        {"code", r.code()},
                        {"latency_us", r.latency_us()},
                        {"seq", r.seq()},
                        {"worker_id", r.worker_id()},
                        {"fields", internal::NormalizedFields(r.fields_json())}};
}

std::string AuditCanonicalBytes(const magic::v1::AuditRecord& record, int64_t chain_seq) {
  nlohmann::json j = AuditRecordToJson(record);
  j["chain_seq"] = chain_seq;
  return internal::Dump(j);  // nlohmann objects keep keys sorted
}

}  // namespace magic::broker
