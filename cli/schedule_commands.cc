#include "cli/schedule_commands.h"

#include "cli/commands.h"
#include "cli/control_client.h"
#include "common/absl_compat.h"
#include "common/errors.h"

#include <CLI/CLI.hpp>
#include <absl/time/time.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <fstream>
#include <istream>
#include <iterator>
#include <ostream>
#include <sstream>

namespace magic::cli {
namespace {

using magic::v1::Schedule;
using Stub = magic::v1::Control::Stub;

// Longest text --at / --in may be: anything longer is not a time.
constexpr size_t kMaxTimeText = 64;

absl::Status BadFlag(std::string_view flag, std::string_view text, std::string_view why) {
  return MakeError(ErrorCode::kE1005, fmt::format("{} {}: {}", flag, Printable(text), why),
                   {{"flag", flag}});
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Reads up to `max_digits` digits at `pos`; nullopt when there are none or
// more than that.
std::optional<int64_t> ReadDigits(std::string_view text, size_t& pos, size_t max_digits,
                                  size_t* count = nullptr) {
  const size_t start = pos;
  int64_t value = 0;
  while (pos < text.size() && IsDigit(text[pos])) {
    if (pos - start == max_digits) return std::nullopt;
    value = value * 10 + (text[pos] - '0');
    ++pos;
  }
  if (pos == start) return std::nullopt;
  if (count != nullptr) *count = pos - start;
  return value;
}

struct Unit {
  std::string_view name;
  int64_t ms;
};
// "ms" before "m": the longest name wins.
constexpr std::array<Unit, 5> kUnits = {
    {{"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}}};

std::optional<int64_t> ReadUnit(std::string_view text, size_t& pos) {
  for (const Unit& u : kUnits) {
    if (text.substr(pos, u.name.size()) == u.name) {
      pos += u.name.size();
      return u.ms;
    }
  }
  return std::nullopt;
}

// One <number><unit> term at `pos` in milliseconds (fractions of a
// millisecond dropped). Nine digits each side keep the products in int64.
std::optional<int64_t> ReadTerm(std::string_view text, size_t& pos) {
  std::optional<int64_t> whole = ReadDigits(text, pos, 9);
  if (!whole) return std::nullopt;
  int64_t fraction = 0;
  int64_t scale = 1;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    size_t digits = 0;
    std::optional<int64_t> f = ReadDigits(text, pos, 9, &digits);
    if (!f) return std::nullopt;
    fraction = *f;
    for (size_t i = 0; i < digits; ++i) scale *= 10;
  }
  std::optional<int64_t> unit = ReadUnit(text, pos);
  if (!unit) return std::nullopt;
  return *whole * *unit + fraction * *unit / scale;
}

std::optional<std::string> ReadInputFile(const std::string& path, std::istream& in) {
  if (path == "-") {
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  std::ifstream file(path, std::ios::binary);
  if (!file) return std::nullopt;
  std::stringstream buffer;
  buffer << file.rdbuf();
  if (file.bad()) return std::nullopt;
  return buffer.str();
}

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string TimeOrDash(int64_t unix_ms) { return unix_ms > 0 ? FormatUnixMs(unix_ms) : "-"; }

nlohmann::json TimeOrNull(int64_t unix_ms) {
  return unix_ms > 0 ? nlohmann::json(FormatUnixMs(unix_ms)) : nlohmann::json(nullptr);
}

int Fail(const absl::Status& status, std::ostream& out) {
  out << ErrorFromStatus(status).ToJson().dump(2) << "\n";
  return kExitInvalid;
}

int Add(Stub& stub, const ScheduleOptions& o, const std::string& addr, std::istream& in,
        std::ostream& out, std::ostream& err) {
  if (std::optional<std::string> usage = ScheduleAddUsageError(o)) {
    err << "magic schedule add: " << *usage << "\n";
    return kExitUsage;
  }
  std::string input = o.input.value_or("");
  if (o.input_file) {
    std::optional<std::string> read = ReadInputFile(*o.input_file, in);
    if (!read) {
      err << "magic schedule add: cannot read " << *o.input_file << "\n";
      return kExitUsage;
    }
    input = std::move(*read);
  }
  absl::StatusOr<magic::v1::CreateScheduleRequest> request =
      BuildCreateScheduleRequest(o, input, NowUnixMs());
  if (!request.ok()) return Fail(request.status(), out);
  grpc::ClientContext context;
  SetControlDeadline(context);
  Schedule s;
  grpc::Status status = stub.CreateSchedule(&context, *request, &s);
  if (!status.ok()) return PrintControlError(status, context, addr, out, err);
  out << (o.json ? ScheduleToJson(s).dump(2) + "\n" : FormatScheduled(s));
  return kExitOk;
}

int List(Stub& stub, const ScheduleOptions& o, const std::string& addr, std::ostream& out,
         std::ostream& err) {
  magic::v1::ListSchedulesRequest request;
  request.set_controller(o.controller);
  grpc::ClientContext context;
  SetControlDeadline(context);
  magic::v1::ListSchedulesResponse response;
  grpc::Status status = stub.ListSchedules(&context, request, &response);
  if (!status.ok()) return PrintControlError(status, context, addr, out, err);
  if (o.json) {
    nlohmann::json all = nlohmann::json::array();
    for (const Schedule& s : response.schedules()) all.push_back(ScheduleToJson(s));
    out << all.dump(2) << "\n";
  } else if (response.schedules().empty()) {
    err << "magic schedule list: no schedules\n";
  } else {
    out << FormatScheduleTable(response);
  }
  return kExitOk;
}

int Remove(Stub& stub, const ScheduleOptions& o, const std::string& addr, std::ostream& out,
           std::ostream& err) {
  magic::v1::DeleteScheduleRequest request;
  request.set_schedule_id(o.schedule_id);
  grpc::ClientContext context;
  SetControlDeadline(context);
  Schedule s;
  grpc::Status status = stub.DeleteSchedule(&context, request, &s);
  if (!status.ok()) return PrintControlError(status, context, addr, out, err);
  if (o.json) {
    out << ScheduleToJson(s).dump(2) << "\n";
  } else {
    out << "removed " << Printable(s.schedule_id().empty() ? o.schedule_id : s.schedule_id())
        << "\n";
  }
  return kExitOk;
}

void AddCommon(CLI::App* cmd, ScheduleOptions& o) {
  cmd->add_option("--addr", o.addr,
                  "Control service address (default $MAGIC_CONTROL_ADDR, else 127.0.0.1:7072)");
  cmd->add_flag("--json", o.json, "Machine-readable output");
}

}  // namespace

CLI::App* AddScheduleCommand(CLI::App& app, ScheduleOptions& o) {
  CLI::App* cmd = app.add_subcommand("schedule", "Run a controller on a cron schedule or later");
  cmd->require_subcommand(1);

  CLI::App* add = cmd->add_subcommand("add", "Schedule runs: --cron EXPR, --at TIME or --in DUR");
  add->add_option("NAME", o.controller, "Controller name")->required();
  add->add_option("--cron", o.cron, "Cron expression, 5 fields, UTC ('*/5 * * * *')");
  add->add_option("--at", o.at, "Run once at this RFC 3339 time (2026-11-22T10:00:00Z)");
  add->add_option("--in", o.in, "Run once after this long (90s, 10m, 1h30m, 1d, 500ms)");
  add->add_option("--input", o.input, "Input JSON (default {})");
  add->add_option("--input-file", o.input_file, "File holding the input ('-' = stdin)");
  add->add_option("--timeout", o.timeout_ms, "Per-run timeout in ms (capped by the contract)");
  add->add_option("--max-attempts", o.max_attempts, "Attempts per run (0: 3; 1: no retry)")
      ->check(CLI::Range(0, 10));
  add->callback([&o] { o.verb = ScheduleOptions::Verb::kAdd; });

  CLI::App* list = cmd->add_subcommand("list", "List schedules, by next run");
  list->add_option("NAME", o.controller, "Only this controller's");
  list->callback([&o] { o.verb = ScheduleOptions::Verb::kList; });

  CLI::App* rm = cmd->add_subcommand("rm", "Remove a schedule");
  rm->add_option("ID", o.schedule_id, "Schedule id")->required();
  rm->callback([&o] { o.verb = ScheduleOptions::Verb::kRemove; });

  for (CLI::App* verb : {add, list, rm}) AddCommon(verb, o);
  return cmd;
}

int RunSchedule(const ScheduleOptions& o, std::istream& in, std::ostream& out, std::ostream& err) {
  if (o.verb == ScheduleOptions::Verb::kNone) {
    err << "magic schedule: give add, list or rm\n";
    return kExitUsage;
  }
  const std::string addr = ControlAddress(o.addr);
  std::unique_ptr<Stub> stub = ConnectControl(addr);
  switch (o.verb) {
    case ScheduleOptions::Verb::kAdd:
      return Add(*stub, o, addr, in, out, err);
    case ScheduleOptions::Verb::kList:
      return List(*stub, o, addr, out, err);
    default:
      return Remove(*stub, o, addr, out, err);
  }
}

std::optional<std::string> ScheduleAddUsageError(const ScheduleOptions& o) {
  const int whens = int{o.cron.has_value()} + int{o.at.has_value()} + int{o.in.has_value()};
  if (whens != 1) {
    return whens == 0 ? "say when: give one of --cron EXPR, --at TIME or --in DURATION"
                      : "give only one of --cron, --at and --in";
  }
  if (o.input && o.input_file) return "give --input or --input-file, not both";
  return std::nullopt;
}

absl::StatusOr<int64_t> ParseRunAt(std::string_view text) {
  if (text.size() > kMaxTimeText) return BadFlag("--at", text.substr(0, kMaxTimeText), "too long");
  absl::Time t;
  std::string why;
  // %E*S takes fractional seconds, %Ez "Z" or "+hh:mm". ParseTime also
  // accepts "infinite-future"/"infinite-past"; the range check refuses them.
  if (!absl::ParseTime("%Y-%m-%d%ET%H:%M:%E*S%Ez", ToAbsl(text), &t, &why)) {
    return BadFlag("--at", text,
                   "not an RFC 3339 time with a zone, e.g. 2026-11-22T10:00:00Z (" + why + ")");
  }
  static const absl::Time kLast =
      absl::FromCivil(absl::CivilSecond(10000, 1, 1), absl::UTCTimeZone());
  if (t <= absl::UnixEpoch() || t >= kLast) {
    return BadFlag("--at", text, "out of range (1970 to 9999)");
  }
  const int64_t ms = absl::ToUnixMillis(t);
  // 0 would mean "no time" on the wire.
  if (ms <= 0) return BadFlag("--at", text, "out of range (1970 to 9999)");
  return ms;
}

absl::StatusOr<int64_t> ParseDelayMs(std::string_view text) {
  if (text.size() > kMaxTimeText) return BadFlag("--in", text.substr(0, kMaxTimeText), "too long");
  if (text.empty()) return BadFlag("--in", text, "empty; give e.g. 90s, 10m, 1h30m or 1d");
  int64_t total = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    std::optional<int64_t> term = ReadTerm(text, pos);
    if (!term) {
      return BadFlag("--in", text,
                     "not a duration: give <number><unit>..., units ms, s, m, h, d (1h30m)");
    }
    // Each term is below 9e16 and total at most kMaxDelayMs: no overflow.
    total += *term;
    if (total > kMaxDelayMs) return BadFlag("--in", text, "longer than 3650d");
  }
  return total;
}

absl::StatusOr<magic::v1::CreateScheduleRequest> BuildCreateScheduleRequest(
    const ScheduleOptions& o, const std::string& input_json, int64_t now_unix_ms) {
  magic::v1::CreateScheduleRequest request;
  request.set_controller(o.controller);
  if (!input_json.empty() || o.input) {
    if (!nlohmann::json::accept(input_json)) {
      return MakeError(ErrorCode::kE1005, "the input is not JSON",
                       {{"flag", o.input_file ? "--input-file" : "--input"}});
    }
    request.set_input_json(input_json);
  }
  if (o.cron) {
    if (o.cron->find_first_not_of(" \t") == std::string::npos) {
      return BadFlag("--cron", *o.cron, "empty; give 5 fields, e.g. '*/5 * * * *'");
    }
    request.set_cron(*o.cron);
  } else if (o.at) {
    absl::StatusOr<int64_t> at = ParseRunAt(*o.at);
    if (!at.ok()) return at.status();
    request.set_run_at_unix_ms(*at);
  } else if (o.in) {
    absl::StatusOr<int64_t> delay = ParseDelayMs(*o.in);
    if (!delay.ok()) return delay.status();
    // At least 1: 0 would mean "no time" on the wire.
    request.set_run_at_unix_ms(std::max<int64_t>(1, now_unix_ms + *delay));
  } else {
    return MakeError(ErrorCode::kE1005, "no time: give one of --cron, --at or --in");
  }
  if (o.max_attempts > 10) {
    return MakeError(ErrorCode::kE1005, "--max-attempts is at most 10",
                     {{"flag", "--max-attempts"}});
  }
  request.set_timeout_ms(o.timeout_ms);
  request.set_max_attempts(o.max_attempts);
  return request;
}

std::string DescribeWhen(const Schedule& s) {
  if (!s.cron().empty()) return fmt::format("cron \"{}\"", Printable(s.cron()));
  return s.next_run_unix_ms() > 0 ? "once at " + FormatUnixMs(s.next_run_unix_ms()) : "once";
}

std::string FormatScheduled(const Schedule& s) {
  return fmt::format("scheduled {}: {} {}, next run {}{}\n", Printable(s.schedule_id()),
                     Printable(s.controller()), DescribeWhen(s), TimeOrDash(s.next_run_unix_ms()),
                     s.request_id().empty() ? "" : ", run id " + Printable(s.request_id()));
}

std::string FormatScheduleTable(const magic::v1::ListSchedulesResponse& response) {
  constexpr std::string_view kRow = "{:<28} {:<24} {:<28} {:<20} {:>5}  {}\n";
  std::string table =
      fmt::format(kRow, "ID", "CONTROLLER", "WHEN", "NEXT RUN", "FIRED", "LAST RUN ID");
  for (const Schedule& s : response.schedules()) {
    const std::string when = s.cron().empty() ? "once" : Printable(s.cron());
    table += fmt::format(kRow, Printable(s.schedule_id()), Printable(s.controller()), when,
                         TimeOrDash(s.next_run_unix_ms()), s.fired(),
                         s.last_request_id().empty() ? "-" : Printable(s.last_request_id()));
  }
  return table;
}

nlohmann::json ScheduleToJson(const Schedule& s) {
  // The input as the document it is; as text should it (unexpectedly) not be JSON.
  nlohmann::json input = nlohmann::json::parse(s.input_json(), nullptr, false);
  if (input.is_discarded())
    input = s.input_json().empty() ? nlohmann::json::object() : nlohmann::json(s.input_json());
  return {{"schedule_id", s.schedule_id()},
          {"controller", s.controller()},
          {"input", input},
          {"cron", s.cron().empty() ? nlohmann::json(nullptr) : nlohmann::json(s.cron())},
          {"next_run", TimeOrNull(s.next_run_unix_ms())},
          {"next_run_unix_ms", s.next_run_unix_ms()},
          {"request_id", s.request_id()},
          {"timeout_ms", s.timeout_ms()},
          {"max_attempts", s.max_attempts()},
          {"created_at", TimeOrNull(s.created_unix_ms())},
          {"created_unix_ms", s.created_unix_ms()},
          {"fired", s.fired()},
          {"last_request_id", s.last_request_id()}};
}

}  // namespace magic::cli
