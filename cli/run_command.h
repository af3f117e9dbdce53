// `magic run DIR --local --input JSON|--input-file F [--json]`: run one
// controller once in a local sandbox, no farm (DESIGN.md "Surfaces").
//
//   RunLocalOptions options{.dir = "examples/greeter", .input = R"({"name":"x"})"};
//   int code = RunLocal(options, std::cout, std::cerr);
//
// Loads and compiles the contract, validates the input (E1003), reads the
// bundle, starts a fresh bubblewrap sandbox and loads the bundle's .py
// sources into it exactly as a farm worker does (so /controller holds no
// data files here either), runs the controller once within its limits, validates the
// output (E1004) and prints the output JSON, or the error JSON
// {"error": {code, category, message, details, request_id}}, on `out`.
// The controller's logs go to `err` (JSON lines with --json, else
// "[level] msg key=value"). Capability calls fail with E2001: there is no
// broker locally.
//
// Exit codes: 0 ok; 1 the input or the controller failed; 2 usage, an
// invalid contract or no usable sandbox.
#pragma once

#include <iosfwd>
#include <optional>
#include <string>

namespace magic::cli {

struct RunLocalOptions {
  std::string dir;                        // the controller directory
  std::optional<std::string> input;       // --input JSON
  std::optional<std::string> input_file;  // --input-file F
  bool json = false;                      // one-line JSON output and JSON-lines logs
  std::string sdk_dir;                    // "" = worker::DefaultSdkDir()
  std::string request_id;                 // "" = a new one
};

int RunLocal(const RunLocalOptions& options, std::ostream& out, std::ostream& err);

}  // namespace magic::cli
