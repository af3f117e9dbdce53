#include "broker/internal/net_address.h"

#include "common/errors.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cstring>

namespace magic::broker::internal {
namespace {

AddressClass ClassOf(std::string_view text) {
  const std::optional<IpAddress> address = ParseIpAddress(text);
  EXPECT_TRUE(address.has_value()) << text;
  return address ? Classify(*address) : AddressClass::kPublic;
}

std::string_view ClassName(std::string_view text) { return AddressClassName(ClassOf(text)); }

TEST(ParseIpAddressTest, AcceptsStrictForms) {
  EXPECT_EQ(ParseIpAddress("10.1.2.3")->ToString(), "10.1.2.3");
  EXPECT_TRUE(ParseIpAddress("10.1.2.3")->is_v4);
  EXPECT_EQ(ParseIpAddress("[::1]")->ToString(), "::1");
  EXPECT_EQ(ParseIpAddress("0:0:0:0:0:0:0:1")->ToString(), "::1");
  EXPECT_FALSE(ParseIpAddress("::1")->is_v4);
  EXPECT_EQ(ParseIpAddress("::ffff:127.0.0.1")->ToString(), "::ffff:127.0.0.1");
}

TEST(ParseIpAddressTest, RefusesLooseForms) {
  for (const char* text :
       {"", "127.1", "0x7f.0.0.1", "2130706433", "017.0.0.1", "1.2.3.4.5", "256.0.0.1",
        "fe80::1%eth0", "::1]", "[::1", "example.com", " 1.2.3.4", "1.2.3.4 "}) {
    EXPECT_FALSE(ParseIpAddress(text).has_value()) << text;
  }
}

TEST(ParseIpAddressTest, MappedAndPlainIpv4Share128BitForm) {
  const IpAddress plain = *ParseIpAddress("127.0.0.1");
  const IpAddress mapped = *ParseIpAddress("::ffff:127.0.0.1");
  EXPECT_EQ(plain.bytes, mapped.bytes);
  EXPECT_TRUE(plain == IpAddress::V4(127, 0, 0, 1));
}

TEST(IpAddressFromSockaddrTest, ReadsBothFamilies) {
  sockaddr_in in{};
  in.sin_family = AF_INET;
  inet_pton(AF_INET, "169.254.169.254", &in.sin_addr);
  auto v4 = IpAddressFromSockaddr(reinterpret_cast<const sockaddr*>(&in), sizeof(in));
  ASSERT_TRUE(v4.has_value());
  EXPECT_EQ(v4->ToString(), "169.254.169.254");

  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  inet_pton(AF_INET6, "fd00:ec2::254", &in6.sin6_addr);
  auto v6 = IpAddressFromSockaddr(reinterpret_cast<const sockaddr*>(&in6), sizeof(in6));
  ASSERT_TRUE(v6.has_value());
  EXPECT_EQ(v6->ToString(), "fd00:ec2::254");

  sockaddr unix_addr{};
  unix_addr.sa_family = AF_UNIX;
  EXPECT_FALSE(IpAddressFromSockaddr(&unix_addr, sizeof(unix_addr)).has_value());
  EXPECT_FALSE(IpAddressFromSockaddr(nullptr, 0).has_value());
  EXPECT_FALSE(IpAddressFromSockaddr(reinterpret_cast<const sockaddr*>(&in), 4).has_value());
}

TEST(ClassifyTest, Ipv4Ranges) {
  EXPECT_EQ(ClassName("127.0.0.1"), "loopback");
  EXPECT_EQ(ClassName("127.255.255.254"), "loopback");
  EXPECT_EQ(ClassName("10.0.0.1"), "private");
  EXPECT_EQ(ClassName("172.16.0.1"), "private");
  EXPECT_EQ(ClassName("172.31.255.255"), "private");
  EXPECT_EQ(ClassName("172.32.0.1"), "public");
  EXPECT_EQ(ClassName("172.15.255.255"), "public");
  EXPECT_EQ(ClassName("192.168.1.1"), "private");
  EXPECT_EQ(ClassName("169.254.1.1"), "link-local");
  EXPECT_EQ(ClassName("100.64.0.1"), "cgnat");
  EXPECT_EQ(ClassName("100.127.255.255"), "cgnat");
  EXPECT_EQ(ClassName("100.128.0.1"), "public");
  EXPECT_EQ(ClassName("0.0.0.0"), "unspecified");
  EXPECT_EQ(ClassName("0.1.2.3"), "unspecified");
  EXPECT_EQ(ClassName("224.0.0.1"), "multicast");
  EXPECT_EQ(ClassName("239.255.255.250"), "multicast");
  EXPECT_EQ(ClassName("255.255.255.255"), "broadcast");
  EXPECT_EQ(ClassName("240.0.0.1"), "reserved");
  EXPECT_EQ(ClassName("192.0.2.1"), "reserved");
  EXPECT_EQ(ClassName("198.51.100.7"), "reserved");
  EXPECT_EQ(ClassName("203.0.113.9"), "reserved");
  EXPECT_EQ(ClassName("198.18.0.1"), "reserved");
  EXPECT_EQ(ClassName("192.0.0.8"), "reserved");
  EXPECT_EQ(ClassName("8.8.8.8"), "public");
  EXPECT_EQ(ClassName("93.184.216.34"), "public");
}

TEST(ClassifyTest, MetadataAddresses) {
  for (const char* text :
       {"169.254.169.254", "169.254.170.2", "168.63.129.16", "100.100.100.200", "192.0.0.192",
        "fd00:ec2::254", "::ffff:169.254.169.254", "64:ff9b::a9fe:a9fe"}) {
    EXPECT_EQ(ClassName(text), "metadata") << text;
  }
}

TEST(ClassifyTest, Ipv6Ranges) {
  EXPECT_EQ(ClassName("::"), "unspecified");
  EXPECT_EQ(ClassName("::1"), "loopback");
  EXPECT_EQ(ClassName("fc00::1"), "private");
  EXPECT_EQ(ClassName("fd12:3456::1"), "private");
  EXPECT_EQ(ClassName("fec0::1"), "private");
  EXPECT_EQ(ClassName("fe80::1"), "link-local");
  EXPECT_EQ(ClassName("febf::1"), "link-local");
  EXPECT_EQ(ClassName("ff02::1"), "multicast");
  EXPECT_EQ(ClassName("2001:db8::1"), "reserved");
  EXPECT_EQ(ClassName("2001::1"), "reserved");   // Teredo
  EXPECT_EQ(ClassName("100::1"), "reserved");    // discard-only
  EXPECT_EQ(ClassName("::7f00:1"), "reserved");  // IPv4-compatible (deprecated)
  EXPECT_EQ(ClassName("4000::1"), "reserved");   // outside 2000::/3
  EXPECT_EQ(ClassName("2606:4700::1111"), "public");
  EXPECT_EQ(ClassName("2001:4860:4860::8888"), "public");
}

TEST(ClassifyTest, EmbeddedIpv4FormsAreClassifiedAsTheirIpv4) {
  EXPECT_EQ(ClassName("::ffff:127.0.0.1"), "loopback");
  EXPECT_EQ(ClassName("::ffff:7f00:1"), "loopback");
  EXPECT_EQ(ClassName("::ffff:10.0.0.1"), "private");
  EXPECT_EQ(ClassName("::ffff:8.8.8.8"), "public");
  EXPECT_EQ(ClassName("64:ff9b::127.0.0.1"), "loopback");  // NAT64
  EXPECT_EQ(ClassName("64:ff9b::10.1.1.1"), "private");
  EXPECT_EQ(ClassName("64:ff9b::8.8.8.8"), "public");
  EXPECT_EQ(ClassName("64:ff9b:1::1"), "private");     // local-use NAT64
  EXPECT_EQ(ClassName("2002:7f00:1::1"), "loopback");  // 6to4 of 127.0.0.1
  EXPECT_EQ(ClassName("2002:a9fe:a9fe::1"), "metadata");
  EXPECT_EQ(ClassName("2002:808:808::1"), "public");
}

TEST(ParseCidrTest, ParsesBothFamilies) {
  absl::StatusOr<Cidr> v4 = ParseCidr("10.1.2.0/24");
  ASSERT_TRUE(v4.ok()) << v4.status();
  EXPECT_TRUE(v4->Contains(*ParseIpAddress("10.1.2.77")));
  EXPECT_TRUE(v4->Contains(*ParseIpAddress("::ffff:10.1.2.77")));
  EXPECT_FALSE(v4->Contains(*ParseIpAddress("10.1.3.1")));
  EXPECT_FALSE(v4->Contains(*ParseIpAddress("::a01:24d")));

  absl::StatusOr<Cidr> v6 = ParseCidr("fd00::/8");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_TRUE(v6->Contains(*ParseIpAddress("fd12::1")));
  EXPECT_FALSE(v6->Contains(*ParseIpAddress("fe80::1")));

  absl::StatusOr<Cidr> host = ParseCidr("127.0.0.1");
  ASSERT_TRUE(host.ok());
  EXPECT_EQ(host->prefix, 128);
  EXPECT_TRUE(host->Contains(*ParseIpAddress("127.0.0.1")));
  EXPECT_FALSE(host->Contains(*ParseIpAddress("127.0.0.2")));

  absl::StatusOr<Cidr> all = ParseCidr("0.0.0.0/0");
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->Contains(*ParseIpAddress("1.2.3.4")));
  EXPECT_FALSE(all->Contains(*ParseIpAddress("::1")));  // the IPv4 space only

  EXPECT_TRUE(ParseCidr("::1/128").ok());
  EXPECT_TRUE(ParseCidr("[::1]/128").ok());
  EXPECT_TRUE(ParseCidr("::/0").ok());
  EXPECT_TRUE(ParseCidr("172.16.0.0/12").ok());
}

TEST(ParseCidrTest, RefusesBadInput) {
  for (const char* text :
       {"", "/", "/8", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/8x",
        "10.0.0.0/8/8", "::/129", "10.0.0.1/8", "fd00::1/8", "10.0/8", "example.com/8",
        "10.0.0.0 /8", "10.0.0.0/1000", "10.0.0.0/99999999999999999999"}) {
    absl::StatusOr<Cidr> cidr = ParseCidr(text);
    EXPECT_FALSE(cidr.ok()) << text;
    EXPECT_EQ(ErrorCodeOf(cidr.status()), ErrorCode::kE1005) << text;
  }
}

TEST(CheckAddressTest, DefaultRefusesEverythingButPublic) {
  const AddressRules rules;
  EXPECT_FALSE(CheckAddress(*ParseIpAddress("8.8.8.8"), rules).has_value());
  EXPECT_EQ(CheckAddress(*ParseIpAddress("127.0.0.1"), rules), AddressClass::kLoopback);
  EXPECT_EQ(CheckAddress(*ParseIpAddress("::ffff:10.0.0.1"), rules), AddressClass::kPrivate);
  EXPECT_EQ(CheckAddress(*ParseIpAddress("169.254.169.254"), rules), AddressClass::kMetadata);
}

TEST(CheckAddressTest, AllowPrivateNetworksStillRefusesMetadataAndSpecial) {
  AddressRules rules;
  rules.allow_private_networks = true;
  for (const char* ok : {"127.0.0.1", "::1", "10.0.0.1", "192.168.0.1", "fd00::1", "fe80::1",
                         "169.254.1.1", "100.64.0.1"}) {
    EXPECT_FALSE(CheckAddress(*ParseIpAddress(ok), rules).has_value()) << ok;
  }
  for (const char* refused : {"169.254.169.254", "fd00:ec2::254", "::ffff:169.254.169.254",
                              "0.0.0.0", "::", "224.0.0.1", "255.255.255.255", "240.0.0.1"}) {
    EXPECT_TRUE(CheckAddress(*ParseIpAddress(refused), rules).has_value()) << refused;
  }
}

TEST(CheckAddressTest, AllowCidrsWinIncludingMetadata) {
  AddressRules rules;
  rules.allow_cidrs.push_back(*ParseCidr("127.0.0.1/32"));
  rules.allow_cidrs.push_back(*ParseCidr("169.254.169.254/32"));
  EXPECT_FALSE(CheckAddress(*ParseIpAddress("127.0.0.1"), rules).has_value());
  EXPECT_FALSE(CheckAddress(*ParseIpAddress("::ffff:127.0.0.1"), rules).has_value());
  EXPECT_FALSE(CheckAddress(*ParseIpAddress("169.254.169.254"), rules).has_value());
  EXPECT_EQ(CheckAddress(*ParseIpAddress("127.0.0.2"), rules), AddressClass::kLoopback);
  EXPECT_EQ(CheckAddress(*ParseIpAddress("::1"), rules), AddressClass::kLoopback);
}

TEST(HostTest, NormalizeHost) {
  EXPECT_EQ(NormalizeHost("API.Example.COM."), "api.example.com");
  EXPECT_EQ(NormalizeHost("[::1]"), "::1");
  EXPECT_EQ(NormalizeHost(""), "");
}

TEST(HostTest, ParseIpLiteralReadsEverySpelling) {
  EXPECT_EQ(ParseIpLiteral("2130706433")->ToString(), "127.0.0.1");
  EXPECT_EQ(ParseIpLiteral("0x7f.1")->ToString(), "127.0.0.1");
  EXPECT_EQ(ParseIpLiteral("[::1]")->ToString(), "::1");
  EXPECT_FALSE(ParseIpLiteral("1.2.3.4 junk").has_value());
  EXPECT_FALSE(ParseIpLiteral("localhost").has_value());
}

TEST(HostTest, IsIpLiteralCoversResolverShortForms) {
  for (const char* text :
       {"127.0.0.1", "::1", "[::1]", "127.1", "0x7f000001", "2130706433", "017.0.0.1", "0x7f.1"}) {
    EXPECT_TRUE(IsIpLiteral(text)) << text;
  }
  for (const char* text : {"example.com", "localhost", "127.0.0.1.nip.io", "", "1.2.3.4.5"}) {
    EXPECT_FALSE(IsIpLiteral(text)) << text;
  }
}

TEST(HostTest, PatternMatching) {
  EXPECT_TRUE(HostMatchesPattern("api.stripe.com", "api.stripe.com"));
  EXPECT_TRUE(HostMatchesPattern("API.Stripe.com", "api.STRIPE.com."));
  EXPECT_FALSE(HostMatchesPattern("api.stripe.com", "xapi.stripe.com"));
  EXPECT_FALSE(HostMatchesPattern("api.stripe.com", "api.stripe.com.evil.com"));
  EXPECT_TRUE(HostMatchesPattern("*.example.com", "a.example.com"));
  EXPECT_TRUE(HostMatchesPattern("*.example.com", "a.b.EXAMPLE.com"));
  EXPECT_FALSE(HostMatchesPattern("*.example.com", "example.com"));
  EXPECT_FALSE(HostMatchesPattern("*.example.com", ".example.com"));
  EXPECT_FALSE(HostMatchesPattern("*.example.com", "badexample.com"));
  EXPECT_FALSE(HostMatchesPattern("*.example.com", "example.com.evil.net"));
  EXPECT_FALSE(HostMatchesPattern("", "example.com"));
  EXPECT_FALSE(HostMatchesPattern("example.com", ""));
}

TEST(HostTest, IpLiteralsMatchOnlyExactly) {
  EXPECT_TRUE(HostMatchesPattern("10.0.0.1", "10.0.0.1"));
  EXPECT_TRUE(HostMatchesPattern("::1", "[0:0::1]"));
  EXPECT_FALSE(HostMatchesPattern("*.0.0.1", "10.0.0.1"));
  EXPECT_FALSE(HostMatchesPattern("*.1", "127.0.0.1"));
  EXPECT_TRUE(HostMatchesPattern("127.0.0.1", "::ffff:127.0.0.1"));
  EXPECT_TRUE(HostMatchesPattern("127.0.0.1", "2130706433"));
  EXPECT_TRUE(HostMatchesPattern("10.0.0.1", "0x0a.0.0.1"));
  EXPECT_FALSE(HostMatchesPattern("127.0.0.1", "127.0.0.2"));
  EXPECT_FALSE(HostMatchesPattern("127.0.0.1", "::1"));
  EXPECT_FALSE(HostMatchesPattern("1.2.3.4 x", "1.2.3.4"));
}

TEST(HostTest, MatchesAny) {
  const std::vector<std::string> patterns = {"api.stripe.com", "*.corp.example"};
  EXPECT_TRUE(HostMatchesAny(patterns, "x.corp.example"));
  EXPECT_TRUE(HostMatchesAny(patterns, "api.stripe.com"));
  EXPECT_FALSE(HostMatchesAny(patterns, "corp.example"));
  EXPECT_FALSE(HostMatchesAny({}, "api.stripe.com"));
}

}  // namespace
}  // namespace magic::broker::internal
