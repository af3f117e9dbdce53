#include "worker/internal/frame_codec.h"

#include "common/errors.h"

#include <fmt/format.h>

#include <cstdint>

namespace magic::worker::internal {
namespace {

uint32_t ReadBigEndian32(std::string_view bytes) {
  return (uint32_t{static_cast<uint8_t>(bytes[0])} << 24) |
         (uint32_t{static_cast<uint8_t>(bytes[1])} << 16) |
         (uint32_t{static_cast<uint8_t>(bytes[2])} << 8) | uint32_t{static_cast<uint8_t>(bytes[3])};
}

}  // namespace

absl::StatusOr<std::string> EncodeFrame(const nlohmann::json& value, size_t max_bytes) {
  std::string payload;
  try {
    payload = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } catch (const nlohmann::json::exception& e) {
    return MakeError(ErrorCode::kE1005, fmt::format("cannot serialise frame: {}", e.what()));
  }
  if (payload.size() > max_bytes) {
    return MakeError(
        ErrorCode::kE1005,
        fmt::format("frame of {} bytes exceeds the {} byte limit", payload.size(), max_bytes),
        {{"size", payload.size()}, {"limit", max_bytes}});
  }
  const auto size = static_cast<uint32_t>(payload.size());
  std::string frame;
  frame.reserve(payload.size() + 4);
  frame.push_back(static_cast<char>((size >> 24) & 0xff));
  frame.push_back(static_cast<char>((size >> 16) & 0xff));
  frame.push_back(static_cast<char>((size >> 8) & 0xff));
  frame.push_back(static_cast<char>(size & 0xff));
  frame += payload;
  return frame;
}

void FrameDecoder::Append(std::string_view bytes) {
  if (failed()) return;
  if (start_ > 0 && start_ >= buffer_.size() / 2) {
    buffer_.erase(0, start_);
    start_ = 0;
  }
  buffer_.append(bytes.data(), bytes.size());
}

absl::StatusOr<nlohmann::json> FrameDecoder::Fail(const std::string& message) {
  error_ = MakeError(ErrorCode::kE3005, message);
  Clear();
  return error_;
}

std::optional<absl::StatusOr<nlohmann::json>> FrameDecoder::Next() {
  if (failed()) return absl::StatusOr<nlohmann::json>(error_);
  const std::string_view pending = std::string_view(buffer_).substr(start_);
  if (pending.size() < 4) return std::nullopt;
  const uint32_t size = ReadBigEndian32(pending);
  if (size > max_frame_bytes_) {
    return Fail(fmt::format("sandbox sent a frame of {} bytes (limit {})", size, max_frame_bytes_));
  }
  if (pending.size() - 4 < size) return std::nullopt;
  std::optional<nlohmann::json> value = ParseUntrustedJson(pending.substr(4, size), kMaxJsonDepth);
  start_ += size_t{size} + 4;
  if (!value || !value->is_object() || !value->contains("type") || !(*value)["type"].is_string()) {
    return Fail("sandbox sent a frame that is not a typed JSON object");
  }
  return absl::StatusOr<nlohmann::json>(std::move(*value));
}

}  // namespace magic::worker::internal
