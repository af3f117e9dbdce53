#include "worker/internal/frame_channel.h"

#include <sys/socket.h>

#include <cerrno>
#include <cmath>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

namespace magic::worker::internal {
namespace {

constexpr size_t kReadChunk = 64 << 10;
constexpr size_t kStderrTail = 4 << 10;

void SetNonBlocking(int fd) {
  if (fd < 0) return;
  const int flags = fcntl(fd, F_GETFL);
  if (flags >= 0) fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

}  // namespace

FrameChannel::FrameChannel(UniqueFd socket, UniqueFd stderr_pipe, Clock& clock)
    : socket_(std::move(socket)), stderr_(std::move(stderr_pipe)), clock_(clock) {
  SetNonBlocking(socket_.get());
  SetNonBlocking(stderr_.get());
}

absl::Status FrameChannel::Send(const nlohmann::json& frame) {
  absl::StatusOr<std::string> bytes = EncodeFrame(frame);
  if (!bytes.ok()) return bytes.status();
  if (out_pos_ == out_.size()) {
    out_.clear();
    out_pos_ = 0;
  }
  out_ += *bytes;
  if (!closed_) WriteSome();
  return absl::OkStatus();
}

FrameChannel::Received FrameChannel::Receive(absl::Time deadline) {
  using Kind = Received::Kind;
  for (;;) {
    if (std::optional<absl::StatusOr<nlohmann::json>> next = decoder_.Next()) {
      if (!next->ok()) return {Kind::kBroken, {}, std::string(next->status().message())};
      return {Kind::kFrame, std::move(**next), {}};
    }
    if (closed_) return {Kind::kClosed, {}, {}};
    const absl::Duration left = deadline - clock_.Now();
    if (left <= absl::ZeroDuration()) return {Kind::kTimeout, {}, {}};
    const double ms = std::ceil(absl::ToDoubleMilliseconds(left));
    Pump(ms > 1e6 ? 1'000'000 : static_cast<int>(ms));
  }
}

void FrameChannel::DiscardPending() {
  for (;;) {
    while (std::optional<absl::StatusOr<nlohmann::json>> next = decoder_.Next()) {
      if (!next->ok()) return;  // stays broken; the next Receive() reports it
    }
    const size_t before = decoder_.buffered();
    if (closed_) return;
    Pump(0);
    if (decoder_.buffered() == before) return;
  }
}

void FrameChannel::Pump(int timeout_ms) {
  pollfd fds[2] = {
      {socket_.get(), static_cast<short>(POLLIN | (out_pos_ < out_.size() ? POLLOUT : 0)), 0},
      {stderr_.get(), POLLIN, 0},
  };
  const int n = poll(fds, stderr_.valid() ? 2 : 1, timeout_ms);
  if (n <= 0) return;  // timeout or EINTR: the caller re-checks its deadline
  if ((fds[0].revents & POLLOUT) != 0) WriteSome();
  if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0) ReadSome();
  if (stderr_.valid() && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0) ReadStderr();
}

void FrameChannel::WriteSome() {
  while (out_pos_ < out_.size()) {
    const ssize_t n = send(socket_.get(), out_.data() + out_pos_, out_.size() - out_pos_,
                           MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      out_pos_ += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    closed_ = true;  // EPIPE, ECONNRESET: the sandbox is gone
    return;
  }
}

void FrameChannel::ReadSome() {
  char buffer[kReadChunk];
  // Read what is there, but never buffer much more than one maximal frame.
  while (decoder_.buffered() <= kMaxFrameBytes + 4) {
    const ssize_t n = recv(socket_.get(), buffer, sizeof buffer, MSG_DONTWAIT);
    if (n > 0) {
      decoder_.Append(std::string_view(buffer, static_cast<size_t>(n)));
      if (static_cast<size_t>(n) < sizeof buffer) return;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) closed_ = true;
    return;
  }
}

void FrameChannel::ReadStderr() {
  char buffer[4096];
  const ssize_t n = read(stderr_.get(), buffer, sizeof buffer);
  if (n > 0) {
    stderr_tail_.append(buffer, static_cast<size_t>(n));
    if (stderr_tail_.size() > kStderrTail) stderr_tail_.erase(0, stderr_tail_.size() - kStderrTail);
  } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
    stderr_.Reset();
  }
}

}  // namespace magic::worker::internal
