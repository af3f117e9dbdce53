// String formats checked by the contracts' JSON Schema validators (schema.h):
// uuid, email, date-time, date, time, ipv4, ipv6, hostname, uri. Small
// hand-written parsers: no std::regex, no allocation on the common path.
// Behaviour follows the JSON-Schema-Test-Suite's draft7 optional/format files.
#include "contracts/schema.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace magic::contracts {
namespace {

// ---------------------------------------------------------------------------
// Character classes (ASCII only: every format here is ASCII).

constexpr bool IsDigit(char c) { return c >= '0' && c <= '9'; }
constexpr bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
constexpr bool IsAlnum(char c) { return IsDigit(c) || IsAlpha(c); }
constexpr bool IsHex(char c) {
  return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
constexpr char ToLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

// Reads exactly `n` ASCII digits at `pos` as a number; -1 if not digits.
int ReadDigits(std::string_view s, size_t pos, size_t n) {
  if (pos + n > s.size()) return -1;
  int value = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (!IsDigit(s[i])) return -1;
    value = value * 10 + (s[i] - '0');
  }
  return value;
}

// ---------------------------------------------------------------------------
// uuid: 8-4-4-4-12 hex digits, any case, any version.

bool IsUuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !IsHex(s[i])) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------
// RFC 3339 date, time, date-time.

bool IsLeapYear(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

int DaysInMonth(int year, int month) {
  static constexpr std::array<int, 12> kDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month == 2 && IsLeapYear(year)) return 29;
  return kDays[static_cast<size_t>(month - 1)];
}

// full-date = YYYY-MM-DD
bool IsDate(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  const int year = ReadDigits(s, 0, 4);
  const int month = ReadDigits(s, 5, 2);
  const int day = ReadDigits(s, 8, 2);
  if (year < 0 || month < 1 || month > 12 || day < 1) return false;
  return day <= DaysInMonth(year, month);
}

// full-time = HH:MM:SS[.frac](Z|+hh:mm|-hh:mm); a leap second (60) only at
// 23:59 UTC.
bool IsTime(std::string_view s) {
  if (s.size() < 9 || s[2] != ':' || s[5] != ':') return false;
  const int hour = ReadDigits(s, 0, 2);
  const int minute = ReadDigits(s, 3, 2);
  const int second = ReadDigits(s, 6, 2);
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 60) {
    return false;
  }
  size_t pos = 8;
  if (s[pos] == '.') {
    const size_t start = ++pos;
    while (pos < s.size() && IsDigit(s[pos])) ++pos;
    if (pos == start) return false;
  }
  if (pos >= s.size()) return false;
  int offset_minutes = 0;
  if (s[pos] == 'Z' || s[pos] == 'z') {
    if (pos + 1 != s.size()) return false;
  } else if (s[pos] == '+' || s[pos] == '-') {
    if (s.size() - pos != 6 || s[pos + 3] != ':') return false;
    const int oh = ReadDigits(s, pos + 1, 2);
    const int om = ReadDigits(s, pos + 4, 2);
    if (oh < 0 || oh > 23 || om < 0 || om > 59) return false;
    offset_minutes = (s[pos] == '+' ? 1 : -1) * (oh * 60 + om);
  } else {
    return false;
  }
  if (second != 60) return true;
  const int utc = ((hour * 60 + minute - offset_minutes) % 1440 + 1440) % 1440;
  return utc == 23 * 60 + 59;
}

bool IsDateTime(std::string_view s) {
  if (s.size() < 20 || (s[10] != 'T' && s[10] != 't')) return false;
  return IsDate(s.substr(0, 10)) && IsTime(s.substr(11));
}

// ---------------------------------------------------------------------------
// IP addresses.

// dotted quad, decimal octets 0-255 without leading zeros.
bool IsIpv4(std::string_view s) {
  int parts = 0;
  size_t pos = 0;
  while (true) {
    const size_t start = pos;
    int value = 0;
    while (pos < s.size() && IsDigit(s[pos]) && pos - start < 3) {
      value = value * 10 + (s[pos] - '0');
      ++pos;
    }
    const size_t len = pos - start;
    if (len == 0 || value > 255 || (len > 1 && s[start] == '0')) return false;
    ++parts;
    if (pos == s.size()) return parts == 4;
    if (s[pos] != '.' || parts == 4) return false;
    ++pos;
  }
}

// Parses colon-separated hex groups in `s` (no "::"); the last group may be
// an IPv4 address when `allow_ipv4`. Returns the number of 16-bit groups or
// -1. An empty `s` has zero groups.
int CountIpv6Groups(std::string_view s, bool allow_ipv4) {
  if (s.empty()) return 0;
  int groups = 0;
  size_t pos = 0;
  while (true) {
    const size_t end = std::min(s.find(':', pos), s.size());
    const std::string_view group = s.substr(pos, end - pos);
    if (end == s.size() && allow_ipv4 && group.find('.') != std::string_view::npos) {
      return IsIpv4(group) ? groups + 2 : -1;
    }
    if (group.empty() || group.size() > 4) return -1;
    for (char c : group) {
      if (!IsHex(c)) return -1;
    }
    ++groups;
    if (end == s.size()) return groups;
    pos = end + 1;
  }
}

bool IsIpv6(std::string_view s) {
  const size_t gap = s.find("::");
  if (gap == std::string_view::npos) return CountIpv6Groups(s, true) == 8;
  const std::string_view left = s.substr(0, gap);
  const std::string_view right = s.substr(gap + 2);
  if (right.find("::") != std::string_view::npos) return false;
  if (!right.empty() && right.front() == ':') return false;  // ":::"
  const int l = CountIpv6Groups(left, false);
  const int r = CountIpv6Groups(right, true);
  return l >= 0 && r >= 0 && l + r <= 7;
}

// ---------------------------------------------------------------------------
// hostname: RFC 1123 labels (letters, digits, inner hyphens, at most 63
// octets), at most 253 octets in all, no trailing dot. "xn--" labels must be
// valid Punycode whose decoded U-label passes the IDNA2008 rules the test
// suite exercises (RFC 5891 hyphen and leading-mark rules, the RFC 5892
// exceptions, CONTEXTO and CONTEXTJ). The joining-type rule for ZWNJ uses
// an approximation: Arabic-script, Syriac, NKo and Mongolian letters count
// as joining, marks as transparent. Bidi (RFC 5893) is not checked.

struct CodeRange {
  char32_t lo;
  char32_t hi;
};

// Generated from Python's unicodedata (Unicode 14): general category
// Mn/Mc/Me, and canonical combining class 9 (virama).
constexpr CodeRange kCombiningMarks[] = {
    {0x300, 0x36F},     {0x483, 0x489},     {0x591, 0x5BD},     {0x5BF, 0x5BF},
    {0x5C1, 0x5C2},     {0x5C4, 0x5C5},     {0x5C7, 0x5C7},     {0x610, 0x61A},
    {0x64B, 0x65F},     {0x670, 0x670},     {0x6D6, 0x6DC},     {0x6DF, 0x6E4},
    {0x6E7, 0x6E8},     {0x6EA, 0x6ED},     {0x711, 0x711},     {0x730, 0x74A},
    {0x7A6, 0x7B0},     {0x7EB, 0x7F3},     {0x7FD, 0x7FD},     {0x816, 0x819},
    {0x81B, 0x823},     {0x825, 0x827},     {0x829, 0x82D},     {0x859, 0x85B},
    {0x898, 0x89F},     {0x8CA, 0x8E1},     {0x8E3, 0x903},     {0x93A, 0x93C},
    {0x93E, 0x94F},     {0x951, 0x957},     {0x962, 0x963},     {0x981, 0x983},
    {0x9BC, 0x9BC},     {0x9BE, 0x9C4},     {0x9C7, 0x9C8},     {0x9CB, 0x9CD},
    {0x9D7, 0x9D7},     {0x9E2, 0x9E3},     {0x9FE, 0x9FE},     {0xA01, 0xA03},
    {0xA3C, 0xA3C},     {0xA3E, 0xA42},     {0xA47, 0xA48},     {0xA4B, 0xA4D},
    {0xA51, 0xA51},     {0xA70, 0xA71},     {0xA75, 0xA75},     {0xA81, 0xA83},
    {0xABC, 0xABC},     {0xABE, 0xAC5},     {0xAC7, 0xAC9},     {0xACB, 0xACD},
    {0xAE2, 0xAE3},     {0xAFA, 0xAFF},     {0xB01, 0xB03},     {0xB3C, 0xB3C},
    {0xB3E, 0xB44},     {0xB47, 0xB48},     {0xB4B, 0xB4D},     {0xB55, 0xB57},
    {0xB62, 0xB63},     {0xB82, 0xB82},     {0xBBE, 0xBC2},     {0xBC6, 0xBC8},
    {0xBCA, 0xBCD},     {0xBD7, 0xBD7},     {0xC00, 0xC04},     {0xC3C, 0xC3C},
    {0xC3E, 0xC44},     {0xC46, 0xC48},     {0xC4A, 0xC4D},     {0xC55, 0xC56},
    {0xC62, 0xC63},     {0xC81, 0xC83},     {0xCBC, 0xCBC},     {0xCBE, 0xCC4},
    {0xCC6, 0xCC8},     {0xCCA, 0xCCD},     {0xCD5, 0xCD6},     {0xCE2, 0xCE3},
    {0xD00, 0xD03},     {0xD3B, 0xD3C},     {0xD3E, 0xD44},     {0xD46, 0xD48},
    {0xD4A, 0xD4D},     {0xD57, 0xD57},     {0xD62, 0xD63},     {0xD81, 0xD83},
    {0xDCA, 0xDCA},     {0xDCF, 0xDD4},     {0xDD6, 0xDD6},     {0xDD8, 0xDDF},
    {0xDF2, 0xDF3},     {0xE31, 0xE31},     {0xE34, 0xE3A},     {0xE47, 0xE4E},
    {0xEB1, 0xEB1},     {0xEB4, 0xEBC},     {0xEC8, 0xECD},     {0xF18, 0xF19},
    {0xF35, 0xF35},     {0xF37, 0xF37},     {0xF39, 0xF39},     {0xF3E, 0xF3F},
    {0xF71, 0xF84},     {0xF86, 0xF87},     {0xF8D, 0xF97},     {0xF99, 0xFBC},
    {0xFC6, 0xFC6},     {0x102B, 0x103E},   {0x1056, 0x1059},   {0x105E, 0x1060},
    {0x1062, 0x1064},   {0x1067, 0x106D},   {0x1071, 0x1074},   {0x1082, 0x108D},
    {0x108F, 0x108F},   {0x109A, 0x109D},   {0x135D, 0x135F},   {0x1712, 0x1715},
    {0x1732, 0x1734},   {0x1752, 0x1753},   {0x1772, 0x1773},   {0x17B4, 0x17D3},
    {0x17DD, 0x17DD},   {0x180B, 0x180D},   {0x180F, 0x180F},   {0x1885, 0x1886},
    {0x18A9, 0x18A9},   {0x1920, 0x192B},   {0x1930, 0x193B},   {0x1A17, 0x1A1B},
    {0x1A55, 0x1A5E},   {0x1A60, 0x1A7C},   {0x1A7F, 0x1A7F},   {0x1AB0, 0x1ACE},
    {0x1B00, 0x1B04},   {0x1B34, 0x1B44},   {0x1B6B, 0x1B73},   {0x1B80, 0x1B82},
    {0x1BA1, 0x1BAD},   {0x1BE6, 0x1BF3},   {0x1C24, 0x1C37},   {0x1CD0, 0x1CD2},
    {0x1CD4, 0x1CE8},   {0x1CED, 0x1CED},   {0x1CF4, 0x1CF4},   {0x1CF7, 0x1CF9},
    {0x1DC0, 0x1DFF},   {0x20D0, 0x20F0},   {0x2CEF, 0x2CF1},   {0x2D7F, 0x2D7F},
    {0x2DE0, 0x2DFF},   {0x302A, 0x302F},   {0x3099, 0x309A},   {0xA66F, 0xA672},
    {0xA674, 0xA67D},   {0xA69E, 0xA69F},   {0xA6F0, 0xA6F1},   {0xA802, 0xA802},
    {0xA806, 0xA806},   {0xA80B, 0xA80B},   {0xA823, 0xA827},   {0xA82C, 0xA82C},
    {0xA880, 0xA881},   {0xA8B4, 0xA8C5},   {0xA8E0, 0xA8F1},   {0xA8FF, 0xA8FF},
    {0xA926, 0xA92D},   {0xA947, 0xA953},   {0xA980, 0xA983},   {0xA9B3, 0xA9C0},
    {0xA9E5, 0xA9E5},   {0xAA29, 0xAA36},   {0xAA43, 0xAA43},   {0xAA4C, 0xAA4D},
    {0xAA7B, 0xAA7D},   {0xAAB0, 0xAAB0},   {0xAAB2, 0xAAB4},   {0xAAB7, 0xAAB8},
    {0xAABE, 0xAABF},   {0xAAC1, 0xAAC1},   {0xAAEB, 0xAAEF},   {0xAAF5, 0xAAF6},
    {0xABE3, 0xABEA},   {0xABEC, 0xABED},   {0xFB1E, 0xFB1E},   {0xFE00, 0xFE0F},
    {0xFE20, 0xFE2F},   {0x101FD, 0x101FD}, {0x102E0, 0x102E0}, {0x10376, 0x1037A},
    {0x10A01, 0x10A03}, {0x10A05, 0x10A06}, {0x10A0C, 0x10A0F}, {0x10A38, 0x10A3A},
    {0x10A3F, 0x10A3F}, {0x10AE5, 0x10AE6}, {0x10D24, 0x10D27}, {0x10EAB, 0x10EAC},
    {0x10F46, 0x10F50}, {0x10F82, 0x10F85}, {0x11000, 0x11002}, {0x11038, 0x11046},
    {0x11070, 0x11070}, {0x11073, 0x11074}, {0x1107F, 0x11082}, {0x110B0, 0x110BA},
    {0x110C2, 0x110C2}, {0x11100, 0x11102}, {0x11127, 0x11134}, {0x11145, 0x11146},
    {0x11173, 0x11173}, {0x11180, 0x11182}, {0x111B3, 0x111C0}, {0x111C9, 0x111CC},
    {0x111CE, 0x111CF}, {0x1122C, 0x11237}, {0x1123E, 0x1123E}, {0x112DF, 0x112EA},
    {0x11300, 0x11303}, {0x1133B, 0x1133C}, {0x1133E, 0x11344}, {0x11347, 0x11348},
    {0x1134B, 0x1134D}, {0x11357, 0x11357}, {0x11362, 0x11363}, {0x11366, 0x1136C},
    {0x11370, 0x11374}, {0x11435, 0x11446}, {0x1145E, 0x1145E}, {0x114B0, 0x114C3},
    {0x115AF, 0x115B5}, {0x115B8, 0x115C0}, {0x115DC, 0x115DD}, {0x11630, 0x11640},
    {0x116AB, 0x116B7}, {0x1171D, 0x1172B}, {0x1182C, 0x1183A}, {0x11930, 0x11935},
    {0x11937, 0x11938}, {0x1193B, 0x1193E}, {0x11940, 0x11940}, {0x11942, 0x11943},
    {0x119D1, 0x119D7}, {0x119DA, 0x119E0}, {0x119E4, 0x119E4}, {0x11A01, 0x11A0A},
    {0x11A33, 0x11A39}, {0x11A3B, 0x11A3E}, {0x11A47, 0x11A47}, {0x11A51, 0x11A5B},
    {0x11A8A, 0x11A99}, {0x11C2F, 0x11C36}, {0x11C38, 0x11C3F}, {0x11C92, 0x11CA7},
    {0x11CA9, 0x11CB6}, {0x11D31, 0x11D36}, {0x11D3A, 0x11D3A}, {0x11D3C, 0x11D3D},
    {0x11D3F, 0x11D45}, {0x11D47, 0x11D47}, {0x11D8A, 0x11D8E}, {0x11D90, 0x11D91},
    {0x11D93, 0x11D97}, {0x11EF3, 0x11EF6}, {0x16AF0, 0x16AF4}, {0x16B30, 0x16B36},
    {0x16F4F, 0x16F4F}, {0x16F51, 0x16F87}, {0x16F8F, 0x16F92}, {0x16FE4, 0x16FE4},
    {0x16FF0, 0x16FF1}, {0x1BC9D, 0x1BC9E}, {0x1CF00, 0x1CF2D}, {0x1CF30, 0x1CF46},
    {0x1D165, 0x1D169}, {0x1D16D, 0x1D172}, {0x1D17B, 0x1D182}, {0x1D185, 0x1D18B},
    {0x1D1AA, 0x1D1AD}, {0x1D242, 0x1D244}, {0x1DA00, 0x1DA36}, {0x1DA3B, 0x1DA6C},
    {0x1DA75, 0x1DA75}, {0x1DA84, 0x1DA84}, {0x1DA9B, 0x1DA9F}, {0x1DAA1, 0x1DAAF},
    {0x1E000, 0x1E006}, {0x1E008, 0x1E018}, {0x1E01B, 0x1E021}, {0x1E023, 0x1E024},
    {0x1E026, 0x1E02A}, {0x1E130, 0x1E136}, {0x1E2AE, 0x1E2AE}, {0x1E2EC, 0x1E2EF},
    {0x1E8D0, 0x1E8D6}, {0x1E944, 0x1E94A}, {0xE0100, 0xE01EF},
};
constexpr CodeRange kViramas[] = {
    {0x94D, 0x94D},     {0x9CD, 0x9CD},     {0xA4D, 0xA4D},     {0xACD, 0xACD},
    {0xB4D, 0xB4D},     {0xBCD, 0xBCD},     {0xC4D, 0xC4D},     {0xCCD, 0xCCD},
    {0xD3B, 0xD3C},     {0xD4D, 0xD4D},     {0xDCA, 0xDCA},     {0xE3A, 0xE3A},
    {0xEBA, 0xEBA},     {0xF84, 0xF84},     {0x1039, 0x103A},   {0x1714, 0x1715},
    {0x1734, 0x1734},   {0x17D2, 0x17D2},   {0x1A60, 0x1A60},   {0x1B44, 0x1B44},
    {0x1BAA, 0x1BAB},   {0x1BF2, 0x1BF3},   {0x2D7F, 0x2D7F},   {0xA806, 0xA806},
    {0xA82C, 0xA82C},   {0xA8C4, 0xA8C4},   {0xA953, 0xA953},   {0xA9C0, 0xA9C0},
    {0xAAF6, 0xAAF6},   {0xABED, 0xABED},   {0x10A3F, 0x10A3F}, {0x11046, 0x11046},
    {0x11070, 0x11070}, {0x1107F, 0x1107F}, {0x110B9, 0x110B9}, {0x11133, 0x11134},
    {0x111C0, 0x111C0}, {0x11235, 0x11235}, {0x112EA, 0x112EA}, {0x1134D, 0x1134D},
    {0x11442, 0x11442}, {0x114C2, 0x114C2}, {0x115BF, 0x115BF}, {0x1163F, 0x1163F},
    {0x116B6, 0x116B6}, {0x1172B, 0x1172B}, {0x11839, 0x11839}, {0x1193D, 0x1193E},
    {0x119E0, 0x119E0}, {0x11A34, 0x11A34}, {0x11A47, 0x11A47}, {0x11A99, 0x11A99},
    {0x11C3F, 0x11C3F}, {0x11D44, 0x11D45}, {0x11D97, 0x11D97},
};

// Letters that join on both or one side (approximation of Joining_Type
// D, L and R from ArabicShaping.txt).
constexpr CodeRange kJoiningLetters[] = {
    {0x620, 0x64A},     {0x66E, 0x66F},     {0x671, 0x6D3},     {0x6D5, 0x6D5},
    {0x6EE, 0x6EF},     {0x6FA, 0x6FC},     {0x6FF, 0x6FF},     {0x710, 0x72F},
    {0x74D, 0x77F},     {0x7CA, 0x7EA},     {0x840, 0x858},     {0x860, 0x86A},
    {0x8A0, 0x8C9},     {0x1807, 0x1807},   {0x1820, 0x1878},   {0x1887, 0x18A8},
    {0x18AA, 0x18AA},   {0xA840, 0xA872},   {0x10AC0, 0x10AEF}, {0x10B80, 0x10BAF},
    {0x10D00, 0x10D23}, {0x10F30, 0x10F54}, {0x1E900, 0x1E943},
};

constexpr CodeRange kGreek[] = {
    {0x370, 0x373},   {0x375, 0x377},   {0x37A, 0x37D},     {0x37F, 0x37F},    {0x384, 0x384},
    {0x386, 0x386},   {0x388, 0x3E1},   {0x3F0, 0x3FF},     {0x1D26, 0x1D2A},  {0x1F00, 0x1FFE},
    {0x2126, 0x2126}, {0xAB65, 0xAB65}, {0x10140, 0x1018E}, {0x1D200, 0x1D245}};
constexpr CodeRange kHebrew[] = {{0x591, 0x5F4}, {0xFB1D, 0xFB4F}};
// Hiragana, Katakana (minus U+30FB itself) and Han, for KATAKANA MIDDLE DOT.
constexpr CodeRange kKanaHan[] = {
    {0x2E80, 0x2FD5},   {0x3005, 0x3005},   {0x3007, 0x3007}, {0x3021, 0x3029}, {0x3038, 0x303B},
    {0x3041, 0x309F},   {0x30A0, 0x30FA},   {0x30FC, 0x30FF}, {0x31F0, 0x31FF}, {0x32D0, 0x32FE},
    {0x3300, 0x3357},   {0x3400, 0x4DBF},   {0x4E00, 0x9FFF}, {0xF900, 0xFAFF}, {0xFF66, 0xFF9D},
    {0x1B000, 0x1B16F}, {0x20000, 0x3134F},
};
// RFC 5892 section 2.6 exceptions whose value is DISALLOWED.
constexpr CodeRange kDisallowedExceptions[] = {
    {0x640, 0x640}, {0x7FA, 0x7FA}, {0x302E, 0x302F}, {0x3031, 0x3035}, {0x303B, 0x303B}};

template <size_t N>
bool InRanges(const CodeRange (&ranges)[N], char32_t c) {
  size_t lo = 0, hi = N;
  while (lo < hi) {
    const size_t mid = (lo + hi) / 2;
    if (c < ranges[mid].lo) {
      hi = mid;
    } else if (c > ranges[mid].hi) {
      lo = mid + 1;
    } else {
      return true;
    }
  }
  return false;
}

int PunycodeDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0' + 26;
  if (c >= 'a' && c <= 'z') return c - 'a';
  if (c >= 'A' && c <= 'Z') return c - 'A';
  return -1;
}

uint32_t PunycodeAdapt(uint32_t delta, uint32_t points, bool first) {
  delta = first ? delta / 700 : delta / 2;
  delta += delta / points;
  uint32_t k = 0;
  while (delta > ((36 - 1) * 26) / 2) {
    delta /= 36 - 1;
    k += 36;
  }
  return k + (36 * delta) / (delta + 38);
}

// Decodes one generalized variable-length integer (RFC 3492 6.2) into `i`.
bool PunycodeReadDelta(std::string_view in, size_t& pos, uint32_t bias, uint32_t& i) {
  constexpr uint32_t kMax = 0x7fffffff;
  uint32_t w = 1;
  for (uint32_t k = 36;; k += 36) {
    if (pos >= in.size()) return false;
    const int d = PunycodeDigit(in[pos++]);
    if (d < 0) return false;
    const auto digit = static_cast<uint32_t>(d);
    if (digit > (kMax - i) / w) return false;
    i += digit * w;
    const uint32_t t = k <= bias ? 1 : (k >= bias + 26 ? 26 : k - bias);
    if (digit < t) return true;
    if (w > kMax / (36 - t)) return false;
    w *= 36 - t;
  }
}

// RFC 3492 decoding of the part after "xn--"; false on malformed input.
bool PunycodeDecode(std::string_view in, std::vector<char32_t>& out) {
  const size_t delim = in.rfind('-');
  size_t pos = 0;
  if (delim != std::string_view::npos) {
    for (size_t j = 0; j < delim; ++j) out.push_back(static_cast<unsigned char>(in[j]));
    pos = delim + 1;
  }
  uint32_t n = 128, i = 0, bias = 72;
  while (pos < in.size()) {
    const uint32_t old_i = i;
    if (!PunycodeReadDelta(in, pos, bias, i)) return false;
    const auto points = static_cast<uint32_t>(out.size() + 1);
    bias = PunycodeAdapt(i - old_i, points, old_i == 0);
    if (i / points > 0x10FFFF - n) return false;
    n += i / points;
    i %= points;
    if (n < 0x80 || (n >= 0xD800 && n <= 0xDFFF)) return false;
    out.insert(out.begin() + i, static_cast<char32_t>(n));
    ++i;
  }
  return true;
}

bool HasKanaOrHan(const std::vector<char32_t>& label) {
  for (char32_t c : label) {
    if (InRanges(kKanaHan, c)) return true;
  }
  return false;
}

// RFC 5892 Appendix A.1: ZWNJ after a virama, or between joining letters
// with only transparent marks around it.
bool ZwnjAllowed(const std::vector<char32_t>& label, size_t at) {
  if (at > 0 && InRanges(kViramas, label[at - 1])) return true;
  size_t before = at;
  while (before > 0 && InRanges(kCombiningMarks, label[before - 1])) --before;
  if (before == 0 || !InRanges(kJoiningLetters, label[before - 1])) return false;
  size_t after = at + 1;
  while (after < label.size() && InRanges(kCombiningMarks, label[after])) ++after;
  return after < label.size() && InRanges(kJoiningLetters, label[after]);
}

// CONTEXTJ / CONTEXTO rules for the code point at `at`.
bool ContextAllows(const std::vector<char32_t>& label, size_t at) {
  const char32_t c = label[at];
  const char32_t prev = at > 0 ? label[at - 1] : 0;
  const char32_t next = at + 1 < label.size() ? label[at + 1] : 0;
  switch (c) {
    case 0x200C:
      return ZwnjAllowed(label, at);
    case 0x200D:
      return InRanges(kViramas, prev);
    case 0x00B7:
      return prev == 'l' && next == 'l';
    case 0x0375:
      return next != 0 && InRanges(kGreek, next);
    case 0x05F3:
    case 0x05F4:
      return prev != 0 && InRanges(kHebrew, prev);
    case 0x30FB:
      return HasKanaOrHan(label);
    default:
      return true;
  }
}

bool IsValidULabel(const std::vector<char32_t>& label) {
  if (label.empty() || label.front() == '-' || label.back() == '-') return false;
  if (label.size() >= 4 && label[2] == '-' && label[3] == '-') return false;
  if (InRanges(kCombiningMarks, label.front())) return false;
  bool arabic_indic = false, extended_arabic_indic = false, non_ascii = false;
  for (size_t i = 0; i < label.size(); ++i) {
    const char32_t c = label[i];
    non_ascii |= c >= 0x80;
    if (c < 0x80 && !(IsDigit(static_cast<char>(c)) || c == '-' || (c >= 'a' && c <= 'z'))) {
      return false;
    }
    if (c < 0xA0 && c >= 0x80) return false;  // C1 controls
    if (InRanges(kDisallowedExceptions, c) || !ContextAllows(label, i)) return false;
    arabic_indic |= c >= 0x660 && c <= 0x669;
    extended_arabic_indic |= c >= 0x6F0 && c <= 0x6F9;
  }
  return non_ascii && !(arabic_indic && extended_arabic_indic);
}

bool IsHostnameLabel(std::string_view label) {
  if (label.empty() || label.size() > 63) return false;
  if (label.front() == '-' || label.back() == '-') return false;
  for (char c : label) {
    if (!IsAlnum(c) && c != '-') return false;
  }
  if (label.size() > 4 && ToLower(label[0]) == 'x' && ToLower(label[1]) == 'n' && label[2] == '-' &&
      label[3] == '-') {
    std::vector<char32_t> decoded;
    return PunycodeDecode(label.substr(4), decoded) && IsValidULabel(decoded);
  }
  return true;
}

bool IsHostname(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t pos = 0;
  while (true) {
    const size_t dot = std::min(s.find('.', pos), s.size());
    if (!IsHostnameLabel(s.substr(pos, dot - pos))) return false;
    if (dot == s.size()) return true;
    pos = dot + 1;
  }
}

// ---------------------------------------------------------------------------
// email: the practical RFC 5322 subset. local-part is a dot-atom (atext runs
// separated by single dots) or a quoted string; domain is a hostname with at
// least one dot, or an address literal [1.2.3.4] / [IPv6:...].

constexpr bool IsAtext(char c) {
  if (IsAlnum(c)) return true;
  constexpr std::string_view kSpecials = "!#$%&'*+-/=?^_`{|}~";
  return kSpecials.find(c) != std::string_view::npos;
}

bool IsDotAtom(std::string_view s) {
  if (s.empty() || s.front() == '.' || s.back() == '.') return false;
  char prev = 0;
  for (char c : s) {
    if (c == '.' ? prev == '.' : !IsAtext(c)) return false;
    prev = c;
  }
  return true;
}

bool IsQuotedLocalPart(std::string_view s) {
  if (s.size() < 2 || s.front() != '"' || s.back() != '"') return false;
  for (size_t i = 1; i + 1 < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '\\') {
      if (++i + 1 >= s.size()) return false;
    } else if (c == '"' || c < 0x20 || c >= 0x7f) {
      return false;
    }
  }
  return true;
}

bool IsEmailDomain(std::string_view s) {
  if (s.size() > 2 && s.front() == '[' && s.back() == ']') {
    const std::string_view literal = s.substr(1, s.size() - 2);
    if (literal.size() > 5 && literal.substr(0, 5) == "IPv6:") return IsIpv6(literal.substr(5));
    return IsIpv4(literal);
  }
  return s.find('.') != std::string_view::npos && IsHostname(s);
}

bool IsEmail(std::string_view s) {
  if (s.size() > 320) return false;
  const size_t at = s.rfind('@');
  if (at == std::string_view::npos || at == 0 || at > 64) return false;
  const std::string_view local = s.substr(0, at);
  if (!IsDotAtom(local) && !IsQuotedLocalPart(local)) return false;
  return IsEmailDomain(s.substr(at + 1));
}

// ---------------------------------------------------------------------------
// uri: RFC 3986 absolute URI, scheme ":" hier-part ["?" query] ["#" fragment].

constexpr bool IsUnreserved(char c) {
  return IsAlnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}
constexpr bool IsSubDelim(char c) {
  constexpr std::string_view kSubDelims = "!$&'()*+,;=";
  return kSubDelims.find(c) != std::string_view::npos;
}

// True if `s` consists of unreserved, sub-delims, pct-encoded and the
// characters in `extra`.
bool IsUriChars(std::string_view s, std::string_view extra) {
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size() || !IsHex(s[i + 1]) || !IsHex(s[i + 2])) return false;
      i += 2;
    } else if (!IsUnreserved(c) && !IsSubDelim(c) && extra.find(c) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

// IP-literal = "[" ( IPv6address / IPvFuture ) "]" without the brackets.
bool IsIpLiteral(std::string_view s) {
  if (s.size() > 1 && (s[0] == 'v' || s[0] == 'V')) {
    const size_t dot = s.find('.');
    if (dot == std::string_view::npos || dot < 2 || dot + 1 == s.size()) return false;
    for (size_t i = 1; i < dot; ++i) {
      if (!IsHex(s[i])) return false;
    }
    return IsUriChars(s.substr(dot + 1), ":");
  }
  return IsIpv6(s);
}

// authority = [ userinfo "@" ] host [ ":" port ]
bool IsAuthority(std::string_view s) {
  const size_t at = s.find('@');
  if (at != std::string_view::npos) {
    if (!IsUriChars(s.substr(0, at), ":")) return false;
    s.remove_prefix(at + 1);
  }
  std::string_view port;
  if (!s.empty() && s.front() == '[') {
    const size_t close = s.find(']');
    if (close == std::string_view::npos || !IsIpLiteral(s.substr(1, close - 1))) return false;
    port = s.substr(close + 1);
  } else {
    const size_t colon = std::min(s.find(':'), s.size());
    if (!IsUriChars(s.substr(0, colon), "")) return false;
    port = s.substr(colon);
  }
  if (port.empty()) return true;
  if (port.front() != ':') return false;
  for (char c : port.substr(1)) {
    if (!IsDigit(c)) return false;
  }
  return true;
}

bool IsUri(std::string_view s) {
  if (s.empty() || !IsAlpha(s[0])) return false;
  size_t colon = 1;
  while (colon < s.size() &&
         (IsAlnum(s[colon]) || s[colon] == '+' || s[colon] == '-' || s[colon] == '.')) {
    ++colon;
  }
  if (colon == s.size() || s[colon] != ':') return false;
  std::string_view rest = s.substr(colon + 1);
  const size_t hash = rest.find('#');
  if (hash != std::string_view::npos) {
    if (!IsUriChars(rest.substr(hash + 1), ":@/?")) return false;
    rest = rest.substr(0, hash);
  }
  const size_t question = rest.find('?');
  if (question != std::string_view::npos) {
    if (!IsUriChars(rest.substr(question + 1), ":@/?")) return false;
    rest = rest.substr(0, question);
  }
  if (rest.size() >= 2 && rest[0] == '/' && rest[1] == '/') {
    rest.remove_prefix(2);
    const size_t slash = std::min(rest.find('/'), rest.size());
    if (!IsAuthority(rest.substr(0, slash))) return false;
    rest.remove_prefix(slash);
  }
  return IsUriChars(rest, ":@/");
}

// ---------------------------------------------------------------------------

using FormatCheck = bool (*)(std::string_view);

struct FormatEntry {
  std::string_view name;
  FormatCheck check;
};

constexpr FormatEntry kFormats[] = {
    {"uuid", IsUuid}, {"email", IsEmail},       {"date-time", IsDateTime},
    {"date", IsDate}, {"time", IsTime},         {"ipv4", IsIpv4},
    {"ipv6", IsIpv6}, {"hostname", IsHostname}, {"uri", IsUri},
};

FormatCheck FindFormat(std::string_view format) {
  for (const FormatEntry& entry : kFormats) {
    if (entry.name == format) return entry.check;
  }
  return nullptr;
}

}  // namespace

bool ChecksFormat(std::string_view format) { return FindFormat(format) != nullptr; }

bool MatchesFormat(std::string_view format, std::string_view value) {
  const FormatCheck check = FindFormat(format);
  return check == nullptr || check(value);
}

}  // namespace magic::contracts
