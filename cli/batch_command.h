// `magic batch NAME --file inputs.jsonl`: submits one run per JSON line
// (SubmitBatch), follows the batch (WatchBatch) with a progress bar on a
// terminal's stderr (plain progress lines otherwise) and prints a summary
// with the first failed request ids and their E-codes (ListBatchItems).
//
//   magic batch NAME --file F [--addr A] [--json] [--no-wait]
//
// Blank lines are skipped; a line that is not JSON stops everything before
// anything is submitted (E1005 with details.line). Exit codes: 0 every run
// succeeded (or --no-wait and the batch was accepted), 1 some failed or the
// batch was refused, 2 usage or the gateway is unreachable.
#pragma once

#include <iosfwd>
#include <string>

namespace CLI {
class App;
}  // namespace CLI

namespace magic::cli {

struct BatchOptions {
  std::string addr;  // gateway gRPC address; "" = $MAGIC_ADDR or 127.0.0.1:7070
  std::string controller;
  std::string file;      // JSON lines; "-" = stdin
  bool json = false;     // the summary as one JSON document on stdout
  bool no_wait = false;  // print the batch id and return once accepted
  int failures_shown = 5;
};

// Registers the `batch` subcommand, filling `options`; returns it.
CLI::App* AddBatchCommand(CLI::App& app, BatchOptions& options);

// `progress_tty`: draw a one-line bar with \r (else plain lines, at most
// one per second).
int RunBatch(const BatchOptions& options, std::istream& in, std::ostream& out, std::ostream& err,
             bool progress_tty);

}  // namespace magic::cli
