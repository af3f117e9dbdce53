// The yaml-cpp adapter of the contract loader: turns YAML or JSON text into
// an nlohmann::json tree plus a map from JSON pointer to source position, so
// that every later check can say "line:col". yaml-cpp is confined to
// yaml_document.cc and every exception it throws stops there.
//
//   YamlDocument doc = ParseYamlDocument(text, /*json=*/false);
//   if (!doc.ok()) { /* doc.findings holds the E1001 error */ }
//   Position p = doc.Locate("/resources/memory");
//
// Scalars are resolved with the YAML 1.2 core schema: null, ~ and the empty
// value are null; true/false (also True, TRUE, ...) are booleans; decimal,
// 0x and 0o integers; decimal floats. Quoted scalars and !!str stay strings.
// Non-finite floats (.inf, .nan) have no JSON form: they become null and an
// E1002 finding. Duplicate mapping keys, multiple documents, documents that
// are empty or a bare scalar, invalid UTF-8, inputs over kMaxInputBytes and
// alias expansions over kMaxNodes nodes or kMaxDepth levels are E1001.
//
// Plain data, no shared state; thread-compatible.
#pragma once

#include "contracts/internal/json_pointer.h"
#include "contracts/loader.h"

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace magic::contracts::internal {

inline constexpr size_t kMaxInputBytes = size_t{1} << 20;  // 1 MiB
inline constexpr int kMaxNodes = 100'000;                  // after alias expansion
inline constexpr int kMaxDepth = 64;                       // nested collections

// 1-based line and column; {0, 0} when unknown.
struct Position {
  int line = 0;
  int column = 0;
};

struct YamlDocument {
  nlohmann::json root;
  // Where each value starts, by JSON pointer ("" is the whole document).
  std::map<std::string, Position> value_positions;
  // Where the key of each mapping member starts, by the member's pointer.
  std::map<std::string, Position> key_positions;
  // E1001 errors (fatal: `root` is unusable) and E1002 errors for
  // non-finite numbers, with file left empty.
  std::vector<Finding> findings;

  // No E1001 finding: `root` holds the document.
  bool ok() const;
  // Position of the value at `pointer`, else of its key, else of the
  // nearest ancestor that has one.
  Position Locate(std::string_view pointer) const;
  // Position of the key of the member at `pointer`, else Locate(pointer).
  Position LocateKey(std::string_view pointer) const;
};

// Parses `text`. With `json` true the text must be strict JSON (RFC 8259);
// positions then still come from yaml-cpp when it can read the text.
YamlDocument ParseYamlDocument(std::string_view text, bool json);

// YAML 1.2 core schema resolution of an untagged plain scalar: null, bool,
// int (decimal, 0x, 0o), float (including .inf and .nan) or string.
nlohmann::json ResolvePlainScalar(std::string_view plain);

}  // namespace magic::contracts::internal
