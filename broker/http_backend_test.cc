// http:egress against cpp-httplib servers on 127.0.0.1 ephemeral ports (and
// one Python HTTPS server): every method, arguments, limits, and the SSRF
// refusals. Names like api.example.test reach the servers through the
// policy's connect_to; the test policy allows 127.0.0.1 with allow_cidrs.
#include "broker/http_backend.h"

#include "common/errors.h"
#include "common/testing/status_testing.h"

#include <absl/time/clock.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <httplib.h>
#include <signal.h>
#include <spawn.h>
#include <thread>
#include <unistd.h>

extern char** environ;

namespace magic::broker {
namespace {

using contracts::Capability;
using contracts::CapabilityKind;
using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kSecret[] = "Bearer sk_test_do_not_leak_42";

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// One cpp-httplib server on 127.0.0.1:<ephemeral>, counting its requests.
struct TestServer {
  httplib::Server server;
  std::thread thread;
  int port = 0;
  std::atomic<int> hits{0};

  void Start() {
    server.set_tcp_nodelay(true);  // no 40 ms Nagle/delayed-ACK stalls
    server.set_pre_routing_handler([this](const httplib::Request&, httplib::Response&) {
      ++hits;
      return httplib::Server::HandlerResponse::Unhandled;
    });
    port = server.bind_to_any_port("127.0.0.1");
    thread = std::thread([this] { server.listen_after_bind(); });
  }
  void Stop() {
    server.stop();
    if (thread.joinable()) thread.join();
  }
};

void Echo(const httplib::Request& req, httplib::Response& res) {
  json headers = json::object();
  for (const auto& [name, value] : req.headers) headers[Lower(name)] = value;
  json query = json::object();
  for (const auto& [name, value] : req.params) query[name].push_back(value);
  json doc = {{"method", req.method},
              {"path", req.path},
              {"headers", headers},
              {"query", query},
              {"body", req.body}};
  doc["json"] = json::parse(req.body, nullptr, false);
  if (doc["json"].is_discarded()) doc["json"] = nullptr;
  res.set_content(doc.dump(), "application/json");
}

void Redirect(const httplib::Request& req, httplib::Response& res) {
  res.status = req.has_param("code") ? std::stoi(req.get_param_value("code")) : 302;
  res.set_header("Location", req.get_param_value("to"));
}

void AddRoutes(httplib::Server& s) {
  for (const char* path : {"/echo", "/redirect"}) {
    auto handler = std::string(path) == "/echo" ? Echo : Redirect;
    s.Get(path, handler).Post(path, handler).Put(path, handler);
    s.Patch(path, handler).Delete(path, handler);
  }
  s.Get("/big", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(64 << 10, 'x'), "text/plain");
  });
  s.Get("/bigchunked", [](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("text/plain", [](size_t offset, httplib::DataSink& sink) {
      const std::string chunk(4096, 'y');
      sink.write(chunk.data(), chunk.size());
      if (offset + chunk.size() >= (64 << 10)) sink.done();
      return true;
    });
  });
  s.Get("/slow", [](const httplib::Request&, httplib::Response& res) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    res.set_content("late", "text/plain");
  });
  s.Get("/loop", [](const httplib::Request&, httplib::Response& res) {
    res.status = 302;
    res.set_header("Location", "/loop");
  });
  s.Get("/binary", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string("\xff\xfe\x00\x01", 4), "application/octet-stream");
  });
  s.Get("/nested", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(1000, '[') + std::string(1000, ']'), "application/json");
  });
  s.Get("/headers", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("X-Dup", "a");
    res.set_header("X-Dup", "b");
    res.set_header("X-Latin", "caf\xe9");  // obs-text, not UTF-8
    res.set_content("ok", "text/plain");
  });
  s.Get("/notjson", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("{not json", "application/json; charset=utf-8");
  });
}

class HttpBackendTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    main_ = new TestServer;
    other_ = new TestServer;
    AddRoutes(main_->server);
    AddRoutes(other_->server);
    main_->Start();
    other_->Start();
    ASSERT_GT(main_->port, 0);
    ASSERT_GT(other_->port, 0);
  }
  static void TearDownTestSuite() {
    main_->Stop();
    other_->Stop();
    delete main_;
    delete other_;
  }

  // The test policy: names map to the loopback servers, 127.0.0.1 allowed.
  static HttpPolicy TestPolicy() {
    HttpPolicy policy;
    policy.allow_cidrs = {"127.0.0.1/32"};
    policy.connect_to = {
        {"api.example.test:80", fmt::format("127.0.0.1:{}", main_->port)},
        {"a.wild.example.test:80", fmt::format("127.0.0.1:{}", main_->port)},
        {"other.example.test:80", fmt::format("127.0.0.1:{}", other_->port)},
        {"denied.example.test:80", fmt::format("127.0.0.1:{}", main_->port)},
        {"internal.example.test:80", fmt::format("127.0.0.2:{}", other_->port)},
        {"down.example.test:80", "127.0.0.1:1"},
    };
    policy.max_redirects = 3;
    return policy;
  }

  static Capability Egress(std::vector<std::string> allow) {
    Capability capability;
    capability.kind = CapabilityKind::kHttpEgress;
    capability.allow = std::move(allow);
    return capability;
  }

  absl::StatusOr<json> Call(HttpBackend& backend, std::string_view op, const json& params,
                            absl::Duration within = absl::Seconds(10)) {
    CallContext ctx;
    ctx.request_id = "req_http_test";
    ctx.controller = "HttpTest";
    ctx.kind = CapabilityKind::kHttpEgress;
    ctx.declared = &capability_;
    ctx.deadline = absl::Now() + within;
    audit_ = json::object();
    return backend.Call(ctx, op, params, audit_);
  }

  absl::StatusOr<json> Call(std::string_view op, const json& params,
                            absl::Duration within = absl::Seconds(10)) {
    if (!backend_) {
      auto made = MakeHttpBackend(TestPolicy());
      EXPECT_OK(made);
      backend_ = std::move(made).value();
    }
    return Call(*backend_, op, params, within);
  }

  static std::string Url(std::string_view host, std::string_view path) {
    return fmt::format("http://{}{}", host, path);
  }

  static void ExpectCode(const absl::StatusOr<json>& result, ErrorCode code) {
    ASSERT_FALSE(result.ok()) << result->dump();
    EXPECT_EQ(ErrorCodeOf(result.status()), code) << result.status();
  }
  static json Details(const absl::StatusOr<json>& result) {
    return ErrorFromStatus(result.status()).details;
  }

  static inline TestServer* main_ = nullptr;
  static inline TestServer* other_ = nullptr;
  Capability capability_ =
      Egress({"api.example.test", "*.wild.example.test", "other.example.test",
              "denied.example.test", "internal.example.test", "down.example.test",
              "169.254.169.254", "10.0.0.1", "localhost", "::1", "nonexistent.invalid"});
  std::unique_ptr<HttpBackend> backend_;
  json audit_;
};

// --- Methods, arguments, result --------------------------------------------

TEST_F(HttpBackendTest, EveryMethodReachesTheServer) {
  const std::pair<const char*, const char*> kMethods[] = {
      {"get", "GET"}, {"post", "POST"}, {"put", "PUT"}, {"patch", "PATCH"}, {"delete", "DELETE"}};
  for (const auto& [op, method] : kMethods) {
    absl::StatusOr<json> out = Call(op, {{"url", Url("api.example.test", "/echo")}});
    ASSERT_OK(out);
    EXPECT_EQ((*out)["status"], 200);
    EXPECT_EQ((*out)["json"]["method"], method);
    EXPECT_EQ(audit_["method"], (*out)["json"]["method"]);
    EXPECT_EQ(audit_["host"], "api.example.test");
    EXPECT_EQ(audit_["status"], 200);
    EXPECT_EQ(audit_["redirects"], 0);
  }
  absl::StatusOr<json> head = Call("head", {{"url", Url("api.example.test", "/echo")}});
  ASSERT_OK(head);
  EXPECT_EQ((*head)["status"], 200);
  EXPECT_EQ((*head)["body"], "");
  EXPECT_FALSE(head->contains("json"));
  EXPECT_EQ(audit_["method"], "HEAD");
}

TEST_F(HttpBackendTest, JsonAndHeadersAreSentAndEchoed) {
  const json body = {{"amount", 1200}, {"lines", {"a", "é"}}};
  absl::StatusOr<json> out = Call(
      "post",
      {{"url", Url("api.example.test", "/echo")},
       {"json", body},
       {"headers",
        {{"Authorization", kSecret}, {"X-Trace", "t-1"}, {"X-Empty", ""}}}});  // sent as "X-Empty:"
  ASSERT_OK(out);
  const json& echo = (*out)["json"];
  EXPECT_EQ(echo["json"], body);
  EXPECT_EQ(echo["headers"]["content-type"], "application/json");
  EXPECT_EQ(echo["headers"]["x-trace"], "t-1");
  EXPECT_EQ(echo["headers"]["authorization"], kSecret);
  EXPECT_FALSE(echo["headers"].contains("expect"));
  EXPECT_EQ((*out)["headers"]["content-type"], "application/json");
  EXPECT_EQ((*out)["url"], "http://api.example.test/echo");
  EXPECT_TRUE((*out)["body"].is_string());
  // The secret went to the server, and nowhere else.
  EXPECT_THAT(audit_.dump(), Not(HasSubstr("sk_test")));
}

TEST_F(HttpBackendTest, DataBodyHasNoFormContentTypeUnlessGiven) {
  absl::StatusOr<json> out =
      Call("put", {{"url", Url("api.example.test", "/echo")}, {"data", "plain text"}});
  ASSERT_OK(out);
  EXPECT_EQ((*out)["json"]["body"], "plain text");
  EXPECT_FALSE((*out)["json"]["headers"].contains("content-type"));

  out = Call("patch", {{"url", Url("api.example.test", "/echo")},
                       {"data", "a=1"},
                       {"headers", {{"content-type", "application/x-www-form-urlencoded"}}}});
  ASSERT_OK(out);
  EXPECT_EQ((*out)["json"]["headers"]["content-type"], "application/x-www-form-urlencoded");
}

TEST_F(HttpBackendTest, QueryParamsAreEncodedAndAppended) {
  absl::StatusOr<json> out = Call(
      "get",
      {{"url", Url("api.example.test", "/echo?z=1")},
       {"params",
        {{"q", "a b&c=d"}, {"n", 5}, {"on", true}, {"multi", {"x", "y"}}, {"skip", nullptr}}}});
  ASSERT_OK(out);
  const json& query = (*out)["json"]["query"];
  EXPECT_EQ(query["z"], json({"1"}));
  EXPECT_EQ(query["q"], json({"a b&c=d"}));
  EXPECT_EQ(query["n"], json({"5"}));
  EXPECT_EQ(query["on"], json({"true"}));
  EXPECT_EQ(query["multi"], json({"x", "y"}));
  EXPECT_FALSE(query.contains("skip"));
}

TEST_F(HttpBackendTest, HostIsCaseInsensitiveAndWildcardsWork) {
  absl::StatusOr<json> out = Call("get", {{"url", Url("API.Example.TEST", "/echo")}});
  ASSERT_OK(out);
  EXPECT_EQ(audit_["host"], "api.example.test");
  ASSERT_OK(Call("get", {{"url", Url("a.wild.example.test", "/echo")}}));
}

TEST_F(HttpBackendTest, NonUtf8BodyComesAsBase64AndBadJsonAsText) {
  absl::StatusOr<json> out = Call("get", {{"url", Url("api.example.test", "/binary")}});
  ASSERT_OK(out);
  EXPECT_FALSE(out->contains("body"));
  EXPECT_EQ((*out)["body_base64"], "//4AAQ==");

  out = Call("get", {{"url", Url("api.example.test", "/notjson")}});
  ASSERT_OK(out);
  EXPECT_EQ((*out)["body"], "{not json");
  EXPECT_FALSE(out->contains("json"));

  out = Call("get", {{"url", Url("api.example.test", "/headers")}});
  ASSERT_OK(out);
  EXPECT_EQ((*out)["headers"]["x-dup"], "a, b");
  EXPECT_EQ((*out)["headers"]["x-latin"], "caf\u00e9");
  EXPECT_NO_THROW(out->dump());

  out = Call("get", {{"url", Url("api.example.test", "/nested")}});
  ASSERT_OK(out);  // too deep to be parsed here; the text is still there
  EXPECT_FALSE(out->contains("json"));
  EXPECT_EQ((*out)["body"].get<std::string>().size(), 2000u);
}

// --- Limits ------------------------------------------------------------------

TEST_F(HttpBackendTest, ResponseLargerThanPolicyIsE2004) {
  HttpPolicy policy = TestPolicy();
  policy.max_response_bytes = 16 << 10;
  auto backend = MakeHttpBackend(policy);
  ASSERT_OK(backend);
  for (const char* path : {"/big", "/bigchunked"}) {
    absl::StatusOr<json> out = Call(**backend, "get", {{"url", Url("api.example.test", path)}});
    ExpectCode(out, ErrorCode::kE2004);
    EXPECT_EQ(Details(out)["limit"], 16 << 10) << path;
  }
  // The server compresses /big to a few bytes (we accept br/gzip): the cap
  // counts decoded bytes, so a compression bomb stops at the limit too.
  absl::StatusOr<json> head = Call(**backend, "head", {{"url", Url("api.example.test", "/big")}});
  ASSERT_OK(head);  // HEAD has no body: never over the limit
  EXPECT_EQ((*head)["status"], 200);
  EXPECT_LT(std::stoi((*head)["headers"]["content-length"].get<std::string>()), 16 << 10);
}

TEST_F(HttpBackendTest, RequestLargerThanPolicyIsE2004BeforeAnyConnection) {
  HttpPolicy policy = TestPolicy();
  policy.max_request_bytes = 100;
  auto backend = MakeHttpBackend(policy);
  ASSERT_OK(backend);
  const int hits = main_->hits;
  ExpectCode(Call(**backend, "post",
                  {{"url", Url("api.example.test", "/echo")}, {"data", std::string(101, 'x')}}),
             ErrorCode::kE2004);
  ExpectCode(Call(**backend, "post",
                  {{"url", Url("api.example.test", "/echo")}, {"json", std::string(100, 'x')}}),
             ErrorCode::kE2004);
  EXPECT_EQ(main_->hits, hits);
  ASSERT_OK(Call(**backend, "post",
                 {{"url", Url("api.example.test", "/echo")}, {"data", std::string(100, 'x')}}));
}

TEST_F(HttpBackendTest, DeadlineBoundsTheCall) {
  const absl::Time start = absl::Now();
  absl::StatusOr<json> out =
      Call("get", {{"url", Url("api.example.test", "/slow")}}, absl::Milliseconds(300));
  ExpectCode(out, ErrorCode::kE3001);
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));

  out = Call("get", {{"url", Url("api.example.test", "/slow")}, {"timeout", 0.2}});
  ExpectCode(out, ErrorCode::kE3001);

  out = Call("get", {{"url", Url("api.example.test", "/echo")}}, absl::Milliseconds(-1));
  ExpectCode(out, ErrorCode::kE3001);
}

// --- Argument errors -----------------------------------------------------------

TEST_F(HttpBackendTest, BadArgumentsAreE1005) {
  const std::string url = Url("api.example.test", "/echo");
  ExpectCode(Call("options", {{"url", url}}), ErrorCode::kE1005);
  ExpectCode(Call("get", json::array()), ErrorCode::kE1005);
  ExpectCode(Call("get", json::object()), ErrorCode::kE1005);
  ExpectCode(Call("get", {{"url", 5}}), ErrorCode::kE1005);
  ExpectCode(Call("get", {{"url", url}, {"bogus", 1}}), ErrorCode::kE1005);
  ExpectCode(Call("post", {{"url", url}, {"json", 1}, {"data", "x"}}), ErrorCode::kE1005);
  ExpectCode(Call("post", {{"url", url}, {"data", 5}}), ErrorCode::kE1005);
  ExpectCode(Call("head", {{"url", url}, {"data", "x"}}), ErrorCode::kE1005);
  ExpectCode(Call("get", {{"url", url}, {"timeout", 0}}), ErrorCode::kE1005);
  ExpectCode(Call("get", {{"url", url}, {"timeout", "5"}}), ErrorCode::kE1005);
  ExpectCode(Call("get", {{"url", url}, {"params", {{"a", {{"nested", 1}}}}}}), ErrorCode::kE1005);
  ExpectCode(Call("get", {{"url", url}, {"headers", {{"X-A", 5}}}}), ErrorCode::kE1005);
  ExpectCode(Call("get", {{"url", url}, {"headers", {{"Bad Name", "x"}}}}), ErrorCode::kE1005);
  ExpectCode(Call("get", {{"url", url}, {"headers", {{"Host", "evil.test"}}}}), ErrorCode::kE1005);
  ExpectCode(Call("get", {{"url", url}, {"headers", {{"Content-Length", "1"}}}}),
             ErrorCode::kE1005);
  json many = json::object();
  for (int i = 0; i < 65; ++i) many[fmt::format("X-H{}", i)] = "v";
  ExpectCode(Call("get", {{"url", url}, {"headers", many}}), ErrorCode::kE1005);
  ExpectCode(Call("get", {{"url", url}, {"headers", {{"X-A", std::string(9000, 'a')}}}}),
             ErrorCode::kE1005);
}

TEST_F(HttpBackendTest, HeaderInjectionIsRefusedWithoutEchoingTheValue) {
  const int hits = main_->hits;
  for (const char* value : {"sk_live_1\r\nX-Injected: 1", "sk_live_1\nX", "sk_live_1\x00x"}) {
    absl::StatusOr<json> out =
        Call("get", {{"url", Url("api.example.test", "/echo")},
                     {"headers", {{"Authorization", std::string(value, 14)}}}});
    ExpectCode(out, ErrorCode::kE1005);
    EXPECT_THAT(ErrorFromStatus(out.status()).ToJson().dump(), Not(HasSubstr("sk_live")));
  }
  EXPECT_EQ(main_->hits, hits);
}

TEST_F(HttpBackendTest, UrlsOtherThanPlainHttpAreRefused) {
  for (const std::string url :
       {"http://user:pw@api.example.test/echo", "http://user@api.example.test/echo",
        "file:///etc/passwd", "gopher://api.example.test/", "ftp://api.example.test/",
        "dict://api.example.test:11211/", "api.example.test/echo", "http://",
        "http://exa mple.test/", "http://bücher.example/", "http://[fe80::1%25eth0]/"}) {
    absl::StatusOr<json> out = Call("get", {{"url", url}});
    ASSERT_FALSE(out.ok()) << url;
    EXPECT_EQ(ErrorCodeOf(out.status()), ErrorCode::kE1005) << url << " " << out.status();
  }
  const std::string with_nul("http://api.example.test/\0@evil.example.test/", 45);
  ExpectCode(Call("get", {{"url", with_nul}}), ErrorCode::kE1005);
}

// --- Host rules ------------------------------------------------------------------

TEST_F(HttpBackendTest, HostOutsideTheContractIsE2003) {
  const int hits = main_->hits;
  absl::StatusOr<json> out = Call("get", {{"url", Url("evil.example.test", "/")}});
  ExpectCode(out, ErrorCode::kE2003);
  EXPECT_EQ(Details(out)["host"], "evil.example.test");
  ExpectCode(Call("get", {{"url", Url("wild.example.test", "/")}}), ErrorCode::kE2003);
  // Checks apply to the host as curl decodes it.
  out = Call("get", {{"url", "http://ev%69l.example.test/"}});
  ExpectCode(out, ErrorCode::kE2003);
  EXPECT_EQ(Details(out)["host"], "evil.example.test");
  EXPECT_EQ(main_->hits, hits);
}

TEST_F(HttpBackendTest, PolicyDenyAndAllowHostsAreE2002) {
  HttpPolicy policy = TestPolicy();
  policy.deny_hosts = {"denied.example.test", "*.wild.example.test"};
  auto backend = MakeHttpBackend(policy);
  ASSERT_OK(backend);
  absl::StatusOr<json> out = Call(**backend, "get", {{"url", Url("denied.example.test", "/")}});
  ExpectCode(out, ErrorCode::kE2002);
  EXPECT_EQ(Details(out)["rule"], "deny_hosts");
  ExpectCode(Call(**backend, "get", {{"url", Url("A.Wild.example.test", "/")}}), ErrorCode::kE2002);
  ASSERT_OK(Call(**backend, "get", {{"url", Url("api.example.test", "/echo")}}));

  policy = TestPolicy();
  policy.allow_hosts = {"api.example.test"};
  backend = MakeHttpBackend(policy);
  ASSERT_OK(backend);
  ASSERT_OK(Call(**backend, "get", {{"url", Url("api.example.test", "/echo")}}));
  out = Call(**backend, "get", {{"url", Url("other.example.test", "/echo")}});
  ExpectCode(out, ErrorCode::kE2002);
  EXPECT_EQ(Details(out)["rule"], "allow_hosts");
}

// --- SSRF --------------------------------------------------------------------------

TEST_F(HttpBackendTest, LoopbackIsRefusedWithoutAllowCidrs) {
  HttpPolicy policy = TestPolicy();
  policy.allow_cidrs.clear();
  auto backend = MakeHttpBackend(policy);
  ASSERT_OK(backend);
  const int hits = main_->hits;
  absl::StatusOr<json> out = Call(**backend, "get", {{"url", Url("api.example.test", "/echo")}});
  ExpectCode(out, ErrorCode::kE2003);
  EXPECT_EQ(Details(out),
            json({{"host", "api.example.test"}, {"address", "127.0.0.1"}, {"reason", "loopback"}}));
  EXPECT_EQ(main_->hits, hits);
  EXPECT_EQ(audit_["status"], 0);
}

TEST_F(HttpBackendTest, NamesResolvingToLoopbackAreRefusedAtResolution) {
  HttpPolicy policy = TestPolicy();
  policy.allow_cidrs.clear();
  auto backend = MakeHttpBackend(policy);
  ASSERT_OK(backend);
  absl::StatusOr<json> out =
      Call(**backend, "get", {{"url", fmt::format("http://localhost:{}/echo", main_->port)}});
  ExpectCode(out, ErrorCode::kE2003);
  EXPECT_EQ(Details(out)["reason"], "loopback");
  EXPECT_THAT(Details(out)["address"].get<std::string>(), testing::AnyOf("127.0.0.1", "::1"));
  // Per address: with 127.0.0.1 allowed, ::1 (if tried) is refused and
  // 127.0.0.1 used.
  ASSERT_OK(Call("get", {{"url", fmt::format("http://localhost:{}/echo", main_->port)}}));
}

TEST_F(HttpBackendTest, MetadataIsRefusedEvenWithAllowPrivateNetworks) {
  for (const bool allow_private : {false, true}) {
    HttpPolicy policy = TestPolicy();
    policy.allow_private_networks = allow_private;
    auto backend = MakeHttpBackend(policy);
    ASSERT_OK(backend);
    absl::StatusOr<json> out =
        Call(**backend, "get", {{"url", "http://169.254.169.254/latest/meta-data/"}});
    ExpectCode(out, ErrorCode::kE2003);
    EXPECT_EQ(Details(out)["reason"], "metadata") << allow_private;
    EXPECT_EQ(Details(out)["address"], "169.254.169.254");
  }
  // Only an explicit allow_cidrs entry opens it (a deliberate operator choice).
  HttpPolicy policy = TestPolicy();
  policy.allow_cidrs.push_back("169.254.169.254/32");
  policy.connect_to["169.254.169.254:80"] = fmt::format("127.0.0.1:{}", main_->port);
  auto backend = MakeHttpBackend(policy);
  ASSERT_OK(backend);
  ASSERT_OK(Call(**backend, "get", {{"url", "http://169.254.169.254/echo"}}));
}

TEST_F(HttpBackendTest, PrivateAndIpv6LoopbackLiteralsAreRefused) {
  absl::StatusOr<json> out = Call("get", {{"url", "http://10.0.0.1/"}});
  ExpectCode(out, ErrorCode::kE2003);
  EXPECT_EQ(Details(out)["reason"], "private");
  out = Call("get", {{"url", fmt::format("http://[::1]:{}/", main_->port)}});
  ExpectCode(out, ErrorCode::kE2003);
  EXPECT_EQ(Details(out)["reason"], "loopback");
  EXPECT_EQ(Details(out)["address"], "::1");
}

TEST_F(HttpBackendTest, IpLiteralsMustBeListedLiterally) {
  const int hits = main_->hits;
  // 127.0.0.1 is allowed by allow_cidrs, but the contract does not list it.
  for (const std::string host : {"127.0.0.1", "2130706433", "0x7f.0.0.1", "127.1"}) {
    absl::StatusOr<json> out =
        Call("get", {{"url", fmt::format("http://{}:{}/echo", host, main_->port)}});
    ExpectCode(out, ErrorCode::kE2003);
    EXPECT_EQ(Details(out)["reason"], "ip literal not listed") << host;
  }
  capability_ = Egress({"*.0.0.1", "*.1"});
  ExpectCode(Call("get", {{"url", fmt::format("http://127.0.0.1:{}/echo", main_->port)}}),
             ErrorCode::kE2003);
  EXPECT_EQ(main_->hits, hits);
  capability_ = Egress({"127.0.0.1"});
  ASSERT_OK(Call("get", {{"url", fmt::format("http://127.0.0.1:{}/echo", main_->port)}}));
}

TEST_F(HttpBackendTest, UnresolvableAndUnreachableHosts) {
  absl::StatusOr<json> out = Call("get", {{"url", "http://nonexistent.invalid/"}});
  ExpectCode(out, ErrorCode::kE2003);
  EXPECT_EQ(Details(out)["reason"], "unresolvable");

  out = Call("get", {{"url", Url("down.example.test", "/")}});
  ExpectCode(out, ErrorCode::kE3005);
  EXPECT_EQ(Details(out)["host"], "down.example.test");
  EXPECT_FALSE(Details(out)["reason"].get<std::string>().empty());
}

// --- Redirects ------------------------------------------------------------------------

std::string RedirectPath(std::string_view to, int code = 302) {
  std::string encoded;
  for (const char c : to) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      encoded.push_back(c);
    } else {
      encoded += fmt::format("%{:02X}", static_cast<unsigned char>(c));
    }
  }
  return fmt::format("/redirect?code={}&to={}", code, encoded);
}

TEST_F(HttpBackendTest, RedirectsAreFollowedAndRechecked) {
  absl::StatusOr<json> out =
      Call("post", {{"url", Url("api.example.test", RedirectPath("/echo", 302))}, {"json", {1}}});
  ASSERT_OK(out);
  EXPECT_EQ((*out)["json"]["method"], "GET");  // 302 after POST: GET without body
  EXPECT_EQ((*out)["json"]["body"], "");
  EXPECT_EQ((*out)["url"], "http://api.example.test/echo");
  EXPECT_EQ(audit_["redirects"], 1);
  EXPECT_EQ(audit_["status"], 200);

  out = Call("post", {{"url", Url("api.example.test", RedirectPath("/echo", 307))}, {"json", {1}}});
  ASSERT_OK(out);
  EXPECT_EQ((*out)["json"]["method"], "POST");  // 307 keeps method and body
  EXPECT_EQ((*out)["json"]["json"], json({1}));

  out = Call("put", {{"url", Url("api.example.test", RedirectPath("/echo", 303))}, {"data", "x"}});
  ASSERT_OK(out);
  EXPECT_EQ((*out)["json"]["method"], "GET");
}

TEST_F(HttpBackendTest, CredentialsDoNotFollowACrossHostRedirect) {
  const json headers = {{"Authorization", kSecret}, {"X-Keep", "1"}};
  absl::StatusOr<json> out =
      Call("get", {{"url", Url("api.example.test", RedirectPath("/echo"))}, {"headers", headers}});
  ASSERT_OK(out);
  EXPECT_EQ((*out)["json"]["headers"]["authorization"], kSecret);  // same origin

  out =
      Call("get", {{"url", Url("api.example.test", RedirectPath("http://other.example.test/echo"))},
                   {"headers", headers}});
  ASSERT_OK(out);
  EXPECT_FALSE((*out)["json"]["headers"].contains("authorization"));
  EXPECT_EQ((*out)["json"]["headers"]["x-keep"], "1");
  EXPECT_EQ(audit_["host"], "api.example.test");
  EXPECT_EQ(audit_["final_host"], "other.example.test");
}

TEST_F(HttpBackendTest, RedirectToRefusedTargetsIsE2003) {
  const int other_hits = other_->hits;
  const std::string loopback_literal = fmt::format("http://127.0.0.1:{}/echo", other_->port);
  for (const std::string& to :
       {loopback_literal, std::string("http://169.254.169.254/latest/meta-data/"),
        std::string("http://internal.example.test/echo"), std::string("http://evil.example.test/"),
        std::string("file:///etc/passwd"), std::string("gopher://api.example.test/"),
        std::string("http://user:pw@other.example.test/echo")}) {
    absl::StatusOr<json> out = Call("get", {{"url", Url("api.example.test", RedirectPath(to))}});
    ExpectCode(out, ErrorCode::kE2003);
    EXPECT_EQ(audit_["status"], 302) << to;
  }
  absl::StatusOr<json> out = Call(
      "get",
      {{"url", Url("api.example.test", RedirectPath("http://169.254.169.254/latest/meta-data/"))}});
  EXPECT_EQ(Details(out)["reason"], "metadata");
  out = Call("get",
             {{"url", Url("api.example.test", RedirectPath("http://internal.example.test/echo"))}});
  EXPECT_EQ(Details(out)["address"], "127.0.0.2");  // connect_to target, not in allow_cidrs
  EXPECT_EQ(other_->hits, other_hits);
}

TEST_F(HttpBackendTest, RedirectLoopIsCapped) {
  absl::StatusOr<json> out = Call("get", {{"url", Url("api.example.test", "/loop")}});
  ExpectCode(out, ErrorCode::kE2004);
  EXPECT_EQ(Details(out)["limit"], 3);
  EXPECT_EQ(audit_["redirects"], 3);
}

// --- Policy, concurrency, HTTPS ------------------------------------------------------------

TEST_F(HttpBackendTest, BadPolicyIsE1005) {
  HttpPolicy policy = TestPolicy();
  policy.allow_cidrs = {"10.0.0.1/8"};
  EXPECT_EQ(ErrorCodeOf(MakeHttpBackend(policy).status()), ErrorCode::kE1005);
  policy = TestPolicy();
  policy.connect_to = {{"api.example.test:80", "localhost:80"}};
  EXPECT_EQ(ErrorCodeOf(MakeHttpBackend(policy).status()), ErrorCode::kE1005);
  policy.connect_to = {{"api.example.test", "127.0.0.1:80"}};
  EXPECT_EQ(ErrorCodeOf(MakeHttpBackend(policy).status()), ErrorCode::kE1005);
  policy = TestPolicy();
  policy.ca_file = "/nonexistent/ca.pem";
  EXPECT_EQ(ErrorCodeOf(MakeHttpBackend(policy).status()), ErrorCode::kE1005);
  policy = TestPolicy();
  policy.connect_to = {{"[::1]:443", "[::1]:8443"}};
  EXPECT_OK(MakeHttpBackend(policy));
}

TEST_F(HttpBackendTest, ConcurrentCallsShareTheBackend) {
  auto backend = MakeHttpBackend(TestPolicy());
  ASSERT_OK(backend);
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        CallContext ctx;
        ctx.declared = &capability_;
        ctx.deadline = absl::Now() + absl::Seconds(10);
        json audit;
        auto out = (*backend)->Call(
            ctx, "get",
            {{"url", Url("api.example.test", "/echo")}, {"params", {{"t", t}, {"i", i}}}}, audit);
        if (out.ok() && (*out)["json"]["query"]["i"] == json({std::to_string(i)})) ++ok;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(ok, 120);
}

// The Python HTTPS server of broker/testdata, with a throwaway CA.
class HttpsServer {
 public:
  bool Start() {
    dir_ = std::filesystem::temp_directory_path() /
           fmt::format("magic_http_test_{}_{}", getpid(), absl::ToUnixNanos(absl::Now()));
    const std::string testdata = MAGIC_BROKER_TESTDATA;
    const std::string make =
        fmt::format("bash {}/make_test_cert.sh {} secure.example.test", testdata, dir_.string());
    if (std::system(make.c_str()) != 0) return false;
    const std::string script = testdata + "/https_server.py";
    const std::string cert = (dir_ / "server.pem").string(), key = (dir_ / "server.key").string();
    const std::string port_file = (dir_ / "port").string();
    std::vector<std::string> args = {"python3", script, "--cert",      cert,
                                     "--key",   key,    "--port-file", port_file};
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    if (posix_spawnp(&pid_, "python3", nullptr, nullptr, argv.data(), environ) != 0) return false;
    for (int i = 0; i < 100 && port_ == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      std::ifstream in(port_file);
      in >> port_;
    }
    return port_ > 0;
  }
  ~HttpsServer() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  int port() const { return port_; }
  std::string ca_file() const { return (dir_ / "ca.pem").string(); }

 private:
  std::filesystem::path dir_;
  pid_t pid_ = 0;
  int port_ = 0;
};

TEST_F(HttpBackendTest, HttpsThroughConnectToWithExtraCa) {
  HttpsServer server;
  ASSERT_TRUE(server.Start());
  HttpPolicy policy = TestPolicy();
  policy.connect_to["secure.example.test:443"] = fmt::format("127.0.0.1:{}", server.port());
  policy.ca_file = server.ca_file();
  auto backend = MakeHttpBackend(policy);
  ASSERT_OK(backend);
  capability_ = Egress({"secure.example.test"});
  const json invoice = {{"customer", "cus_1"}, {"amount", 1200}};
  absl::StatusOr<json> out = Call(**backend, "post",
                                  {{"url", "https://secure.example.test/v1/invoices"},
                                   {"json", invoice},
                                   {"headers", {{"Authorization", kSecret}}}});
  ASSERT_OK(out);
  EXPECT_EQ((*out)["status"], 200);
  EXPECT_THAT((*out)["json"]["id"].get<std::string>(), testing::StartsWith("in_test_"));
  EXPECT_EQ((*out)["json"]["echo"], invoice);
  EXPECT_EQ((*out)["json"]["authorization_seen"], true);
  EXPECT_THAT(out->dump() + audit_.dump(), Not(HasSubstr("sk_test")));

  // Without the test CA the certificate is not trusted: verification is always on.
  policy.ca_file.clear();
  backend = MakeHttpBackend(policy);
  ASSERT_OK(backend);
  out = Call(**backend, "get", {{"url", "https://secure.example.test/healthz"}});
  ExpectCode(out, ErrorCode::kE3005);
}

}  // namespace
}  // namespace magic::broker
