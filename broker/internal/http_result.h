// The JSON result of an http:egress call, and the text checks it needs:
//
//   {"status": 200, "headers": {"content-type": "..."}, "body": "...",
//    "json": {...}, "url": "https://api.example.com/x"}
//
// "body" is the text when it is valid UTF-8, otherwise "body_base64";
// "json" is present when the content type is JSON (application/json,
// text/json, */*+json) and the body parses within kMaxJsonDepth levels (a
// deeper document would cost recursion in every later serializer). Pure
// functions; thread-safe.
#pragma once

#include "broker/internal/http_transfer.h"

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace magic::broker::internal {

inline constexpr int kMaxJsonDepth = 128;

// Strict UTF-8 (no overlong forms, surrogates or code points > U+10FFFF):
// exactly what nlohmann::json will print without throwing.
bool IsValidUtf8(std::string_view text);

// RFC 9110 token (header names).
bool IsHeaderToken(std::string_view text);

// A response header value as UTF-8: unchanged when valid, otherwise read as
// ISO-8859-1 (what obs-text historically meant).
std::string HeaderValueToUtf8(std::string_view value);

// application/json, text/json or a +json suffix, any parameters.
bool IsJsonContentType(std::string_view content_type);

nlohmann::json BuildResult(HopResponse&& response, const std::string& url);

}  // namespace magic::broker::internal
