// Debian's abseil (20220623) is built with its own absl::string_view, which
// is not std::string_view. Our APIs take std::string_view; these two
// conversions are the one place the types meet.
#pragma once

#include <absl/strings/string_view.h>

#include <string_view>

namespace magic {

inline absl::string_view ToAbsl(std::string_view s) { return {s.data(), s.size()}; }
inline std::string_view FromAbsl(absl::string_view s) { return {s.data(), s.size()}; }

}  // namespace magic
