// Identifiers: request ids ("req_" + 26 base32 chars of randomness, sortable
// by nothing, guessable by no one) and a check for ids received from
// callers (X-Request-ID), which are hostile until checked.
#pragma once

#include <string>
#include <string_view>

namespace magic {

// A new random request id, e.g. "req_5kq3x0c2m1v8h4n7t6b9d2f0a1".
std::string NewRequestId();
// A new random id with another prefix ("gw_", "wk_", "batch_").
std::string NewId(std::string_view prefix);
// True if a caller-supplied request id is acceptable: 1..128 characters of
// [A-Za-z0-9._:-].
bool IsValidRequestId(std::string_view id);

}  // namespace magic
