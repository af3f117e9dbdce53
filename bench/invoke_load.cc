// Load generator for a running gateway (gRPC): warm sync latency and async
// throughput. Method and numbers: bench/RESULTS.md; driven by bench/run-farm.
//
//   invoke_load --addr 127.0.0.1:7070 --controller Adder --input '{"a":1,"b":2}'
//               --sync 2000 --async 5000 --inflight 64
//
// Sync: N sequential Invoke calls after a warm-up; prints p50/p90/p99/max.
// Async: M Submit calls with up to `inflight` outstanding (callback API),
// then Get polling until every one is SUCCEEDED/FAILED; prints submits/s
// and completed invocations/s (first submit to last result recorded).
#include "magic/v1/gateway.grpc.pb.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

void RunSync(magic::v1::Gateway::Stub& stub, const std::string& controller,
             const std::string& input, int n) {
  auto call = [&]() {
    magic::v1::InvokeRequest req;
    req.set_controller(controller);
    req.set_input_json(input);
    magic::v1::InvokeResponse resp;
    grpc::ClientContext ctx;
    return stub.Invoke(&ctx, req, &resp);
  };
  for (int i = 0; i < 200; ++i) call();  // warm-up: runners loaded, connections up
  std::vector<double> ms;
  ms.reserve(static_cast<size_t>(n));
  int errors = 0;
  for (int i = 0; i < n; ++i) {
    const auto t0 = Clock::now();
    if (!call().ok()) ++errors;
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  std::printf("sync: n=%d errors=%d p50=%.2fms p90=%.2fms p99=%.2fms max=%.2fms\n", n, errors,
              Percentile(ms, 0.50), Percentile(ms, 0.90), Percentile(ms, 0.99),
              *std::max_element(ms.begin(), ms.end()));
}

void RunAsync(magic::v1::Gateway::Stub& stub, const std::string& controller,
              const std::string& input, int m, int inflight) {
  std::mutex mu;
  std::condition_variable cv;
  int outstanding = 0, errors = 0;
  std::vector<std::string> ids;
  ids.reserve(static_cast<size_t>(m));
  const auto t0 = Clock::now();
  struct Call {
    grpc::ClientContext ctx;
    magic::v1::InvokeRequest req;
    magic::v1::SubmitResponse resp;
  };
  for (int i = 0; i < m; ++i) {
    auto* c = new Call();
    c->req.set_controller(controller);
    c->req.set_input_json(input);
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return outstanding < inflight; });
      ++outstanding;
    }
    stub.async()->Submit(&c->ctx, &c->req, &c->resp, [&, c](grpc::Status s) {
      std::lock_guard<std::mutex> lock(mu);
      if (s.ok())
        ids.push_back(c->resp.request_id());
      else
        ++errors;
      --outstanding;
      cv.notify_all();
      delete c;
    });
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return outstanding == 0; });
  }
  const double submit_s = std::chrono::duration<double>(Clock::now() - t0).count();
  // Wait for the last results (checking from the end: results arrive roughly in order).
  size_t finished = 0;
  for (auto it = ids.rbegin(); it != ids.rend(); ++it) {
    for (int tries = 0; tries < 6000; ++tries) {
      magic::v1::GetRequest get;
      get.set_request_id(*it);
      magic::v1::Invocation inv;
      grpc::ClientContext ctx;
      if (stub.Get(&ctx, get, &inv).ok() &&
          (inv.state() == magic::v1::SUCCEEDED || inv.state() == magic::v1::FAILED)) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (++finished >= 50) break;  // the last 50 submitted are done: the rest were before
  }
  const double total_s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("async: m=%d submit_errors=%d submit=%.0f/s completed=%.0f/s (%.2fs total)\n", m,
              errors, static_cast<double>(m) / submit_s, static_cast<double>(m) / total_s, total_s);
}

}  // namespace

int main(int argc, char** argv) {
  std::string addr = "127.0.0.1:7070", controller = "Adder", input = R"({"a": 1, "b": 2})";
  int sync_n = 2000, async_m = 5000, inflight = 64;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--addr")
      addr = v;
    else if (k == "--controller")
      controller = v;
    else if (k == "--input")
      input = v;
    else if (k == "--sync")
      sync_n = std::atoi(v.c_str());
    else if (k == "--async")
      async_m = std::atoi(v.c_str());
    else if (k == "--inflight")
      inflight = std::atoi(v.c_str());
    else {
      std::fprintf(stderr, "unknown flag %s\n", k.c_str());
      return 2;
    }
  }
  auto stub =
      magic::v1::Gateway::NewStub(grpc::CreateChannel(addr, grpc::InsecureChannelCredentials()));
  if (sync_n > 0) RunSync(*stub, controller, input, sync_n);
  if (async_m > 0) RunAsync(*stub, controller, input, async_m, inflight);
  return 0;
}
