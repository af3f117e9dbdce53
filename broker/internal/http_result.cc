#include "broker/internal/http_result.h"

#include "common/absl_compat.h"
#include "common/json_text.h"

#include <absl/strings/escaping.h>

#include <algorithm>
#include <cstdint>

namespace magic::broker::internal {
namespace {

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// Length of the UTF-8 sequence starting at text[i], or 0 if invalid.
size_t Utf8SequenceLength(std::string_view text, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(text[k]); };
  const uint8_t lead = byte(i);
  if (lead < 0x80) return 1;
  size_t length = 0;
  uint32_t min = 0, cp = 0;
  if ((lead & 0xe0) == 0xc0) {
    length = 2, min = 0x80, cp = lead & 0x1fu;
  } else if ((lead & 0xf0) == 0xe0) {
    length = 3, min = 0x800, cp = lead & 0x0fu;
  } else if ((lead & 0xf8) == 0xf0) {
    length = 4, min = 0x10000, cp = lead & 0x07u;
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  for (size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3fu);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return length;
}

}  // namespace

bool IsValidUtf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    // Fast path over ASCII runs.
    if (static_cast<uint8_t>(text[i]) < 0x80) {
      ++i;
      continue;
    }
    const size_t length = Utf8SequenceLength(text, i);
    if (length == 0) return false;
    i += length;
  }
  return true;
}

bool IsHeaderToken(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

std::string HeaderValueToUtf8(std::string_view value) {
  if (IsValidUtf8(value)) return std::string(value);
  std::string out;
  out.reserve(value.size() * 2);
  for (const char c : value) {
    const auto u = static_cast<uint8_t>(c);
    if (u < 0x80) {
      out.push_back(c);
    } else {
      out.push_back(static_cast<char>(0xc0 | (u >> 6)));
      out.push_back(static_cast<char>(0x80 | (u & 0x3f)));
    }
  }
  return out;
}

bool IsJsonContentType(std::string_view content_type) {
  std::string media(content_type.substr(0, content_type.find(';')));
  std::transform(media.begin(), media.end(), media.begin(), Lower);
  const std::string_view m = [&] {
    std::string_view s = media;
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
  }();
  return m == "application/json" || m == "text/json" ||
         (m.ends_with("+json") && m.find('/') != std::string_view::npos);
}

nlohmann::json BuildResult(HopResponse&& response, const std::string& url) {
  nlohmann::json out = nlohmann::json::object();
  out["status"] = response.status;
  const bool utf8 = IsValidUtf8(response.body);
  if (utf8 && !response.body.empty()) {
    auto type = response.headers.find("content-type");
    if (type != response.headers.end() && IsJsonContentType(type->get<std::string>()) &&
        magic::JsonNestingDepth(response.body, kMaxJsonDepth) <= kMaxJsonDepth) {
      nlohmann::json parsed =
          nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
      if (!parsed.is_discarded()) out["json"] = std::move(parsed);
    }
  }
  if (utf8) {
    out["body"] = std::move(response.body);
  } else {
    out["body_base64"] = absl::Base64Escape(ToAbsl(response.body));
  }
  out["headers"] = std::move(response.headers);
  out["url"] = url;
  return out;
}

}  // namespace magic::broker::internal
