#include "cli/logs_command.h"

#include "cli/commands.h"
#include "cli/dev_state.h"
#include "common/absl_compat.h"
#include "common/kafka.h"

#include <CLI/CLI.hpp>
#include <absl/time/clock.h>
#include <absl/time/time.h>
#include <fmt/format.h>

#include <csignal>
#include <cstdlib>
#include <map>
#include <optional>
#include <ostream>
#include <string_view>

namespace magic::cli {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

constexpr milliseconds kAssignTimeout{10'000};
constexpr milliseconds kPollTimeout{200};
// Without --follow: give up catching up when nothing arrives for this long
// (a partition whose last offsets can never be fetched, e.g. deleted).
constexpr absl::Duration kCatchUpIdle = absl::Seconds(5);

volatile std::sig_atomic_t g_stop = 0;
void OnStopSignal(int) { g_stop = 1; }

std::string Dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string StringOr(const json& line, const char* key, const char* fallback) {
  auto it = line.find(key);
  if (it == line.end()) return fallback;
  return it->is_string() ? it->get<std::string>() : Dump(*it);
}

// A value of key=value: strings bare unless empty or holding a space, a
// quote or '='.
std::string FieldValue(const json& value) {
  if (!value.is_string()) return Dump(value);
  const std::string& text = value.get_ref<const std::string&>();
  if (text.empty() || text.find_first_of(" \"=") != std::string::npos) return Dump(value);
  return text;
}

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

// --kafka, else $MAGIC_KAFKA_BROKERS, else `magic dev`'s state file.
std::optional<kafka::KafkaConfig> ResolveKafka(const std::string& flag, std::string& error) {
  kafka::KafkaConfig config{.client_id = "magic-logs"};
  if (!flag.empty()) {
    config.brokers = flag;
  } else if (std::string env = Env("MAGIC_KAFKA_BROKERS"); !env.empty()) {
    config.brokers = env;
  } else {
    const std::string path = DevStatePath();
    const json state = ReadDevState();
    config.brokers = DevStateString(state, "kafka");
    if (config.brokers.empty()) {
      error = path.empty() || state.empty()
                  ? "no Kafka to read: pass --kafka BROKERS, set MAGIC_KAFKA_BROKERS, or run "
                    "`magic dev`"
                  : path + ": no \"kafka\" string (is `magic dev` running?)";
      return std::nullopt;
    }
    // The embedded cluster cannot look offsets up by time (kafka.h).
    config.mock = state.value("kafka_mock", false);
  }
  return config;
}

// Reads, filters and prints; tracks how far each partition has been read.
class LogReader {
 public:
  LogReader(const LogsOptions& o, int64_t since_ms, std::ostream& out)
      : o_(o), since_ms_(since_ms), out_(out) {}

  void Track(const std::vector<kafka::PartitionRange>& ranges) {
    for (const kafka::PartitionRange& r : ranges) {
      if (r.start < r.end) behind_[r.partition] = r.end;
    }
  }
  bool caught_up() const { return behind_.empty(); }
  int64_t printed() const { return printed_; }

  void Handle(const kafka::KafkaMessage& m) {
    auto it = behind_.find(m.partition());
    if (it != behind_.end() && m.offset() + 1 >= it->second) behind_.erase(it);
    // The key is the controller: most lines are skipped before parsing.
    if (m.key() != o_.controller) return;
    if (m.timestamp_ms() >= 0 && m.timestamp_ms() < since_ms_) return;
    json line = json::parse(m.value(), nullptr, /*allow_exceptions=*/false);
    if (!line.is_object() || StringOr(line, "controller", "") != o_.controller) return;
    if (!o_.request_id.empty() && StringOr(line, "request_id", "") != o_.request_id) return;
    // --json: ASCII-escaped, so no byte of it can reach the terminal raw.
    out_ << (o_.json ? line.dump(-1, ' ', true, json::error_handler_t::replace)
                     : FormatLogLine(line))
         << '\n';
    out_.flush();  // --follow is read live, often through a pipe
    ++printed_;
  }

 private:
  const LogsOptions& o_;
  const int64_t since_ms_;
  std::ostream& out_;
  std::map<int32_t, int64_t> behind_;  // partition -> end offset still to reach
  int64_t printed_ = 0;
};

}  // namespace

std::string FormatLogLine(const json& line) {
  std::string text = fmt::format(
      "{} {} {} {}", Printable(StringOr(line, "ts", "-")), Printable(StringOr(line, "level", "-")),
      Printable(StringOr(line, "request_id", "-")), Printable(StringOr(line, "msg", "")));
  auto fields = line.find("fields");
  if (fields != line.end() && fields->is_object()) {
    for (const auto& [key, value] : fields->items()) {
      text += ' ';
      text += Printable(key);
      text += '=';
      text += Printable(FieldValue(value));
    }
  }
  return text;
}

CLI::App* AddLogsCommand(CLI::App& app, LogsOptions& options) {
  CLI::App* cmd = app.add_subcommand("logs", "Show a controller's log lines (from magic.logs)");
  cmd->add_option("NAME", options.controller, "Controller name")->required();
  cmd->add_flag("--follow,-f", options.follow, "Keep printing new lines until Ctrl-C");
  cmd->add_option("--since", options.since, "How far back to start (default 10m; 30s, 2h, 1h30m)");
  cmd->add_option("--request", options.request_id, "Only this request id");
  cmd->add_flag("--json", options.json, "JSON lines, as the magic.logs topic carries them");
  cmd->add_option("--kafka", options.kafka,
                  "Kafka brokers (default $MAGIC_KAFKA_BROKERS, else `magic dev`'s)");
  cmd->add_option("--topic", options.topic)->group("");  // hidden: tests
  return cmd;
}

int RunLogs(const LogsOptions& options, std::ostream& out, std::ostream& err) {
  absl::Duration since;
  if (!absl::ParseDuration(options.since, &since) || since < absl::ZeroDuration()) {
    err << "magic logs: --since wants a duration such as 30s, 10m or 2h, not \""
        << Printable(options.since) << "\"\n";
    return kExitUsage;
  }
  std::string error;
  std::optional<kafka::KafkaConfig> config = ResolveKafka(options.kafka, error);
  if (!config) {
    err << "magic logs: " << error << '\n';
    return kExitUsage;
  }
  auto consumer = kafka::MakeKafkaConsumer(*config, {});
  if (!consumer.ok()) {
    err << "magic logs: " << consumer.status().message() << '\n';
    return kExitUsage;
  }
  const int64_t since_ms = absl::ToUnixMillis(absl::Now() - since);
  auto ranges = (*consumer)->AssignAllSince(options.topic, since_ms, kAssignTimeout);
  if (!ranges.ok()) {
    err << "magic logs: cannot read " << options.topic << " at " << config->brokers << ": "
        << ranges.status().message() << '\n';
    return kExitUsage;
  }
  LogReader reader(options, since_ms, out);
  reader.Track(*ranges);
  g_stop = 0;
  struct sigaction action = {};
  action.sa_handler = &OnStopSignal;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  absl::Time last_message = absl::Now();
  while (g_stop == 0 && (options.follow || !reader.caught_up()) && out) {
    auto m = (*consumer)->Poll(kPollTimeout);
    if (!m.ok()) {
      err << "magic logs: " << m.status().message() << '\n';
      return kExitUsage;
    }
    if (m->has_value()) {
      reader.Handle(**m);
      last_message = absl::Now();
    } else if (!options.follow && absl::Now() - last_message > kCatchUpIdle) {
      err << "magic logs: stopped waiting for older lines (nothing arrived for "
          << absl::FormatDuration(kCatchUpIdle) << ")\n";
      break;
    }
  }
  if (reader.printed() == 0 && !options.follow) {
    err << "no log lines for " << Printable(options.controller)
        << (options.request_id.empty() ? "" : " request " + Printable(options.request_id))
        << " in the last " << absl::FormatDuration(since) << '\n';
  }
  return kExitOk;
}

}  // namespace magic::cli
