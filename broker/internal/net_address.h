// Address and host-name rules of http:egress (SSRF protection): which IP
// addresses a controller may reach, CIDR lists from the policy, and the
// "*.suffix" host patterns of contracts and policy.
//
//   std::optional<IpAddress> ip = IpAddressFromSockaddr(sa, len);
//   if (auto refused = CheckAddress(*ip, rules)) ...  // AddressClassName(*refused)
//
// IPv4 addresses are held in their IPv4-mapped IPv6 form (::ffff:a.b.c.d),
// so that one 128-bit CIDR matcher serves both families and a mapped
// address matches the IPv4 CIDR it stands for. Pure functions; thread-safe.
#pragma once

#include <absl/status/statusor.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace magic::broker::internal {

struct IpAddress {
  std::array<uint8_t, 16> bytes{};  // network order; IPv4 as ::ffff:a.b.c.d
  bool is_v4 = false;               // written as IPv4 (bytes hold the mapped form)

  static IpAddress V4(uint8_t a, uint8_t b, uint8_t c, uint8_t d);
  // "10.0.0.1", "::1": the canonical text (inet_ntop).
  std::string ToString() const;
  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

// Strict: dotted-quad IPv4 (no octal, hex or short forms) or RFC 4291 IPv6,
// optionally in brackets; no zone id. nullopt otherwise.
std::optional<IpAddress> ParseIpAddress(std::string_view text);
// AF_INET / AF_INET6 socket addresses; nullopt for any other family.
std::optional<IpAddress> IpAddressFromSockaddr(const sockaddr* addr, socklen_t len);

struct Cidr {
  IpAddress network;  // host bits zero
  int prefix = 0;     // over the 128-bit (mapped) form
  bool Contains(const IpAddress& address) const;
};
// "10.0.0.0/8", "fd00::/8", "127.0.0.1" (= /32), "::1" (= /128). E1005 on
// anything else, including set host bits ("10.0.0.1/8") which are almost
// always a mistake about the range meant.
absl::StatusOr<Cidr> ParseCidr(std::string_view text);

// Why an address is special. Everything that is not kPublic is refused
// unless the policy allows it (CheckAddress).
enum class AddressClass {
  kPublic,
  kLoopback,     // 127/8, ::1
  kPrivate,      // 10/8, 172.16/12, 192.168/16, fc00::/7, fec0::/10, 64:ff9b:1::/48
  kLinkLocal,    // 169.254/16, fe80::/10
  kCgnat,        // 100.64/10
  kUnspecified,  // 0/8, ::
  kMulticast,    // 224/4, ff00::/8
  kBroadcast,    // 255.255.255.255
  kReserved,     // documentation, benchmarking, 240/4, IETF, Teredo, unallocated IPv6...
  kMetadata,     // cloud instance metadata (169.254.169.254, fd00:ec2::254, ...)
};
// "public", "loopback", "private", "link-local", "cgnat", "unspecified",
// "multicast", "broadcast", "reserved", "metadata".
std::string_view AddressClassName(AddressClass address_class);

// IPv4 embedded in IPv6 (mapped ::ffff:0:0/96, NAT64 64:ff9b::/96, 6to4
// 2002::/16) is classified as the IPv4 address it carries, so
// ::ffff:127.0.0.1 is loopback and 64:ff9b::a9fe:a9fe is metadata.
AddressClass Classify(const IpAddress& address);

struct AddressRules {
  bool allow_private_networks = false;  // loopback, private, link-local, CGNAT
  std::vector<Cidr> allow_cidrs;        // allowed whatever their class
};

// nullopt when `address` may be connected to; otherwise the class that
// refuses it. Order: allow_cidrs first (an explicit range wins, metadata
// included), then public, then allow_private_networks — which never covers
// metadata, unspecified, multicast, broadcast or reserved addresses.
std::optional<AddressClass> CheckAddress(const IpAddress& address, const AddressRules& rules);

// "API.Example.com." -> "api.example.com"; "[::1]" -> "::1".
std::string NormalizeHost(std::string_view host);

// An IP literal in any spelling the C library accepts as one, including
// the short and numeric IPv4 forms ("127.1", "0x7f000001", "2130706433")
// that resolvers turn into addresses without DNS; brackets allowed.
std::optional<IpAddress> ParseIpLiteral(std::string_view host);
bool IsIpLiteral(std::string_view host);

// The contract's host-pattern rule (contracts::Capability::AllowsHost),
// for the policy's allow_hosts / deny_hosts: case-insensitive; "*.x.com"
// matches any name ending in ".x.com" with at least one label before it
// (not "x.com" itself). A wildcard never matches an IP literal; IP
// literals compare by value ("::1" == "0:0::1", "127.0.0.1" ==
// "::ffff:127.0.0.1" == "2130706433"), so no spelling slips past a list.
bool HostMatchesPattern(std::string_view pattern, std::string_view host);
bool HostMatchesAny(const std::vector<std::string>& patterns, std::string_view host);

}  // namespace magic::broker::internal
