#include "worker/internal/bwrap_command.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

namespace magic::worker::internal {
namespace {

using ::testing::Contains;
using ::testing::Not;

// Index of the first occurrence of the sequence `args` in `argv`, or -1.
int Find(const std::vector<std::string>& argv, std::vector<std::string> args) {
  auto it = std::search(argv.begin(), argv.end(), args.begin(), args.end());
  return it == argv.end() ? -1 : static_cast<int>(it - argv.begin());
}

BwrapSpec Spec() {
  BwrapSpec spec;
  spec.sdk_dir = "/opt/magic/sdk/python";
  spec.seccomp_fd = 4;
  return spec;
}

TEST(BwrapCommandTest, IsolatesEverything) {
  const std::vector<std::string> argv = BuildBwrapArgv(Spec());
  EXPECT_EQ(argv.front(), "/usr/bin/bwrap");
  for (const char* flag :
       {"--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-net",
        "--unshare-cgroup-try", "--die-with-parent", "--new-session", "--clearenv"}) {
    EXPECT_THAT(argv, Contains(flag));
  }
  EXPECT_THAT(argv, Not(Contains("--share-net")));
  EXPECT_THAT(argv, Not(Contains("--bind")));  // nothing writable from the host
  EXPECT_THAT(argv, Not(Contains("--dev-bind")));
  EXPECT_GE(Find(argv, {"--uid", "65534", "--gid", "65534"}), 0);
  EXPECT_GE(Find(argv, {"--ro-bind", "/usr", "/usr"}), 0);
  EXPECT_GE(Find(argv, {"--symlink", "usr/lib", "/lib"}), 0);
  EXPECT_GE(Find(argv, {"--ro-bind", "/opt/magic/sdk/python", "/magic/sdk"}), 0);
  EXPECT_GE(Find(argv, {"--seccomp", "4"}), 0);
  EXPECT_GE(Find(argv, {"--setenv", "PYTHONPATH", "/magic/sdk"}), 0);
}

TEST(BwrapCommandTest, RunsDebiansPythonIsolated) {
  const std::vector<std::string> argv = BuildBwrapArgv(Spec());
  const int dashdash = Find(argv, {"--"});
  ASSERT_GE(dashdash, 0);
  EXPECT_EQ(std::vector<std::string>(argv.begin() + dashdash + 1, argv.end()),
            (std::vector<std::string>{"/usr/bin/python3", "-I", "-S", "-B",
                                      "/magic/sdk/magic/_runner.py"}));
}

TEST(BwrapCommandTest, NoTmpWithoutFsTemp) {
  const std::vector<std::string> argv = BuildBwrapArgv(Spec());
  EXPECT_THAT(argv, Not(Contains("--tmpfs")));
  EXPECT_GE(Find(argv, {"--dir", "/controller"}), 0);
  // Root and /dev become read-only after every mount.
  const int remount = Find(argv, {"--remount-ro", "/"});
  ASSERT_GE(remount, 0);
  EXPECT_GT(remount, Find(argv, {"--dir", "/controller"}));
  EXPECT_GE(Find(argv, {"--remount-ro", "/dev"}), 0);
}

TEST(BwrapCommandTest, FsTempGetsASizedTmpfs) {
  BwrapSpec spec = Spec();
  spec.tmp_size_bytes = 1 << 20;
  spec.controller_dir = "/srv/controllers/greeter";
  const std::vector<std::string> argv = BuildBwrapArgv(spec);
  const int tmpfs = Find(argv, {"--size", "1048576", "--tmpfs", "/tmp"});
  ASSERT_GE(tmpfs, 0);
  EXPECT_LT(tmpfs, Find(argv, {"--remount-ro", "/"}));
  EXPECT_GE(Find(argv, {"--ro-bind", "/srv/controllers/greeter", "/controller"}), 0);
}

}  // namespace
}  // namespace magic::worker::internal
