// What every client of the Control service (magic-scheduler, or `magic
// dev`) shares: where it is, the channel, the deadline, how a failed call is
// reported, and how its times are printed. Used by the lifecycle verbs
// (lifecycle_commands.h) and `magic schedule` (schedule_commands.h).
#pragma once

#include "magic/v1/control.grpc.pb.h"

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>

namespace magic::cli {

// `given` if set, else $MAGIC_CONTROL_ADDR, else 127.0.0.1:7072.
std::string ControlAddress(const std::string& given);

// A stub on an insecure channel that can send a whole bundle (up to 8 MiB).
std::unique_ptr<magic::v1::Control::Stub> ConnectControl(const std::string& addr);

// Every Control call gets 60 s (a deploy stores a bundle; the rest is quick).
void SetControlDeadline(grpc::ClientContext& context);

// Prints the E-coded error of a failed call as the JSON error shape on `out`
// (from the "magic-error-bin" trailer) and returns 1; when the service was
// unreachable, says so on `err` and returns 2.
int PrintControlError(const grpc::Status& status, const grpc::ClientContext& context,
                      const std::string& addr, std::ostream& out, std::ostream& err);

// `unix_ms` as RFC 3339 UTC to the second: "2026-11-22T10:00:00Z".
std::string FormatUnixMs(int64_t unix_ms);

}  // namespace magic::cli
