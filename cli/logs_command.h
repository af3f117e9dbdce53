// `magic logs`: the controller log lines the workers ship to magic.logs
// (worker/log_shipper.h), read without a consumer group.
//
//   magic logs NAME [--follow] [--since DURATION] [--request ID] [--json]
//                   [--kafka BROKERS]
//
// Every partition is read from the first line at or after now - since
// (default 10m; Kafka's offsets-for-times), filtered by controller (and
// request id), and printed as `ts level request_id msg key=value...`
// (control characters escaped: log lines come from controllers). Without
// --follow it exits once it has caught up with what existed at start; with
// it, it keeps printing until SIGINT/SIGTERM.
//
// Kafka is --kafka, else $MAGIC_KAFKA_BROKERS, else the "kafka" of
// ~/.cache/magic/dev/state.json (written by `magic dev`). Exit codes: 0 ok
// (also when nothing matched, which it says on stderr), 2 usage or Kafka
// unreachable.
#pragma once

#include <nlohmann/json.hpp>

#include <iosfwd>
#include <string>

namespace CLI {
class App;
}  // namespace CLI

namespace magic::cli {

struct LogsOptions {
  std::string controller;
  bool follow = false;
  std::string since = "10m";  // absl duration: 30s, 10m, 2h, 1h30m
  std::string request_id;
  bool json = false;  // the lines as magic.logs carries them (JSON, ASCII-escaped)
  std::string kafka;
  std::string topic = "magic.logs";  // hidden: tests
};

// Registers the `logs` subcommand, filling `options`; returns it.
CLI::App* AddLogsCommand(CLI::App& app, LogsOptions& options);

int RunLogs(const LogsOptions& options, std::ostream& out, std::ostream& err);

// One magic.logs line as text: `ts level request_id msg key=value...`,
// fields sorted by key, strings quoted only when they need it, every
// control character escaped.
std::string FormatLogLine(const nlohmann::json& line);

}  // namespace magic::cli
