// Structured logging: one JSON object per line, over spdlog (STYLE.md §8).
//
//   magic::logging::Init({.component = "gateway"});
//   MAGIC_LOG(info, "job produced", {{"request_id", id}, {"partition", p}});
//
// Levels are spdlog's: trace, debug, info, warn, err, critical.
// Each line is {"ts": RFC 3339 UTC, "level", "component", "msg", ...fields}.
// Field values are any nlohmann::json. Request ids and the contract's
// log_fields are ordinary fields; LogFieldsFrom() picks the latter out of an
// input document. Thread-safe; Init() once at start (before threads), or
// not at all for stderr at info level.
#pragma once

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace magic::logging {

struct Options {
  std::string component = "magic";
  // "trace", "debug", "info", "warn", "error", "critical", "off".
  std::string level = "info";
  // Empty: stderr. Otherwise a file path (appended to).
  std::string file;
};

// Installs the JSON-lines logger. Returns false and leaves the current
// logger in place when `options` is bad (unknown level, unwritable file).
bool Init(const Options& options, std::string* error = nullptr);

// Replaces the sink (tests capture lines this way). Takes ownership.
void SetSinkForTesting(std::shared_ptr<spdlog::sinks::sink> sink);

// The logger every MAGIC_LOG goes through.
spdlog::logger& Logger();

// Formats `msg` and `fields` as the body of one JSON line (without the
// timestamp/level prefix spdlog adds) and writes it at `level`.
void Write(spdlog::level::level_enum level, std::string_view msg, const nlohmann::json& fields);

// The members of `input` named in `log_fields` (dotted paths reach into
// nested objects: "customer.id"). Missing ones are left out.
nlohmann::json LogFieldsFrom(const nlohmann::json& input,
                             const std::vector<std::string>& log_fields);

}  // namespace magic::logging

#define MAGIC_LOG(lvl, msg, ...)                                                                   \
  do {                                                                                             \
    if (::magic::logging::Logger().should_log(::spdlog::level::lvl)) {                             \
      ::magic::logging::Write(::spdlog::level::lvl, (msg), ::nlohmann::json::object(__VA_ARGS__)); \
    }                                                                                              \
  } while (false)
