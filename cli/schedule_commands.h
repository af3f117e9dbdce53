// `magic schedule add|list|rm`: timers of the Control service (magic-
// scheduler, or `magic dev`), which starts runs of a controller on a cron
// expression or once at a time.
//
//   magic schedule add NAME --cron '*/5 * * * *' [--input JSON | --input-file F]
//   magic schedule add NAME --at 2026-11-22T10:00:00Z     # RFC 3339
//   magic schedule add NAME --in 1h30m                    # ms, s, m, h, d
//        [--timeout MS] [--max-attempts N]
//   magic schedule list [NAME]
//   magic schedule rm ID
//
// Every verb: --addr, else $MAGIC_CONTROL_ADDR, else 127.0.0.1:7072; --json
// for machine output. Exit codes as every verb: 0 ok, 1 an E-coded refusal
// (E1005 for a bad time, duration or input, here or from the service; E1003
// input not matching the contract; E4003 unknown controller or schedule),
// printed as the JSON error shape on stdout; 2 usage or the service
// unreachable.
//
// The pure parts (parsing, building the request, formatting) are declared
// here so that schedule_commands_test.cc drives them without a service.
#pragma once

#include "magic/v1/control.pb.h"

#include <absl/status/statusor.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>

namespace CLI {
class App;
}  // namespace CLI

namespace magic::cli {

struct ScheduleOptions {
  enum class Verb { kNone, kAdd, kList, kRemove };
  Verb verb = Verb::kNone;
  std::string addr;
  bool json = false;
  std::string controller;   // add; list's optional filter
  std::string schedule_id;  // rm
  // add: exactly one of the three.
  std::optional<std::string> cron;        // 5 fields, UTC
  std::optional<std::string> at;          // RFC 3339
  std::optional<std::string> in;          // a duration from now
  std::optional<std::string> input;       // JSON
  std::optional<std::string> input_file;  // or a file ("-" = stdin)
  uint32_t timeout_ms = 0;                // 0: the contract's
  uint32_t max_attempts = 0;              // 0: the service's default (3)
};

// Registers `schedule` with its three verbs on `app`, filling `options`.
CLI::App* AddScheduleCommand(CLI::App& app, ScheduleOptions& options);

int RunSchedule(const ScheduleOptions& options, std::istream& in, std::ostream& out,
                std::ostream& err);

// --- pure parts ---

// Longest accepted --in: ten years (also keeps now + d far from overflow).
inline constexpr int64_t kMaxDelayMs = int64_t{3650} * 24 * 3600 * 1000;

// A usage mistake of `add` (not exactly one of --cron/--at/--in, or both
// --input and --input-file), as the message to print; nullopt when fine.
std::optional<std::string> ScheduleAddUsageError(const ScheduleOptions& options);

// RFC 3339 with a zone ("2026-11-22T10:00:00Z", "…10:00:00.250Z",
// "…12:00:00+02:00") as Unix milliseconds. E1005 for anything else, or a
// time before 1970-01-01T00:00:00.001Z or after 9999-12-31.
absl::StatusOr<int64_t> ParseRunAt(std::string_view text);

// A duration as milliseconds: one or more <number><unit>, the number
// decimal (1.5h), the unit ms, s, m, h or d ("90s", "1h30m", "1d"). E1005
// for anything else (signs, spaces, no unit) or more than kMaxDelayMs.
absl::StatusOr<int64_t> ParseDelayMs(std::string_view text);

// The request `add` sends: `input_json` is checked to be JSON ("" = none),
// the time resolved against `now_unix_ms` for --in. E1005 when any of it is
// bad.
absl::StatusOr<magic::v1::CreateScheduleRequest> BuildCreateScheduleRequest(
    const ScheduleOptions& options, const std::string& input_json, int64_t now_unix_ms);

// "cron \"*/5 * * * *\"" or "once at 2026-11-22T10:00:00Z".
std::string DescribeWhen(const magic::v1::Schedule& schedule);

// What `add` prints: "scheduled ID: NAME WHEN, next run T[, run id R]".
std::string FormatScheduled(const magic::v1::Schedule& schedule);

// What `list` prints: a header and one row per schedule.
std::string FormatScheduleTable(const magic::v1::ListSchedulesResponse& response);

// A schedule for --json (times as RFC 3339 and as Unix milliseconds).
nlohmann::json ScheduleToJson(const magic::v1::Schedule& schedule);

}  // namespace magic::cli
