// The test controllers are real controllers: their contracts pass the
// strictest `magic validate` rules and their bundles read.
#include "contracts/loader.h"
#include "worker/testing/sandbox_fixture.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace magic::worker {
namespace {

TEST(TestdataTest, EveryControllerIsStrictlyValid) {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(testing::TestControllerDir(""))) {
    if (!entry.is_directory()) continue;
    const std::string name = entry.path().filename().string();
    absl::StatusOr<std::string> file = contracts::FindContractFile(entry.path().string());
    ASSERT_TRUE(file.ok()) << name << ": " << file.status();
    contracts::CheckResult result = contracts::LoadContract(*file);
    for (const auto& finding : result.findings) ADD_FAILURE() << contracts::FormatFinding(finding);
    EXPECT_TRUE(result.ok(/*strict=*/true)) << name;
    absl::StatusOr<testing::TestController> controller = testing::LoadTestController(name);
    EXPECT_TRUE(controller.ok()) << name << ": " << controller.status();
    ++count;
  }
  EXPECT_GE(count, 9);
}

TEST(TestdataTest, BundlesHoldTheirSources) {
  absl::StatusOr<testing::TestController> adder = testing::LoadTestController("adder");
  ASSERT_TRUE(adder.ok()) << adder.status();
  EXPECT_EQ(adder->bundle.entry_module, "controller");
  EXPECT_EQ(adder->bundle.files.size(), 3u);
  EXPECT_TRUE(adder->bundle.files.count("helpers/math.py"));
  EXPECT_FALSE(adder->bundle.profile.tmp_size_bytes.has_value());
  absl::StatusOr<testing::TestController> temp = testing::LoadTestController("probe_temp");
  ASSERT_TRUE(temp.ok()) << temp.status();
  EXPECT_EQ(temp->bundle.profile.tmp_size_bytes, int64_t{1} << 20);
  EXPECT_EQ(temp->bundle.limits.memory_bytes, int64_t{128} << 20);
  EXPECT_EQ(temp->bundle.limits.timeout, absl::Seconds(10));
}

}  // namespace
}  // namespace magic::worker
