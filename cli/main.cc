// magic: the command-line front of the farm. This binary only parses
// arguments and dispatches to cli/commands.h.
#include "cli/audit_command.h"
#include "cli/batch_command.h"
#include "cli/commands.h"
#include "cli/farm_commands.h"
#include "cli/keygen_command.h"
#include "cli/lifecycle_commands.h"
#include "cli/logs_command.h"
#include "cli/run_command.h"
#include "cli/schedule_commands.h"
#include "cli/secrets_command.h"

#include <CLI/CLI.hpp>

#include <iostream>
#include <unistd.h>

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

  magic::cli::DevOptions dev;
  CLI::App* dev_cmd = app.add_subcommand("dev", "Run the whole farm in one process");
  dev_cmd->add_option("--controllers", dev.controllers, "Directory of controller bundles");
  dev_cmd->add_option("--grpc-addr", dev.grpc_addr, "gRPC listen address");
  dev_cmd->add_option("--http-addr", dev.http_addr, "HTTP/JSON listen address");
  dev_cmd->add_option("--control-addr", dev.control_addr,
                      "Control (deploy/list/rollback) gRPC listen address");
  dev_cmd->add_option("--kafka", dev.kafka, "Kafka brokers (default: embedded)");
  dev_cmd->add_option("--postgres", dev.postgres, "PostgreSQL URL (default: a private server)");
  dev_cmd->add_option("--redis", dev.redis, "Redis URL (default: a private server)");
  dev_cmd->add_option("--state-dir", dev.state_dir,
                      "Where state.json and master.key live (default ~/.cache/magic/dev)");
  dev_cmd->add_option("--policy", dev.policy,
                      "Broker policy file (default: the development policy)");
  dev_cmd->add_option("--workers", dev.workers, "Executor threads");
  dev_cmd->add_option("--ready-file", dev.ready_file,
                      "Write the endpoints as JSON here once ready");

  magic::cli::RunLocalOptions run;
  bool run_local = false;
  CLI::App* run_cmd = app.add_subcommand("run", "Run one controller once in a sandbox, no farm");
  run_cmd->add_option("DIR", run.dir, "Controller directory")->required();
  run_cmd->add_flag("--local", run_local, "Run here (the only mode so far)");
  run_cmd->add_option("--input", run.input, "Input JSON");
  run_cmd->add_option("--input-file", run.input_file, "File holding the input JSON");
  run_cmd->add_flag("--json", run.json, "Machine-readable output");

  magic::cli::InvokeOptions invoke;
  CLI::App* invoke_cmd = app.add_subcommand("invoke", "Invoke a controller through a gateway");
  invoke_cmd->add_option("NAME", invoke.controller, "Controller name")->required();
  invoke_cmd->add_option("--input", invoke.input, "Input JSON");
  invoke_cmd->add_option("--input-file", invoke.input_file, "File holding the input ('-' = stdin)");
  invoke_cmd->add_flag("--async", invoke.async, "Submit and print the request id");
  invoke_cmd->add_flag("--json", invoke.json, "Machine-readable output");
  invoke_cmd->add_option("--timeout-ms", invoke.timeout_ms, "Run timeout (capped by the contract)");
  invoke_cmd->add_option("--request-id", invoke.request_id, "Request id to use");
  invoke_cmd->add_option("--addr", invoke.addr, "Gateway gRPC address (default $MAGIC_ADDR)");
  invoke_cmd
      ->add_option("--max-attempts", invoke.max_attempts,
                   "With --async: attempts for retryable failures (0: 3; 1: no retry)")
      ->check(CLI::Range(0, 10));
  invoke_cmd->add_flag("--retry-on-timeout", invoke.retry_on_timeout,
                       "With --async: a timeout (E3001) is retried too");
  invoke_cmd->add_option("--idempotency-key", invoke.idempotency_key,
                         "With --async: the same key returns the same run");

  magic::cli::StatusOptions status;
  CLI::App* status_cmd = app.add_subcommand("status", "Show an invocation's state");
  status_cmd->add_option("ID", status.request_id, "Request id")->required();
  status_cmd->add_flag("--watch", status.watch, "Stream changes until it finishes");
  status_cmd->add_option("--addr", status.addr, "Gateway gRPC address (default $MAGIC_ADDR)");

  magic::cli::BatchOptions batch;
  CLI::App* batch_cmd = magic::cli::AddBatchCommand(app, batch);

  magic::cli::AuditOptions audit;
  CLI::App* audit_cmd = magic::cli::AddAuditCommand(app, audit);

  magic::cli::LogsOptions logs;
  CLI::App* logs_cmd = magic::cli::AddLogsCommand(app, logs);

  magic::cli::KeygenOptions keygen;
  CLI::App* keygen_cmd = magic::cli::AddKeygenCommand(app, keygen);

  magic::cli::SecretsOptions secrets;
  CLI::App* secrets_cmd = magic::cli::AddSecretsCommand(app, secrets);

  magic::cli::ScheduleOptions schedule;
  CLI::App* schedule_cmd = magic::cli::AddScheduleCommand(app, schedule);

  magic::cli::LifecycleOptions lifecycle;
  const magic::cli::LifecycleCommands lifecycle_cmds =
      magic::cli::AddLifecycleCommands(app, lifecycle);

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
  if (dev_cmd->parsed()) return magic::cli::RunDev(dev, std::cout, std::cerr);
  if (run_cmd->parsed()) {
    if (!run_local) {
      std::cerr << "magic run: only --local is supported; use `magic invoke` with a farm\n";
      return magic::cli::kExitUsage;
    }
    return magic::cli::RunLocal(run, std::cout, std::cerr);
  }
  if (invoke_cmd->parsed()) return magic::cli::RunInvoke(invoke, std::cin, std::cout, std::cerr);
  if (status_cmd->parsed()) return magic::cli::RunStatus(status, std::cout, std::cerr);
  if (batch_cmd->parsed()) {
    return magic::cli::RunBatch(batch, std::cin, std::cout, std::cerr, isatty(STDERR_FILENO) == 1);
  }
  if (audit_cmd->parsed()) return magic::cli::RunAudit(audit, std::cout, std::cerr);
  if (logs_cmd->parsed()) return magic::cli::RunLogs(logs, std::cout, std::cerr);
  if (keygen_cmd->parsed()) return magic::cli::RunKeygen(keygen, std::cout, std::cerr);
  if (secrets_cmd->parsed()) {
    return magic::cli::RunSecrets(secrets, std::cin, std::cout, std::cerr);
  }
  if (schedule_cmd->parsed()) {
    return magic::cli::RunSchedule(schedule, std::cin, std::cout, std::cerr);
  }
  if (auto code = magic::cli::RunLifecycle(lifecycle_cmds, lifecycle, std::cout, std::cerr)) {
    return *code;
  }
  std::cerr << app.help();
  return magic::cli::kExitUsage;
}
