#include "common/ids.h"

#include <array>
#include <sodium.h>

namespace magic {

std::string NewId(std::string_view prefix) {
  static constexpr char kAlphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";  // Crockford base32
  static const bool initialised = sodium_init() >= 0;                      // thread-safe, once
  (void)initialised;
  std::array<unsigned char, 26> bytes{};
  randombytes_buf(bytes.data(), bytes.size());
  std::string id(prefix);
  id.reserve(prefix.size() + bytes.size());
  for (unsigned char b : bytes) id += kAlphabet[b & 31];
  return id;
}

std::string NewRequestId() { return NewId("req_"); }

bool IsValidRequestId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace magic
