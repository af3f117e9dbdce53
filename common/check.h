// MAGIC_CHECK / MAGIC_DCHECK: invariants of our own code (STYLE.md §7).
// Never use them on anything from the network, Kafka or a contract file.
//
//   MAGIC_CHECK(queue_.empty()) << "drained twice";
//
// A failed check logs file:line, the condition and the streamed message to
// stderr and aborts. MAGIC_DCHECK compiles to nothing under NDEBUG (the
// condition is not evaluated).
#pragma once

#include <sstream>
#include <string_view>

namespace magic::internal {

class CheckFailure {
 public:
  CheckFailure(std::string_view file, int line, std::string_view condition);
  CheckFailure(const CheckFailure&) = delete;
  CheckFailure& operator=(const CheckFailure&) = delete;
  [[noreturn]] ~CheckFailure();

  template <typename T>
  CheckFailure& operator<<(const T& value) {
    stream_ << value;
    return *this;
  }

 private:
  std::ostringstream stream_;
};

// Swallows the stream when a DCHECK is compiled out.
struct NullStream {
  template <typename T>
  NullStream& operator<<(const T& /*value*/) {
    return *this;
  }
};

}  // namespace magic::internal

#define MAGIC_CHECK(cond) \
  if (cond) {             \
  } else                  \
    ::magic::internal::CheckFailure(__FILE__, __LINE__, #cond)

#ifdef NDEBUG
#define MAGIC_DCHECK(cond) \
  if (true) {              \
  } else                   \
    ::magic::internal::NullStream()
#else
#define MAGIC_DCHECK(cond) MAGIC_CHECK(cond)
#endif
