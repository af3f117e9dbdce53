#include "contracts/internal/checks.h"

#include "contracts/schema.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <utility>

namespace magic::contracts::internal {
namespace {

using nlohmann::json;
using Names = std::span<const std::string_view>;
using NameList = std::vector<std::string_view>;

// ---------------------------------------------------------------------------
// Text helpers.

bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }
bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlpha(char c) { return IsUpper(c) || IsLower(c); }
bool IsAlnum(char c) { return IsAlpha(c) || IsDigit(c); }
char ToLowerChar(char c) { return IsUpper(c) ? static_cast<char>(c - 'A' + 'a') : c; }
char ToUpperChar(char c) { return IsLower(c) ? static_cast<char>(c - 'a' + 'A') : c; }

std::string ToLower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), ToLowerChar);
  return out;
}

// True if `s` is 1..max_len characters, the first satisfying `first` and
// the others `rest`.
bool Matches(std::string_view s, bool (*first)(char), bool (*rest)(char), size_t max_len) {
  if (s.empty() || s.size() > max_len || !first(s[0])) return false;
  return std::all_of(s.begin() + 1, s.end(), rest);
}

bool IdentStart(char c) { return IsAlpha(c) || c == '_'; }
bool IdentRest(char c) { return IsAlnum(c) || c == '_'; }
bool KeyRest(char c) { return IdentRest(c) || c == '.' || c == '-'; }
bool QueueChar(char c) { return IsAlnum(c) || c == '.' || c == '_' || c == '-'; }
bool MetricStart(char c) { return IdentStart(c) || c == ':'; }
bool MetricRest(char c) { return IdentRest(c) || c == ':'; }

// "\"value\"", shortened when long.
std::string Quote(std::string_view s) {
  constexpr size_t kMax = 60;
  if (s.size() > kMax) return "\"" + std::string(s.substr(0, kMax)) + "...\"";
  return "\"" + std::string(s) + "\"";
}

std::string Join(Names names, std::string_view separator = ", ") {
  std::string out;
  for (std::string_view n : names) {
    if (!out.empty()) out += separator;
    out += n;
  }
  return out;
}

std::string Describe(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null (empty)";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::string:
      return "a string";
    case json::value_t::array:
      return "a list";
    case json::value_t::object:
      return "a mapping";
    default:
      return "a number";
  }
}

std::string Child(std::string_view pointer, std::string_view token) {
  return std::string(pointer) + "/" + EscapePointerToken(token);
}

std::string Child(std::string_view pointer, size_t index) {
  return std::string(pointer) + "/" + std::to_string(index);
}

std::string FormatNumber(double v) {
  json j = v;
  return j.dump();
}

// "did you mean "x"?" or "allowed: a, b, c".
std::string SuggestName(std::string_view word, Names candidates, std::string_view what) {
  const std::string match = ClosestMatch(word, candidates);
  if (!match.empty()) return "did you mean \"" + match + "\"?";
  return std::string(what) + ": " + Join(candidates);
}

// ---------------------------------------------------------------------------
// Findings.

class Reporter {
 public:
  explicit Reporter(const YamlDocument& doc) : doc_(doc) {}

  void Error(std::string pointer, std::string message, std::string hint) {
    const Position pos = doc_.Locate(pointer);  // before `pointer` is moved from
    Add(Severity::kError, pos, std::move(pointer), std::move(message), std::move(hint));
  }
  void ErrorAtKey(std::string pointer, std::string message, std::string hint) {
    const Position pos = doc_.LocateKey(pointer);  // before `pointer` is moved from
    Add(Severity::kError, pos, std::move(pointer), std::move(message), std::move(hint));
  }
  void Warn(std::string pointer, std::string message, std::string hint) {
    const Position pos = doc_.Locate(pointer);  // before `pointer` is moved from
    Add(Severity::kWarning, pos, std::move(pointer), std::move(message), std::move(hint));
  }
  void WarnAtKey(std::string pointer, std::string message, std::string hint) {
    const Position pos = doc_.LocateKey(pointer);  // before `pointer` is moved from
    Add(Severity::kWarning, pos, std::move(pointer), std::move(message), std::move(hint));
  }
  void Add(Finding finding) { findings_.push_back(std::move(finding)); }

  int errors() const {
    return static_cast<int>(std::count_if(findings_.begin(), findings_.end(), [](const Finding& f) {
      return f.severity == Severity::kError;
    }));
  }
  bool has_errors() const { return errors() > 0; }

  // In document order (stable for equal or unknown positions).
  std::vector<Finding> Take() {
    std::stable_sort(findings_.begin(), findings_.end(), [](const Finding& a, const Finding& b) {
      return std::pair(a.line, a.column) < std::pair(b.line, b.column);
    });
    return std::move(findings_);
  }

 private:
  void Add(Severity severity, Position pos, std::string pointer, std::string message,
           std::string hint) {
    Finding f;
    f.code = ErrorCode::kE1002;
    f.severity = severity;
    f.line = pos.line;
    f.column = pos.column;
    f.pointer = std::move(pointer);
    f.message = std::move(message);
    f.hint = std::move(hint);
    findings_.push_back(std::move(f));
  }

  const YamlDocument& doc_;
  std::vector<Finding> findings_;
};

// Errors for every key of `object` not in `allowed`.
void CheckKeys(const json& object, std::string_view pointer, Names allowed, std::string_view where,
               Reporter& r) {
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (std::find(allowed.begin(), allowed.end(), it.key()) != allowed.end()) continue;
    r.ErrorAtKey(Child(pointer, it.key()),
                 "unknown key " + Quote(it.key()) + " in " + std::string(where),
                 SuggestName(it.key(), allowed, std::string(where) + " takes only"));
  }
}

const json* Member(const json& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

// A list option's entries: each string with its pointer.
struct Item {
  std::string value;
  std::string pointer;
};

// Checks `v` is a list of strings; `check` validates (and may normalize)
// each entry and reports its own error. Duplicates are warnings.
using ItemCheck = std::function<bool(std::string& value, const std::string& pointer)>;
std::vector<Item> CheckStringList(const json& v, const std::string& pointer, std::string_view what,
                                  const ItemCheck& check, Reporter& r,
                                  Severity duplicate = Severity::kWarning) {
  std::vector<Item> items;
  if (v.is_null()) return items;
  if (!v.is_array()) {
    const std::string example = v.is_string() ? v.get<std::string>() : "...";
    r.Error(pointer, std::string(what) + " must be a list, not " + Describe(v),
            "write " + std::string(what) + ": [" + example + "]");
    return items;
  }
  std::set<std::string> seen;
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string p = Child(pointer, i);
    if (!v[i].is_string()) {
      r.Error(p, "each entry of " + std::string(what) + " must be a string, not " + Describe(v[i]),
              "quote the value");
      continue;
    }
    std::string value = v[i].get<std::string>();
    if (!check(value, p)) continue;
    if (!seen.insert(value).second) {
      const std::string message = "duplicate entry " + Quote(value) + " in " + std::string(what);
      if (duplicate == Severity::kError) {
        r.Error(p, message, "list each entry once");
      } else {
        r.Warn(p, message, "remove it");
      }
      continue;
    }
    items.push_back({std::move(value), p});
  }
  return items;
}

std::vector<std::string> Values(const std::vector<Item>& items) {
  std::vector<std::string> out;
  for (const Item& item : items) out.push_back(item.value);
  return out;
}

// ---------------------------------------------------------------------------
// Top level, name, version.

constexpr std::string_view kTopLevelKeys[] = {"name",         "version",   "input",        "output",
                                              "capabilities", "resources", "observability"};

void CheckTopLevel(const json& root, Reporter& r) {
  CheckKeys(root, "", kTopLevelKeys, "a contract", r);
  static constexpr std::pair<std::string_view, std::string_view> kExamples[] = {
      {"name", "name: InvoiceSync"},
      {"version", "version: \"1.0.0\""},
      {"input", "input: {type: object, properties: {...}}"},
      {"output", "output: {type: object, properties: {...}}"},
  };
  for (const auto& [key, example] : kExamples) {
    if (root.contains(key)) continue;
    r.Error(Child("", key), "missing required field " + Quote(key),
            "add `" + std::string(example) + "`");
  }
}

bool IsPascalCase(std::string_view s) { return Matches(s, IsUpper, IsAlnum, 64); }

std::optional<std::string> CheckName(const json& v, Reporter& r) {
  if (!v.is_string()) {
    r.Error("/name", "name must be a string, not " + Describe(v),
            "write a PascalCase name: name: InvoiceSync");
    return std::nullopt;
  }
  const std::string name = v.get<std::string>();
  if (name.size() > 64) {
    r.Error("/name", "name is " + std::to_string(name.size()) + " characters long; at most 64",
            "shorten it");
    return std::nullopt;
  }
  if (!IsPascalCase(name)) {
    r.Error("/name", "name " + Quote(name) + " is not PascalCase",
            "use " + Quote(PascalCaseSuggestion(name)) +
                ": an upper-case letter, then letters and digits");
    return std::nullopt;
  }
  return name;
}

bool IsNumericIdentifier(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), IsDigit);
}

bool IsSemverIdentifiers(std::string_view s, bool numeric_no_leading_zero) {
  if (s.empty()) return false;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t end = std::min(s.find('.', start), s.size());
    const std::string_view id = s.substr(start, end - start);
    if (id.empty() ||
        !std::all_of(id.begin(), id.end(), [](char c) { return IsAlnum(c) || c == '-'; })) {
      return false;
    }
    if (numeric_no_leading_zero && IsNumericIdentifier(id) && id.size() > 1 && id[0] == '0') {
      return false;
    }
    start = end + 1;
  }
  return true;
}

// Why `v` is not semver 2.0.0 (message, hint), or nullopt.
std::optional<std::pair<std::string, std::string>> SemverProblem(std::string_view v) {
  if (v.size() > 128) return std::pair("version is too long", "use MAJOR.MINOR.PATCH, e.g. 1.0.0");
  if (!v.empty() && (v[0] == 'v' || v[0] == 'V')) {
    return std::pair("version must not start with \"v\"",
                     "write " + Quote(v.substr(1)) + " (semantic version without prefix)");
  }
  std::string_view core = v.substr(0, v.find('+'));
  if (core.size() < v.size() && !IsSemverIdentifiers(v.substr(core.size() + 1), false)) {
    return std::pair("build metadata after \"+\" is malformed",
                     "use dot-separated [0-9A-Za-z-] identifiers, e.g. 1.0.0+build.5");
  }
  const size_t dash = core.find('-');
  if (dash != std::string_view::npos) {
    if (!IsSemverIdentifiers(core.substr(dash + 1), true)) {
      return std::pair("pre-release after \"-\" is malformed",
                       "use dot-separated identifiers, e.g. 1.0.0-rc.1 (no leading zeros)");
    }
    core = core.substr(0, dash);
  }
  std::vector<std::string_view> parts;
  for (size_t start = 0; start <= core.size();) {
    const size_t end = std::min(core.find('.', start), core.size());
    parts.push_back(core.substr(start, end - start));
    start = end + 1;
  }
  const bool numeric = std::all_of(parts.begin(), parts.end(), IsNumericIdentifier);
  if (parts.size() != 3 || !numeric) {
    return std::pair("version " + Quote(v) + " is not a semantic version",
                     "use three numbers MAJOR.MINOR.PATCH, e.g. \"1.0.0\"");
  }
  for (std::string_view p : parts) {
    if (p.size() > 1 && p[0] == '0') {
      return std::pair("version " + Quote(v) + " has a leading zero",
                       "write each number without leading zeros, e.g. 1.2.0");
    }
  }
  return std::nullopt;
}

std::optional<std::string> CheckVersion(const json& v, Reporter& r) {
  if (v.is_number()) {
    std::string text = v.dump();
    while (std::count(text.begin(), text.end(), '.') < 2) text += ".0";
    r.Error("/version", "version must be a string, not a number (YAML read " + v.dump() + ")",
            "quote it: version: \"" + text + "\"");
    return std::nullopt;
  }
  if (!v.is_string()) {
    r.Error("/version", "version must be a string, not " + Describe(v), "write version: \"1.0.0\"");
    return std::nullopt;
  }
  const std::string version = v.get<std::string>();
  if (auto problem = SemverProblem(version)) {
    r.Error("/version", problem->first, problem->second);
    return std::nullopt;
  }
  return version;
}

// ---------------------------------------------------------------------------
// Input and output JSON Schemas.

constexpr std::string_view kDraft07Keywords[] = {
    "$schema",
    "$id",
    "$ref",
    "$comment",
    "title",
    "description",
    "default",
    "readOnly",
    "writeOnly",
    "examples",
    "multipleOf",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "additionalItems",
    "items",
    "maxItems",
    "minItems",
    "uniqueItems",
    "contains",
    "maxProperties",
    "minProperties",
    "required",
    "additionalProperties",
    "definitions",
    "properties",
    "patternProperties",
    "dependencies",
    "propertyNames",
    "const",
    "enum",
    "type",
    "format",
    "contentMediaType",
    "contentEncoding",
    "if",
    "then",
    "else",
    "allOf",
    "anyOf",
    "oneOf",
    "not",
};

constexpr std::string_view kCheckedFormats[] = {"date", "time", "date-time", "uuid", "email",
                                                "ipv4", "ipv6", "hostname",  "uri"};

bool In(Names names, std::string_view s) {
  return std::find(names.begin(), names.end(), s) != names.end();
}

using SchemaVisitor = std::function<void(const json& schema, const std::string& pointer)>;

// Calls `visit` on `schema` and every subschema in it (not on data such as
// enum values or property names).
void WalkSchema(const json& schema, const std::string& pointer, int depth,
                const SchemaVisitor& visit) {
  static constexpr std::string_view kMaps[] = {"properties", "patternProperties", "definitions",
                                               "dependencies"};
  static constexpr std::string_view kLists[] = {"items", "allOf", "anyOf", "oneOf"};
  static constexpr std::string_view kSingle[] = {"items",
                                                 "additionalItems",
                                                 "additionalProperties",
                                                 "contains",
                                                 "propertyNames",
                                                 "not",
                                                 "if",
                                                 "then",
                                                 "else"};
  if (!schema.is_object() || depth > kMaxDepth) return;
  visit(schema, pointer);
  for (auto it = schema.begin(); it != schema.end(); ++it) {
    const std::string p = Child(pointer, it.key());
    const json& value = it.value();
    if (In(kMaps, it.key()) && value.is_object()) {
      for (auto sub = value.begin(); sub != value.end(); ++sub) {
        WalkSchema(sub.value(), Child(p, sub.key()), depth + 1, visit);
      }
    } else if (In(kLists, it.key()) && value.is_array()) {
      for (size_t i = 0; i < value.size(); ++i) WalkSchema(value[i], Child(p, i), depth + 1, visit);
    } else if (In(kSingle, it.key())) {
      WalkSchema(value, p, depth + 1, visit);
    }
  }
}

void CheckRequiredDeclared(const json& schema, const std::string& pointer, Reporter& r) {
  const json* required = Member(schema, "required");
  const json* properties = Member(schema, "properties");
  if (!required || !required->is_array() || !properties || !properties->is_object()) return;
  NameList declared;
  for (auto it = properties->begin(); it != properties->end(); ++it) declared.push_back(it.key());
  for (size_t i = 0; i < required->size(); ++i) {
    const json& name = (*required)[i];
    if (!name.is_string() || properties->contains(name.get<std::string>())) continue;
    const std::string s = name.get<std::string>();
    const std::string match = ClosestMatch(s, declared);
    r.Warn(Child(pointer + "/required", i),
           "required property " + Quote(s) + " is not declared in properties",
           match.empty() ? "declare it under properties, or remove it from required"
                         : "did you mean \"" + match + "\"?");
  }
}

void CheckFormatAndKeywords(const json& schema, const std::string& pointer, Reporter& r) {
  if (const json* format = Member(schema, "format"); format && format->is_string()) {
    const std::string name = format->get<std::string>();
    if (!ChecksFormat(name)) {
      const std::string match = ClosestMatch(name, kCheckedFormats);
      r.Warn(pointer + "/format",
             "format " + Quote(name) + " is not checked: it is only an annotation",
             match.empty() ? "checked formats: " + Join(kCheckedFormats)
                           : "did you mean \"" + match + "\"?");
    }
  }
  for (auto it = schema.begin(); it != schema.end(); ++it) {
    if (In(kDraft07Keywords, it.key()) || it.key().size() < 3) continue;
    const std::string match = ClosestMatch(it.key(), kDraft07Keywords);
    if (match.empty()) continue;
    r.WarnAtKey(Child(pointer, it.key()),
                "unknown keyword " + Quote(it.key()) + " is ignored by JSON Schema",
                "did you mean \"" + match + "\"?");
  }
}

const json* At(const json& root, const std::string& pointer) {
  try {
    const json::json_pointer p(pointer);
    return root.contains(p) ? &root.at(p) : nullptr;
  } catch (const std::exception&) {
    return nullptr;
  }
}

std::string ViolationHint(const Violation& v, const json* actual) {
  if (actual && actual->is_string() && v.expected.is_array()) {
    NameList options;
    for (const json& e : v.expected) {
      if (e.is_string()) options.push_back(e.get_ref<const std::string&>());
    }
    const std::string match = ClosestMatch(actual->get<std::string>(), options);
    if (!match.empty()) return "did you mean \"" + match + "\"?";
    if (!options.empty()) return "allowed: " + Join(options);
  }
  if (v.constraint == "false" || v.constraint.empty()) {
    return "remove or fix this part so the schema is valid JSON Schema draft-07";
  }
  std::string hint = "fix " + Quote(v.constraint) + " so the schema is valid JSON Schema draft-07";
  if (!v.expected.is_null()) hint += " (expected: " + v.expected.dump() + ")";
  return hint;
}

// The meta-schema violations worth showing: the first one per field, and
// none for a field when a deeper field already explains it.
std::vector<Violation> MostSpecific(std::vector<Violation> violations) {
  std::vector<Violation> kept;
  for (Violation& v : violations) {
    const bool covered = std::any_of(kept.begin(), kept.end(), [&](const Violation& k) {
      return k.field == v.field || (k.field.starts_with(v.field) && k.field[v.field.size()] == '/');
    });
    if (!covered) kept.push_back(std::move(v));
  }
  return kept;
}

// Errors for "$ref"s that are not local or point at nothing; true if any.
bool CheckRefs(const json& schema, const std::string& pointer, Reporter& r) {
  bool bad = false;
  WalkSchema(schema, pointer, 0, [&](const json& sub, const std::string& p) {
    const json* ref = Member(sub, "$ref");
    if (!ref || !ref->is_string()) return;
    const std::string& target = ref->get_ref<const std::string&>();
    if (!target.starts_with("#")) {
      r.Error(p + "/$ref", "$ref " + Quote(target) + " is not local to this schema",
              "contracts cannot load remote schemas: copy the definition under definitions and "
              "write \"#/definitions/Name\"");
      bad = true;
    } else if (target.size() > 1 && !At(schema, target.substr(1))) {
      r.Error(p + "/$ref", "$ref " + Quote(target) + " points at nothing in this schema",
              "declare the target, e.g. definitions: {Order: {type: object, ...}}, at the top "
              "of the same schema");
      bad = true;
    }
  });
  return bad;
}

void CheckSchema(const json& schema, const std::string& pointer, bool is_input, Reporter& r) {
  const std::string what = pointer.substr(1);
  if (!schema.is_object()) {
    r.Error(pointer, what + " must be a JSON Schema mapping, not " + Describe(schema),
            "write " + what + ": {type: object, required: [...], properties: {...}}");
    return;
  }
  const bool bad_refs = CheckRefs(schema, pointer, r);
  for (const Violation& v : MostSpecific(CheckSchemaDocument(schema))) {
    if (bad_refs && v.field.empty()) continue;  // the compile error the bad $ref causes
    r.Error(pointer + v.field, what + " schema: " + v.message,
            ViolationHint(v, At(schema, v.field)));
  }
  if (is_input) {
    const json* type = Member(schema, "type");
    if (!type || *type != "object") {
      r.Warn(type ? pointer + "/type" : pointer,
             "the input schema's type is " + (type ? type->dump() : std::string("missing")) +
                 ", not \"object\"",
             "controllers take a JSON object: write type: object and list its properties");
    }
  }
  WalkSchema(schema, pointer, 0, [&r](const json& sub, const std::string& p) {
    CheckRequiredDeclared(sub, p, r);
    CheckFormatAndKeywords(sub, p, r);
  });
}

// ---------------------------------------------------------------------------
// Capabilities.

NameList CapabilityNames() {
  NameList names;
  for (int i = 0; i < kCapabilityKindCount; ++i) {
    names.push_back(CapabilityName(static_cast<CapabilityKind>(i)));
  }
  return names;
}

NameList OptionsOf(CapabilityKind kind) {
  switch (kind) {
    case CapabilityKind::kDbRead:
    case CapabilityKind::kDbWrite:
      return {"tables"};
    case CapabilityKind::kHttpEgress:
      return {"allow"};
    case CapabilityKind::kSecretsRead:
      return {"keys"};
    case CapabilityKind::kQueuePublish:
    case CapabilityKind::kQueueSubscribe:
      return {"queues"};
    case CapabilityKind::kCacheRead:
      return {"prefix"};
    case CapabilityKind::kCacheWrite:
      return {"prefix", "max_ttl"};
    case CapabilityKind::kFsTemp:
      return {"max_size"};
    case CapabilityKind::kDbRawSql:
      return {};
  }
  return {};
}

std::string OptionsExample(CapabilityKind kind) {
  const std::string name(CapabilityName(kind));
  switch (kind) {
    case CapabilityKind::kDbRead:
    case CapabilityKind::kDbWrite:
      return "write - " + name + ": {tables: [customers, orders]}";
    case CapabilityKind::kHttpEgress:
      return "write - http:egress: {allow: [api.example.com]}";
    case CapabilityKind::kSecretsRead:
      return "write - secrets:read: {keys: [API_KEY]}";
    case CapabilityKind::kQueuePublish:
    case CapabilityKind::kQueueSubscribe:
      return "write - " + name + ": {queues: [order-events]}";
    case CapabilityKind::kCacheRead:
      return "write - cache:read: {prefix: \"customer:\"}";
    case CapabilityKind::kCacheWrite:
      return "write - cache:write: {prefix: \"customer:\", max_ttl: 3600}";
    case CapabilityKind::kFsTemp:
      return "write - fs:temp: {max_size: 64Mi}";
    case CapabilityKind::kDbRawSql:
      return "db:rawsql takes no options: write - db:rawsql";
  }
  return "";
}

// An integer JSON value as int64 (saturated), or nullopt.
std::optional<int64_t> AsInt64(const json& v) {
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    return u > uint64_t{std::numeric_limits<int64_t>::max()} ? std::numeric_limits<int64_t>::max()
                                                             : static_cast<int64_t>(u);
  }
  if (v.is_number_integer()) return v.get<int64_t>();
  return std::nullopt;
}

std::optional<int64_t> CheckTtl(const json& v, const std::string& p, Reporter& r) {
  constexpr int64_t kMaxTtl = int64_t{30} * 86'400;
  const std::string hint =
      "write whole seconds (3600) or a duration such as \"1h\"; at most 30 days (\"720h\")";
  std::optional<int64_t> seconds = AsInt64(v);
  if (v.is_string()) {
    const std::optional<int64_t> ms = ParseDurationMs(v.get<std::string>());
    if (!ms || *ms % 1000 != 0) {
      r.Error(p, "max_ttl " + Quote(v.get<std::string>()) + " is not a whole number of seconds",
              hint);
      return std::nullopt;
    }
    seconds = *ms / 1000;
  } else if (!seconds) {
    r.Error(p, "max_ttl must be seconds or a duration, not " + Describe(v), hint);
    return std::nullopt;
  }
  if (*seconds <= 0 || *seconds > kMaxTtl) {
    r.Error(p, "max_ttl of " + std::to_string(*seconds) + " s is outside 1 s .. 30 days", hint);
    return std::nullopt;
  }
  return seconds;
}

std::optional<int64_t> CheckMaxSize(const json& v, const std::string& p, Reporter& r) {
  constexpr int64_t kMin = int64_t{1} << 20, kMax = int64_t{1} << 30;
  const std::string hint = "write a size from 1Mi to 1Gi, e.g. 64Mi";
  std::optional<int64_t> bytes = AsInt64(v);
  if (v.is_string()) bytes = ParseByteSize(v.get<std::string>());
  if (!bytes) {
    r.Error(p,
            "max_size " + (v.is_string() ? Quote(v.get<std::string>()) : Describe(v)) +
                " is not a size",
            hint);
    return std::nullopt;
  }
  if (*bytes < kMin || *bytes > kMax) {
    r.Error(p, "max_size of " + std::to_string(*bytes) + " bytes is outside 1Mi .. 1Gi", hint);
    return std::nullopt;
  }
  return bytes;
}

bool CheckTable(const std::string& value, const std::string& p, Reporter& r) {
  const size_t dot = value.find('.');
  const bool ok =
      dot == std::string::npos
          ? Matches(value, IdentStart, IdentRest, 63)
          : Matches(std::string_view(value).substr(0, dot), IdentStart, IdentRest, 63) &&
                Matches(std::string_view(value).substr(dot + 1), IdentStart, IdentRest, 63);
  if (!ok) {
    r.Error(p, Quote(value) + " is not a table name",
            "a table is an SQL identifier (letters, digits and _, not starting with a digit, "
            "at most 63 characters), optionally schema.table");
  }
  return ok;
}

bool CheckSecretKey(const std::string& value, const std::string& p, Reporter& r) {
  const bool ok = Matches(value, IdentStart, KeyRest, 128);
  if (!ok) {
    r.Error(p, Quote(value) + " is not a secret key name",
            "key names start with a letter or _, then letters, digits, _, . or - (at most 128), "
            "e.g. STRIPE_API_KEY");
  }
  return ok;
}

bool CheckQueueName(const std::string& value, const std::string& p, Reporter& r) {
  const bool ok = Matches(value, QueueChar, QueueChar, 200) && value != "." && value != "..";
  if (!ok) {
    r.Error(p, Quote(value) + " is not a queue name",
            "queue names are 1 to 200 letters, digits, ., _ or - (Kafka topic names), "
            "e.g. order-events");
  }
  return ok;
}

bool ValidHostLabels(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  for (size_t start = 0; start <= name.size();) {
    const size_t end = std::min(name.find('.', start), name.size());
    const std::string_view label = name.substr(start, end - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    if (!std::all_of(label.begin(), label.end(), [](char c) { return IsAlnum(c) || c == '-'; })) {
      return false;
    }
    start = end + 1;
  }
  return true;
}

bool IsIpLiteral(const std::string& text, int family) {
  unsigned char buffer[16];
  return inet_pton(family, text.c_str(), buffer) == 1;
}

// Rejects URLs, paths and ports; nullopt when the entry is none of those.
std::optional<HostCheck> HostShapeProblem(std::string_view entry) {
  HostCheck c;
  if (const size_t scheme = entry.find("://"); scheme != std::string_view::npos) {
    std::string_view rest = entry.substr(scheme + 3);
    rest = rest.substr(0, rest.find_first_of("/:?#"));
    c.message = Quote(entry) + " is a URL; allow takes host names";
    c.hint = "write " + Quote(ToLower(rest));
  } else if (const size_t slash = entry.find('/'); slash != std::string_view::npos) {
    c.message = Quote(entry) + " has a path; allow takes host names";
    c.hint = "write " + Quote(ToLower(entry.substr(0, slash))) + "; paths are not restricted";
  } else if (const size_t colon = entry.find(':'); colon != std::string_view::npos) {
    c.message = Quote(entry) + " has a port; allow takes host names";
    c.hint =
        "write " + Quote(ToLower(entry.substr(0, colon))) + "; ports are not part of the allowlist";
  } else if (entry.find_first_of(" \t") != std::string_view::npos) {
    c.message = Quote(entry) + " contains spaces";
    c.hint = "write one host name per entry";
  } else {
    return std::nullopt;
  }
  return c;
}

// An IP literal entry ("10.0.0.1", "::1", "[::1]"), or nullopt.
std::optional<HostCheck> CheckIpEntry(std::string_view entry) {
  std::string bare(entry);
  if (bare.size() >= 2 && bare.front() == '[' && bare.back() == ']') {
    bare = bare.substr(1, bare.size() - 2);
  }
  const bool v6 = std::count(bare.begin(), bare.end(), ':') >= 2;
  if (!v6 && !IsIpLiteral(bare, AF_INET)) return std::nullopt;
  HostCheck c;
  if (v6 && !IsIpLiteral(bare, AF_INET6)) {
    c.message = Quote(entry) + " is not a valid IPv6 address";
    c.hint = "write a host name, or a literal address such as 2001:db8::1";
    return c;
  }
  c.ok = true;
  c.warning = true;
  c.host = ToLower(bare);
  c.message = "IP literal " + Quote(entry) + " in allow";
  c.hint = "prefer host names: IP allowlists break when addresses change";
  return c;
}

// ---------------------------------------------------------------------------
// Resources.

constexpr std::string_view kResourceKeys[] = {"cpu", "memory", "timeout"};

std::optional<double> ParseCpu(const json& v) {
  if (v.is_number()) return v.get<double>();
  if (!v.is_string()) return std::nullopt;
  std::string_view s = v.get_ref<const std::string&>();
  const bool milli = s.ends_with("m");
  if (milli) s.remove_suffix(1);
  if (s.empty() ||
      !std::all_of(s.begin(), s.end(), [](char c) { return IsDigit(c) || c == '.'; })) {
    return std::nullopt;
  }
  try {
    const double value = std::stod(std::string(s));
    return milli ? value / 1000 : value;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

double CheckCpu(const json& v, Reporter& r) {
  const std::string hint = "cpu takes 0.1 to 2.0 cores (or \"100m\" to \"2000m\"), e.g. 0.5";
  const std::optional<double> cpu = ParseCpu(v);
  if (!cpu) {
    r.Error("/resources/cpu", "cpu must be a number of cores, not " + Describe(v), hint);
  } else if (*cpu < ResourceLimits::kMinCpu - 1e-9 || *cpu > ResourceLimits::kMaxCpu + 1e-9) {
    r.Error("/resources/cpu", "cpu " + FormatNumber(*cpu) + " is out of bounds", hint);
  } else {
    return *cpu;
  }
  return ResourceLimits::kDefaultCpu;
}

int64_t CheckMemory(const json& v, Reporter& r) {
  std::string hint = "memory takes 64Mi to 2Gi, e.g. 256Mi";
  std::optional<int64_t> bytes = AsInt64(v);
  if (bytes) hint += " (a plain number is bytes)";
  if (v.is_string()) bytes = ParseByteSize(v.get<std::string>());
  if (!bytes) {
    r.Error(
        "/resources/memory",
        "memory " + (v.is_string() ? Quote(v.get<std::string>()) : Describe(v)) + " is not a size",
        hint + "; units are Ki, Mi, Gi (binary) or K, M, G (decimal)");
  } else if (*bytes < ResourceLimits::kMinMemory || *bytes > ResourceLimits::kMaxMemory) {
    r.Error("/resources/memory", "memory of " + std::to_string(*bytes) + " bytes is out of bounds",
            hint);
  } else {
    return *bytes;
  }
  return ResourceLimits::kDefaultMemory;
}

int64_t CheckTimeout(const json& v, Reporter& r) {
  const std::string hint = "timeout takes 1s to 300s (5m), e.g. 30s; a plain number is seconds";
  std::optional<int64_t> ms;
  if (v.is_number() && std::abs(v.get<double>()) < 1e12) {
    ms = std::llround(v.get<double>() * 1000);
  } else if (v.is_string()) {
    ms = ParseDurationMs(v.get<std::string>());
  }
  if (!ms) {
    r.Error("/resources/timeout",
            "timeout " + (v.is_string() ? Quote(v.get<std::string>()) : Describe(v)) +
                " is not a duration",
            hint);
  } else if (*ms < ResourceLimits::kMinTimeoutMs || *ms > ResourceLimits::kMaxTimeoutMs) {
    r.Error("/resources/timeout", "timeout of " + std::to_string(*ms) + " ms is out of bounds",
            hint);
  } else {
    return *ms;
  }
  return ResourceLimits::kDefaultTimeoutMs;
}

ResourceLimits CheckResources(const json* v, Reporter& r) {
  ResourceLimits limits;
  if (!v || v->is_null()) return limits;
  if (!v->is_object()) {
    r.Error("/resources", "resources must be a mapping, not " + Describe(*v),
            "write resources: {cpu: 0.5, memory: 256Mi, timeout: 30s}");
    return limits;
  }
  CheckKeys(*v, "/resources", kResourceKeys, "resources", r);
  if (const json* cpu = Member(*v, "cpu")) limits.cpu = CheckCpu(*cpu, r);
  if (const json* memory = Member(*v, "memory")) limits.memory_bytes = CheckMemory(*memory, r);
  if (const json* timeout = Member(*v, "timeout")) limits.timeout_ms = CheckTimeout(*timeout, r);
  return limits;
}

// ---------------------------------------------------------------------------
// Capabilities, the checker.

// Checks the `capabilities` list. Remembers queue entries to find a queue
// both published and subscribed. One use per contract.
class CapabilityChecker {
 public:
  explicit CapabilityChecker(Reporter& r) : r_(r) {}

  std::vector<Capability> Check(const json* v) {
    if (!v || v->is_null()) return {};
    if (!v->is_array()) {
      r_.Error("/capabilities", "capabilities must be a list, not " + Describe(*v),
               "write one capability per list item: capabilities: [db:read, "
               "{http:egress: {allow: [api.example.com]}}]");
      return {};
    }
    std::map<CapabilityKind, std::string> first;
    std::vector<Capability> out;
    for (size_t i = 0; i < v->size(); ++i) {
      const std::string p = Child("/capabilities", i);
      std::optional<Capability> c = CheckEntry((*v)[i], p);
      if (!c) continue;
      if (auto [it, inserted] = first.emplace(c->kind, p); !inserted) {
        r_.Error(p,
                 std::string(CapabilityName(c->kind)) + " is declared twice (first at " +
                     it->second + ")",
                 "merge the two declarations into one");
        continue;
      }
      out.push_back(std::move(*c));
    }
    WarnQueueLoops();
    return out;
  }

 private:
  struct Entry {
    std::string name;
    const json* options = nullptr;  // null: no options
    std::string name_pointer;       // where the name is
    std::string options_pointer;
  };

  std::optional<Entry> ReadEntry(const json& item, const std::string& p) {
    if (item.is_string()) return Entry{item.get<std::string>(), nullptr, p, p};
    if (item.is_object() && item.size() == 1) {
      const std::string child = Child(p, item.begin().key());
      return Entry{item.begin().key(), &item.begin().value(), child, child};
    }
    if (item.is_object()) {
      NameList keys;
      for (auto it = item.begin(); it != item.end(); ++it) keys.push_back(it.key());
      r_.Error(p,
               "a capability entry has one key, the capability; found " +
                   std::to_string(item.size()) + " (" + Join(keys) + ")",
               "indent the options under the capability name, e.g. `- db:write:` then "
               "`    tables: [customers]` on the next line");
      return std::nullopt;
    }
    r_.Error(p, "a capability must be a name or a mapping, not " + Describe(item),
             "write - db:read, or - db:write: {tables: [customers]}");
    return std::nullopt;
  }

  std::optional<Capability> CheckEntry(const json& item, const std::string& p) {
    std::optional<Entry> e = ReadEntry(item, p);
    if (!e) return std::nullopt;
    const std::optional<CapabilityKind> kind = ParseCapabilityName(e->name);
    if (!kind) {
      r_.ErrorAtKey(e->name_pointer, "unknown capability " + Quote(e->name),
                    SuggestName(e->name, CapabilityNames(), "capabilities are"));
      return std::nullopt;
    }
    Capability c;
    c.kind = *kind;
    if (e->options && !e->options->is_null() && !e->options->is_object()) {
      r_.Error(e->options_pointer,
               "the options of " + e->name + " must be a mapping, not " + Describe(*e->options),
               OptionsExample(c.kind));
      return c;
    }
    if (e->options && e->options->is_object()) CheckOptions(*e->options, e->options_pointer, c);
    WarnDefaults(c, e->options, p);
    return c;
  }

  void CheckOptions(const json& options, const std::string& p, Capability& c) {
    const NameList allowed = OptionsOf(c.kind);
    const std::string name(CapabilityName(c.kind));
    for (auto it = options.begin(); it != options.end(); ++it) {
      const std::string option_pointer = Child(p, it.key());
      if (!In(allowed, it.key())) {
        r_.ErrorAtKey(option_pointer, "option " + Quote(it.key()) + " is not taken by " + name,
                      allowed.empty() ? OptionsExample(c.kind)
                                      : SuggestName(it.key(), allowed, name + " takes"));
        continue;
      }
      CheckOption(it.key(), it.value(), option_pointer, c);
    }
  }

  void CheckOption(const std::string& option, const json& v, const std::string& p, Capability& c) {
    if (option == "tables") {
      c.tables = Values(CheckStringList(
          v, p, option,
          [&](std::string& s, const std::string& ip) { return CheckTable(s, ip, r_); }, r_));
    } else if (option == "allow") {
      c.allow = Values(CheckStringList(
          v, p, option, [&](std::string& s, const std::string& ip) { return CheckHost(s, ip); },
          r_));
    } else if (option == "keys") {
      c.keys = Values(CheckStringList(
          v, p, option,
          [&](std::string& s, const std::string& ip) { return CheckSecretKey(s, ip, r_); }, r_));
    } else if (option == "queues") {
      std::vector<Item> items = CheckStringList(
          v, p, option,
          [&](std::string& s, const std::string& ip) { return CheckQueueName(s, ip, r_); }, r_);
      c.queues = Values(items);
      auto& all = c.kind == CapabilityKind::kQueuePublish ? published_ : subscribed_;
      all.insert(all.end(), items.begin(), items.end());
    } else if (option == "prefix") {
      CheckPrefix(v, p, c);
    } else if (option == "max_ttl") {
      c.max_ttl_seconds = CheckTtl(v, p, r_);
    } else if (option == "max_size") {
      c.max_size_bytes = CheckMaxSize(v, p, r_);
    }
  }

  bool CheckHost(std::string& value, const std::string& p) {
    HostCheck h = CheckAllowedHost(value);
    if (!h.ok) {
      r_.Error(p, h.message, h.hint);
      return false;
    }
    if (h.warning) r_.Warn(p, h.message, h.hint);
    value = h.host;
    return true;
  }

  void CheckPrefix(const json& v, const std::string& p, Capability& c) {
    if (!v.is_string()) {
      r_.Error(p, "prefix must be a string, not " + Describe(v), "write prefix: \"customer:\"");
    } else if (v.get_ref<const std::string&>().empty()) {
      r_.Error(p, "prefix is empty", "omit prefix to allow every key, or give one: \"customer:\"");
    } else {
      c.prefix = v.get<std::string>();
    }
  }

  // Warnings for lists that are missing or empty, and for db:rawsql.
  void WarnDefaults(const Capability& c, const json* options, const std::string& p) {
    const std::string name(CapabilityName(c.kind));
    const NameList list_options = OptionsOf(c.kind);
    if (c.kind == CapabilityKind::kDbRawSql) {
      r_.Warn(p, "db:rawsql is denied by default in production policy",
              "use the structured API (db:read, db:write), or get explicit policy approval");
      return;
    }
    if (list_options.size() != 1 || c.kind == CapabilityKind::kCacheRead ||
        c.kind == CapabilityKind::kFsTemp) {
      return;
    }
    const std::string option(list_options[0]);
    const json* list = options && options->is_object() ? Member(*options, option) : nullptr;
    const bool absent = !list || list->is_null();
    if (!absent && !(list->is_array() && list->empty())) return;
    if (c.kind == CapabilityKind::kDbRead || c.kind == CapabilityKind::kDbWrite) {
      r_.Warn(p, name + " declares no tables: it allows every table of the application schema",
              "list the tables it uses: " + OptionsExample(c.kind));
    } else if (absent) {
      r_.Warn(p, name + " declares no " + option + ": this capability can reach nothing",
              OptionsExample(c.kind));
    } else {
      r_.Warn(Child(p, name) + "/" + option,
              option + " is empty: this capability can reach nothing", OptionsExample(c.kind));
    }
  }

  void WarnQueueLoops() {
    for (const Item& sub : subscribed_) {
      const bool loop = std::any_of(published_.begin(), published_.end(),
                                    [&](const Item& pub) { return pub.value == sub.value; });
      if (!loop) continue;
      r_.Warn(sub.pointer,
              "queue " + Quote(sub.value) +
                  " is both published and subscribed: the controller triggers itself",
              "make sure a message cannot loop forever, or use separate queues");
    }
  }

  Reporter& r_;
  std::vector<Item> published_;
  std::vector<Item> subscribed_;
};

// ---------------------------------------------------------------------------
// Observability.

constexpr std::string_view kObservabilityKeys[] = {"log_fields", "metrics"};
constexpr std::string_view kMetricKeys[] = {"name", "type", "description", "labels", "buckets"};
constexpr std::string_view kMetricTypes[] = {"counter", "gauge", "histogram", "summary"};

// Follows local "$ref"s ("#/definitions/X") from `schema`; nullptr when a
// reference cannot be resolved.
const json* Deref(const json& root, const json* schema) {
  for (int hops = 0; hops < 16 && schema && schema->is_object(); ++hops) {
    const json* ref = Member(*schema, "$ref");
    if (!ref || !ref->is_string()) return schema;
    const std::string& target = ref->get_ref<const std::string&>();
    if (!target.starts_with("#")) return nullptr;
    try {
      const json::json_pointer pointer(target.substr(1));
      if (!root.contains(pointer)) return nullptr;
      schema = &root.at(pointer);
    } catch (const std::exception&) {
      return nullptr;
    }
  }
  return schema;
}

// The subschema of property `name` of `schema`, looking through $ref and
// allOf/anyOf/oneOf.
const json* FindProperty(const json& root, const json* schema, const std::string& name, int depth) {
  schema = Deref(root, schema);
  if (!schema || !schema->is_object() || depth > 16) return nullptr;
  if (const json* props = Member(*schema, "properties"); props && props->is_object()) {
    if (const json* p = Member(*props, name)) return p;
  }
  for (std::string_view combinator : {"allOf", "anyOf", "oneOf"}) {
    const json* list = Member(*schema, combinator);
    if (!list || !list->is_array()) continue;
    for (const json& sub : *list) {
      if (const json* p = FindProperty(root, &sub, name, depth + 1)) return p;
    }
  }
  return nullptr;
}

// True if the dotted path "a.b" names a property of `schema`.
bool HasField(const json* schema, std::string_view path) {
  if (!schema || !schema->is_object()) return false;
  const json* node = schema;
  for (size_t start = 0; start <= path.size();) {
    const size_t end = std::min(path.find('.', start), path.size());
    const std::string part(path.substr(start, end - start));
    if (part.empty()) return false;
    node = FindProperty(*schema, node, part, 0);
    if (!node) return false;
    start = end + 1;
  }
  return true;
}

NameList TopLevelProperties(const json* schema) {
  NameList names;
  const json* props = schema ? Member(*schema, "properties") : nullptr;
  if (!props || !props->is_object()) return names;
  for (auto it = props->begin(); it != props->end(); ++it) names.push_back(it.key());
  return names;
}

std::vector<std::string> CheckLogFields(const json& v, const json* input, const json* output,
                                        Reporter& r) {
  const bool checkable = input && input->is_object();
  const NameList known = TopLevelProperties(input);
  auto check = [&](std::string& field, const std::string& p) {
    if (!checkable || HasField(input, field) || HasField(output, field)) return true;
    const std::string match = ClosestMatch(field, known);
    r.Error(p, "log field " + Quote(field) + " is not a property of the input schema",
            !match.empty() ? "did you mean \"" + match + "\"?"
                           : "log_fields name input properties (a.b for nested ones); the input "
                             "declares: " +
                                 Join(known));
    return false;
  };
  return Values(CheckStringList(v, "/observability/log_fields", "log_fields", check, r));
}

bool CheckMetricName(const std::string& name, const std::string& p, Reporter& r) {
  if (Matches(name, MetricStart, MetricRest, 200)) return true;
  r.Error(p, Quote(name) + " is not a Prometheus metric name",
          "metric names match [a-zA-Z_:][a-zA-Z0-9_:]*, e.g. invoice_sync_total");
  return false;
}

std::optional<MetricType> CheckMetricType(const json& item, const std::string& p, Reporter& r) {
  const json* type = Member(item, "type");
  if (!type || type->is_null()) {
    r.Warn(p, "metric does not declare its type; it is a counter",
           "add type: counter, gauge, histogram or summary");
    return MetricType::kCounter;
  }
  const std::string text = type->is_string() ? type->get<std::string>() : type->dump();
  for (size_t i = 0; i < std::size(kMetricTypes); ++i) {
    if (text == kMetricTypes[i]) return static_cast<MetricType>(i);
  }
  r.Error(p + "/type", "unknown metric type " + Quote(text),
          SuggestName(text, kMetricTypes, "metric types are"));
  return std::nullopt;
}

bool CheckLabel(const std::string& label, const std::string& p, MetricType type, Reporter& r) {
  std::string problem;
  if (!Matches(label, IdentStart, IdentRest, 128)) {
    problem = Quote(label) + " is not a Prometheus label name";
  } else if (label.starts_with("__")) {
    problem = "label " + Quote(label) + " starts with \"__\", which Prometheus reserves";
  } else if (label == "le" && type == MetricType::kHistogram) {
    problem = "label \"le\" is reserved on histograms (bucket bounds)";
  } else if (label == "quantile" && type == MetricType::kSummary) {
    problem = "label \"quantile\" is reserved on summaries";
  } else {
    return true;
  }
  r.Error(p, problem, "label names match [a-zA-Z_][a-zA-Z0-9_]*, e.g. status");
  return false;
}

std::vector<std::string> CheckLabels(const json& v, const std::string& p, MetricType type,
                                     Reporter& r) {
  return Values(CheckStringList(
      v, p, "labels",
      [&](std::string& s, const std::string& ip) { return CheckLabel(s, ip, type, r); }, r,
      Severity::kError));
}

std::vector<double> CheckBuckets(const json& v, const std::string& p, MetricType type,
                                 Reporter& r) {
  std::vector<double> buckets;
  if (type != MetricType::kHistogram) {
    r.Error(p, "buckets only apply to histograms", "remove buckets, or set type: histogram");
    return buckets;
  }
  if (!v.is_array()) {
    r.Error(p, "buckets must be a list of numbers, not " + Describe(v),
            "write buckets: [0.1, 0.5, 1.0, 5.0]");
    return buckets;
  }
  if (v.empty())
    r.Warn(p, "buckets is empty: the default buckets apply", "omit it, or list bounds");
  for (size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_number()) {
      r.Error(Child(p, i), "bucket bounds must be numbers, not " + Describe(v[i]),
              "write buckets: [0.1, 0.5, 1.0, 5.0]");
      return {};
    }
    const double bound = v[i].get<double>();
    if (!buckets.empty() && bound <= buckets.back()) {
      r.Error(Child(p, i),
              "buckets must be strictly ascending: " + FormatNumber(bound) + " follows " +
                  FormatNumber(buckets.back()),
              "sort the bounds and remove repeated ones");
      return {};
    }
    buckets.push_back(bound);
  }
  return buckets;
}

std::string CheckDescription(const json& item, const std::string& p, Reporter& r) {
  const json* d = Member(item, "description");
  if (!d || d->is_null()) return "";
  if (d->is_string()) return d->get<std::string>();
  r.Error(p + "/description", "description must be a string, not " + Describe(*d), "quote it");
  return "";
}

// A metric given as a mapping; nullopt when its name or type is unusable.
std::optional<MetricSpec> CheckMetricMapping(const json& item, const std::string& p, Reporter& r) {
  CheckKeys(item, p, kMetricKeys, "a metric", r);
  const json* name = Member(item, "name");
  if (!name || !name->is_string()) {
    r.Error(p + "/name", name ? "metric name must be a string" : "metric has no name",
            "add name: invoice_sync_total");
    return std::nullopt;
  }
  const int errors_before = r.errors();
  MetricSpec m;
  m.name = name->get<std::string>();
  const bool name_ok = CheckMetricName(m.name, p + "/name", r);
  const std::optional<MetricType> type = CheckMetricType(item, p, r);
  if (!name_ok || !type) return std::nullopt;
  m.type = *type;
  m.description = CheckDescription(item, p, r);
  if (const json* labels = Member(item, "labels")) {
    m.labels = CheckLabels(*labels, p + "/labels", m.type, r);
  }
  if (const json* buckets = Member(item, "buckets")) {
    m.buckets = CheckBuckets(*buckets, p + "/buckets", m.type, r);
  }
  if (r.errors() == errors_before && m.type == MetricType::kCounter && Member(item, "type") &&
      !m.name.ends_with("_total")) {
    r.Warn(p + "/name", "counter " + Quote(m.name) + " does not end in _total",
           "rename it " + m.name + "_total (Prometheus convention)");
  }
  return m;
}

// One entry of `metrics`; nullopt when its name or type is unusable.
std::optional<MetricSpec> CheckMetric(const json& item, const std::string& p, Reporter& r) {
  if (item.is_object()) return CheckMetricMapping(item, p, r);
  if (!item.is_string()) {
    r.Error(p, "a metric is a name or a mapping {name, type, ...}, not " + Describe(item),
            "write - {name: invoice_sync_total, type: counter}");
    return std::nullopt;
  }
  MetricSpec m;
  m.name = item.get<std::string>();
  if (!CheckMetricName(m.name, p, r)) return std::nullopt;
  r.Warn(p, "metric " + Quote(m.name) + " does not declare its type; it is a counter",
         "declare it as a mapping: {name: " + m.name +
             ", type: histogram} (or counter, gauge, summary)");
  return m;
}

std::vector<MetricSpec> CheckMetrics(const json& v, Reporter& r) {
  const std::string base = "/observability/metrics";
  std::vector<MetricSpec> metrics;
  if (v.is_null()) return metrics;
  if (!v.is_array()) {
    r.Error(base, "metrics must be a list, not " + Describe(v),
            "write metrics: [{name: invoice_sync_total, type: counter}]");
    return metrics;
  }
  std::map<std::string, std::string> first;
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string p = Child(base, i);
    std::optional<MetricSpec> m = CheckMetric(v[i], p, r);
    if (!m) continue;
    if (auto [it, inserted] = first.emplace(m->name, p); !inserted) {
      r.Error(p, "metric " + Quote(m->name) + " is declared twice (first at " + it->second + ")",
              "give each metric its own name");
      continue;
    }
    metrics.push_back(*std::move(m));
  }
  return metrics;
}

Observability CheckObservability(const json* v, const json* input, const json* output,
                                 Reporter& r) {
  Observability o;
  if (!v || v->is_null()) return o;
  if (!v->is_object()) {
    r.Error("/observability", "observability must be a mapping, not " + Describe(*v),
            "write observability: {log_fields: [customer_id], metrics: [...]}");
    return o;
  }
  CheckKeys(*v, "/observability", kObservabilityKeys, "observability", r);
  if (const json* fields = Member(*v, "log_fields")) {
    o.log_fields = CheckLogFields(*fields, input, output, r);
  }
  if (const json* metrics = Member(*v, "metrics")) o.metrics = CheckMetrics(*metrics, r);
  return o;
}

}  // namespace

// ---------------------------------------------------------------------------
// Public entry points.

CheckResult CheckContractDocument(const YamlDocument& doc) {
  Reporter r(doc);
  for (const Finding& f : doc.findings) r.Add(f);
  CheckResult result;
  const json& root = doc.root;
  if (!root.is_object()) {
    r.Error("", "a contract must be a mapping, not " + Describe(root),
            "write name:, version:, input: and output: at the top level");
    result.findings = r.Take();
    return result;
  }
  CheckTopLevel(root, r);
  const json* name = Member(root, "name");
  const json* version = Member(root, "version");
  const json* input = Member(root, "input");
  const json* output = Member(root, "output");
  Contract contract;
  if (name) contract.name = CheckName(*name, r).value_or("");
  if (version) contract.version = CheckVersion(*version, r).value_or("");
  if (input) CheckSchema(*input, "/input", /*is_input=*/true, r);
  if (output) CheckSchema(*output, "/output", /*is_input=*/false, r);
  contract.capabilities = CapabilityChecker(r).Check(Member(root, "capabilities"));
  contract.resources = CheckResources(Member(root, "resources"), r);
  contract.observability = CheckObservability(Member(root, "observability"), input, output, r);
  if (!r.has_errors()) {
    contract.input = *input;
    contract.output = *output;
    result.contract = std::move(contract);
  }
  result.findings = r.Take();
  return result;
}

int EditDistance(std::string_view a, std::string_view b) {
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<int>> d(n + 1, std::vector<int>(m + 1));
  for (size_t i = 0; i <= n; ++i) d[i][0] = static_cast<int>(i);
  for (size_t j = 0; j <= m; ++j) d[0][j] = static_cast<int>(j);
  for (size_t i = 1; i <= n; ++i) {
    for (size_t j = 1; j <= m; ++j) {
      const int cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[n][m];
}

std::string ClosestMatch(std::string_view word, std::span<const std::string_view> candidates) {
  if (word.empty() || word.size() > 64) return "";
  const std::string lower = ToLower(word);
  const int limit = word.size() <= 5 ? 1 : 2;
  std::string best;
  int best_distance = limit + 1;
  for (std::string_view candidate : candidates) {
    const int distance = EditDistance(lower, ToLower(candidate));
    if (distance < best_distance) {
      best_distance = distance;
      best = candidate;
    }
  }
  return best;
}

std::string PascalCaseSuggestion(std::string_view name) {
  std::string out;
  size_t i = 0;
  while (i < name.size()) {
    if (!IsAlnum(name[i])) {
      ++i;
      continue;
    }
    size_t end = i;
    while (end < name.size() && IsAlnum(name[end])) ++end;
    const std::string_view word = name.substr(i, end - i);
    const bool shouting = std::none_of(word.begin(), word.end(), IsLower);
    out += ToUpperChar(word[0]);
    for (size_t k = 1; k < word.size(); ++k) out += shouting ? ToLowerChar(word[k]) : word[k];
    i = end;
  }
  const size_t letter = out.find_first_not_of("0123456789");
  out = letter == std::string::npos ? "" : out.substr(letter);
  if (out.empty()) return "MyController";
  out[0] = ToUpperChar(out[0]);
  return out.substr(0, 64);
}

HostCheck CheckAllowedHost(std::string_view entry) {
  HostCheck c;
  if (entry.empty() || entry == "*") {
    c.message = entry.empty() ? "empty host name" : "\"*\" allows every host: too broad";
    c.hint =
        "list the hosts the controller calls, or a subdomain wildcard such as "
        "\"*.example.com\"";
    return c;
  }
  if (std::optional<HostCheck> shape = HostShapeProblem(entry)) {
    if (std::optional<HostCheck> ip = CheckIpEntry(entry)) return *ip;  // IPv6 has colons
    return *shape;
  }
  if (std::optional<HostCheck> ip = CheckIpEntry(entry)) return *ip;
  const std::string host = ToLower(entry);
  std::string_view name = host;
  const bool wildcard = name.starts_with("*.");
  if (wildcard) name.remove_prefix(2);
  const size_t labels = static_cast<size_t>(std::count(name.begin(), name.end(), '.')) + 1;
  const size_t last_dot = name.rfind('.');
  const std::string_view tld =
      last_dot == std::string_view::npos ? name : name.substr(last_dot + 1);
  if (name.find('*') != std::string_view::npos) {
    c.message = Quote(entry) + ": a wildcard is only allowed as a leading \"*.\"";
    c.hint = "write \"*.example.com\" to allow every subdomain of example.com";
  } else if (!name.empty() && name.back() == '.') {
    c.message = Quote(entry) + " ends with a dot";
    c.hint = "write " + Quote(host.substr(0, host.size() - 1));
  } else if (!ValidHostLabels(name) || std::all_of(tld.begin(), tld.end(), IsDigit)) {
    c.message = Quote(entry) + " is not a valid host name";
    c.hint = "host names are dot-separated labels of letters, digits and -, e.g. api.example.com";
  } else if (wildcard && labels < 2) {
    c.message = Quote(entry) + " is too broad: it matches every host under a top-level domain";
    c.hint = "a wildcard needs at least two labels after \"*.\", e.g. \"*.example.com\"";
  } else {
    c.ok = true;
    c.host = host;
  }
  return c;
}

}  // namespace magic::contracts::internal
