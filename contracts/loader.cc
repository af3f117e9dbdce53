#include "contracts/loader.h"

#include "contracts/internal/checks.h"
#include "contracts/internal/yaml_document.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sodium.h>
#include <sstream>
#include <system_error>
#include <utility>

namespace magic::contracts {
namespace {

using nlohmann::json;

Finding FileError(const std::string& path, std::string message, std::string hint) {
  Finding f;
  f.code = ErrorCode::kE1001;
  f.file = path;
  f.message = std::move(message);
  f.hint = std::move(hint);
  return f;
}

// Reads at most internal::kMaxInputBytes + 1 bytes of `path`.
std::optional<std::string> ReadFile(const std::string& path, Finding& error) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    error = FileError(path, "is a directory, not a contract file",
                      "name the contract file, or use FindContractFile on the directory");
    return std::nullopt;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = FileError(path, std::string("cannot read the contract: ") + std::strerror(errno),
                      "check the path and its permissions");
    return std::nullopt;
  }
  std::string text(internal::kMaxInputBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) {
    error = FileError(path, "cannot read the contract", "check the file");
    return std::nullopt;
  }
  text.resize(static_cast<size_t>(in.gcount()));
  return text;
}

char LowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool EndsWithIgnoreCase(std::string_view s, std::string_view suffix) {
  if (s.size() < suffix.size()) return false;
  return std::equal(suffix.begin(), suffix.end(), s.end() - static_cast<long>(suffix.size()),
                    [](char a, char b) { return LowerAscii(a) == LowerAscii(b); });
}

bool LooksLikeJson(std::string_view text) {
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
  const size_t first = text.find_first_not_of(" \t\r\n");
  return first != std::string_view::npos && text[first] == '{';
}

std::string Sha256Hex(std::string_view data) {
  static const bool initialized = sodium_init() >= 0;
  (void)initialized;
  std::array<unsigned char, crypto_hash_sha256_BYTES> digest{};
  crypto_hash_sha256(digest.data(), reinterpret_cast<const unsigned char*>(data.data()),
                     data.size());
  std::array<char, crypto_hash_sha256_BYTES * 2 + 1> hex{};
  sodium_bin2hex(hex.data(), hex.size(), digest.data(), digest.size());
  return std::string(hex.data(), crypto_hash_sha256_BYTES * 2);
}

// Adds `n` * `scale` to `total` unless it overflows.
bool AddScaled(int64_t& total, int64_t n, int64_t scale) {
  if (n > (std::numeric_limits<int64_t>::max() - total) / scale) return false;
  total += n * scale;
  return true;
}

// Parses a decimal "12" or "1.5" scaled by `scale` into an exact integer;
// nullopt when not exact or out of range.
std::optional<int64_t> ParseScaledDecimal(std::string_view text, int64_t scale) {
  const size_t dot = text.find('.');
  const std::string_view whole = text.substr(0, dot);
  const std::string_view frac = dot == std::string_view::npos ? "" : text.substr(dot + 1);
  if ((whole.empty() && frac.empty()) || (dot != std::string_view::npos && frac.empty())) {
    return std::nullopt;
  }
  int64_t total = 0;
  for (char c : whole) {
    if (c < '0' || c > '9' || total > (std::numeric_limits<int64_t>::max() - 9) / 10) {
      return std::nullopt;
    }
    total = total * 10 + (c - '0');
  }
  if (total > std::numeric_limits<int64_t>::max() / scale) {
    return std::nullopt;
  }
  total *= scale;
  int64_t divisor = 1, numerator = 0;
  for (char c : frac) {
    if (c < '0' || c > '9' || divisor > 1'000'000'000'000) return std::nullopt;
    numerator = numerator * 10 + (c - '0');
    divisor *= 10;
  }
  if (numerator != 0 && (numerator > std::numeric_limits<int64_t>::max() / scale ||
                         (numerator * scale) % divisor != 0)) {
    return std::nullopt;
  }
  if (!AddScaled(total, numerator * scale / divisor, 1)) return std::nullopt;
  return total;
}

int64_t DurationUnitMs(std::string_view unit) {
  if (unit == "ms") return 1;
  if (unit == "s") return 1'000;
  if (unit == "m") return 60'000;
  if (unit == "h") return 3'600'000;
  if (unit == "d") return 86'400'000;
  return 0;
}

const char* SeverityName(Severity s) { return s == Severity::kError ? "error" : "warning"; }

}  // namespace

json Finding::ToJson() const {
  return json{{"code", std::string(Describe(code).id)},
              {"severity", SeverityName(severity)},
              {"file", file},
              {"line", line},
              {"column", column},
              {"pointer", pointer},
              {"message", message},
              {"hint", hint}};
}

int CheckResult::errors() const {
  return static_cast<int>(std::count_if(findings.begin(), findings.end(), [](const Finding& f) {
    return f.severity == Severity::kError;
  }));
}

int CheckResult::warnings() const { return static_cast<int>(findings.size()) - errors(); }

bool CheckResult::ok(bool strict) const { return errors() == 0 && (!strict || warnings() == 0); }

CheckResult LoadContract(const std::string& path) {
  Finding error;
  std::optional<std::string> text = ReadFile(path, error);
  if (!text) {
    CheckResult result;
    result.findings.push_back(std::move(error));
    return result;
  }
  const SourceFormat format =
      EndsWithIgnoreCase(path, ".json") ? SourceFormat::kJson : SourceFormat::kYaml;
  CheckResult result = ParseContract(*text, format, path);
  if (result.contract) result.contract->source_path = path;
  return result;
}

CheckResult ParseContract(std::string_view text, SourceFormat format,
                          std::string_view source_name) {
  const bool json_input =
      format == SourceFormat::kJson || (format == SourceFormat::kAuto && LooksLikeJson(text));
  internal::YamlDocument doc = internal::ParseYamlDocument(text, json_input);
  CheckResult result;
  if (!doc.ok()) {
    result.findings = std::move(doc.findings);
  } else {
    result = internal::CheckContractDocument(doc);
  }
  for (Finding& f : result.findings) f.file = std::string(source_name);
  if (result.contract) {
    result.contract->digest =
        Sha256Hex(doc.root.dump(-1, ' ', false, json::error_handler_t::replace));
  }
  return result;
}

std::string FormatFinding(const Finding& finding) {
  std::ostringstream out;
  out << (finding.file.empty() ? "<contract>" : finding.file);
  if (finding.line > 0) out << ":" << finding.line << ":" << finding.column;
  out << ": " << SeverityName(finding.severity) << " " << Describe(finding.code).id << ": "
      << finding.message;
  if (!finding.pointer.empty()) out << " (at " << finding.pointer << ")";
  if (!finding.hint.empty()) out << "\n  hint: " << finding.hint;
  return out.str();
}

absl::StatusOr<std::string> FindContractFile(const std::string& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return absl::NotFoundError("not a directory: " + dir);
  }
  std::vector<std::string> named, plain;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    std::error_code type_ec;
    if (!entry.is_regular_file(type_ec)) continue;
    const std::string name = entry.path().filename().string();
    for (std::string_view ext : {".yaml", ".yml", ".json"}) {
      if (name == "contract" + std::string(ext)) {
        plain.push_back(entry.path().string());
      } else if (name.size() > std::string(".contract").size() + ext.size() &&
                 name.ends_with(".contract" + std::string(ext))) {
        named.push_back(entry.path().string());
      }
    }
  }
  if (ec) return absl::NotFoundError("cannot list " + dir + ": " + ec.message());
  std::vector<std::string>& found = named.empty() ? plain : named;
  if (found.empty()) {
    return absl::NotFoundError("no contract file (<name>.contract.yaml or contract.yaml) in " +
                               dir);
  }
  if (found.size() > 1) {
    std::sort(found.begin(), found.end());
    std::string list;
    for (const std::string& f : found) list += (list.empty() ? "" : ", ") + f;
    return absl::InvalidArgumentError("several contract files in " + dir + ": " + list);
  }
  return found[0];
}

std::optional<int64_t> ParseByteSize(std::string_view text) {
  static constexpr std::pair<std::string_view, int64_t> kUnits[] = {
      {"Ki", int64_t{1} << 10},
      {"Mi", int64_t{1} << 20},
      {"Gi", int64_t{1} << 30},
      {"Ti", int64_t{1} << 40},
      {"K", 1'000},
      {"k", 1'000},
      {"M", 1'000'000},
      {"G", 1'000'000'000},
      {"T", 1'000'000'000'000},
  };
  int64_t scale = 1;
  for (const auto& [suffix, factor] : kUnits) {
    if (text.size() > suffix.size() && text.ends_with(suffix)) {
      text.remove_suffix(suffix.size());
      scale = factor;
      break;
    }
  }
  if (text.empty()) return std::nullopt;
  return ParseScaledDecimal(text, scale);  // "1.5Gi" is fine when exact
}

std::optional<int64_t> ParseDurationMs(std::string_view text) {
  if (text.empty()) return std::nullopt;
  if (text.find_first_not_of("0123456789.") == std::string_view::npos) {
    return ParseScaledDecimal(text, 1'000);  // a plain number is seconds
  }
  int64_t total = 0;
  while (!text.empty()) {
    const size_t unit_start = text.find_first_not_of("0123456789.");
    if (unit_start == 0 || unit_start == std::string_view::npos) return std::nullopt;
    size_t unit_end = text.find_first_of("0123456789.", unit_start);
    if (unit_end == std::string_view::npos) unit_end = text.size();
    const int64_t unit = DurationUnitMs(text.substr(unit_start, unit_end - unit_start));
    if (unit == 0) return std::nullopt;
    const std::optional<int64_t> part = ParseScaledDecimal(text.substr(0, unit_start), unit);
    if (!part || !AddScaled(total, *part, 1)) return std::nullopt;
    text.remove_prefix(unit_end);
  }
  return total;
}

std::string SnakeCase(std::string_view pascal) {
  std::string out;
  auto upper = [](char c) { return c >= 'A' && c <= 'Z'; };
  auto lower_or_digit = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  for (size_t i = 0; i < pascal.size(); ++i) {
    const char c = pascal[i];
    if (upper(c)) {
      const bool after_word = i > 0 && lower_or_digit(pascal[i - 1]);
      const bool acronym_end = i > 0 && upper(pascal[i - 1]) && i + 1 < pascal.size() &&
                               pascal[i + 1] >= 'a' && pascal[i + 1] <= 'z';
      if (after_word || acronym_end) out += '_';
      out += static_cast<char>(c - 'A' + 'a');
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace magic::contracts
