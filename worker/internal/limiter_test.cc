// Limiter tests. ParseCgroupMounts is pure; the rest creates real cgroups
// (label "sandbox": needs root).
#include "worker/internal/limiter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace magic::worker::internal {
namespace {

using ::testing::ElementsAre;

constexpr char kHybridMountinfo[] =
    "25 30 0:23 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755\n"
    "26 25 0:24 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw\n"
    "27 25 0:25 / /sys/fs/cgroup/memory rw,nosuid shared:11 - cgroup cgroup rw,memory\n"
    "28 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw shared:12 - cgroup cgroup rw,cpu,cpuacct\n"
    "29 25 0:27 / /sys/fs/cgroup/pids rw shared:13 - cgroup cgroup rw,pids\n"
    "30 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda rw\n";

TEST(CgroupMountsTest, ParsesHybridHosts) {
  std::vector<CgroupMount> mounts = ParseCgroupMounts(kHybridMountinfo);
  ASSERT_EQ(mounts.size(), 4u);
  EXPECT_EQ(mounts[0].path, "/sys/fs/cgroup/unified");
  EXPECT_EQ(mounts[0].version, 2);
  EXPECT_EQ(mounts[1].path, "/sys/fs/cgroup/memory");
  EXPECT_THAT(mounts[1].controllers, ElementsAre("rw", "memory"));
  EXPECT_EQ(mounts[2].path, "/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_THAT(mounts[2].controllers, ElementsAre("rw", "cpu", "cpuacct"));
}

TEST(CgroupMountsTest, IgnoresGarbage) {
  EXPECT_TRUE(ParseCgroupMounts("").empty());
  EXPECT_TRUE(ParseCgroupMounts("no separator here\n - \n1 2 3 - cgroup\n").empty());
}

TEST(LimiterTest, NoneModeUsesRlimits) {
  absl::StatusOr<std::unique_ptr<Limiter>> limiter = MakeLimiter({.mode = CgroupMode::kNone});
  ASSERT_TRUE(limiter.ok());
  EXPECT_EQ((*limiter)->enforced().ToString(),
            "limits: memory=rlimit-as cpu=none pids=none timeout=kill");
  absl::StatusOr<std::unique_ptr<SandboxCgroup>> group = (*limiter)->Create({64 << 20, 1.0, 64});
  ASSERT_TRUE(group.ok());
  EXPECT_EQ(*group, nullptr);
}

TEST(LimiterTest, RejectsABadParentName) {
  EXPECT_FALSE(MakeLimiter({.parent_name = "../escape"}).ok());
  EXPECT_FALSE(MakeLimiter({.parent_name = ""}).ok());
}

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Tests that create real groups under a "magic-test" parent, removed after.
class CgroupLimiterTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (const char* parent : {"/sys/fs/cgroup/memory/magic-test", "/sys/fs/cgroup/cpu/magic-test",
                               "/sys/fs/cgroup/pids/magic-test",
                               "/sys/fs/cgroup/unified/magic-test", "/sys/fs/cgroup/magic-test"}) {
      rmdir(parent);  // fails harmlessly where it does not exist
    }
  }
};

TEST_F(CgroupLimiterTest, CreatesLimitsAndRemovesGroups) {
  absl::StatusOr<std::unique_ptr<Limiter>> limiter = MakeLimiter({.parent_name = "magic-test"});
  ASSERT_TRUE(limiter.ok());
  const EnforcedLimits& enforced = (*limiter)->enforced();
  std::cout << "[ limits   ] " << enforced.ToString() << "\n";
  if (enforced.memory != "cgroup-v1") GTEST_SKIP() << "this check is written for cgroup v1 hosts";
  absl::StatusOr<std::unique_ptr<SandboxCgroup>> group = (*limiter)->Create({64 << 20, 0.5, 32});
  ASSERT_TRUE(group.ok()) << group.status();
  ASSERT_NE(*group, nullptr);
  std::string dir;
  for (const auto& entry :
       std::filesystem::directory_iterator("/sys/fs/cgroup/memory/magic-test")) {
    if (entry.is_directory() &&
        entry.path().filename().string().rfind("w" + std::to_string(getpid()) + "-", 0) == 0) {
      dir = entry.path().string();
    }
  }
  ASSERT_FALSE(dir.empty());
  EXPECT_EQ(Read(dir + "/memory.limit_in_bytes"), std::to_string(64 << 20) + "\n");
  EXPECT_TRUE((*group)->SetMemory(128 << 20).ok());  // raising: memsw first
  EXPECT_EQ(Read(dir + "/memory.limit_in_bytes"), std::to_string(128 << 20) + "\n");
  EXPECT_TRUE((*group)->SetMemory(64 << 20).ok());  // lowering: limit first
  EXPECT_FALSE((*group)->OomKilled());
  if (enforced.pids == "cgroup-v1") {
    const std::string pids_dir =
        "/sys/fs/cgroup/pids/magic-test/" + std::filesystem::path(dir).filename().string();
    EXPECT_EQ(Read(pids_dir + "/pids.max"), "32\n");
  }
  group->reset();  // kills and removes
  EXPECT_FALSE(std::filesystem::exists(dir));
}

TEST_F(CgroupLimiterTest, RemovesGroupsOfDeadWorkers) {
  absl::StatusOr<std::unique_ptr<Limiter>> limiter = MakeLimiter({.parent_name = "magic-test"});
  ASSERT_TRUE(limiter.ok());
  if ((*limiter)->enforced().memory != "cgroup-v1") GTEST_SKIP() << "cgroup v1 only";
  const std::string stale = "/sys/fs/cgroup/memory/magic-test/w999999999-1";
  ASSERT_EQ(mkdir(stale.c_str(), 0755), 0);
  limiter = MakeLimiter({.parent_name = "magic-test"});
  ASSERT_TRUE(limiter.ok());
  EXPECT_FALSE(std::filesystem::exists(stale));
}

}  // namespace
}  // namespace magic::worker::internal
