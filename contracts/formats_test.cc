// ChecksFormat / MatchesFormat: every format we check, valid and invalid.
// (The official suite's optional/format files run in conformance_test.cc.)
#include "contracts/schema.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace magic::contracts {
namespace {

struct FormatCase {
  std::string_view format;
  std::vector<std::string_view> valid;
  std::vector<std::string_view> invalid;
};

const std::vector<FormatCase>& Cases() {
  static const auto* const kCases = new std::vector<FormatCase>{
      {"uuid",
       {"123e4567-e89b-12d3-a456-426614174000", "00000000-0000-0000-0000-000000000000",
        "FFFFFFFF-FFFF-4FFF-bFFF-ffffffffffff", "01890a5d-ac96-774b-bcce-b302099a8057"},
       {"not-a-uuid", "", "123e4567e89b12d3a456426614174000", "123e4567-e89b-12d3-a456-42661417400",
        "123e4567-e89b-12d3-a456-4266141740000", "123e4567-e89b-12d3-a456_426614174000",
        "g23e4567-e89b-12d3-a456-426614174000", "{123e4567-e89b-12d3-a456-426614174000}"}},
      {"email",
       {"joe.bloggs@example.com", "a@b.co", "te~st@example.com", "first+tag@sub.example.org",
        "\"quoted local\"@example.com", "user@[192.168.0.1]", "user@[IPv6:::1]"},
       {"2962", "@example.com", "joe.bloggs@", ".test@example.com", "test.@example.com",
        "te..st@example.com", "joe bloggs@example.com", "a@b@example.com", "user@localhost",
        "user@-example.com", "user@[300.1.1.1]"}},
      {"date-time",
       {"1963-06-19T08:30:06.283185Z", "1963-06-19T08:30:06Z", "1937-01-01T12:00:27.87+00:20",
        "1990-12-31T15:59:50.123-08:00", "1998-12-31T23:59:60Z", "1998-12-31T15:59:60.123-08:00",
        "1963-06-19t08:30:06.283185z", "2020-02-29T00:00:00Z"},
       {"1998-12-31T23:59:61Z", "1998-12-31T23:58:60Z", "1990-12-31T24:00:00Z",
        "1990-02-31T15:59:59.123-08:00", "1990-12-31T15:59:59-24:00", "06/19/1963 08:30:06 PST",
        "2013-350T01:01:01", "1985-04-12T23:20:50+01", "1985-04-12T23:20:50Z\n",
        "2021-02-29T00:00:00Z", "1963-06-19T08:30:06.Z", "1963-06-19 08:30:06Z"}},
      {"date",
       {"1963-06-19", "2020-02-29", "0400-02-29", "2020-12-31", "0001-01-01"},
       {"2020-01-32", "2021-02-29", "2100-02-29", "1998-13-01", "2024-00-15", "2024-01-00",
        "1998-1-20", "20230328", "2023-W01", " 2024-01-15", "2020-01-01Z", "+2020-01-01", ""}},
      {"time",
       {"08:30:06Z", "23:59:60Z", "01:29:60+01:30", "15:59:60-08:00", "23:20:50.52Z",
        "12:34:56-00:00", "08:30:06z"},
       {"008:030:006Z", "8:3:6Z", "22:59:60Z", "23:59:60+01:00", "24:00:00Z", "00:60:00Z",
        "01:02:03+24:00", "01:02:03Z+00:30", "08:30:06 PST", "12:00:00", "12:00:00.52",
        "ab:cd:ef"}},
      {"ipv4",
       {"192.168.0.1", "0.0.0.0", "255.255.255.255", "10.20.30.40"},
       {"127.0.0.0.1", "256.256.256.256", "127.0", "127.1", "0x7f000001", "2130706433",
        "192.168.1.0/24", "192.168.0.1 ", "087.10.0.1", "192.168..1", ".192.168.0.1",
        "192.168.0.1.", "", "+1.2.3.4", "::ffff:192.168.0.1"}},
      {"ipv6",
       {"::1", "::", "::abef", "::42:ff:1", "d6::", "1:d6::42", "1::d6:192.168.0.1",
        "1:2::192.168.0.1", "::ffff:192.168.0.1", "1:2:3:4:5:6:7:8",
        "1000:1000:1000:1000:1000:1000:255.255.255.255"},
       {"12345::", "::abcef", "1:1:1:1:1:1:1:1:1:1:1:1:1:1:1:1", "::laptop", ":2:3:4:5:6:7:8",
        "1:2:3:4:5:6:7:", "1::d6::42", "1::2:192.168.256.1", "1:2:3:4:5:::8", "1:2:3:4:5:6:7", "1",
        "127.0.0.1", "fe80::/64", "fe80::a%eth1", "[::1]", "::ffff:192.168.0.01",
        "1:2:3:4:5:6:7:8:9"}},
      {"hostname",
       {"www.example.com", "hostname", "1host", "host-name", "a--b.com",
        "xn--9n2bp8q.xn--9t4b11yi5a", "xn--ll-0ea",
        "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk.com"},
       {"", ".", ".example", "example.", "-hostname", "hostname-", "host_name",
        "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl.com", "example.com\n",
        "xn--X", "xn--hello-zed", "xn--l-fda", "XN--aa---o47jg78q",
        "\xe2\x84\xaa"
        "elvin.example.com"}},
      {"uri",
       {"http://foo.bar/?baz=qux#quux", "http://foo.bar/?q=Test%20URL-encoded%20stuff",
        "http://-.~_!$&'()*+,;=:%40:80%2f::::::@example.com", "http://223.255.255.254",
        "ldap://[2001:db8::7]/c=GB?objectClass?one", "mailto:John.Doe@example.com",
        "urn:oasis:names:specification:docbook:dtd:xml:4.1.2", "tel:+1-816-555-1212",
        "http://999.999.999.999/"},
       {"//foo.bar/?baz=qux#quux", "/abc", "abc", "http:// shouldfail.com", ":// should fail",
        "bar,baz:foo", "https://[@example.org/test.txt", "https://example.org/foo bar.txt",
        "http://example.com/%6G", "http://example.com/%", "1http://example.com",
        "http://example.com:abc/path", "http:/[::1]", "https://example.org/foobar\\.txt"}},
  };
  return *kCases;
}

TEST(FormatsTest, ChecksTheNineFormats) {
  for (const FormatCase& c : Cases()) EXPECT_TRUE(ChecksFormat(c.format)) << c.format;
}

TEST(FormatsTest, OtherFormatsAreAnnotations) {
  for (std::string_view format : {"color", "regex", "uri-reference", "iri", "", "UUID"}) {
    EXPECT_FALSE(ChecksFormat(format)) << format;
    EXPECT_TRUE(MatchesFormat(format, "anything at all")) << format;
  }
}

TEST(FormatsTest, AcceptsValidValues) {
  for (const FormatCase& c : Cases()) {
    for (std::string_view value : c.valid) {
      EXPECT_TRUE(MatchesFormat(c.format, value)) << c.format << ": \"" << value << "\"";
    }
  }
}

TEST(FormatsTest, RejectsInvalidValues) {
  for (const FormatCase& c : Cases()) {
    for (std::string_view value : c.invalid) {
      EXPECT_FALSE(MatchesFormat(c.format, value)) << c.format << ": \"" << value << "\"";
    }
  }
}

TEST(FormatsTest, EmbeddedNulIsNotIgnored) {
  using namespace std::string_view_literals;
  EXPECT_FALSE(MatchesFormat("ipv4", "192.168.0.1\0.evil.com"sv));
  EXPECT_FALSE(MatchesFormat("date", "2020-01-01\0"sv));
  EXPECT_FALSE(MatchesFormat("uuid", "123e4567-e89b-12d3-a456-42661417400\0"sv));
}

TEST(FormatsTest, HostnameLengthLimits) {
  const std::string label(63, 'a');
  const std::string name = label + "." + label + "." + label + "." + std::string(61, 'b');
  ASSERT_EQ(name.size(), 253u);
  EXPECT_TRUE(MatchesFormat("hostname", name));
  EXPECT_FALSE(MatchesFormat("hostname", name + "b"));
  EXPECT_FALSE(MatchesFormat("hostname", std::string(64, 'a')));
}

TEST(FormatsTest, EmailLengthLimits) {
  EXPECT_TRUE(MatchesFormat("email", std::string(64, 'a') + "@example.com"));
  EXPECT_FALSE(MatchesFormat("email", std::string(65, 'a') + "@example.com"));
}

}  // namespace
}  // namespace magic::contracts
