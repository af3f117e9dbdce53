// The http:egress backend: outbound HTTP(S) on libcurl, with SSRF
// protection. Ops "get", "post", "put", "patch", "delete", "head"; params
//
//   {url, headers?: {name: value}, json?: any, data?: string,
//    params?: {name: scalar or [scalars]}, timeout?: seconds}
//
// and the result
//
//   {"status": 201, "headers": {"content-type": "application/json"},
//    "body": "{...}" | "body_base64": "...", "json": {...}, "url": "<final URL>"}
//
//   MAGIC_ASSIGN_OR_RETURN(auto http, MakeHttpBackend(policy.http));
//   absl::StatusOr<nlohmann::json> out = http->Call(ctx, "post", params, audit);
//
// Every request and every redirect (followed here, never by curl, at most
// policy.max_redirects) passes, in this order:
//   1. URL: http or https only, no user:password@          E1005 (redirect: E2003)
//   2. policy.deny_hosts, then policy.allow_hosts if set   E2002
//   3. the contract's allow list (IP literals only when listed literally)  E2003
//   4. each address curl connects to (after its one resolution, and for
//      connect_to targets): loopback, private, link-local, CGNAT,
//      unspecified, multicast, broadcast, reserved (and the IPv4-mapped,
//      NAT64 and 6to4 forms of them) refused unless
//      policy.allow_private_networks; cloud metadata addresses refused even
//      then; policy.allow_cidrs allows anything inside them   E2003 {host, address, reason}
// Limits: request body > max_request_bytes E2004; response (headers and
// body) > max_response_bytes E2004; the whole call, redirects included,
// within ctx.deadline and params.timeout E3001; more than max_redirects
// E2004; unreachable/TLS failure of the remote E3005 {host, reason}; a
// name that does not resolve E2003 {reason: "unresolvable"}. TLS peers
// are always verified (policy.ca_file adds a CA bundle to the system one).
//
// Audit fields: {"host", "method", "status" (0 without a response),
// "redirects", and "final_host" when a redirect left the first host}.
// Header values (Authorization above all) never reach audit, logs or error
// details. Authorization and Cookie are dropped when a redirect leaves the
// origin. Thread-safe: Call() may run on many threads at once.
#pragma once

#include "broker/backend.h"
#include "broker/policy.h"

#include <absl/status/statusor.h>
#include <nlohmann/json.hpp>

#include <memory>
#include <string_view>

namespace magic::broker {

class HttpBackend final : public Backend {
 public:
  // E1005 for a bad policy.http: a malformed allow_cidrs entry, connect_to
  // entry ("host:port" -> "ip:port"), unreadable ca_file, negative limits.
  static absl::StatusOr<std::unique_ptr<HttpBackend>> Create(const HttpPolicy& policy);
  ~HttpBackend() override;
  HttpBackend(const HttpBackend&) = delete;
  HttpBackend& operator=(const HttpBackend&) = delete;

  // Backend
  absl::StatusOr<nlohmann::json> Call(const CallContext& ctx, std::string_view op,
                                      const nlohmann::json& params, nlohmann::json& audit) override;

 private:
  struct State;
  explicit HttpBackend(std::unique_ptr<State> state);

  std::unique_ptr<State> state_;
};

inline absl::StatusOr<std::unique_ptr<HttpBackend>> MakeHttpBackend(const HttpPolicy& policy) {
  return HttpBackend::Create(policy);
}

}  // namespace magic::broker
