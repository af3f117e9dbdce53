#include "broker/internal/net_address.h"

#include "common/errors.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace magic::broker::internal {
namespace {

constexpr std::array<uint8_t, 12> kMappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool IsMapped(const IpAddress& a) {
  return std::equal(kMappedPrefix.begin(), kMappedPrefix.end(), a.bytes.begin());
}

// The first `bits` bits of `a` equal those of `prefix`, given as bytes.
bool HasPrefix(const IpAddress& a, std::initializer_list<uint8_t> prefix, int bits) {
  const uint8_t* p = prefix.begin();
  for (int i = 0; bits > 0; ++i, bits -= 8) {
    const uint8_t want = i < static_cast<int>(prefix.size()) ? p[i] : 0;
    const uint8_t mask = bits >= 8 ? 0xff : static_cast<uint8_t>(0xff << (8 - bits));
    if ((a.bytes[static_cast<size_t>(i)] & mask) != (want & mask)) return false;
  }
  return true;
}

IpAddress FromV4Bytes(const uint8_t* v4) { return IpAddress::V4(v4[0], v4[1], v4[2], v4[3]); }

// Cloud instance-metadata and host-agent endpoints: refused even when
// private networks are allowed, since they hand out credentials.
bool IsMetadata(const IpAddress& a) {
  static const IpAddress kList[] = {
      IpAddress::V4(169, 254, 169, 254),  // AWS, GCP, Azure, OpenStack, DigitalOcean...
      IpAddress::V4(169, 254, 170, 2),    // AWS ECS task metadata
      IpAddress::V4(168, 63, 129, 16),    // Azure WireServer
      IpAddress::V4(100, 100, 100, 200),  // Alibaba Cloud
      IpAddress::V4(192, 0, 0, 192),      // Oracle Cloud
      *ParseIpAddress("fd00:ec2::254"),   // AWS IMDS over IPv6
  };
  return std::find(std::begin(kList), std::end(kList), a) != std::end(kList);
}

AddressClass ClassifyV4(const uint8_t* v) {
  const uint8_t a = v[0], b = v[1], c = v[2], d = v[3];
  if (IsMetadata(IpAddress::V4(a, b, c, d))) return AddressClass::kMetadata;
  if (a == 0) return AddressClass::kUnspecified;  // "this network": 0.0.0.0 reaches localhost
  if (a == 127) return AddressClass::kLoopback;
  if (a == 10 || (a == 172 && (b & 0xf0) == 16) || (a == 192 && b == 168)) {
    return AddressClass::kPrivate;
  }
  if (a == 169 && b == 254) return AddressClass::kLinkLocal;
  if (a == 100 && (b & 0xc0) == 64) return AddressClass::kCgnat;
  if (a == 255 && b == 255 && c == 255 && d == 255) return AddressClass::kBroadcast;
  if ((a & 0xf0) == 224) return AddressClass::kMulticast;
  if ((a & 0xf0) == 240) return AddressClass::kReserved;
  const bool reserved = (a == 192 && b == 0 && (c == 0 || c == 2)) ||  // IETF, TEST-NET-1
                        (a == 192 && b == 88 && c == 99) ||            // 6to4 relay anycast
                        (a == 198 && (b & 0xfe) == 18) ||              // benchmarking
                        (a == 198 && b == 51 && c == 100) ||           // TEST-NET-2
                        (a == 203 && b == 0 && c == 113);              // TEST-NET-3
  return reserved ? AddressClass::kReserved : AddressClass::kPublic;
}

AddressClass ClassifyV6(const IpAddress& a) {
  const auto& x = a.bytes;
  if (IsMetadata(a)) return AddressClass::kMetadata;
  if (HasPrefix(a, {}, 128)) return AddressClass::kUnspecified;
  if (HasPrefix(a, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 128)) {
    return AddressClass::kLoopback;
  }
  if (HasPrefix(a, {0x00, 0x64, 0xff, 0x9b}, 96)) return ClassifyV4(&x[12]);  // NAT64
  if (HasPrefix(a, {0x20, 0x02}, 16)) return ClassifyV4(&x[2]);               // 6to4
  if (HasPrefix(a, {0x00, 0x64, 0xff, 0x9b, 0x00, 0x01}, 48)) return AddressClass::kPrivate;
  if (HasPrefix(a, {0xfc}, 7) || HasPrefix(a, {0xfe, 0xc0}, 10)) return AddressClass::kPrivate;
  if (HasPrefix(a, {0xfe, 0x80}, 10)) return AddressClass::kLinkLocal;
  if (HasPrefix(a, {0xff}, 8)) return AddressClass::kMulticast;
  // Teredo and the IETF block, documentation, SRv6 SIDs; then everything
  // outside 2000::/3, the only block IANA allocates for global unicast
  // (IPv4-compatible ::/96 and discard-only 100::/64 fall here).
  if (HasPrefix(a, {0x20, 0x01, 0x00}, 23) || HasPrefix(a, {0x20, 0x01, 0x0d, 0xb8}, 32) ||
      HasPrefix(a, {0x3f, 0xff}, 20) || HasPrefix(a, {0x5f, 0x00}, 16) ||
      !HasPrefix(a, {0x20}, 3)) {
    return AddressClass::kReserved;
  }
  return AddressClass::kPublic;
}

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

absl::Status BadCidr(std::string_view text, std::string_view why) {
  return MakeError(ErrorCode::kE1005, fmt::format("bad CIDR \"{}\": {}", text, why),
                   {{"cidr", std::string(text)}});
}

}  // namespace

IpAddress IpAddress::V4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  IpAddress out;
  std::copy(kMappedPrefix.begin(), kMappedPrefix.end(), out.bytes.begin());
  out.bytes[12] = a;
  out.bytes[13] = b;
  out.bytes[14] = c;
  out.bytes[15] = d;
  out.is_v4 = true;
  return out;
}

std::string IpAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (is_v4) {
    inet_ntop(AF_INET, &bytes[12], buf, sizeof(buf));
  } else {
    inet_ntop(AF_INET6, bytes.data(), buf, sizeof(buf));
  }
  return buf;
}

std::optional<IpAddress> ParseIpAddress(std::string_view text) {
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
  }
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  char buf[INET6_ADDRSTRLEN] = {};
  std::memcpy(buf, text.data(), text.size());
  IpAddress out;
  uint8_t v4[4];
  if (inet_pton(AF_INET, buf, v4) == 1) return FromV4Bytes(v4);
  if (inet_pton(AF_INET6, buf, out.bytes.data()) == 1) return out;
  return std::nullopt;
}

std::optional<IpAddress> IpAddressFromSockaddr(const sockaddr* addr, socklen_t len) {
  if (addr == nullptr) return std::nullopt;
  if (addr->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    sockaddr_in in;
    std::memcpy(&in, addr, sizeof(in));
    uint8_t v4[4];
    std::memcpy(v4, &in.sin_addr, 4);
    return FromV4Bytes(v4);
  }
  if (addr->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    sockaddr_in6 in6;
    std::memcpy(&in6, addr, sizeof(in6));
    IpAddress out;
    std::memcpy(out.bytes.data(), &in6.sin6_addr, 16);
    return out;
  }
  return std::nullopt;
}

bool Cidr::Contains(const IpAddress& address) const {
  int bits = prefix;
  for (size_t i = 0; bits > 0; ++i, bits -= 8) {
    const uint8_t mask = bits >= 8 ? 0xff : static_cast<uint8_t>(0xff << (8 - bits));
    if ((address.bytes[i] & mask) != network.bytes[i]) return false;
  }
  return true;
}

absl::StatusOr<Cidr> ParseCidr(std::string_view text) {
  const size_t slash = text.find('/');
  const std::optional<IpAddress> address = ParseIpAddress(text.substr(0, slash));
  if (!address) return BadCidr(text, "not an IPv4 or IPv6 address");
  const int width = address->is_v4 ? 32 : 128;
  int bits = width;
  if (slash != std::string_view::npos) {
    const std::string_view digits = text.substr(slash + 1);
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), bits);
    if (digits.empty() || digits.size() > 3 || ec != std::errc() ||
        end != digits.data() + digits.size() || bits < 0 || bits > width) {
      return BadCidr(text, fmt::format("prefix length must be 0..{}", width));
    }
  }
  Cidr out{.network = *address, .prefix = bits + (address->is_v4 ? 96 : 0)};
  // Zero the host bits and refuse if any were set.
  IpAddress masked = *address;
  for (size_t i = 0; i < 16; ++i) {
    const int keep = std::clamp(out.prefix - static_cast<int>(i) * 8, 0, 8);
    masked.bytes[i] &= static_cast<uint8_t>(0xff << (8 - keep));
  }
  if (!(masked == *address)) return BadCidr(text, "host bits set");
  return out;
}

std::string_view AddressClassName(AddressClass address_class) {
  switch (address_class) {
    case AddressClass::kPublic:
      return "public";
    case AddressClass::kLoopback:
      return "loopback";
    case AddressClass::kPrivate:
      return "private";
    case AddressClass::kLinkLocal:
      return "link-local";
    case AddressClass::kCgnat:
      return "cgnat";
    case AddressClass::kUnspecified:
      return "unspecified";
    case AddressClass::kMulticast:
      return "multicast";
    case AddressClass::kBroadcast:
      return "broadcast";
    case AddressClass::kReserved:
      return "reserved";
    case AddressClass::kMetadata:
      return "metadata";
  }
  return "reserved";
}

AddressClass Classify(const IpAddress& address) {
  if (IsMapped(address)) return ClassifyV4(&address.bytes[12]);
  return ClassifyV6(address);
}

std::optional<AddressClass> CheckAddress(const IpAddress& address, const AddressRules& rules) {
  for (const Cidr& cidr : rules.allow_cidrs) {
    if (cidr.Contains(address)) return std::nullopt;
  }
  const AddressClass address_class = Classify(address);
  switch (address_class) {
    case AddressClass::kPublic:
      return std::nullopt;
    case AddressClass::kLoopback:
    case AddressClass::kPrivate:
    case AddressClass::kLinkLocal:
    case AddressClass::kCgnat:
      if (rules.allow_private_networks) return std::nullopt;
      return address_class;
    default:
      return address_class;
  }
}

std::string NormalizeHost(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  std::string out(host);
  std::transform(out.begin(), out.end(), out.begin(), Lower);
  return out;
}

std::optional<IpAddress> ParseIpLiteral(std::string_view host) {
  const std::string normalized = NormalizeHost(host);
  if (std::optional<IpAddress> strict = ParseIpAddress(normalized)) return strict;
  // inet_aton takes the historical forms: "127.1", "0x7f.1", "017.0.0.1".
  // It would also accept trailing " junk": no whitespace at all, then.
  if (normalized.empty() || normalized.size() >= 64 ||
      normalized.find_first_of(" \t\n\r\v\f") != std::string::npos) {
    return std::nullopt;
  }
  in_addr v4;
  if (inet_aton(normalized.c_str(), &v4) == 0) return std::nullopt;
  uint8_t bytes[4];
  std::memcpy(bytes, &v4, 4);
  return FromV4Bytes(bytes);
}

bool IsIpLiteral(std::string_view host) { return ParseIpLiteral(host).has_value(); }

bool HostMatchesPattern(std::string_view pattern, std::string_view host) {
  const std::string p = NormalizeHost(pattern);
  const std::string h = NormalizeHost(host);
  if (p.empty() || h.empty()) return false;
  if (p.starts_with("*.")) {
    if (IsIpLiteral(h)) return false;
    const std::string_view suffix = std::string_view(p).substr(1);  // ".example.com"
    return h.size() > suffix.size() && h.ends_with(suffix) &&
           h[h.size() - suffix.size() - 1] != '.';
  }
  if (p == h) return true;
  // By value, whatever the spelling: "127.0.0.1" == "::ffff:127.0.0.1" == "2130706433".
  const std::optional<IpAddress> pa = ParseIpLiteral(p), ha = ParseIpLiteral(h);
  return pa && ha && pa->bytes == ha->bytes;
}

bool HostMatchesAny(const std::vector<std::string>& patterns, std::string_view host) {
  return std::any_of(patterns.begin(), patterns.end(),
                     [&](const std::string& pattern) { return HostMatchesPattern(pattern, host); });
}

}  // namespace magic::broker::internal
