#include "gateway/http_server.h"

#include "common/errors.h"
#include "common/ids.h"
#include "common/status_macros.h"

#include <fmt/format.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <cerrno>
#include <future>
#include <httplib.h>

namespace magic::gateway {
namespace {

constexpr char kJson[] = "application/json";

std::string RequestIdOf(const httplib::Request& req) {
  std::string id = req.get_header_value("X-Request-ID");
  return IsValidRequestId(id) ? id : NewRequestId();
}

void SendError(httplib::Response& res, const absl::Status& status, const std::string& id) {
  Error e = ErrorFromStatus(status, id);
  res.status = e.info().http_status;
  res.set_header("X-Request-ID", id);
  res.set_content(e.ToJson().dump(), kJson);
}

void SendJson(httplib::Response& res, int status, const nlohmann::json& body,
              const std::string& id) {
  res.status = status;
  res.set_header("X-Request-ID", id);
  res.set_content(body.dump(), kJson);
}

// Parses JSON text we produced or that a controller returned; a broken one
// is passed on as a string rather than dropped.
nlohmann::json ParseOrString(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  return j.is_discarded() ? nlohmann::json(text) : j;
}

nlohmann::json TimingsToJson(const magic::v1::Timings& t) {
  return {{"queue_us", t.queue_us()}, {"sandbox_us", t.sandbox_us()},
          {"exec_us", t.exec_us()},   {"capability_us", t.capability_us()},
          {"total_us", t.total_us()}, {"warm", t.warm()}};
}

// A non-negative integer header (absent: `fallback`); E1005 otherwise.
absl::StatusOr<int64_t> HeaderCount(const httplib::Request& req, const char* name,
                                    int64_t fallback) {
  if (!req.has_header(name)) return fallback;
  const std::string raw = req.get_header_value(name);
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(raw.c_str(), &end, 10);
  if (raw.empty() || *end != '\0' || v < 0 || errno == ERANGE || v > (int64_t{1} << 31)) {
    return MakeError(ErrorCode::kE1005, fmt::format("{} must be a non-negative integer", name),
                     {{"header", name}});
  }
  return v;
}

// "true"/"false" (absent: false); E1005 otherwise.
absl::StatusOr<bool> HeaderFlag(const httplib::Request& req, const char* name) {
  if (!req.has_header(name)) return false;
  const std::string raw = req.get_header_value(name);
  if (raw == "true" || raw == "1") return true;
  if (raw == "false" || raw == "0") return false;
  return MakeError(ErrorCode::kE1005, fmt::format("{} must be true or false", name),
                   {{"header", name}});
}

absl::StatusOr<InvokeCall> CallFrom(const httplib::Request& req, const std::string& id) {
  InvokeCall call{.controller = req.matches[1].str(), .input_json = req.body, .request_id = id};
  MAGIC_ASSIGN_OR_RETURN(call.timeout_ms, HeaderCount(req, "X-Magic-Timeout-Ms", 0));
  MAGIC_ASSIGN_OR_RETURN(const int64_t attempts, HeaderCount(req, "X-Magic-Max-Attempts", 0));
  call.max_attempts = static_cast<uint32_t>(std::min<int64_t>(attempts, 1 << 20));
  MAGIC_ASSIGN_OR_RETURN(call.retry_on_timeout, HeaderFlag(req, "X-Magic-Retry-On-Timeout"));
  call.idempotency_key = req.get_header_value("Idempotency-Key");
  return call;
}

// {"inputs": [...], "idempotency_key"?: "..."} -> a BatchCall; each input is
// passed on as its JSON text (validated per item by the service).
absl::StatusOr<BatchCall> BatchCallFrom(const httplib::Request& req) {
  nlohmann::json body = nlohmann::json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object() || !body.contains("inputs") ||
      !body["inputs"].is_array()) {
    return MakeError(ErrorCode::kE1005, R"(the body must be {"inputs": [...]})");
  }
  BatchCall call{.controller = req.matches[1].str()};
  call.inputs_json.reserve(body["inputs"].size());
  for (const nlohmann::json& input : body["inputs"]) call.inputs_json.push_back(input.dump());
  if (body.contains("idempotency_key") && body["idempotency_key"].is_string()) {
    call.idempotency_key = body["idempotency_key"].get<std::string>();
  }
  if (req.has_header("Idempotency-Key"))
    call.idempotency_key = req.get_header_value("Idempotency-Key");
  if (body.contains("timeout_ms") || body.contains("max_attempts") ||
      body.contains("retry_on_timeout")) {
    const nlohmann::json& t = body.value("timeout_ms", nlohmann::json(0));
    const nlohmann::json& m = body.value("max_attempts", nlohmann::json(0));
    const nlohmann::json& r = body.value("retry_on_timeout", nlohmann::json(false));
    if (!t.is_number_unsigned() || !m.is_number_unsigned() || !r.is_boolean() ||
        t.get<uint64_t>() > (uint64_t{1} << 31) || m.get<uint64_t>() > (uint64_t{1} << 20)) {
      return MakeError(ErrorCode::kE1005,
                       "timeout_ms and max_attempts must be non-negative integers, "
                       "retry_on_timeout a boolean");
    }
    call.timeout_ms = t.get<int64_t>();
    call.max_attempts = m.get<uint32_t>();
    call.retry_on_timeout = r.get<bool>();
  }
  return call;
}

// ?state=FAILED&page_size=N&page_token=T -> the request; E1005 when malformed.
absl::StatusOr<magic::v1::ListBatchItemsRequest> ItemsRequestFrom(const httplib::Request& req) {
  magic::v1::ListBatchItemsRequest request;
  request.set_batch_id(req.matches[1].str());
  if (req.has_param("state")) {
    magic::v1::InvocationState state = magic::v1::INVOCATION_STATE_UNSPECIFIED;
    if (!magic::v1::InvocationState_Parse(req.get_param_value("state"), &state)) {
      return MakeError(ErrorCode::kE1005,
                       "state must be QUEUED, RUNNING, SUCCEEDED, FAILED or CANCELLED");
    }
    request.set_state(state);
  }
  if (req.has_param("page_size")) {
    const std::string raw = req.get_param_value("page_size");
    char* end = nullptr;
    const long long v = std::strtoll(raw.c_str(), &end, 10);
    if (raw.empty() || *end != '\0' || v < 0 || v > 1000) {
      return MakeError(ErrorCode::kE1005, "page_size must be an integer in 0..1000");
    }
    request.set_page_size(static_cast<uint32_t>(v));
  }
  request.set_page_token(req.get_param_value("page_token"));
  return request;
}

}  // namespace

nlohmann::json BatchToJson(const magic::v1::Batch& batch) {
  return {{"batch_id", batch.batch_id()},
          {"controller", batch.controller()},
          {"total", batch.total()},
          {"queued", batch.queued()},
          {"running", batch.running()},
          {"succeeded", batch.succeeded()},
          {"failed", batch.failed()},
          {"cancelled", batch.cancelled()},
          {"created_unix_ms", batch.created_unix_ms()},
          {"finished", batch.finished()}};
}

nlohmann::json InvocationToJson(const magic::v1::Invocation& inv) {
  nlohmann::json j = {
      {"request_id", inv.request_id()}, {"controller", inv.controller()},
      {"version", inv.version()},       {"state", magic::v1::InvocationState_Name(inv.state())},
      {"attempts", inv.attempts()},     {"created_unix_ms", inv.created_unix_ms()}};
  if (inv.finished_unix_ms() > 0) j["finished_unix_ms"] = inv.finished_unix_ms();
  if (!inv.output_json().empty()) j["output"] = ParseOrString(inv.output_json());
  if (inv.has_error() && !inv.error().code().empty()) {
    nlohmann::json err = {{"code", inv.error().code()},
                          {"category", inv.error().category()},
                          {"message", inv.error().message()}};
    if (!inv.error().details_json().empty())
      err["details"] = ParseOrString(inv.error().details_json());
    j["error"] = err;
  }
  if (inv.has_timings()) j["timings"] = TimingsToJson(inv.timings());
  return j;
}

HttpGateway::HttpGateway(InvocationService& service, prometheus::Registry* metrics,
                         HttpOptions options)
    : service_(service), metrics_(metrics), options_(options) {}

HttpGateway::~HttpGateway() { Stop(); }

void HttpGateway::Route() {
  server_->Post(
      R"(/v1/controllers/([A-Za-z0-9_]{1,64}):invoke)", [this](const auto& req, auto& res) {
        const std::string id = RequestIdOf(req);
        absl::StatusOr<InvokeCall> call = CallFrom(req, id);
        if (!call.ok()) return SendError(res, call.status(), id);
        std::promise<absl::StatusOr<magic::v1::InvokeResponse>> done;
        service_.Invoke(*std::move(call), [&done](auto r) { done.set_value(std::move(r)); });
        absl::StatusOr<magic::v1::InvokeResponse> r = done.get_future().get();
        if (!r.ok()) return SendError(res, r.status(), id);
        SendJson(res, 200,
                 {{"request_id", r->request_id()},
                  {"controller", r->controller()},
                  {"version", r->version()},
                  {"output", ParseOrString(r->output_json())},
                  {"timings", TimingsToJson(r->timings())}},
                 id);
      });
  server_->Post(
      R"(/v1/controllers/([A-Za-z0-9_]{1,64}):submit)", [this](const auto& req, auto& res) {
        const std::string id = RequestIdOf(req);
        absl::StatusOr<InvokeCall> call = CallFrom(req, id);
        if (!call.ok()) return SendError(res, call.status(), id);
        std::promise<absl::StatusOr<std::string>> done;
        service_.Submit(*std::move(call), [&done](auto r) { done.set_value(std::move(r)); });
        absl::StatusOr<std::string> r = done.get_future().get();
        if (!r.ok()) return SendError(res, r.status(), id);
        SendJson(res, 202, {{"request_id", *r}}, id);
      });
  server_->Get(R"(/v1/invocations/([A-Za-z0-9._:-]{1,128}))", [this](const auto& req, auto& res) {
    const std::string id = req.matches[1].str();
    absl::StatusOr<magic::v1::Invocation> r = service_.Get(id);
    if (!r.ok()) return SendError(res, r.status(), id);
    SendJson(res, 200, InvocationToJson(*r), id);
  });
  server_->Post(R"(/v1/invocations/([A-Za-z0-9._:-]{1,128}):cancel)",
                [this](const auto& req, auto& res) {
                  const std::string id = req.matches[1].str();
                  absl::StatusOr<magic::v1::Invocation> r = service_.Cancel(id);
                  if (!r.ok()) return SendError(res, r.status(), id);
                  SendJson(res, 200, InvocationToJson(*r), id);
                });
  RouteBatches();
  server_->Get("/healthz", [](const auto& req, auto& res) {
    SendJson(res, 200, {{"status", "ok"}}, RequestIdOf(req));
  });
  server_->Get("/metrics", [this](const auto& req, auto& res) {
    res.set_header("X-Request-ID", RequestIdOf(req));
    if (metrics_ == nullptr) return res.set_content("", "text/plain; version=0.0.4");
    res.set_content(prometheus::TextSerializer().Serialize(metrics_->Collect()),
                    "text/plain; version=0.0.4");
  });
}

void HttpGateway::RouteBatches() {
  server_->Post(
      R"(/v1/controllers/([A-Za-z0-9_]{1,64}):submitBatch)", [this](const auto& req, auto& res) {
        const std::string id = RequestIdOf(req);
        absl::StatusOr<BatchCall> call = BatchCallFrom(req);
        if (!call.ok()) return SendError(res, call.status(), id);
        std::promise<absl::StatusOr<magic::v1::SubmitBatchResponse>> done;
        service_.SubmitBatch(*std::move(call), [&done](auto r) { done.set_value(std::move(r)); });
        absl::StatusOr<magic::v1::SubmitBatchResponse> r = done.get_future().get();
        if (!r.ok()) return SendError(res, r.status(), id);
        SendJson(res, 202,
                 {{"batch_id", r->batch_id()},
                  {"request_ids",
                   std::vector<std::string>(r->request_ids().begin(), r->request_ids().end())}},
                 id);
      });
  server_->Get(R"(/v1/batches/([A-Za-z0-9._:-]{1,128}))", [this](const auto& req, auto& res) {
    const std::string id = RequestIdOf(req);
    absl::StatusOr<magic::v1::Batch> r = service_.GetBatch(req.matches[1].str());
    if (!r.ok()) return SendError(res, r.status(), id);
    SendJson(res, 200, BatchToJson(*r), id);
  });
  server_->Get(R"(/v1/batches/([A-Za-z0-9._:-]{1,128})/items)", [this](const auto& req, auto& res) {
    const std::string id = RequestIdOf(req);
    absl::StatusOr<magic::v1::ListBatchItemsRequest> request = ItemsRequestFrom(req);
    if (!request.ok()) return SendError(res, request.status(), id);
    absl::StatusOr<magic::v1::ListBatchItemsResponse> r = service_.ListBatchItems(*request);
    if (!r.ok()) return SendError(res, r.status(), id);
    nlohmann::json items = nlohmann::json::array();
    for (const magic::v1::Invocation& item : r->items()) items.push_back(InvocationToJson(item));
    SendJson(res, 200, {{"items", items}, {"next_page_token", r->next_page_token()}}, id);
  });
}

absl::Status HttpGateway::Start(const std::string& host, int port) {
  server_ = std::make_unique<httplib::Server>();
  const int threads = options_.threads;
  server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server_->set_payload_max_length(static_cast<size_t>(options_.max_body_bytes));
  server_->set_error_handler([](const auto& req, auto& res) {
    if (!res.body.empty()) return;  // a handler already wrote its error JSON
    const std::string id = RequestIdOf(req);
    if (res.status == 413) {
      return SendError(res, MakeError(ErrorCode::kE1005, "request body too large"), id);
    }
    if (res.status == 404) {
      return SendError(
          res, MakeError(ErrorCode::kE1005, fmt::format("no route {} {}", req.method, req.path)),
          id);
    }
  });
  server_->set_exception_handler([](const auto& req, auto& res, std::exception_ptr) {
    SendError(res, MakeError(ErrorCode::kE3005, "internal error"), RequestIdOf(req));
  });
  Route();
  port_ =
      port == 0 ? server_->bind_to_any_port(host) : (server_->bind_to_port(host, port) ? port : -1);
  if (port_ <= 0) {
    return absl::UnavailableError(fmt::format("cannot bind HTTP {}:{}", host, port));
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return absl::OkStatus();
}

void HttpGateway::Stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace magic::gateway
