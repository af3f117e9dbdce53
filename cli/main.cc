// magic: the command-line front of the farm. This binary only parses
// arguments and dispatches to cli/commands.h.
#include "cli/commands.h"

#include <CLI/CLI.hpp>

#include <iostream>

namespace {

using magic::cli::Direction;

void AddCheck(CLI::App& app, Direction direction, magic::cli::CheckOptions& options) {
  const bool input = direction == Direction::kInput;
  CLI::App* cmd = app.add_subcommand(
      input ? "check-input" : "check-output",
      input ? "Validate a JSON value against a contract's input schema (E1003); runs nothing"
            : "Validate a JSON value against a contract's output schema (E1004); runs nothing");
  cmd->add_option("CONTRACT", options.contract, "Contract file or controller directory")
      ->required();
  cmd->add_option(input ? "--input" : "--output", options.value, "The JSON value");
  cmd->add_option(input ? "--input-file" : "--output-file", options.value_file,
                  "File holding the JSON value ('-' for stdin)");
  cmd->callback([&options, direction] { options.direction = direction; });
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"magic: sandboxed controller runtime", "magic"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "magic 0.1.0");

  magic::cli::ValidateOptions validate;
  CLI::App* validate_cmd =
      app.add_subcommand("validate", "Check contract files or directories (recursive)");
  validate_cmd->add_option("PATH", validate.paths, "Contract files or directories")->required();
  validate_cmd->add_flag("--strict", validate.strict, "Treat warnings as errors");
  validate_cmd->add_flag("--json", validate.json, "Machine-readable output");

  magic::cli::CheckOptions check_input, check_output;
  AddCheck(app, Direction::kInput, check_input);
  AddCheck(app, Direction::kOutput, check_output);

  magic::cli::NewControllerOptions scaffold;
  CLI::App* new_cmd = app.add_subcommand("new", "Scaffold a new artifact");
  new_cmd->require_subcommand(1);
  CLI::App* controller_cmd =
      new_cmd->add_subcommand("controller", "Scaffold contract, code, sample input and a test");
  controller_cmd->add_option("NAME", scaffold.name, "PascalCase controller name")->required();
  controller_cmd->add_option("--dir", scaffold.dir, "Parent directory (default: .)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : magic::cli::kExitUsage;
  }

  if (validate_cmd->parsed()) return magic::cli::RunValidate(validate, std::cout, std::cerr);
  if (app.got_subcommand("check-input")) {
    return magic::cli::RunCheck(check_input, std::cin, std::cout, std::cerr);
  }
  if (app.got_subcommand("check-output")) {
    return magic::cli::RunCheck(check_output, std::cin, std::cout, std::cerr);
  }
  if (controller_cmd->parsed()) return magic::cli::RunNewController(scaffold, std::cout, std::cerr);
  std::cerr << app.help();
  return magic::cli::kExitUsage;
}
