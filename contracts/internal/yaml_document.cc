#include "contracts/internal/yaml_document.h"

#include <yaml-cpp/anchor.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <exception>
#include <limits>
#include <optional>
#include <set>
#include <sstream>
#include <utility>

namespace magic::contracts::internal {
namespace {

using nlohmann::json;

constexpr std::string_view kStrTag = "tag:yaml.org,2002:str";
constexpr std::string_view kNullTag = "tag:yaml.org,2002:null";

Finding MakeFinding(ErrorCode code, Position pos, std::string pointer, std::string message,
                    std::string hint) {
  Finding f;
  f.code = code;
  f.severity = Severity::kError;
  f.line = pos.line;
  f.column = pos.column;
  f.pointer = std::move(pointer);
  f.message = std::move(message);
  f.hint = std::move(hint);
  return f;
}

Finding SyntaxError(Position pos, std::string message, std::string hint) {
  return MakeFinding(ErrorCode::kE1001, pos, "", std::move(message), std::move(hint));
}

Position FromMark(const YAML::Mark& mark) {
  if (mark.is_null() || mark.line < 0 || mark.column < 0) return {};
  return {mark.line + 1, mark.column + 1};
}

// Line and column (1-based) of the byte at `offset` in `text`.
Position PositionOfOffset(std::string_view text, size_t offset) {
  offset = std::min(offset, text.size());
  Position pos{1, 1};
  for (size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++pos.line;
      pos.column = 1;
    } else {
      ++pos.column;
    }
  }
  return pos;
}

// Length of the UTF-8 sequence starting at `s[i]`, or 0 if it is invalid.
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  size_t len = 0;
  uint32_t cp = 0;
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) {
    len = 2, cp = c & 0x1Fu;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3, cp = c & 0x0Fu;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4, cp = c & 0x07u;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    const auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3Fu);
  }
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

// E1001 if `text` is not UTF-8 text without control characters.
std::optional<Finding> CheckEncoding(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    const bool control = (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F;
    const size_t len = control ? 0 : Utf8SequenceLength(text, i);
    if (len == 0) {
      return SyntaxError(PositionOfOffset(text, i),
                         control ? "control character in contract text (binary file?)"
                                 : "contract text is not valid UTF-8",
                         "save the contract as UTF-8 text (YAML or JSON)");
    }
    i += len;
  }
  return std::nullopt;
}

// After yaml-cpp failed at `error_line`: the first tab used for indentation
// on or before that line, if any.
std::optional<Position> FindIndentTab(std::string_view text, int error_line) {
  int line = 1;
  bool in_indent = true;
  for (size_t i = 0, col = 1; i < text.size() && line <= error_line; ++i, ++col) {
    const char c = text[i];
    if (c == '\n') {
      ++line, col = 0, in_indent = true;
    } else if (in_indent && c == '\t') {
      return Position{line, static_cast<int>(col)};
    } else if (c != ' ') {
      in_indent = false;
    }
  }
  return std::nullopt;
}

// True if the quoted scalar starting at text[pos] is closed before the end.
bool QuoteIsClosed(std::string_view text, size_t pos) {
  const char quote = text[pos];
  for (size_t i = pos + 1; i < text.size(); ++i) {
    if (quote == '"' && text[i] == '\\') {
      ++i;
    } else if (text[i] == quote) {
      if (quote == '\'' && i + 1 < text.size() && text[i + 1] == '\'') {
        ++i;
        continue;
      }
      return true;
    }
  }
  return false;
}

bool IsDigits(std::string_view s, bool (*digit)(char)) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!digit(c)) return false;
  }
  return true;
}

bool Dec(char c) { return c >= '0' && c <= '9'; }
bool Oct(char c) { return c >= '0' && c <= '7'; }
bool Hex(char c) { return Dec(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

std::string_view StripSign(std::string_view s) {
  return (!s.empty() && (s[0] == '+' || s[0] == '-')) ? s.substr(1) : s;
}

// [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
bool IsCoreFloat(std::string_view s) {
  s = StripSign(s);
  const size_t e = s.find_first_of("eE");
  if (e != std::string_view::npos) {
    if (!IsDigits(StripSign(s.substr(e + 1)), Dec)) return false;
    s = s.substr(0, e);
  }
  const size_t dot = s.find('.');
  if (dot == std::string_view::npos) return IsDigits(s, Dec);
  const std::string_view whole = s.substr(0, dot), frac = s.substr(dot + 1);
  if (whole.empty()) return IsDigits(frac, Dec);
  return IsDigits(whole, Dec) && (frac.empty() || IsDigits(frac, Dec));
}

std::optional<json> ParseCoreInt(std::string_view s) {
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
    const int base = s[1] == 'x' ? 16 : 8;
    if (!IsDigits(s.substr(2), base == 16 ? Hex : Oct)) return std::nullopt;
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(s.data() + 2, s.data() + s.size(), v, base);
    if (ec != std::errc()) return json(std::string(s));  // too big: keep the text
    return json(v);
  }
  const std::string_view digits = StripSign(s);
  if (!IsDigits(digits, Dec)) return std::nullopt;
  const std::string_view signed_digits = s[0] == '+' ? digits : s;
  int64_t v = 0;
  auto [p, ec] =
      std::from_chars(signed_digits.data(), signed_digits.data() + signed_digits.size(), v);
  if (ec == std::errc()) return json(v);
  uint64_t u = 0;
  auto [p2, ec2] = std::from_chars(digits.data(), digits.data() + digits.size(), u);
  if (ec2 == std::errc() && s[0] != '-') return json(u);
  return std::nullopt;  // out of range: read as a float below
}

std::optional<json> ParseCoreFloat(std::string_view s) {
  static constexpr std::string_view kInf[] = {".inf", ".Inf", ".INF"};
  static constexpr std::string_view kNan[] = {".nan", ".NaN", ".NAN"};
  for (std::string_view n : kNan) {
    if (s == n) return json(std::numeric_limits<double>::quiet_NaN());
  }
  for (std::string_view inf : kInf) {
    if (StripSign(s) == inf) {
      return json(s[0] == '-' ? -std::numeric_limits<double>::infinity()
                              : std::numeric_limits<double>::infinity());
    }
  }
  if (!IsCoreFloat(s)) return std::nullopt;
  const std::string_view unsigned_text = s[0] == '+' ? s.substr(1) : s;
  double v = 0;
  auto [p, ec] =
      std::from_chars(unsigned_text.data(), unsigned_text.data() + unsigned_text.size(), v);
  if (ec == std::errc::result_out_of_range) {
    v = s[0] == '-' ? -std::numeric_limits<double>::infinity()
                    : std::numeric_limits<double>::infinity();
  } else if (ec != std::errc()) {
    return std::nullopt;
  }
  return json(v);
}

}  // namespace

// YAML 1.2 core schema resolution of a plain scalar.
json ResolvePlainScalar(std::string_view s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  if (std::optional<json> i = ParseCoreInt(s)) return *std::move(i);
  if (std::optional<json> f = ParseCoreFloat(s)) return *std::move(f);
  return std::string(s);
}

namespace {

// Walks a yaml-cpp tree into JSON, recording positions. Stops at the first
// fatal problem (stored in `fatal`).
class Converter {
 public:
  Converter(std::string_view text, YamlDocument& doc) : text_(text), doc_(doc) {}

  bool Convert(const YAML::Node& node, const std::string& pointer, int depth, json& out) {
    if (++nodes_ > kMaxNodes) {
      return Fail(node, "document expands to more than 100000 nodes (alias bomb?)",
                  "write the values out instead of nesting aliases");
    }
    if (depth > kMaxDepth) {
      return Fail(node, "document nests deeper than 64 levels (recursive alias?)",
                  "flatten the document");
    }
    const Position pos = FromMark(node.Mark());
    if (pos.line > 0) doc_.value_positions.emplace(pointer, pos);
    switch (node.Type()) {
      case YAML::NodeType::Scalar:
        return ConvertScalar(node, out);
      case YAML::NodeType::Sequence:
        return ConvertSequence(node, pointer, depth, out);
      case YAML::NodeType::Map:
        return ConvertMap(node, pointer, depth, out);
      default:
        out = nullptr;
        return true;
    }
  }

  std::optional<Finding> fatal;

 private:
  bool Fail(const YAML::Node& node, std::string message, std::string hint) {
    fatal = SyntaxError(FromMark(node.Mark()), std::move(message), std::move(hint));
    return false;
  }

  bool ConvertScalar(const YAML::Node& node, json& out) {
    const std::string& tag = node.Tag();
    if (tag == "!" || tag == kStrTag) {
      const int pos = node.Mark().pos;
      if (pos >= 0 && static_cast<size_t>(pos) < text_.size() &&
          (text_[pos] == '"' || text_[pos] == '\'') && !QuoteIsClosed(text_, pos)) {
        return Fail(node, "unterminated quoted string", "close the string with its quote");
      }
      out = node.Scalar();
    } else if (tag == kNullTag) {
      out = nullptr;
    } else {
      out = ResolvePlainScalar(node.Scalar());
    }
    return true;
  }

  bool ConvertSequence(const YAML::Node& node, const std::string& pointer, int depth, json& out) {
    out = json::array();
    size_t index = 0;
    for (const YAML::Node& child : node) {
      json value;
      if (!Convert(child, pointer + "/" + std::to_string(index++), depth + 1, value)) return false;
      out.push_back(std::move(value));
    }
    return true;
  }

  std::optional<std::string> KeyText(const YAML::Node& key) {
    if (key.IsNull()) return std::string("null");
    if (key.IsScalar()) return key.Scalar();
    Fail(key, "mapping keys must be plain values, not lists or mappings",
         "use a string as the key");
    return std::nullopt;
  }

  bool ConvertMap(const YAML::Node& node, const std::string& pointer, int depth, json& out) {
    out = json::object();
    std::map<std::string, Position> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      std::optional<std::string> key = KeyText(it->first);
      if (!key) return false;
      const Position key_pos = FromMark(it->first.Mark());
      const std::string child = pointer + "/" + EscapePointerToken(*key);
      if (auto [prev, inserted] = seen.emplace(*key, key_pos); !inserted) {
        fatal = MakeFinding(ErrorCode::kE1001, key_pos, child,
                            "duplicate key \"" + *key + "\" (first at line " +
                                std::to_string(prev->second.line) + ")",
                            "keep one of the two; a mapping cannot repeat a key");
        return false;
      }
      if (key_pos.line > 0) doc_.key_positions.emplace(child, key_pos);
      json value;
      if (!Convert(it->second, child, depth + 1, value)) return false;
      const Position value_pos = FromMark(it->second.Mark());
      if (it->second.IsNull() && key_pos.line > 0 && value_pos.line != key_pos.line) {
        doc_.value_positions[child] = key_pos;  // an empty value: point at its key
      }
      out[*key] = std::move(value);
    }
    return true;
  }

  std::string_view text_;
  YamlDocument& doc_;
  int nodes_ = 0;
};

// Replaces non-finite numbers (no JSON form) by null, one finding each.
void ReplaceNonFinite(json& value, const std::string& pointer, YamlDocument& doc) {
  if (value.is_number_float() && !std::isfinite(value.get<double>())) {
    value = nullptr;
    Finding f = MakeFinding(ErrorCode::kE1002, doc.Locate(pointer), pointer,
                            "number is not finite (.inf or .nan)",
                            "contracts are JSON documents: use a finite number");
    doc.findings.push_back(std::move(f));
  } else if (value.is_array()) {
    for (size_t i = 0; i < value.size(); ++i) {
      ReplaceNonFinite(value[i], pointer + "/" + std::to_string(i), doc);
    }
  } else if (value.is_object()) {
    for (auto& [key, child] : value.items()) {
      ReplaceNonFinite(child, pointer + "/" + EscapePointerToken(key), doc);
    }
  }
}

// yaml-cpp 0.7 loops forever, allocating, on some stray content after the
// first document (`{"a": 1},` does it): YAML::LoadAll() would exhaust the
// memory. So a streaming pass over the parser's events comes first; it
// stops at a second document, or after kMaxEvents events.
class EventLimiter final : public YAML::EventHandler {
 public:
  static constexpr int kMaxEvents = 4'000'000;

  struct Stop {
    Position position;
    std::string message;
  };

  int documents() const { return documents_; }

  // YAML::EventHandler
  void OnDocumentStart(const YAML::Mark& mark) override {
    if (++documents_ > 1) {
      throw Stop{FromMark(mark), "more than one YAML document, or stray content after the end"};
    }
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { Count(mark); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { Count(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string&) override {
    Count(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    Count(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    Count(mark);
  }
  void OnMapEnd() override {}

 private:
  void Count(const YAML::Mark& mark) {
    if (++events_ > kMaxEvents) throw Stop{FromMark(mark), "the document has too many nodes"};
  }

  int documents_ = 0;
  int events_ = 0;
};

Finding FromYamlException(std::string_view text, const YAML::Exception& e) {
  const Position pos = FromMark(e.mark);
  if (std::optional<Position> tab = FindIndentTab(text, pos.line > 0 ? pos.line : 1 << 30)) {
    return SyntaxError(*tab, "tab character in indentation",
                       "YAML indents with spaces only: replace the tab by spaces");
  }
  return SyntaxError(pos, "invalid YAML: " + e.msg,
                     "check the indentation, quotes and brackets around this position");
}

// Runs `parse` (which calls yaml-cpp); every exception becomes an E1001.
template <typename Parse>
std::optional<Finding> GuardYaml(std::string_view text, Parse parse) {
  try {
    parse();
  } catch (const EventLimiter::Stop& stop) {
    return SyntaxError(stop.position, stop.message,
                       "keep one contract per file: remove the \"---\" separator or the stray "
                       "characters");
  } catch (const YAML::Exception& e) {
    return FromYamlException(text, e);
  } catch (const std::exception& e) {
    return SyntaxError({}, std::string("invalid YAML: ") + e.what(), "check the file is YAML");
  } catch (...) {
    return SyntaxError({}, "invalid YAML", "check the file is YAML");
  }
  return std::nullopt;
}

// Loads the single document of `text` with yaml-cpp, or the E1001 finding.
std::optional<Finding> LoadYaml(std::string_view text, YAML::Node& out) {
  const std::string owned(text);
  EventLimiter limiter;
  std::optional<Finding> error = GuardYaml(text, [&] {
    std::istringstream in(owned);
    YAML::Parser parser(in);
    while (parser.HandleNextDocument(limiter)) {
    }
  });
  if (!error && limiter.documents() > 0) {
    error = GuardYaml(text, [&] { out = YAML::Load(owned); });  // one document: safe
  }
  if (error) return error;
  if (limiter.documents() == 0 || out.IsNull()) {
    return SyntaxError({1, 1}, "the contract is empty",
                       "start from `magic new controller NAME` or the spec's example");
  }
  if (out.IsScalar()) {
    return SyntaxError(FromMark(out.Mark()), "the document is a single value, not a mapping",
                       "a contract is a mapping with name, version, input and output");
  }
  return std::nullopt;
}

// Converts `text` with yaml-cpp into `doc`; false (and doc.findings holds
// the E1001) on failure.
bool ConvertYaml(std::string_view text, YamlDocument& doc) {
  YAML::Node root;
  if (std::optional<Finding> error = LoadYaml(text, root)) {
    doc.findings.push_back(*std::move(error));
    return false;
  }
  Converter converter(text, doc);
  bool ok = false;
  try {
    ok = converter.Convert(root, "", 0, doc.root);
  } catch (const std::exception& e) {
    converter.fatal =
        SyntaxError({}, std::string("invalid YAML: ") + e.what(), "check the file is YAML");
  } catch (...) {
    converter.fatal = SyntaxError({}, "invalid YAML", "check the file is YAML");
  }
  if (!ok) {
    doc.findings.push_back(
        converter.fatal.value_or(SyntaxError({}, "invalid YAML", "check the file is YAML")));
  }
  return ok;
}

// Strict JSON with nlohmann, reporting duplicate keys (without positions).
std::optional<Finding> ParseStrictJson(std::string_view text, json& out) {
  std::vector<std::set<std::string>> keys;
  std::optional<std::string> duplicate;
  auto callback = [&](int /*depth*/, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) keys.emplace_back();
    if (event == json::parse_event_t::object_end && !keys.empty()) keys.pop_back();
    if (event == json::parse_event_t::key && !keys.empty() && parsed.is_string() &&
        !keys.back().insert(parsed.get<std::string>()).second && !duplicate) {
      duplicate = parsed.get<std::string>();
    }
    return true;
  };
  try {
    out = json::parse(text.begin(), text.end(), callback);
  } catch (const json::parse_error& e) {
    const size_t offset = e.byte > 0 ? e.byte - 1 : 0;
    std::string message = e.what();
    if (const size_t colon = message.find("syntax error"); colon != std::string::npos) {
      message = message.substr(colon);
    }
    return SyntaxError(PositionOfOffset(text, offset), "invalid JSON: " + message,
                       "check commas, quotes and brackets just before this position");
  } catch (const std::exception& e) {
    return SyntaxError({}, std::string("invalid JSON: ") + e.what(), "check the file is JSON");
  }
  if (duplicate) {
    return SyntaxError({}, "duplicate key \"" + *duplicate + "\"",
                       "keep one of the two; an object cannot repeat a key");
  }
  return std::nullopt;
}

bool DepthWithin(const json& value, int depth) {
  if (!value.is_structured()) return true;
  if (depth > kMaxDepth) return false;
  for (const json& child : value) {
    if (!DepthWithin(child, depth + 1)) return false;
  }
  return true;
}

void ParseJsonDocument(std::string_view text, YamlDocument& doc) {
  json strict;
  if (std::optional<Finding> error = ParseStrictJson(text, strict)) {
    YamlDocument positions;
    // yaml-cpp may still locate a duplicate key precisely.
    if (error->message.starts_with("duplicate key") && !ConvertYaml(text, positions) &&
        positions.findings[0].message.starts_with("duplicate key")) {
      error = positions.findings[0];
    }
    doc.findings.push_back(*std::move(error));
    return;
  }
  if (!strict.is_object() && !strict.is_array()) {
    doc.findings.push_back(SyntaxError({1, 1}, "the document is a single value, not an object",
                                       "a contract is an object with name, version, input and "
                                       "output"));
    return;
  }
  if (!DepthWithin(strict, 0)) {
    doc.findings.push_back(
        SyntaxError({}, "document nests deeper than 64 levels", "flatten the document"));
    return;
  }
  YamlDocument positions;
  if (ConvertYaml(text, positions)) {
    doc.value_positions = std::move(positions.value_positions);
    doc.key_positions = std::move(positions.key_positions);
  }
  doc.root = std::move(strict);
}

}  // namespace

bool YamlDocument::ok() const {
  for (const Finding& f : findings) {
    if (f.code == ErrorCode::kE1001) return false;
  }
  return true;
}

Position YamlDocument::Locate(std::string_view pointer) const {
  std::string p(pointer);
  while (true) {
    if (auto it = value_positions.find(p); it != value_positions.end()) return it->second;
    if (auto it = key_positions.find(p); it != key_positions.end()) return it->second;
    if (p.empty()) return {};
    p.erase(p.rfind('/'));
  }
}

Position YamlDocument::LocateKey(std::string_view pointer) const {
  if (auto it = key_positions.find(std::string(pointer)); it != key_positions.end()) {
    return it->second;
  }
  return Locate(pointer);
}

std::string EscapePointerToken(std::string_view token) {
  std::string out;
  out.reserve(token.size());
  for (char c : token) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

YamlDocument ParseYamlDocument(std::string_view text, bool json) {
  YamlDocument doc;
  if (text.size() > kMaxInputBytes) {
    doc.findings.push_back(SyntaxError({}, "contract is larger than 1 MiB",
                                       "a contract declares an interface: keep it small"));
    return doc;
  }
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);  // UTF-8 byte order mark
  if (std::optional<Finding> error = CheckEncoding(text)) {
    doc.findings.push_back(*std::move(error));
    return doc;
  }
  if (json) {
    ParseJsonDocument(text, doc);
  } else if (!ConvertYaml(text, doc)) {
    return doc;
  }
  if (doc.ok()) ReplaceNonFinite(doc.root, "", doc);
  return doc;
}

}  // namespace magic::contracts::internal
