// PostgreSQL text values -> JSON (the table is in db_values.h).
#include "broker/internal/db_values.h"

#include "common/json_text.h"

#include <array>
#include <charconv>
#include <cmath>
#include <exception>
#include <sodium.h>
#include <utility>
#include <vector>

namespace magic::broker::internal {
namespace {

using nlohmann::json;

// Type OIDs (pg_type.dat; stable across PostgreSQL versions).
enum Oid : uint32_t {
  kBool = 16,
  kBytea = 17,
  kInt8 = 20,
  kInt2 = 21,
  kInt4 = 23,
  kOid = 26,
  kJson = 114,
  kFloat4 = 700,
  kFloat8 = 701,
  kDate = 1082,
  kTimestamp = 1114,
  kTimestampTz = 1184,
  kNumeric = 1700,
  kJsonb = 3802,
};

// Array type OID -> element type OID, for the element types mapped above
// (text-like element types come back as strings anyway).
uint32_t ElementOid(uint32_t array_oid) {
  static constexpr std::array<std::pair<uint32_t, uint32_t>, 19> kArrays{{
      {1000, kBool}, {1001, kBytea},     {1005, kInt2},        {1007, kInt4},    {1016, kInt8},
      {1028, kOid},  {199, kJson},       {3807, kJsonb},       {1021, kFloat4},  {1022, kFloat8},
      {1182, kDate}, {1115, kTimestamp}, {1185, kTimestampTz}, {1231, kNumeric}, {1009, 25},
      {1015, 1043},  {1014, 1042},       {2951, 2950},         {1003, 19},
  }};
  for (const auto& [array, element] : kArrays) {
    if (array == array_oid) return element;
  }
  return 0;
}

json Integer(std::string_view text) {
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::string(text);
  return value;
}

json Float(std::string_view text) {
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  // NaN and ±Infinity have no JSON number.
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value))
    return std::string(text);
  return value;
}

json Json(std::string_view text) {
  // Callers dump results recursively: keep absurd nesting out of the tree.
  if (JsonNestingDepth(text, kMaxResultJsonDepth) > kMaxResultJsonDepth) return std::string(text);
  json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return std::string(text);
  return value;
}

// "2024-05-01 12:00:00+00" -> "2024-05-01T12:00:00+00:00".
std::string IsoTimestamp(std::string_view text, bool with_zone) {
  std::string out(text);
  if (out.size() > 10 && out[10] == ' ') out[10] = 'T';
  if (with_zone && out.size() > 6) {
    const char sign = out[out.size() - 3];
    if ((sign == '+' || sign == '-') && out[out.size() - 6] != '+' && out[out.size() - 6] != '-')
      out += ":00";
  }
  return out;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// bytea_output = hex: "\x0a0b" -> base64.
json Bytea(std::string_view text) {
  if (text.size() < 2 || text[0] != '\\' || text[1] != 'x' || text.size() % 2 != 0)
    return std::string(text);
  std::string bytes;
  bytes.reserve((text.size() - 2) / 2);
  for (size_t i = 2; i < text.size(); i += 2) {
    const int hi = HexDigit(text[i]), lo = HexDigit(text[i + 1]);
    if (hi < 0 || lo < 0) return std::string(text);
    bytes += static_cast<char>(hi * 16 + lo);
  }
  return Base64(bytes);
}

json Array(uint32_t element_oid, std::string_view text) {
  const std::string terminated(text);  // array_parser reads a C string
  try {
    pqxx::array_parser parser(terminated.c_str());
    std::vector<json> stack;
    json out;
    for (;;) {
      auto [what, value] = parser.get_next();
      if (what == pqxx::array_parser::done) break;
      if (what == pqxx::array_parser::row_start) {
        stack.emplace_back(json::array());
        continue;
      }
      if (stack.empty()) return std::string(text);
      if (what == pqxx::array_parser::row_end) {
        out = std::move(stack.back());
        stack.pop_back();
        if (!stack.empty()) stack.back().push_back(std::move(out));
      } else if (what == pqxx::array_parser::null_value) {
        stack.back().push_back(nullptr);
      } else {
        stack.back().push_back(TextToJson(element_oid, value));
      }
    }
    return out.is_array() ? out : json(std::string(text));
  } catch (const std::exception&) {
    return std::string(text);  // "[0:1]={1,2}" and other forms the parser does not take
  }
}

}  // namespace

json TextToJson(uint32_t type_oid, std::string_view text) {
  switch (type_oid) {
    case kInt2:
    case kInt4:
    case kInt8:
    case kOid:
      return Integer(text);
    case kFloat4:
    case kFloat8:
      return Float(text);
    case kBool:
      return text == "t";
    case kJson:
    case kJsonb:
      return Json(text);
    case kTimestamp:
      return IsoTimestamp(text, false);
    case kTimestampTz:
      return IsoTimestamp(text, true);
    case kBytea:
      return Bytea(text);
    default:
      break;
  }
  if (const uint32_t element = ElementOid(type_oid); element != 0) return Array(element, text);
  return std::string(text);
}

json RowToJson(const pqxx::row& row) {
  json out = json::object();
  for (const pqxx::field& field : row) {
    out[field.name()] =
        field.is_null() ? json(nullptr)
                        : TextToJson(field.type(), std::string_view(field.c_str(), field.size()));
  }
  return out;
}

json RowsToJson(const pqxx::result& result) {
  json rows = json::array();
  rows.get_ref<json::array_t&>().reserve(result.size());
  for (const pqxx::row& row : result) rows.push_back(RowToJson(row));
  return rows;
}

std::string QueryHash(std::string_view sql) {
  std::array<unsigned char, crypto_hash_sha256_BYTES> digest{};
  crypto_hash_sha256(digest.data(), reinterpret_cast<const unsigned char*>(sql.data()), sql.size());
  std::array<char, 2 * crypto_hash_sha256_BYTES + 1> hex{};
  sodium_bin2hex(hex.data(), hex.size(), digest.data(), digest.size());
  return std::string(hex.data(), 16);
}

std::string Base64(std::string_view bytes) {
  const size_t size = sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  std::string out(size, '\0');
  sodium_bin2base64(out.data(), size, reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(size - 1);  // the terminating NUL
  return out;
}

}  // namespace magic::broker::internal
