#include "worker/testing/sandbox_fixture.h"

#include "contracts/loader.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace magic::worker::testing {

std::string TestControllerDir(const std::string& name) {
  return (std::filesystem::current_path() / "worker/testdata/controllers" / name).string();
}

absl::StatusOr<TestController> LoadTestController(const std::string& name, bool mount_dir) {
  const std::string dir = TestControllerDir(name);
  absl::StatusOr<std::string> file = contracts::FindContractFile(dir);
  if (!file.ok()) return file.status();
  contracts::CheckResult loaded = contracts::LoadContract(*file);
  if (!loaded.contract) {
    return absl::InvalidArgumentError(fmt::format(
        "{}: {}", *file,
        loaded.findings.empty() ? "invalid" : contracts::FormatFinding(loaded.findings[0])));
  }
  absl::StatusOr<std::shared_ptr<const contracts::CompiledContract>> compiled =
      contracts::CompiledContract::Compile(*loaded.contract);
  if (!compiled.ok()) return compiled.status();
  absl::StatusOr<ControllerBundle> bundle =
      ReadBundle(*loaded.contract, dir, {.mount_dir = mount_dir});
  if (!bundle.ok()) return bundle.status();
  return TestController{std::move(*compiled), std::move(*bundle)};
}

std::vector<int> PidsWithArgument(const std::string& needle) {
  std::vector<int> pids;
  std::error_code ec;
  for (std::filesystem::directory_iterator it("/proc", ec), end; !ec && it != end;
       it.increment(ec)) {
    const std::filesystem::directory_entry& entry = *it;
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "cmdline", std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    if (text.str().find(needle) != std::string::npos) pids.push_back(std::stoi(name));
  }
  return pids;
}

}  // namespace magic::worker::testing
