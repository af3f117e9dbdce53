// libFuzzer target: any bytes given to the contract parser must produce a
// CheckResult (valid contract or findings), never a crash, hang or leak. A
// contract that loads must also compile its schemas and validate a value.
#include "contracts/loader.h"
#include "contracts/schema.h"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  for (auto format :
       {magic::contracts::SourceFormat::kYaml, magic::contracts::SourceFormat::kJson}) {
    magic::contracts::CheckResult result = magic::contracts::ParseContract(text, format, "fuzz");
    if (result.contract) {
      auto compiled = magic::contracts::CompiledContract::Compile(*result.contract);
      if (compiled.ok()) {
        (void)(*compiled)->ValidateInput(nlohmann::json::object());
        (void)(*compiled)->ValidateOutput(result.contract->input);
      }
    } else if (result.findings.empty()) {
      __builtin_trap();  // an invalid contract must say why
    }
  }
  return 0;
}
