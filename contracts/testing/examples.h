// The spec's example contracts, as tests and benchmarks load them: one
// source (examples/), never a copy pasted into a test. MAGIC_SOURCE_DIR is
// set by CMake for the targets that include this header.
#pragma once

#include "contracts/loader.h"

#include <nlohmann/json.hpp>

#include <string>

namespace magic::contracts::testing {

// The InvoiceSync contract of examples/invoice_sync (the spec's, verbatim).
// Aborts if it does not load: the example itself is covered by its tests.
inline const Contract& InvoiceSyncContract() {
  static const Contract* const kContract = [] {
    CheckResult r = LoadContract(std::string(MAGIC_SOURCE_DIR) +
                                 "/examples/invoice_sync/invoice_sync.contract.yaml");
    if (!r.contract) __builtin_trap();
    return new Contract(*std::move(r.contract));
  }();
  return *kContract;
}

inline const nlohmann::json& InvoiceSyncInputSchema() { return InvoiceSyncContract().input; }

}  // namespace magic::contracts::testing
