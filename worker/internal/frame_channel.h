// The worker's end of one sandbox's frame channel (fd 3 inside), plus the
// sandbox's stderr pipe. All I/O is non-blocking and driven by poll() in
// Receive(), so a sandbox that stops reading can never block the worker,
// and both directions make progress together (no deadlock on big frames).
//
//   MAGIC_RETURN_IF_ERROR(channel.Send(MakeInvokeFrame(invocation)));
//   FrameChannel::Received r = channel.Receive(deadline);
//   switch (r.kind) { case kFrame: ...; case kTimeout: ...; case kClosed: ...; case kBroken: ... }
//
// Not thread-safe; owned by one runner.
#pragma once

#include "common/clock.h"
#include "worker/internal/frame_codec.h"
#include "worker/internal/unique_fd.h"

#include <absl/status/status.h>
#include <absl/time/time.h>
#include <nlohmann/json.hpp>

#include <string>

namespace magic::worker::internal {

class FrameChannel {
 public:
  // `socket` is the worker's end of the socketpair; `stderr_pipe` the read
  // end of the sandbox's stderr (may be invalid).
  FrameChannel(UniqueFd socket, UniqueFd stderr_pipe, Clock& clock);

  // Queues one frame (sent while Receive() runs). E1005 if too large.
  absl::Status Send(const nlohmann::json& frame);

  struct Received {
    enum class Kind { kFrame, kTimeout, kClosed, kBroken };
    Kind kind = Kind::kClosed;
    nlohmann::json frame;
    std::string error;  // kBroken: what was wrong
  };
  // The next frame, or why there is none before `deadline`.
  Received Receive(absl::Time deadline);

  // Drops complete frames already sent by the sandbox (stale output of an
  // earlier call, e.g. from a thread the controller left running).
  void DiscardPending();

  // The last few KiB the sandbox wrote to stderr (bwrap and interpreter
  // errors end up here).
  const std::string& stderr_tail() const { return stderr_tail_; }

 private:
  void Pump(int timeout_ms);
  void WriteSome();
  void ReadSome();
  void ReadStderr();

  UniqueFd socket_;
  UniqueFd stderr_;
  Clock& clock_;
  FrameDecoder decoder_;
  std::string out_;
  size_t out_pos_ = 0;
  bool closed_ = false;
  std::string stderr_tail_;
};

}  // namespace magic::worker::internal
