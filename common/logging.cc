#include "common/logging.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <atomic>
#include <mutex>
#include <utility>

namespace magic::logging {
namespace {

// Timestamp, level and component come from spdlog's pattern; the rest of
// the object is the body Write() formats.
std::string Pattern(std::string_view component) {
  const std::string c = nlohmann::json(std::string(component)).dump();
  return R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","component":)" + c + ",%v}";
}

struct State {
  std::mutex mu;
  std::atomic<std::shared_ptr<spdlog::logger>> logger;
  std::string component = "magic";
};

State& GetState() {
  static State* state = [] {
    auto* s = new State;  // never destroyed: loggers outlive static destructors
    auto logger = std::make_shared<spdlog::logger>(
        "magic", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    logger->set_pattern(Pattern(s->component), spdlog::pattern_time_type::utc);
    logger->set_level(spdlog::level::info);
    s->logger.store(std::move(logger));
    return s;
  }();
  return *state;
}

}  // namespace

bool Init(const Options& options, std::string* error) {
  const spdlog::level::level_enum level = spdlog::level::from_str(options.level);
  if (level == spdlog::level::off && options.level != "off") {
    if (error) *error = "unknown log level '" + options.level + "'";
    return false;
  }
  spdlog::sink_ptr sink;
  try {
    if (options.file.empty()) {
      sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    } else {
      sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(options.file);
    }
  } catch (const spdlog::spdlog_ex& e) {
    if (error) *error = e.what();
    return false;
  }
  State& s = GetState();
  std::lock_guard<std::mutex> lock(s.mu);
  s.component = options.component;
  auto logger = std::make_shared<spdlog::logger>("magic", std::move(sink));
  logger->set_pattern(Pattern(s.component), spdlog::pattern_time_type::utc);
  logger->set_level(level);
  logger->flush_on(spdlog::level::warn);
  s.logger.store(std::move(logger));
  return true;
}

void SetSinkForTesting(std::shared_ptr<spdlog::sinks::sink> sink) {
  State& s = GetState();
  std::lock_guard<std::mutex> lock(s.mu);
  auto logger = std::make_shared<spdlog::logger>("magic", std::move(sink));
  logger->set_pattern(Pattern(s.component), spdlog::pattern_time_type::utc);
  logger->set_level(spdlog::level::trace);
  s.logger.store(std::move(logger));
}

spdlog::logger& Logger() {
  // Loggers replaced by Init() are kept alive by this thread-local copy
  // until the thread next asks, so a reference never dangles mid-call.
  thread_local std::shared_ptr<spdlog::logger> current;
  current = GetState().logger.load();
  return *current;
}

void Write(spdlog::level::level_enum level, std::string_view msg, const nlohmann::json& fields) {
  nlohmann::json body = nlohmann::json::object();
  body["msg"] = std::string(msg);
  if (fields.is_object()) {
    for (const auto& [key, value] : fields.items()) {
      if (key != "msg" && key != "ts" && key != "level" && key != "component") body[key] = value;
    }
  }
  // dump() of an object is "{...}"; the pattern supplies the braces.
  std::string text = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  Logger().log(level, std::string_view(text).substr(1, text.size() - 2));
}

nlohmann::json LogFieldsFrom(const nlohmann::json& input,
                             const std::vector<std::string>& log_fields) {
  nlohmann::json out = nlohmann::json::object();
  for (const std::string& path : log_fields) {
    const nlohmann::json* node = &input;
    size_t start = 0;
    while (node != nullptr && start <= path.size()) {
      size_t dot = path.find('.', start);
      std::string part =
          path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      if (!node->is_object() || !node->contains(part)) {
        node = nullptr;
        break;
      }
      node = &(*node)[part];
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    if (node != nullptr) out[path] = *node;
  }
  return out;
}

}  // namespace magic::logging
