// The frame format of the worker <-> runner channel (fd 3): a 4-byte
// big-endian length, then that many bytes of UTF-8 JSON, at most 16 MiB.
//
//   absl::StatusOr<std::string> bytes = EncodeFrame({{"type", "invoke"}, ...});
//   FrameDecoder decoder;
//   decoder.Append(chunk_read_from_socket);
//   while (auto frame = decoder.Next()) { if (!frame->ok()) ...; use(**frame); }
//
// Everything decoded here comes from the sandbox and is hostile: a length
// above the limit fails at once (nothing is buffered for it), the payload
// must parse as a JSON object with a string "type" and nest at most
// kMaxJsonDepth deep, and nothing throws. Not thread-safe.
#pragma once

#include "common/json_text.h"

#include <absl/status/status.h>
#include <absl/status/statusor.h>
#include <nlohmann/json.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace magic::worker::internal {

inline constexpr size_t kMaxFrameBytes = size_t{16} << 20;
inline constexpr int kMaxJsonDepth = 128;

// The frame for `value`. E1005 when it would exceed `max_bytes` or cannot be
// serialised.
absl::StatusOr<std::string> EncodeFrame(const nlohmann::json& value,
                                        size_t max_bytes = kMaxFrameBytes);

class FrameDecoder {
 public:
  explicit FrameDecoder(size_t max_frame_bytes = kMaxFrameBytes)
      : max_frame_bytes_(max_frame_bytes) {}

  // Adds bytes read from the channel. Ignored once the decoder has failed.
  void Append(std::string_view bytes);
  // The next complete frame; nullopt while incomplete. An error (E3005) is
  // permanent: the stream cannot be trusted after it.
  std::optional<absl::StatusOr<nlohmann::json>> Next();
  // Drops everything buffered (frames not yet taken included).
  void Clear() {
    buffer_.clear();
    start_ = 0;
  }

  bool failed() const { return !error_.ok(); }
  size_t buffered() const { return buffer_.size() - start_; }

 private:
  absl::StatusOr<nlohmann::json> Fail(const std::string& message);

  size_t max_frame_bytes_;
  std::string buffer_;
  size_t start_ = 0;  // bytes of buffer_ already consumed
  absl::Status error_;
};

}  // namespace magic::worker::internal
