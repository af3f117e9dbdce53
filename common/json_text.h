// JSON text that comes from outside (sandbox frames, HTTP bodies, database
// values) is measured before it is parsed: nlohmann's parser recurses, so
// absurd nesting must be refused first.
#pragma once

#include <nlohmann/json.hpp>

#include <limits>
#include <optional>
#include <string_view>

namespace magic {

// How deeply arrays and objects nest in `text` (strings skipped), without
// recursion. Stops counting once the depth passes `limit`.
int JsonNestingDepth(std::string_view text, int limit = std::numeric_limits<int>::max());

// Parses untrusted JSON text: nullopt if it is not JSON or nests deeper
// than `max_depth`.
std::optional<nlohmann::json> ParseUntrustedJson(std::string_view text, int max_depth);

}  // namespace magic
