// SchemaValidator over valijson 1.0 (draft-07), plus the meta-schema check.
//
// Compile() checks the schema against the draft-07 meta-schema, then
// rewrites it ("preparation") before valijson's SchemaParser sees it:
//   * every "$ref" is resolved here (RFC 3986, against the base URIs the
//     "$id"s establish, plain-name "#anchor"s included) to a JSON pointer
//     into one self-contained document; remote documents (only through
//     CompileOptions::fetcher) are embedded in it. valijson 1.0 resolves
//     "$id" scopes wrongly, so it never sees one;
//   * at schema positions only, "format", "pattern", "type" and "multipleOf"
//     are renamed to "x-magic-*" keywords checked by our own constraints
//     (valijson checks three formats and builds a std::regex per call,
//     rejects 1.0 as an integer, and divides floats naively);
//   * cycles of in-place references ({"$ref": "#"}, a definition whose allOf
//     refers back to itself) are broken by replacing the closing "$ref" with
//     the schema true, so neither compilation nor validation can recurse
//     forever. Recursion that descends into the instance (properties, items)
//     is kept: it terminates on finite data, and Check() bounds the depth.
// Nothing in this file lets an exception escape.
#include "contracts/schema.h"

#include "common/errors.h"
#include "common/status_macros.h"
#include "contracts/internal/json_pointer.h"

#include <absl/status/status.h>
#include <absl/status/statusor.h>
#include <absl/strings/str_cat.h>
#include <nlohmann/json.hpp>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/constraint_builder.hpp>
#include <valijson/constraints/concrete_constraints.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace magic::contracts {
namespace internal {
extern const std::string_view kDraft07MetaSchemaText;
}  // namespace internal

namespace {

using nlohmann::json;

constexpr std::string_view kFormatKeyword = "x-magic-format";
constexpr std::string_view kPatternKeyword = "x-magic-pattern";
constexpr std::string_view kTypeKeyword = "x-magic-type";
constexpr std::string_view kMultipleOfKeyword = "x-magic-multipleOf";
// Added beside "propertyNames" (which valijson checks without saying why):
// the pointer of that subschema, checked again by our constraint, which
// reports the offending names.
constexpr std::string_view kNamesKeyword = "x-magic-propertyNames";
constexpr int kMaxSchemaDepth = 128;    // nested subschemas in one document
constexpr int kMaxRefChain = 512;       // in-place $ref hops while breaking cycles
constexpr int kMaxInstanceDepth = 256;  // instance nesting under recursive schemas
constexpr size_t kMaxReportedViolations = 20;
constexpr size_t kMaxPatternMemberName = 256;  // member names matched by patternProperties

// ---------------------------------------------------------------------------
// JSON pointers.

using internal::EscapePointerToken;  // contracts/internal/yaml_document.h

std::string PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// The node at JSON pointer `pointer` ("/definitions/a") in `doc`, or nullptr.
const json* FindPointer(const json& doc, const std::string& pointer) {
  try {
    const json::json_pointer parsed(pointer);
    return doc.contains(parsed) ? &doc.at(parsed) : nullptr;
  } catch (const std::exception&) {
    return nullptr;
  }
}

// The node a local reference ("#", "#/definitions/a", percent-encoded as in
// a URI fragment) points at in `doc`, or nullptr.
const json* ResolveLocalRef(const json& doc, std::string_view ref) {
  if (ref.empty() || ref.front() != '#') return nullptr;
  return FindPointer(doc, PercentDecode(ref.substr(1)));
}

// ---------------------------------------------------------------------------
// Regular expressions.
//
// libstdc++'s default (backtracking) std::regex executor recurses once per
// input character: "^(a|b)*$" against 2,000 characters overflows a 1 MiB
// stack. We compile with __polynomial (the Thompson-NFA executor, no deep
// recursion) and fall back to backtracking only for patterns it cannot run
// (back-references), whose inputs are then capped.

constexpr size_t kMaxBacktrackingInput = 256;

struct CompiledRegex {
  std::regex regex;
  bool backtracking = false;
};

// Throws std::regex_error if `pattern` is not an ECMAScript regex.
CompiledRegex CompileRegex(const std::string& pattern) {
  try {
    return {std::regex(pattern, std::regex::ECMAScript | std::regex_constants::__polynomial),
            false};
  } catch (const std::regex_error&) {
    return {std::regex(pattern, std::regex::ECMAScript), true};
  }
}

// Whether `text` matches; nullopt when it is too long to try safely.
std::optional<bool> SearchRegex(const CompiledRegex& compiled, std::string_view text) {
  if (compiled.backtracking && text.size() > kMaxBacktrackingInput) return std::nullopt;
  return std::regex_search(text.begin(), text.end(), compiled.regex);
}

// ---------------------------------------------------------------------------
// URI references (RFC 3986 section 5), for "$id" and "$ref".

struct UriParts {
  std::optional<std::string> scheme;
  std::optional<std::string> authority;
  std::string path;
  std::optional<std::string> query;
  std::optional<std::string> fragment;
};

bool IsSchemeText(std::string_view s) {
  if (s.empty() || !std::isalpha(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.';
  });
}

UriParts ParseUri(std::string_view s) {
  UriParts u;
  if (const size_t hash = s.find('#'); hash != std::string_view::npos) {
    u.fragment = std::string(s.substr(hash + 1));
    s = s.substr(0, hash);
  }
  if (const size_t question = s.find('?'); question != std::string_view::npos) {
    u.query = std::string(s.substr(question + 1));
    s = s.substr(0, question);
  }
  const size_t colon = s.find(':');
  if (colon != std::string_view::npos && s.find('/') > colon && IsSchemeText(s.substr(0, colon))) {
    u.scheme = std::string(s.substr(0, colon));
    s.remove_prefix(colon + 1);
  }
  if (s.starts_with("//")) {
    s.remove_prefix(2);
    const size_t slash = std::min(s.find('/'), s.size());
    u.authority = std::string(s.substr(0, slash));
    s.remove_prefix(slash);
  }
  u.path = std::string(s);
  return u;
}

std::string ComposeUri(const UriParts& u) {
  std::string out;
  if (u.scheme) out += *u.scheme + ":";
  if (u.authority) out += "//" + *u.authority;
  out += u.path;
  if (u.query) out += "?" + *u.query;
  if (u.fragment) out += "#" + *u.fragment;
  return out;
}

void DropLastSegment(std::string& out) {
  const size_t slash = out.rfind('/');
  out.erase(slash == std::string::npos ? 0 : slash);
}

std::string RemoveDotSegments(std::string_view in) {
  std::string out;
  while (!in.empty()) {
    if (in.starts_with("../")) {
      in.remove_prefix(3);
    } else if (in.starts_with("./") || in.starts_with("/./")) {
      in.remove_prefix(2);
    } else if (in == "/.") {
      in = "/";
    } else if (in.starts_with("/../") || in == "/..") {
      in = in.size() > 3 ? in.substr(3) : "/";
      DropLastSegment(out);
    } else if (in == "." || in == "..") {
      in = "";
    } else {
      const size_t next = std::min(in.find('/', 1), in.size());
      out.append(in.substr(0, next));
      in.remove_prefix(next);
    }
  }
  return out;
}

std::string MergePaths(const UriParts& base, const std::string& path) {
  if (base.authority && base.path.empty()) return "/" + path;
  const size_t slash = base.path.rfind('/');
  return slash == std::string::npos ? path : base.path.substr(0, slash + 1) + path;
}

// `ref` resolved against `base` (RFC 3986 5.2.2); both may be relative.
std::string ResolveUri(const std::string& base_text, const std::string& ref_text) {
  const UriParts base = ParseUri(base_text);
  UriParts ref = ParseUri(ref_text);
  UriParts t;
  t.fragment = ref.fragment;
  if (ref.scheme) {
    t = std::move(ref);
    t.path = RemoveDotSegments(t.path);
    return ComposeUri(t);
  }
  t.scheme = base.scheme;
  if (ref.authority) {
    t.authority = ref.authority;
    t.path = RemoveDotSegments(ref.path);
    t.query = ref.query;
    return ComposeUri(t);
  }
  t.authority = base.authority;
  if (ref.path.empty()) {
    t.path = base.path;
    t.query = ref.query ? ref.query : base.query;
  } else {
    t.path = RemoveDotSegments(ref.path.front() == '/' ? ref.path : MergePaths(base, ref.path));
    t.query = ref.query;
  }
  return ComposeUri(t);
}

std::string DocPart(const std::string& uri) { return uri.substr(0, uri.find('#')); }

// ---------------------------------------------------------------------------
// Preparation: one self-contained document for valijson.
//
// Every "$ref" is resolved here, against the base URI its "$id"s establish,
// to a JSON pointer into the prepared document; remote documents (only with
// a fetcher) are embedded under kBundleKeyword. valijson 1.0 resolves
// "$id" scopes incorrectly, so it never sees one.

constexpr std::string_view kBundleKeyword = "x-magic-bundle";
constexpr std::string_view kHoistKeyword = "x-magic-refs";
constexpr size_t kMaxRemoteDocuments = 64;

enum class Slot { kNone, kSchema, kSchemaMap, kSchemaArray, kSchemaOrArray, kDependencies };

Slot SlotOf(std::string_view keyword) {
  static const auto* const kSlots = new std::unordered_map<std::string_view, Slot>{
      {"properties", Slot::kSchemaMap},
      {"patternProperties", Slot::kSchemaMap},
      {"definitions", Slot::kSchemaMap},
      {"dependencies", Slot::kDependencies},
      {"items", Slot::kSchemaOrArray},
      {"allOf", Slot::kSchemaArray},
      {"anyOf", Slot::kSchemaArray},
      {"oneOf", Slot::kSchemaArray},
      {"additionalItems", Slot::kSchema},
      {"additionalProperties", Slot::kSchema},
      {"contains", Slot::kSchema},
      {"propertyNames", Slot::kSchema},
      {"if", Slot::kSchema},
      {"then", Slot::kSchema},
      {"else", Slot::kSchema},
      {"not", Slot::kSchema},
  };
  const auto it = kSlots->find(keyword);
  return it == kSlots->end() ? Slot::kNone : it->second;
}

constexpr std::string_view kReservedPrefix = "x-magic-";
constexpr std::string_view kUserPrefix = "x-magic-user-";

// Keywords we check ourselves, and "$id"/"id" which valijson must not see.
// The schema's own "x-magic-*" keywords (annotations) move out of our way.
std::string RenamedKeyword(std::string_view key) {
  if (key == "format") return std::string(kFormatKeyword);
  if (key == "pattern") return std::string(kPatternKeyword);
  if (key == "type") return std::string(kTypeKeyword);
  if (key == "multipleOf") return std::string(kMultipleOfKeyword);
  if (key == "$id") return "x-magic-id";
  if (key == "id") return "x-magic-legacy-id";
  if (key.starts_with(kReservedPrefix))
    return absl::StrCat(std::string(kUserPrefix), std::string(key));
  return std::string(key);
}

// 2.0 is a valid maxLength in draft-07; valijson wants an integer.
json NormalizedValue(std::string_view key, const json& value) {
  static constexpr std::string_view kCounts[] = {"maxLength", "minLength",     "maxItems",
                                                 "minItems",  "maxProperties", "minProperties"};
  if (!value.is_number_float() ||
      std::find(std::begin(kCounts), std::end(kCounts), key) == std::end(kCounts)) {
    return value;
  }
  const double d = value.get<double>();
  if (d >= 0 && d < 9.0e15 && std::trunc(d) == d) return static_cast<int64_t>(d);
  return value;
}

std::string EncodePercent(const std::string& pointer) {
  std::string out;
  for (char c : pointer) {
    if (c == '%') {
      out += "%25";
    } else {
      out += c;
    }
  }
  return out;
}

// A "$ref" found while preparing.
struct RefSite {
  std::string pointer;   // of the object holding "$ref", in the prepared document
  std::string original;  // the "$ref" text
  std::string absolute;  // resolved against the base URI in scope
};

class Bundler {
 public:
  explicit Bundler(const SchemaFetcher& fetcher) : fetcher_(fetcher) {}

  absl::StatusOr<json> Bundle(const json& root) {
    resources_.emplace("", "");
    json bundle = Prepare(root, "", "", 0);
    json remotes = json::array();
    for (size_t i = 0; i < refs_.size() && status_.ok(); ++i) {
      const std::string doc = DocPart(refs_[i].absolute);
      if (resources_.count(doc) != 0) continue;
      std::optional<json> fetched = Fetch(doc);
      if (!fetched) {
        return Unresolvable(refs_[i], fetcher_ ? "the document could not be fetched"
                                               : "only local references (\"#/definitions/...\") "
                                                 "are allowed");
      }
      const std::string prefix =
          absl::StrCat("/", std::string(kBundleKeyword), "/", remotes.size());
      resources_.emplace(doc, prefix);
      remotes.push_back(Prepare(*fetched, doc, prefix, 0));
    }
    MAGIC_RETURN_IF_ERROR(status_);
    if (!remotes.empty()) bundle[std::string(kBundleKeyword)] = std::move(remotes);
    MAGIC_RETURN_IF_ERROR(RewriteRefs(bundle));
    return bundle;
  }

  bool has_refs() const { return !refs_.empty(); }
  bool has_pattern_properties() const { return has_pattern_properties_; }
  const std::vector<std::string>& names_pointers() const { return names_pointers_; }
  const std::vector<std::string>& schema_pointers() const { return schema_pointers_; }

 private:
  json Prepare(const json& node, const std::string& base, const std::string& pointer, int depth) {
    if (!node.is_object()) return node;
    if (depth > kMaxSchemaDepth) {
      Fail(absl::StrCat("schema nested deeper than ", kMaxSchemaDepth, " levels at ", pointer));
      return json::object();
    }
    schema_pointers_.push_back(pointer);
    const auto ref = node.find("$ref");
    const bool is_ref = ref != node.end() && ref->is_string();
    const std::string scope = is_ref ? base : NoteId(node, base, pointer);
    if (is_ref) {
      const std::string& text = ref->get_ref<const std::string&>();
      refs_.push_back(RefSite{pointer, text, ResolveUri(scope, text)});
    }
    json out = json::object();
    for (const auto& [key, value] : node.items()) {
      const std::string child = pointer + "/" + EscapePointerToken(key);
      if (key == "patternProperties") NotePatternProperties(value, child);
      if (key == "propertyNames") {
        out[std::string(kNamesKeyword)] = child;
        names_pointers_.push_back(child);
      }
      out[RenamedKeyword(key)] =
          Keyword(SlotOf(key), NormalizedValue(key, value), child, scope, depth);
    }
    return out;
  }

  // valijson compiles these regexes while validating; refuse bad ones now.
  void NotePatternProperties(const json& patterns, const std::string& pointer) {
    has_pattern_properties_ = true;
    if (!patterns.is_object()) return;
    for (const auto& [pattern, schema] : patterns.items()) {
      try {
        std::regex compiled(pattern, std::regex::ECMAScript);
      } catch (const std::regex_error&) {
        Fail(absl::StrCat("not a valid regular expression at ", pointer, "/",
                          EscapePointerToken(pattern), ": ", pattern));
      }
    }
  }

  // Registers the "$id" of `node` (a resource URI or a plain-name anchor)
  // and returns the base URI inside it.
  std::string NoteId(const json& node, const std::string& base, const std::string& pointer) {
    const auto id = node.find("$id");
    if (id == node.end() || !id->is_string()) return base;
    const std::string resolved = ResolveUri(base, id->get<std::string>());
    const std::string doc = DocPart(resolved);
    const size_t hash = resolved.find('#');
    const std::string fragment = hash == std::string::npos ? "" : resolved.substr(hash + 1);
    if (fragment.empty()) {
      resources_.emplace(doc, pointer);
    } else if (fragment.front() != '/') {
      anchors_.emplace(doc + "#" + fragment, pointer);
    }
    return doc;
  }

  json Keyword(Slot slot, const json& value, const std::string& pointer, const std::string& base,
               int depth) {
    switch (slot) {
      case Slot::kSchema:
        return Prepare(value, base, pointer, depth + 1);
      case Slot::kSchemaOrArray:
        return value.is_array() ? Members(value, pointer, base, depth, false)
                                : Prepare(value, base, pointer, depth + 1);
      case Slot::kSchemaArray:
        return value.is_array() ? Members(value, pointer, base, depth, false) : value;
      case Slot::kSchemaMap:
        return value.is_object() ? Members(value, pointer, base, depth, false) : value;
      case Slot::kDependencies:
        return value.is_object() ? Members(value, pointer, base, depth, true) : value;
      case Slot::kNone:
        break;
    }
    return value;
  }

  // Each member of an array or object as a schema (string arrays kept as-is
  // for "dependencies").
  json Members(const json& container, const std::string& pointer, const std::string& base,
               int depth, bool keep_arrays) {
    json out = container.is_array() ? json::array() : json::object();
    size_t index = 0;
    for (const auto& [key, value] : container.items()) {
      const std::string child =
          pointer + "/" +
          (container.is_array() ? std::to_string(index++) : EscapePointerToken(key));
      json prepared =
          keep_arrays && value.is_array() ? value : Prepare(value, base, child, depth + 1);
      if (container.is_array()) {
        out.push_back(std::move(prepared));
      } else {
        out[key] = std::move(prepared);
      }
    }
    return out;
  }

  std::optional<json> Fetch(const std::string& uri) {
    if (!fetcher_ || fetched_ >= kMaxRemoteDocuments) return std::nullopt;
    ++fetched_;
    try {
      return fetcher_(uri);
    } catch (...) {
      return std::nullopt;
    }
  }

  // The prepared-document pointer `site` refers to.
  absl::StatusOr<std::string> Target(const RefSite& site) const {
    const std::string doc = DocPart(site.absolute);
    const auto resource = resources_.find(doc);
    if (resource == resources_.end()) return Unresolvable(site, "unknown document");
    const size_t hash = site.absolute.find('#');
    const std::string fragment = hash == std::string::npos ? "" : site.absolute.substr(hash + 1);
    if (fragment.empty()) return resource->second;
    if (fragment.front() == '/') return resource->second + PercentDecode(fragment);
    const auto anchor = anchors_.find(doc + "#" + fragment);
    if (anchor == anchors_.end()) return Unresolvable(site, "no subschema has that \"$id\"");
    return anchor->second;
  }

  absl::Status RewriteRefs(json& bundle) {
    std::vector<std::pair<const RefSite*, std::string>> hoists;
    for (const RefSite& site : refs_) {
      MAGIC_ASSIGN_OR_RETURN(std::string target, Target(site));
      // valijson cannot follow pointers with empty tokens: point at a copy.
      if (target.find("//") != std::string::npos || (!target.empty() && target.back() == '/')) {
        hoists.emplace_back(&site, std::move(target));
        continue;
      }
      bundle.at(json::json_pointer(site.pointer))["$ref"] = "#" + EncodePercent(target);
    }
    for (const auto& [site, target] : hoists) {
      json& hoisted = bundle[std::string(kHoistKeyword)];
      const std::string pointer =
          absl::StrCat("/", std::string(kHoistKeyword), "/", hoisted.size());
      const json* node = FindPointer(bundle, target);
      if (node == nullptr) return Unresolvable(*site, "no such location");
      hoisted.push_back(*node);
      schema_pointers_.push_back(pointer);
      bundle.at(json::json_pointer(site->pointer))["$ref"] = "#" + pointer;
    }
    return absl::OkStatus();
  }

  static absl::Status Unresolvable(const RefSite& site, std::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("$ref \"", site.original, "\" (", site.absolute,
                                                   ") cannot be resolved: ", std::string(why)));
  }

  void Fail(std::string message) {
    if (status_.ok()) status_ = absl::InvalidArgumentError(message);
  }

  const SchemaFetcher& fetcher_;
  size_t fetched_ = 0;
  bool has_pattern_properties_ = false;
  absl::Status status_;
  std::unordered_map<std::string, std::string> resources_;  // document URI -> pointer
  std::unordered_map<std::string, std::string> anchors_;    // "uri#name" -> pointer
  std::vector<RefSite> refs_;
  std::vector<std::string> schema_pointers_;
  std::vector<std::string> names_pointers_;  // every "propertyNames" subschema
};

// ---------------------------------------------------------------------------
// Preparation: breaking cycles of in-place references.

class CycleBreaker {
 public:
  // `roots`: pointers of every subschema position in `doc`.
  CycleBreaker(const json& doc, const std::vector<std::string>& roots) : doc_(doc), roots_(roots) {}

  // Pointers of "$ref" nodes to replace by true; empty when acyclic.
  absl::StatusOr<std::vector<std::string>> FindBackRefs() {
    for (const std::string& pointer : roots_) {
      const json* node = FindPointer(doc_, pointer);
      if (node != nullptr && node->is_object()) MAGIC_RETURN_IF_ERROR(Visit(*node, pointer, 0));
    }
    return std::vector<std::string>(marked_.begin(), marked_.end());
  }

 private:
  absl::Status Visit(const json& node, const std::string& pointer, int hops) {
    if (hops > kMaxRefChain) {
      return absl::InvalidArgumentError(
          absl::StrCat("$ref chain longer than ", kMaxRefChain, " at ", pointer));
    }
    const auto [it, inserted] = color_.emplace(pointer, kGray);
    if (!inserted) return absl::OkStatus();
    stack_.push_back(&*it);
    for (const auto& [target, target_pointer] : InPlaceEdges(node, pointer)) {
      const auto seen = color_.find(target_pointer);
      if (seen != color_.end() && seen->second == kGray) {
        MarkCycle(target_pointer);
      } else if (seen == color_.end()) {
        MAGIC_RETURN_IF_ERROR(Visit(*target, target_pointer, hops + 1));
      }
    }
    stack_.pop_back();
    it->second = kBlack;
    return absl::OkStatus();
  }

  // Schemas applied to the same instance as `node`: its $ref target, or its
  // allOf/anyOf/oneOf members, not, if/then/else and schema dependencies.
  std::vector<std::pair<const json*, std::string>> InPlaceEdges(const json& node,
                                                                const std::string& pointer) {
    std::vector<std::pair<const json*, std::string>> edges;
    if (!node.is_object()) return edges;
    if (const auto ref = node.find("$ref"); ref != node.end() && ref->is_string()) {
      const std::string& text = ref->get_ref<const std::string&>();
      if (const json* target = ResolveLocalRef(doc_, text)) {
        edges.emplace_back(target, CanonicalPointer(text));
      }
      return edges;
    }
    for (const char* key : {"allOf", "anyOf", "oneOf", "dependencies"}) {
      const auto member = node.find(key);
      if (member == node.end() || !member->is_structured()) continue;
      size_t index = 0;
      for (const auto& [name, child] : member->items()) {
        const std::string token =
            member->is_array() ? std::to_string(index++) : EscapePointerToken(name);
        if (child.is_object()) edges.emplace_back(&child, pointer + "/" + key + "/" + token);
      }
    }
    for (const char* key : {"not", "if", "then", "else"}) {
      const auto member = node.find(key);
      if (member != node.end() && member->is_object()) {
        edges.emplace_back(&*member, pointer + "/" + key);
      }
    }
    return edges;
  }

  static std::string CanonicalPointer(const std::string& ref) {
    try {
      return json::json_pointer(PercentDecode(std::string_view(ref).substr(1))).to_string();
    } catch (const std::exception&) {
      return ref;
    }
  }

  // The cycle runs from `target` (on the stack) to the top of the stack;
  // break it at its last "$ref" node.
  void MarkCycle(const std::string& target) {
    for (auto it = stack_.rbegin(); it != stack_.rend(); ++it) {
      const json* node = FindPointer(doc_, (*it)->first);
      if (node != nullptr && node->is_object() && node->contains("$ref")) {
        marked_.insert((*it)->first);
        return;
      }
      if ((*it)->first == target) return;
    }
  }

  static constexpr int kGray = 1;
  static constexpr int kBlack = 2;
  const json& doc_;
  const std::vector<std::string>& roots_;
  std::unordered_map<std::string, int> color_;
  std::vector<std::pair<const std::string, int>*> stack_;
  std::unordered_set<std::string> marked_;
};

absl::Status BreakRefCycles(json& doc, const std::vector<std::string>& schema_pointers) {
  for (int round = 0; round < 64; ++round) {
    CycleBreaker breaker(doc, schema_pointers);
    absl::StatusOr<std::vector<std::string>> marked = breaker.FindBackRefs();
    if (!marked.ok()) return marked.status();
    if (marked->empty()) return absl::OkStatus();
    for (const std::string& pointer : *marked) {
      doc.at(json::json_pointer(pointer)) = true;
    }
  }
  return absl::InvalidArgumentError("too many $ref cycles");
}

struct PreparedDocument {
  json doc;
  bool has_refs = false;
  bool has_pattern_properties = false;
  std::vector<std::string> schema_pointers;  // every subschema position in `doc`
  std::vector<std::string> names_pointers;   // every "propertyNames" subschema
};

// The prepared (bundled, renamed, cycle-free) form of `schema`.
absl::StatusOr<PreparedDocument> PrepareDocument(const json& schema, const SchemaFetcher& fetcher) {
  Bundler bundler(fetcher);
  PreparedDocument prepared;
  MAGIC_ASSIGN_OR_RETURN(prepared.doc, bundler.Bundle(schema));
  if (bundler.has_refs()) {
    MAGIC_RETURN_IF_ERROR(BreakRefCycles(prepared.doc, bundler.schema_pointers()));
  }
  prepared.has_refs = bundler.has_refs();
  prepared.has_pattern_properties = bundler.has_pattern_properties();
  prepared.schema_pointers = bundler.schema_pointers();
  prepared.names_pointers = bundler.names_pointers();
  return prepared;
}

// ---------------------------------------------------------------------------
// Our constraints: "x-magic-format" and "x-magic-pattern".

constexpr char kFormatMessagePrefix[] = "String does not match format '";
constexpr char kPatternMessagePrefix[] = "String does not match pattern '";

class FormatConstraint final : public valijson::constraints::PolyConstraint {
 public:
  explicit FormatConstraint(std::string format)
      : format_(std::move(format)), checked_(ChecksFormat(format_)) {}

  bool validate(const valijson::adapters::Adapter& target, const std::vector<std::string>& context,
                valijson::ValidationResults* results) const override {
    if (!checked_ || !target.isString()) return true;
    std::string value;
    target.getString(value);
    if (MatchesFormat(format_, value)) return true;
    if (results != nullptr) {
      results->pushError(context, absl::StrCat(kFormatMessagePrefix, format_, "'."));
    }
    return false;
  }

 private:
  Constraint* cloneInto(void* memory) const override {
    return new (memory) FormatConstraint(*this);
  }
  size_t sizeOf() const override { return sizeof(FormatConstraint); }

  std::string format_;
  bool checked_;
};

class PatternConstraint final : public valijson::constraints::PolyConstraint {
 public:
  // Throws std::regex_error if `pattern` does not compile.
  explicit PatternConstraint(std::string pattern)
      : pattern_(std::move(pattern)),
        regex_(std::make_shared<const CompiledRegex>(CompileRegex(pattern_))) {}

  bool validate(const valijson::adapters::Adapter& target, const std::vector<std::string>& context,
                valijson::ValidationResults* results) const override {
    if (!target.isString()) return true;
    std::string value;
    target.getString(value);
    const std::optional<bool> matched = SearchRegex(*regex_, value);
    if (matched.value_or(false)) return true;
    if (results != nullptr) {
      const std::string why = matched
                                  ? ""
                                  : absl::StrCat(" (strings over ", kMaxBacktrackingInput,
                                                 " bytes are not matched against back-references)");
      results->pushError(context, absl::StrCat(kPatternMessagePrefix, pattern_, "'.", why));
    }
    return false;
  }

 private:
  Constraint* cloneInto(void* memory) const override {
    return new (memory) PatternConstraint(*this);
  }
  size_t sizeOf() const override { return sizeof(PatternConstraint); }

  std::string pattern_;
  std::shared_ptr<const CompiledRegex> regex_;
};

// "type", with draft-07's integer rule: 1.0 is an integer.
class TypeConstraint final : public valijson::constraints::PolyConstraint {
 public:
  enum Bit : unsigned {
    kNull = 1,
    kBoolean = 2,
    kInteger = 4,
    kNumber = 8,
    kString = 16,
    kArray = 32,
    kObject = 64
  };

  explicit TypeConstraint(unsigned allowed) : allowed_(allowed) {}

  static unsigned BitOf(std::string_view name) {
    static constexpr std::pair<std::string_view, unsigned> kNames[] = {
        {"null", kNull},     {"boolean", kBoolean}, {"integer", kInteger}, {"number", kNumber},
        {"string", kString}, {"array", kArray},     {"object", kObject}};
    for (const auto& [type, bit] : kNames) {
      if (type == name) return bit;
    }
    return 0;
  }

  bool validate(const valijson::adapters::Adapter& target, const std::vector<std::string>& context,
                valijson::ValidationResults* results) const override {
    if ((ActualBits(target) & allowed_) != 0) return true;
    if (results != nullptr) {
      results->pushError(context, "Value type not permitted by 'type' constraint.");
    }
    return false;
  }

 private:
  static unsigned ActualBits(const valijson::adapters::Adapter& target) {
    if (target.isString()) return kString;
    if (target.isObject()) return kObject;
    if (target.isArray()) return kArray;
    if (target.isInteger()) return kInteger | kNumber;
    if (target.isDouble()) {
      const double d = target.getDouble();
      return std::isfinite(d) && std::trunc(d) == d ? kInteger | kNumber : kNumber;
    }
    if (target.isBool()) return kBoolean;
    return kNull;
  }

  Constraint* cloneInto(void* memory) const override { return new (memory) TypeConstraint(*this); }
  size_t sizeOf() const override { return sizeof(TypeConstraint); }

  unsigned allowed_;
};

// "multipleOf", exact for integers and tolerant of binary rounding
// (0.0075 is a multiple of 0.0001) for the rest.
class MultipleOfConstraint final : public valijson::constraints::PolyConstraint {
 public:
  MultipleOfConstraint(double divisor, std::optional<int64_t> integer_divisor)
      : divisor_(divisor), integer_divisor_(integer_divisor) {}

  bool validate(const valijson::adapters::Adapter& target, const std::vector<std::string>& context,
                valijson::ValidationResults* results) const override {
    if (!target.isInteger() && !target.isDouble()) return true;
    if (IsMultiple(target)) return true;
    if (results != nullptr) {
      results->pushError(context, "Value should be a multiple of " + json(divisor_).dump() + ".");
    }
    return false;
  }

 private:
  bool IsMultiple(const valijson::adapters::Adapter& target) const {
    if (integer_divisor_ && target.isInteger()) return target.getInteger() % *integer_divisor_ == 0;
    const double value =
        target.isInteger() ? static_cast<double>(target.getInteger()) : target.getDouble();
    const double quotient = value / divisor_;
    // The quotient overflowed: the exact remainder decides.
    if (!std::isfinite(quotient)) return std::fmod(value, divisor_) == 0;
    return std::fabs(quotient - std::nearbyint(quotient)) <=
           1e-9 * std::max(1.0, std::fabs(quotient));
  }

  Constraint* cloneInto(void* memory) const override {
    return new (memory) MultipleOfConstraint(*this);
  }
  size_t sizeOf() const override { return sizeof(MultipleOfConstraint); }

  double divisor_;
  std::optional<int64_t> integer_divisor_;
};

class TypeBuilder final : public valijson::ConstraintBuilder {
 public:
  valijson::constraints::Constraint* make(const valijson::adapters::Adapter& node) const override {
    unsigned allowed = 0;
    if (node.isString()) {
      allowed = Bit(node.getString());
    } else if (node.isArray() && node.getArraySize() > 0) {
      node.applyToArray([&allowed](const valijson::adapters::Adapter& item) {
        allowed |= item.isString() ? Bit(item.getString()) : Bit("");
        return true;
      });
    } else {
      throw std::runtime_error("'type' must be a type name or a non-empty array of them");
    }
    return new TypeConstraint(allowed);
  }

 private:
  static unsigned Bit(const std::string& name) {
    const unsigned bit = TypeConstraint::BitOf(name);
    if (bit == 0) throw std::runtime_error("'type' names an unknown type: \"" + name + "\"");
    return bit;
  }
};

class MultipleOfBuilder final : public valijson::ConstraintBuilder {
 public:
  valijson::constraints::Constraint* make(const valijson::adapters::Adapter& node) const override {
    if (node.isInteger() && node.getInteger() > 0) {
      const int64_t divisor = node.getInteger();
      return new MultipleOfConstraint(static_cast<double>(divisor), divisor);
    }
    if (node.isDouble() && node.getDouble() > 0 && std::isfinite(node.getDouble())) {
      const double divisor = node.getDouble();
      std::optional<int64_t> integral;
      if (divisor < 9.0e15 && std::trunc(divisor) == divisor) {
        integral = static_cast<int64_t>(divisor);
      }
      return new MultipleOfConstraint(divisor, integral);
    }
    throw std::runtime_error("'multipleOf' must be a number greater than 0");
  }
};

// valijson's compiled "propertyNames" subschemas, by their pointer.
using NameSchemas = std::unordered_map<std::string, std::shared_ptr<const valijson::Schema>>;

constexpr char kNamesMessage[] = "Property name is not allowed by 'propertyNames': '";

// "propertyNames" again (valijson fails it silently), naming each bad name.
class PropertyNamesConstraint final : public valijson::constraints::PolyConstraint {
 public:
  explicit PropertyNamesConstraint(std::shared_ptr<const valijson::Schema> names)
      : names_(std::move(names)) {}

  bool validate(const valijson::adapters::Adapter& target, const std::vector<std::string>& context,
                valijson::ValidationResults* results) const override {
    if (names_ == nullptr || !target.isObject()) return true;
    bool valid = true;
    target.applyToObject([&](const std::string& name, const valijson::adapters::Adapter&) {
      const json name_value = name;
      valijson::Validator validator;
      if (validator.validate(*names_, valijson::adapters::NlohmannJsonAdapter(name_value),
                             nullptr)) {
        return true;
      }
      valid = false;
      if (results != nullptr) results->pushError(context, absl::StrCat(kNamesMessage, name, "'."));
      return results != nullptr;
    });
    return valid;
  }

 private:
  Constraint* cloneInto(void* memory) const override {
    return new (memory) PropertyNamesConstraint(*this);
  }
  size_t sizeOf() const override { return sizeof(PropertyNamesConstraint); }

  std::shared_ptr<const valijson::Schema> names_;
};

class PropertyNamesBuilder final : public valijson::ConstraintBuilder {
 public:
  // `names` may be null: the constraint then accepts everything.
  explicit PropertyNamesBuilder(const NameSchemas* names) : names_(names) {}

  valijson::constraints::Constraint* make(const valijson::adapters::Adapter& node) const override {
    std::shared_ptr<const valijson::Schema> schema;
    if (names_ != nullptr && node.isString()) {
      const auto it = names_->find(node.getString());
      if (it != names_->end()) schema = it->second;
    }
    return new PropertyNamesConstraint(std::move(schema));
  }

 private:
  const NameSchemas* names_;
};

class FormatBuilder final : public valijson::ConstraintBuilder {
 public:
  valijson::constraints::Constraint* make(const valijson::adapters::Adapter& node) const override {
    std::string format;
    if (!node.isString() || !node.getString(format)) {
      throw std::runtime_error("'format' must be a string");
    }
    return new FormatConstraint(std::move(format));
  }
};

class PatternBuilder final : public valijson::ConstraintBuilder {
 public:
  valijson::constraints::Constraint* make(const valijson::adapters::Adapter& node) const override {
    std::string pattern;
    if (!node.isString() || !node.getString(pattern)) {
      throw std::runtime_error("'pattern' must be a string");
    }
    try {
      return new PatternConstraint(pattern);
    } catch (const std::regex_error& e) {
      throw std::runtime_error(
          absl::StrCat("'pattern' is not a valid regular expression: ", pattern));
    }
  }
};

// ---------------------------------------------------------------------------
// Compilation.

using Adapter = valijson::adapters::NlohmannJsonAdapter;

absl::Status Populate(const json& doc, const NameSchemas* names, valijson::Schema& schema) {
  try {
    valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
    parser.addConstraintBuilder(std::string(kFormatKeyword), new FormatBuilder);
    parser.addConstraintBuilder(std::string(kPatternKeyword), new PatternBuilder);
    parser.addConstraintBuilder(std::string(kTypeKeyword), new TypeBuilder);
    parser.addConstraintBuilder(std::string(kMultipleOfKeyword), new MultipleOfBuilder);
    parser.addConstraintBuilder(std::string(kNamesKeyword), new PropertyNamesBuilder(names));
    parser.populateSchema(Adapter(doc), schema);
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("invalid schema: ", e.what()));
  } catch (...) {
    return absl::InvalidArgumentError("invalid schema");
  }
}

// Each "propertyNames" subschema compiled on its own: the prepared document
// with its root referring to that subschema.
absl::StatusOr<NameSchemas> CompileNameSchemas(const PreparedDocument& prepared) {
  NameSchemas out;
  for (const std::string& pointer : prepared.names_pointers) {
    if (!prepared.doc.is_object() || FindPointer(prepared.doc, pointer) == nullptr) continue;
    json copy = prepared.doc;
    copy["$ref"] = "#" + EncodePercent(pointer);
    MAGIC_RETURN_IF_ERROR(BreakRefCycles(copy, prepared.schema_pointers));
    auto schema = std::make_shared<valijson::Schema>();
    MAGIC_RETURN_IF_ERROR(Populate(copy, nullptr, *schema));
    out.emplace(pointer, std::move(schema));
  }
  return out;
}

// ---------------------------------------------------------------------------
// Turning valijson's (context, description) pairs into Violations.

// What a valijson description tells us.
enum class Shape {
  kKeyword,        // the keyword failed here; expected = its value in the schema
  kNamed,          // required/dependencies: field = the missing member, expected = its name
  kMemberName,     // propertyNames: field = the member, expected = the subschema
  kUnwanted,       // additionalProperties false: field = the member, expected = false
  kQuoted,         // format/pattern: expected = the quoted text
  kFixed,          // expected is a fixed value (uniqueItems true, additionalItems false)
  kSummaryMember,  // "failed ... property name 'x'": a summary of errors under /x
  kSummaryItem,    // "failed ... item #n ...": a summary of errors under /n
  kSummaryHere,    // a summary of errors at this level or deeper
};

struct MessageRule {
  std::string_view prefix;
  std::string_view constraint;
  Shape shape;
};

// valijson 1.0's messages (validation_visitor.hpp) and ours. Order matters
// where one prefix extends another.
constexpr MessageRule kMessageRules[] = {
    {"Missing required property '", "required", Shape::kNamed},
    {"Missing dependency '", "dependencies", Shape::kNamed},
    {kNamesMessage, "propertyNames", Shape::kMemberName},
    {"Object contains a property that could not be validated", "additionalProperties",
     Shape::kUnwanted},
    {kFormatMessagePrefix, "format", Shape::kQuoted},
    {kPatternMessagePrefix, "pattern", Shape::kQuoted},
    {"Failed to match regex specified by 'pattern'", "pattern", Shape::kKeyword},
    {"String should be a valid", "format", Shape::kKeyword},
    {"Value type not permitted", "type", Shape::kKeyword},
    {"Failed to match against any enum values", "enum", Shape::kKeyword},
    {"Failed to match expected value set by 'const'", "const", Shape::kKeyword},
    {"Expected number less than or equal to", "maximum", Shape::kKeyword},
    {"Expected number less than", "exclusiveMaximum", Shape::kKeyword},
    {"Expected number greater than or equal to", "minimum", Shape::kKeyword},
    {"Expected number greater than", "exclusiveMinimum", Shape::kKeyword},
    {"String should be no more than", "maxLength", Shape::kKeyword},
    {"String should be no fewer than", "minLength", Shape::kKeyword},
    {"Array should contain no more than", "maxItems", Shape::kKeyword},
    {"Array should contain no fewer than", "minItems", Shape::kKeyword},
    {"Object should have no more than", "maxProperties", Shape::kKeyword},
    {"Object should have no fewer than", "minProperties", Shape::kKeyword},
    {"Value should be a multiple of", "multipleOf", Shape::kKeyword},
    {"Value could not be converted", "multipleOf", Shape::kKeyword},
    {"Elements at indexes", "uniqueItems", Shape::kFixed},
    {"Failed to any values against subschema in 'contains'", "contains", Shape::kKeyword},
    {"Target should not validate against schema specified in 'not'", "not", Shape::kKeyword},
    {"Failed to validate against any schemas allowed by anyOf", "anyOf", Shape::kKeyword},
    {"Failed to validate against any child schemas allowed by oneOf", "oneOf", Shape::kKeyword},
    {"Failed to validate against exactly one child schema", "oneOf", Shape::kKeyword},
    {"Array contains more items than allowed", "additionalItems", Shape::kFixed},
    {"Cannot validate item #", "additionalItems", Shape::kFixed},
    {"Failed to validate against schema associated with property name '", "false",
     Shape::kSummaryMember},
    {"Failed to validate item #", "false", Shape::kSummaryItem},
    {"Failed to validate against schema associated with pattern", "false", Shape::kSummaryHere},
    {"Failed to validate against additional properties schema", "false", Shape::kSummaryHere},
    {"Failed to validate against child schema #", "allOf", Shape::kSummaryHere},
    {"Failed to validate against dependent schema", "dependencies", Shape::kSummaryHere},
    {"Failed to validate against a conditional schema", "if", Shape::kSummaryHere},
};

const MessageRule* FindRule(std::string_view description) {
  for (const MessageRule& rule : kMessageRules) {
    if (description.starts_with(rule.prefix)) return &rule;
  }
  return nullptr;
}

// The text between the first "'" at or after `from` and the last "'".
std::string Quoted(std::string_view text, size_t from) {
  const size_t open = text.find('\'', from);
  const size_t close = text.rfind('\'');
  if (open == std::string_view::npos || close <= open) return std::string();
  return std::string(text.substr(open + 1, close - open - 1));
}

// The number after the first '#'.
std::string ItemNumber(std::string_view text) {
  size_t pos = text.find('#');
  if (pos == std::string_view::npos) return std::string();
  const size_t start = ++pos;
  while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') ++pos;
  return std::string(text.substr(start, pos - start));
}

const json* Child(const json* value, const std::string& token) {
  if (value == nullptr) return nullptr;
  if (value->is_object()) {
    const auto it = value->find(token);
    return it == value->end() ? nullptr : &*it;
  }
  if (value->is_array()) {
    const size_t index = std::strtoul(token.c_str(), nullptr, 10);
    return index < value->size() ? &(*value)[index] : nullptr;
  }
  return nullptr;
}

// valijson's context (["<root>", "[customer_id]", "[0]"]) as path tokens.
std::vector<std::string> ContextTokens(const std::vector<std::string>& context) {
  std::vector<std::string> tokens;
  tokens.reserve(context.size());
  for (size_t i = 1; i < context.size(); ++i) {
    const std::string& part = context[i];
    const bool bracketed = part.size() >= 2 && part.front() == '[' && part.back() == ']';
    tokens.push_back(bracketed ? part.substr(1, part.size() - 2) : part);
  }
  return tokens;
}

std::string TokensToPointer(const std::vector<std::string>& tokens) {
  std::string pointer;
  for (const std::string& token : tokens) {
    pointer += '/';
    pointer += EscapePointerToken(token);
  }
  return pointer;
}

// One violation on its way out.
struct Finding {
  std::vector<std::string> at;     // where valijson reported it (schema lookup path)
  std::vector<std::string> field;  // what it is about
  std::string constraint;
  json expected;
  std::string message;
  Shape shape = Shape::kKeyword;
};

bool IsSummary(Shape shape) {
  return shape == Shape::kSummaryMember || shape == Shape::kSummaryItem ||
         shape == Shape::kSummaryHere;
}

// Fills in what the message itself says; `f.shape` is already set.
void ReadMessage(Finding& f) {
  switch (f.shape) {
    case Shape::kNamed:
      f.expected = Quoted(f.message, 0);
      f.field.push_back(f.expected.get<std::string>());
      break;
    case Shape::kMemberName:
      f.field.push_back(Quoted(f.message, f.message.find(": '")));
      break;
    case Shape::kUnwanted:
      f.field.push_back(Quoted(f.message, f.message.rfind(": '")));
      f.expected = false;
      break;
    case Shape::kQuoted:
      f.expected = Quoted(f.message, 0);
      break;
    case Shape::kFixed:
      f.expected = f.constraint == "uniqueItems";
      if (f.message.starts_with("Cannot validate item #")) f.field.push_back(ItemNumber(f.message));
      break;
    case Shape::kSummaryMember:
      f.field.push_back(Quoted(f.message, 0));
      break;
    case Shape::kSummaryItem:
      if (f.message.find("corresponding item schema") == std::string::npos) {
        f.field.push_back(ItemNumber(f.message));
      }
      break;
    case Shape::kKeyword:
    case Shape::kSummaryHere:
      break;
  }
}

Finding MakeFinding(const valijson::ValidationResults::Error& error) {
  Finding f;
  f.at = ContextTokens(error.context);
  f.field = f.at;
  f.message = error.description;
  const MessageRule* rule = FindRule(error.description);
  if (rule == nullptr) {
    f.constraint = "schema";
    return f;
  }
  f.constraint = std::string(rule->constraint);
  f.shape = rule->shape;
  ReadMessage(f);
  return f;
}

// ---------------------------------------------------------------------------
// Finding what a keyword expected: walk the prepared schema along the path.

class SchemaLookup {
 public:
  SchemaLookup(const json& doc, const json& value) : doc_(doc), value_(value) {}

  // The value of `keyword` in the first schema that applies at `path`
  // (following properties/patternProperties/additionalProperties/items and
  // local $refs); null if none has it.
  json Find(const std::vector<std::string>& path, std::string_view keyword) {
    std::vector<const json*> nodes;
    Expand(&doc_, nodes);
    const json* instance = &value_;
    for (const std::string& token : path) {
      std::vector<const json*> next;
      for (const json* node : nodes) ChildSchemas(*node, instance, token, next);
      nodes.clear();
      for (const json* node : next) Expand(node, nodes);
      instance = Child(instance, token);
    }
    for (const json* node : nodes) {
      const auto it = node->find(keyword);
      if (it != node->end()) return *it;
    }
    return nullptr;
  }

 private:
  static constexpr size_t kMaxNodes = 64;

  // `node` and every schema applied in place with it.
  void Expand(const json* node, std::vector<const json*>& out) {
    for (int hops = 0; node != nullptr && node->is_object() && hops < 32; ++hops) {
      const auto ref = node->find("$ref");
      if (ref == node->end() || !ref->is_string()) break;
      node = ResolveLocalRef(doc_, ref->get_ref<const std::string&>());
    }
    if (node == nullptr || !node->is_object() || out.size() >= kMaxNodes) return;
    if (std::find(out.begin(), out.end(), node) != out.end()) return;
    out.push_back(node);
    for (const char* key : {"allOf", "anyOf", "oneOf", "dependencies"}) {
      const auto it = node->find(key);
      if (it == node->end() || !it->is_structured()) continue;
      for (const json& member : *it) Expand(&member, out);
    }
    for (const char* key : {"then", "else"}) {
      const auto it = node->find(key);
      if (it != node->end()) Expand(&*it, out);
    }
  }

  static void ChildSchemas(const json& node, const json* instance, const std::string& token,
                           std::vector<const json*>& out) {
    if (instance == nullptr || !instance->is_array()) {
      MemberSchemas(node, token, out);
      return;
    }
    const auto items = node.find("items");
    if (items == node.end()) return;
    if (!items->is_array()) {
      out.push_back(&*items);
      return;
    }
    const size_t index = std::strtoul(token.c_str(), nullptr, 10);
    const auto additional = node.find("additionalItems");
    if (index < items->size()) {
      out.push_back(&(*items)[index]);
    } else if (additional != node.end()) {
      out.push_back(&*additional);
    }
  }

  static void MemberSchemas(const json& node, const std::string& name,
                            std::vector<const json*>& out) {
    bool matched = false;
    if (const auto props = node.find("properties"); props != node.end() && props->is_object()) {
      if (const auto it = props->find(name); it != props->end()) {
        out.push_back(&*it);
        matched = true;
      }
    }
    const auto patterns = node.find("patternProperties");
    if (patterns != node.end() && patterns->is_object()) {
      for (const auto& [pattern, schema] : patterns->items()) {
        try {
          if (SearchRegex(CompileRegex(pattern), name).value_or(false)) {
            out.push_back(&schema);
            matched = true;
          }
        } catch (const std::regex_error&) {
          // Compile() rejected such schemas already.
        }
      }
    }
    const auto additional = node.find("additionalProperties");
    if (!matched && additional != node.end()) out.push_back(&*additional);
  }

  const json& doc_;
  const json& value_;
};

std::string_view PreparedKeyword(std::string_view constraint) {
  if (constraint == "format") return kFormatKeyword;
  if (constraint == "pattern") return kPatternKeyword;
  if (constraint == "type") return kTypeKeyword;
  if (constraint == "multipleOf") return kMultipleOfKeyword;
  return constraint;
}

// `schema` (a piece of the prepared document) with our keyword renames
// undone, for reporting.
json RestoredSchema(const json& schema) {
  if (!schema.is_object()) return schema;
  static const auto* const kOriginal = new std::unordered_map<std::string_view, std::string_view>{
      {kFormatKeyword, "format"}, {kPatternKeyword, "pattern"},
      {kTypeKeyword, "type"},     {kMultipleOfKeyword, "multipleOf"},
      {"x-magic-id", "$id"},      {"x-magic-legacy-id", "id"}};
  json out = json::object();
  for (const auto& [key, value] : schema.items()) {
    if (key == kNamesKeyword) continue;
    const auto renamed = kOriginal->find(key);
    std::string name = renamed == kOriginal->end() ? key : std::string(renamed->second);
    if (std::string_view(key).starts_with(kUserPrefix)) name = key.substr(kUserPrefix.size());
    const Slot slot = SlotOf(key);
    if (slot == Slot::kNone || !value.is_structured()) {
      out[name] = value;
    } else if (slot == Slot::kSchema || (slot == Slot::kSchemaOrArray && value.is_object())) {
      out[name] = RestoredSchema(value);
    } else {
      json members = value.is_array() ? json::array() : json::object();
      for (const auto& [member, sub] : value.items()) {
        if (value.is_array()) {
          members.push_back(RestoredSchema(sub));
        } else {
          members[member] = RestoredSchema(sub);
        }
      }
      out[name] = std::move(members);
    }
  }
  return out;
}

void FillExpected(Finding& f, SchemaLookup& lookup) {
  if (f.shape == Shape::kMemberName) {
    f.expected = RestoredSchema(lookup.Find(f.at, "propertyNames"));
    return;
  }
  if (f.shape != Shape::kKeyword && f.shape != Shape::kSummaryHere) return;
  if (f.constraint == "if") {
    json expected = json::object();
    for (const char* key : {"if", "then", "else"}) {
      json part = lookup.Find(f.at, key);
      if (!part.is_null()) expected[key] = std::move(part);
    }
    f.expected = std::move(expected);
  } else if (f.constraint == "false") {
    f.expected = false;
  } else {
    f.expected = lookup.Find(f.at, PreparedKeyword(f.constraint));
  }
  static constexpr std::string_view kSchemaValued[] = {"allOf",    "anyOf", "oneOf",       "not",
                                                       "contains", "if",    "dependencies"};
  if (std::find(std::begin(kSchemaValued), std::end(kSchemaValued), f.constraint) !=
      std::end(kSchemaValued)) {
    if (f.constraint == "if" || f.constraint == "dependencies") {
      for (auto& [key, member] : f.expected.items()) member = RestoredSchema(member);
    } else if (f.expected.is_array()) {
      for (json& member : f.expected) member = RestoredSchema(member);
    } else {
      f.expected = RestoredSchema(f.expected);
    }
  }
}

// A sentence naming what was expected, for the keywords where valijson's
// own message does not ("Expected number greater than 0.000000").
std::optional<std::string> ExpectedMessage(std::string_view constraint, const json& expected) {
  static const auto* const kTemplates = new std::unordered_map<std::string_view, std::string_view>{
      {"minimum", "Expected a number >= %."},
      {"maximum", "Expected a number <= %."},
      {"exclusiveMinimum", "Expected a number > %."},
      {"exclusiveMaximum", "Expected a number < %."},
      {"minLength", "Expected a string of at least % characters."},
      {"maxLength", "Expected a string of at most % characters."},
      {"minItems", "Expected at least % items."},
      {"maxItems", "Expected at most % items."},
      {"minProperties", "Expected at least % properties."},
      {"maxProperties", "Expected at most % properties."},
      {"enum", "Expected one of %."},
      {"const", "Expected %."},
      {"type", "Expected type %."},
  };
  const auto it = kTemplates->find(constraint);
  if (expected.is_null() || it == kTemplates->end()) return std::nullopt;
  std::string text(it->second);
  const std::string value = expected.is_string() ? expected.get<std::string>() : expected.dump();
  text.replace(text.find('%'), 1, value);
  return text;
}

// Summaries ("failed to validate property x") are dropped when a more
// specific violation covers them; otherwise they stand for a schema that
// failed silently (false, or propertyNames) and are reported as such.
std::vector<Finding> DropCoveredSummaries(std::vector<Finding> findings) {
  std::unordered_set<std::string> specific;  // every prefix of a non-summary field
  for (const Finding& f : findings) {
    if (IsSummary(f.shape)) continue;
    std::string pointer;
    specific.insert(pointer);
    for (const std::string& token : f.field) {
      pointer += "/" + EscapePointerToken(token);
      specific.insert(pointer);
    }
  }
  std::vector<Finding> kept;
  kept.reserve(findings.size());
  for (Finding& f : findings) {
    if (IsSummary(f.shape)) {
      if (specific.count(TokensToPointer(f.field)) != 0) continue;
      if (f.constraint == "false") {
        f.message = "No value is allowed here by the schema.";
        f.expected = false;
      }
    }
    kept.push_back(std::move(f));
  }
  return kept;
}

// Combinators sort after the specific keywords at the same depth.
int ConstraintRank(std::string_view constraint) {
  static constexpr std::string_view kCombinators[] = {"allOf", "anyOf", "oneOf", "not", "if"};
  const bool combinator = std::find(std::begin(kCombinators), std::end(kCombinators), constraint) !=
                          std::end(kCombinators);
  return combinator ? 1 : 0;
}

std::vector<Violation> ToViolations(std::vector<Finding> findings, const json& doc,
                                    const json& value) {
  findings = DropCoveredSummaries(std::move(findings));
  std::stable_sort(findings.begin(), findings.end(), [](const Finding& a, const Finding& b) {
    if (a.field.size() != b.field.size()) return a.field.size() > b.field.size();
    return ConstraintRank(a.constraint) < ConstraintRank(b.constraint);
  });
  SchemaLookup lookup(doc, value);
  std::unordered_set<std::string> seen;
  std::vector<Violation> out;
  out.reserve(findings.size());
  for (Finding& f : findings) {
    Violation v{TokensToPointer(f.field), f.constraint, nullptr, f.message};
    if (!seen.insert(absl::StrCat(v.field, "\n", v.constraint, "\n", v.message)).second) continue;
    FillExpected(f, lookup);
    if (std::optional<std::string> message = ExpectedMessage(f.constraint, f.expected)) {
      v.message = *std::move(message);
    }
    v.expected = std::move(f.expected);
    out.push_back(std::move(v));
  }
  return out;
}

// Deeper than `limit` levels of arrays/objects?
bool DeeperThan(const json& value, int limit) {
  if (!value.is_structured()) return false;
  if (limit == 0) return true;
  for (const json& child : value) {
    if (DeeperThan(child, limit - 1)) return true;
  }
  return false;
}

// The pointer of the first object member whose name is longer than `limit`
// bytes (iterative: `value` may be nested arbitrarily deep).
std::optional<std::string> LongMemberName(const json& value, size_t limit) {
  std::vector<std::pair<const json*, std::string>> pending = {{&value, ""}};
  while (!pending.empty()) {
    auto [node, pointer] = std::move(pending.back());
    pending.pop_back();
    if (!node->is_structured()) continue;
    size_t index = 0;
    for (auto it = node->begin(); it != node->end(); ++it) {
      const std::string token = node->is_object() ? it.key() : std::to_string(index++);
      std::string child = pointer + "/" + EscapePointerToken(token);
      if (node->is_object() && token.size() > limit) return child;
      pending.emplace_back(&*it, std::move(child));
    }
  }
  return std::nullopt;
}

// Inputs refused before valijson sees them, because its recursion (through
// a recursive schema, or std::regex on a long member name for
// patternProperties) could exhaust the stack.
std::optional<Violation> GuardViolation(const PreparedDocument& prepared, const json& value) {
  if (prepared.has_refs && DeeperThan(value, kMaxInstanceDepth)) {
    return Violation{"", "maxDepth", kMaxInstanceDepth,
                     absl::StrCat("Value is nested deeper than ", kMaxInstanceDepth, " levels.")};
  }
  if (prepared.has_pattern_properties) {
    if (std::optional<std::string> at = LongMemberName(value, kMaxPatternMemberName)) {
      return Violation{*std::move(at), "maxKeyLength", kMaxPatternMemberName,
                       absl::StrCat("Property names longer than ", kMaxPatternMemberName,
                                    " bytes are not accepted by schemas with patternProperties.")};
    }
  }
  return std::nullopt;
}

// "invoice_data.line_items[0].amount" for "/invoice_data/line_items/0/amount".
std::string DottedField(const std::string& pointer, const json& value) {
  std::vector<std::string> tokens;
  try {
    for (json::json_pointer p(pointer); !p.empty(); p = p.parent_pointer()) {
      tokens.push_back(p.back());
    }
  } catch (const std::exception&) {
    return pointer;
  }
  std::reverse(tokens.begin(), tokens.end());
  std::string out;
  const json* node = &value;
  for (const std::string& token : tokens) {
    if (node != nullptr && node->is_array()) {
      out += "[" + token + "]";
    } else {
      out += (out.empty() ? "" : ".") + token;
    }
    node = Child(node, token);
  }
  return out;
}

json ViolationJson(const Violation& v, const json& value) {
  return json{{"field", DottedField(v.field, value)},
              {"pointer", v.field},
              {"constraint", v.constraint},
              {"expected", v.expected},
              {"message", v.message}};
}

std::string_view FailureMessage(ErrorCode code) {
  if (code == ErrorCode::kE1003) return "Input validation failed";
  if (code == ErrorCode::kE1004) return "Output validation failed";
  return "Validation failed";
}

}  // namespace

struct SchemaValidator::State {
  valijson::Schema schema;
  PreparedDocument prepared;  // for guards, and for what a failed keyword expected
};

SchemaValidator::SchemaValidator(std::shared_ptr<const State> state) : state_(std::move(state)) {}

namespace {

const SchemaValidator* MetaValidator();

// InvalidArgument naming the first place `schema` breaks the meta-schema.
absl::Status CheckAgainstMetaSchema(const json& schema) {
  const SchemaValidator* meta = MetaValidator();
  if (meta == nullptr) return absl::OkStatus();
  const std::vector<Violation> violations = meta->Check(schema);
  if (violations.empty()) return absl::OkStatus();
  const Violation& v = violations.front();
  return absl::InvalidArgumentError(absl::StrCat("schema is not valid draft-07 at ",
                                                 v.field.empty() ? "(root)" : v.field, " (",
                                                 v.constraint, "): ", v.message));
}

}  // namespace

absl::StatusOr<SchemaValidator> SchemaValidator::Compile(const json& schema,
                                                         const CompileOptions& options) {
  try {
    // The meta-schema itself is compiled unchecked (it is what checks).
    if (&schema != &Draft07MetaSchema()) MAGIC_RETURN_IF_ERROR(CheckAgainstMetaSchema(schema));
    auto state = std::make_shared<State>();
    MAGIC_ASSIGN_OR_RETURN(state->prepared, PrepareDocument(schema, options.fetcher));
    MAGIC_ASSIGN_OR_RETURN(const NameSchemas names, CompileNameSchemas(state->prepared));
    MAGIC_RETURN_IF_ERROR(Populate(state->prepared.doc, &names, state->schema));
    return SchemaValidator(std::move(state));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("invalid schema: ", e.what()));
  } catch (...) {
    return absl::InvalidArgumentError("invalid schema");
  }
}

bool SchemaValidator::IsValid(const json& value) const {
  try {
    if (GuardViolation(state_->prepared, value)) return false;
    valijson::Validator validator;
    return validator.validate(state_->schema, Adapter(value), nullptr);
  } catch (...) {
    return false;
  }
}

std::vector<Violation> SchemaValidator::Check(const json& value) const {
  if (IsValid(value)) return {};
  try {
    if (std::optional<Violation> guard = GuardViolation(state_->prepared, value)) {
      return {*std::move(guard)};
    }
    valijson::Validator validator;
    valijson::ValidationResults results;
    validator.validate(state_->schema, Adapter(value), &results);
    std::vector<Finding> findings;
    findings.reserve(results.numErrors());
    for (const auto& error : results) findings.push_back(MakeFinding(error));
    std::vector<Violation> violations =
        ToViolations(std::move(findings), state_->prepared.doc, value);
    if (!violations.empty()) return violations;
  } catch (const std::exception& e) {
    return {Violation{"", "schema", nullptr, absl::StrCat("Validation failed: ", e.what())}};
  } catch (...) {
    return {Violation{"", "schema", nullptr, "Validation failed."}};
  }
  // Invalid without a message: the schema is false at the root.
  return {Violation{"", "false", false, "Value is not allowed by the schema."}};
}

absl::Status SchemaValidator::Validate(const json& value, ErrorCode code) const {
  const std::vector<Violation> violations = Check(value);
  if (violations.empty()) return absl::OkStatus();
  try {
    json details = ViolationJson(violations.front(), value);
    json list = json::array();
    for (size_t i = 0; i < violations.size() && i < kMaxReportedViolations; ++i) {
      list.push_back(ViolationJson(violations[i], value));
    }
    details["violations"] = std::move(list);
    return MakeError(code, FailureMessage(code), details);
  } catch (const std::exception&) {
    return MakeError(code, FailureMessage(code));  // details could not be built
  }
}

// ---------------------------------------------------------------------------
// The meta-schema check.

namespace {

const SchemaValidator* MetaValidator() {
  static const auto* const kValidator =
      new absl::StatusOr<SchemaValidator>(SchemaValidator::Compile(Draft07MetaSchema()));
  return kValidator->ok() ? &**kValidator : nullptr;
}

void CheckRegex(const std::string& pattern, std::string pointer, std::vector<Violation>& out) {
  try {
    CompileRegex(pattern);
  } catch (const std::regex_error& e) {
    out.push_back(Violation{std::move(pointer), "format", "regex",
                            absl::StrCat("Not a valid regular expression: ", e.what())});
  }
}

// Every "pattern" and "patternProperties" key at a schema position must be a
// regular expression std::regex (ECMAScript) compiles.
void CheckRegexes(const json& node, const std::string& pointer, int depth,
                  std::vector<Violation>& out) {
  if (!node.is_object() || depth > kMaxSchemaDepth) return;
  for (const auto& [key, value] : node.items()) {
    const std::string at = pointer + "/" + EscapePointerToken(key);
    if (key == "pattern" && value.is_string()) CheckRegex(value.get<std::string>(), at, out);
    const Slot slot = SlotOf(key);
    if (key == "patternProperties" && value.is_object()) {
      for (const auto& [regex, schema] : value.items()) {
        CheckRegex(regex, at + "/" + EscapePointerToken(regex), out);
      }
    }
    if (slot == Slot::kSchema || (slot == Slot::kSchemaOrArray && !value.is_array())) {
      CheckRegexes(value, at, depth + 1, out);
    } else if (slot != Slot::kNone && value.is_structured()) {
      size_t index = 0;
      for (const auto& [name, member] : value.items()) {
        const std::string token =
            value.is_array() ? std::to_string(index++) : EscapePointerToken(name);
        CheckRegexes(member, at + "/" + token, depth + 1, out);
      }
    }
  }
}

}  // namespace

const json& Draft07MetaSchema() {
  static const json* const kMetaSchema = new json(json::parse(internal::kDraft07MetaSchemaText));
  return *kMetaSchema;
}

std::vector<Violation> CheckSchemaDocument(const json& schema) {
  std::vector<Violation> out;
  try {
    if (const SchemaValidator* meta = MetaValidator()) out = meta->Check(schema);
    CheckRegexes(schema, "", 0, out);
    if (!out.empty()) return out;
    absl::StatusOr<SchemaValidator> compiled = SchemaValidator::Compile(schema);
    if (!compiled.ok()) {
      out.push_back(Violation{"", "schema", nullptr, std::string(compiled.status().message())});
    }
  } catch (const std::exception& e) {
    out.push_back(Violation{"", "schema", nullptr, e.what()});
  }
  return out;
}

}  // namespace magic::contracts
