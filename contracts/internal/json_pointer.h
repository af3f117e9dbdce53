// RFC 6901 JSON pointer helpers shared by the loader and the schema code.
#pragma once

#include <string>
#include <string_view>

namespace magic::contracts::internal {

// Escapes one reference token ("~" -> "~0", "/" -> "~1").
std::string EscapePointerToken(std::string_view token);

}  // namespace magic::contracts::internal
