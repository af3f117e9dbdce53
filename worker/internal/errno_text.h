// ErrnoText: the message for an errno value, thread-safe (std::strerror is
// not guaranteed to be).
#pragma once

#include <string>
#include <system_error>

namespace magic::worker::internal {

inline std::string ErrnoText(int error) { return std::generic_category().message(error); }

}  // namespace magic::worker::internal
