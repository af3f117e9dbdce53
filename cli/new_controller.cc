#include "cli/commands.h"
#include "contracts/loader.h"

#include <filesystem>
#include <fstream>
#include <ostream>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

namespace magic::cli {
namespace {

namespace fs = std::filesystem;

// Replaces every {{NAME}} / {{SNAKE}} in `text`.
std::string Render(std::string_view text, const std::string& name, const std::string& snake) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    if (text.substr(i, 8) == "{{NAME}}") {
      out += name;
      i += 8;
    } else if (text.substr(i, 9) == "{{SNAKE}}") {
      out += snake;
      i += 9;
    } else {
      out += text[i++];
    }
  }
  return out;
}

constexpr std::string_view kContract =
    R"(# Contract of {{NAME}}: what it accepts, returns and may touch.
# Check it with `magic validate .`; see the spec for every field.
name: {{NAME}}
version: 0.1.0

input:
  type: object
  required: [name]
  additionalProperties: false
  properties:
    name:
      type: string
      minLength: 1
      maxLength: 200
      description: Who to greet

output:
  type: object
  required: [message, request_id]
  properties:
    message:
      type: string
    request_id:
      type: string

# Default deny: declare each capability the controller needs, e.g.
#   - db:read:
#       tables: [customers]
capabilities: []

resources:
  cpu: 0.5
  memory: 256Mi
  timeout: 30s

observability:
  log_fields: [name]
)";

constexpr std::string_view kCode =
    R"("""{{NAME}}: replace this docstring with what the controller does."""

from magic import Controller, contract


@contract("./{{SNAKE}}.contract.yaml")
class {{NAME}}Controller(Controller):
    async def execute(self, input: dict) -> dict:
        # Input is already validated against the contract's input schema.
        name = input["name"]
        self.log.info("greeting", name=name)
        # The return value must match the output schema.
        return {"message": f"Hello, {name}!", "request_id": self.request_id}
)";

constexpr std::string_view kSample = R"({"name": "World"}
)";

constexpr std::string_view kTest = R"("""Tests for {{NAME}}.

Run from this directory with the Magic SDK on PYTHONPATH:
    PYTHONPATH=<magic>/sdk/python python3 -m unittest
"""

import json
import pathlib
import unittest

from magic.testing import run_controller

from {{SNAKE}} import {{NAME}}Controller

HERE = pathlib.Path(__file__).resolve().parent


class {{NAME}}Test(unittest.TestCase):
    def test_sample_input(self):
        sample = json.loads((HERE / "sample_input.json").read_text())
        output = run_controller({{NAME}}Controller, sample, request_id="req_test")
        self.assertEqual(output["message"], "Hello, World!")
        self.assertEqual(output["request_id"], "req_test")


if __name__ == "__main__":
    unittest.main()
)";

bool WriteFile(const fs::path& path, std::string_view text, std::ostream& err) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << text;
  if (!file.good()) {
    err << "magic new controller: cannot write " << path.string() << "\n";
    return false;
  }
  return true;
}

}  // namespace

int RunNewController(const NewControllerOptions& options, std::ostream& out, std::ostream& err) {
  static const std::regex kPascal("^[A-Z][A-Za-z0-9]{0,63}$");
  if (!std::regex_match(options.name, kPascal)) {
    err << "magic new controller: E1002: name '" << options.name
        << "' must be PascalCase (a capital letter, then letters and digits), e.g. "
           "InvoiceSync\n";
    return kExitUsage;
  }
  const std::string snake = contracts::SnakeCase(options.name);
  const fs::path dir = fs::path(options.dir) / snake;
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    err << "magic new controller: " << dir.string() << " already exists; nothing was written\n";
    return kExitUsage;
  }
  if (!fs::create_directories(dir, ec)) {
    err << "magic new controller: cannot create " << dir.string() << ": " << ec.message() << "\n";
    return kExitUsage;
  }
  const std::vector<std::pair<std::string, std::string_view>> files = {
      {snake + ".contract.yaml", kContract},
      {snake + ".py", kCode},
      {"sample_input.json", kSample},
      {"test_" + snake + ".py", kTest},
  };
  for (const auto& [file, text] : files) {
    if (!WriteFile(dir / file, Render(text, options.name, snake), err)) return kExitUsage;
  }
  out << "created " << dir.string() << "/\n";
  for (const auto& entry : files) out << "  " << entry.first << "\n";
  out << "next: magic validate " << dir.string() << "\n";
  return kExitOk;
}

}  // namespace magic::cli
